"""The lab site: each planned host is a set of Linux namespaces on this machine.

A node has its own network namespace (``dcinfra-<stack>-<host>``, one veth per network it joins,
bridged on the host side per network; the host holds the gateway address on the management bridge
so Ansible reaches the nodes), its own mount namespace with an overlayfs root (lower: the host's
``/``; upper: ``<state>/lab/<host>/upper``), its own hostname and PID namespace, and an sshd on its
management address that accepts only the stack's generated key. PID 1 of a node is
:mod:`dcinfra.sites.lab_init`.

Everything is found again by name, so ``up`` after a crash (even ``kill -9``) repairs what is
missing or dead, and ``destroy`` removes every namespace, bridge, veth, process and upper dir.
Nodes have no default route: lab traffic stays on lab addresses.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from ipaddress import IPv4Network, ip_network
from pathlib import Path

from dcinfra.errors import DcinfraError, Problem, StackInvalid
from dcinfra.plan.types import HostPlan, Plan
from dcinfra.sites.base import HostsRecord, HostStatus, Progress, TeardownRecord
from dcinfra.state import StateDir

INIT = Path(__file__).with_name("lab_init.py")
SSH_TIMEOUT_S = 30.0


class LabError(DcinfraError):
    """A lab operation failed; the message names the node and the command."""


@dataclass(frozen=True, slots=True)
class Link:
    """One veth of a node."""

    network: str  # plan network name ("management", "storage", "compute-r0")
    bridge: str  # host-side bridge
    host_if: str  # host-side veth name
    node_if: str  # interface name inside the node
    address: str  # node address
    prefixlen: int
    mtu: int
    rate_gbps: int | None = None  # shaped to this line rate (both directions); None: unshaped


def _tbf(gbps: int) -> list[str]:
    """tc arguments of a token bucket at ``gbps``: a burst of 1 ms of line rate (at least 256 KiB, so
    a 64 KiB GSO segment always fits) and at most 20 ms of queue."""
    burst = max(gbps * 1_000_000_000 // 8 // 1000, 256 * 1024)
    return ["tbf", "rate", f"{gbps}gbit", "burst", str(burst), "latency", "20ms"]


def _run(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise LabError(
            f"{argv[0]!r} not found; install it (`dcinfra up` lists everything the lab needs, "
            "with the apt-get command that installs it)"
        ) from None
    if check and res.returncode != 0:
        raise LabError(
            f"`{' '.join(argv)}` failed ({res.returncode}): {res.stderr.strip() or res.stdout.strip()}"
        )
    return res


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # it exited (and was reaped) between the signal and the read
        return False
    return not stat.split(") ", 1)[1].startswith("Z")


def _links_of_host() -> set[str]:
    res = _run("ip", "-j", "link", "show", check=False)
    if res.returncode != 0:
        return set()
    return {str(link["ifname"]) for link in json.loads(res.stdout or "[]")}


class Lab:
    """The lab site provider for one plan."""

    def __init__(self, plan: Plan, state: StateDir) -> None:
        self.plan = plan
        self.state = state
        self.prefix = str(plan.site.settings.get("bridge_prefix", "dci"))
        self.shape = plan.site.link_shaping
        self.tag = hashlib.sha1(plan.stack.encode()).hexdigest()[:4]
        self.networks = {n.name: n for n in plan.networks}

    # -- naming -----------------------------------------------------------------------------------
    def netns(self, host: str) -> str:
        """Network namespace name of ``host``."""
        return f"dcinfra-{self.plan.stack}-{host}"

    def _code(self, network: str) -> str:
        if network == "management":
            return "m"
        if network == "storage":
            return "s"
        return "c" + network.rsplit("-r", 1)[1]

    def bridge(self, network: str) -> str:
        """Host-side bridge of ``network`` (at most 15 bytes, as Linux requires)."""
        return f"{self.prefix}{self.tag}{self._code(network)}"

    def node_dir(self, host: str) -> Path:
        """Runtime dir of ``host``: overlay upper/work, pid file, init log."""
        return self.state.lab / host

    def links(self, h: HostPlan, index: int) -> list[Link]:
        """The veths ``h`` needs, one per network it joins."""
        out = []
        for net in ("management", "storage"):
            if net in h.addresses:
                n = self.networks[net]
                out.append(
                    Link(
                        net,
                        self.bridge(net),
                        f"{self.prefix}{self.tag}{index:03d}{self._code(net)}",
                        h.interfaces[net],
                        h.addresses[net],
                        n.prefixlen,
                        n.mtu,
                    )
                )
        for nic in h.rails:
            net = f"compute-r{nic.rail}"
            n = self.networks[net]
            out.append(
                Link(
                    net,
                    self.bridge(net),
                    f"{self.prefix}{self.tag}{index:03d}{self._code(net)}",
                    nic.interface,
                    nic.address,
                    nic.prefixlen,
                    n.mtu,
                    self.plan.fabric.link_gbps if self.shape and self.plan.fabric else None,
                )
            )
        return out

    # -- prerequisites ----------------------------------------------------------------------------
    def prerequisites(self) -> list[str]:
        """What this machine lacks to run lab nodes, each with the command that installs it."""
        missing = []
        if os.geteuid() != 0:
            missing.append("root: the lab creates namespaces, bridges and mounts; run dcinfra as root")
        # Lab nodes run the host's binaries (their root is an overlay of /): what the roles and the
        # verify stage use must be installed here.
        tools = {
            "ip": "iproute2",
            "nsenter": "util-linux",
            "unshare": "util-linux",
            "pivot_root": "util-linux",
            "ssh-keygen": "openssh-client",
            "ssh": "openssh-client",
            "/usr/sbin/sshd": "openssh-server",
            "/usr/bin/python3": "python3",
            "/usr/lib/python3/dist-packages/apt/__init__.py": "python3-apt",
            "nft": "nftables",
            "iperf3": "iperf3",
            "pkill": "procps",
            "tc": "iproute2",
            "start-stop-daemon": "dpkg",
        }
        if self.plan.ceph is not None and self.plan.ceph.deployed_by == "hosts":
            tools |= {
                "ceph": "ceph-common",
                "ceph-authtool": "ceph-common",
                "ceph-mon": "ceph-mon",
                "ceph-mgr": "ceph-mgr",
                "ceph-osd": "ceph-osd",
                "ceph-mds": "ceph-mds",
                "ceph-fuse": "ceph-fuse",
                "uuidgen": "uuid-runtime",
            }
        if self.plan.hdfs is not None:
            tools["java"] = "default-jre-headless"
        apt = set()
        for tool, pkg in tools.items():
            found = Path(tool).exists() if tool.startswith("/") else shutil.which(tool) is not None
            if not found:
                apt.add(pkg)
        if apt:
            missing.append(f"packages {', '.join(sorted(apt))}: apt-get install -y {' '.join(sorted(apt))}")
        try:
            if "overlay" not in Path("/proc/filesystems").read_text():
                missing.append("overlayfs support in the kernel (lab node roots are overlay mounts)")
        except OSError:
            missing.append("/proc is not mounted")
        return missing

    def route_conflicts(self) -> list[str]:
        """Lab networks that overlap a route of this machine (other than the lab's own bridges)."""
        res = _run("ip", "-j", "-4", "route", "show", "table", "all", check=False)
        if res.returncode != 0:
            return []
        ours = {self.bridge(n) for n in self.networks}
        conflicts = []
        for route in json.loads(res.stdout or "[]"):
            dst, dev = route.get("dst", ""), route.get("dev", "")
            if dev in ours or dst in ("default", "") or route.get("type") in ("local", "broadcast"):
                continue
            try:
                net = ip_network(dst if "/" in dst else f"{dst}/32", strict=False)
            except ValueError:
                continue
            if not isinstance(net, IPv4Network):
                continue
            for n in self.networks.values():
                if net.overlaps(ip_network(n.cidr)):
                    conflicts.append(
                        f"{n.name} network {n.cidr} overlaps this machine's route {dst} dev {dev}"
                    )
        return sorted(set(conflicts))

    def route_problems(self) -> list[Problem]:
        """:meth:`route_conflicts` as validation problems (the lab's host-side check)."""
        paths = {"management": "fabric.management.cidr", "storage": "fabric.storage.cidr"}
        out = []
        for text in self.route_conflicts():
            net = text.split(" ", 1)[0]
            out.append(
                Problem(
                    paths.get(net, "fabric.compute.cidr"),
                    text,
                    "lab networks must not collide with this machine's own networks: pick unused "
                    "RFC 1918 ranges for the lab stack",
                    "lab.routes",
                )
            )
        return out

    def site_problems(self) -> list[Problem]:
        """The lab's problems on this machine: networks that shadow its routes."""
        return self.route_problems()

    def ssh_identity(self) -> str:
        """The stack's generated key once provision has made it ("" before)."""
        key = self.state.secrets / "ssh_ed25519"
        return str(key) if key.exists() else ""

    # -- provision --------------------------------------------------------------------------------
    def ssh_key(self) -> Path:
        """The stack's private key (0600), generated on first use."""
        key = self.state.secrets / "ssh_ed25519"
        if not key.exists():
            _run(
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                f"dcinfra-{self.plan.stack}",
                "-f",
                str(key),
            )
        key.chmod(0o600)
        return key

    def _ensure_bridges(self) -> None:
        existing = _links_of_host()
        mgmt = self.networks["management"]
        for name, n in self.networks.items():
            br = self.bridge(name)
            if br not in existing:
                _run("ip", "link", "add", br, "type", "bridge")
            _run("ip", "link", "set", br, "mtu", str(n.mtu), "up")
        if mgmt.gateway:
            br = self.bridge("management")
            addrs = _run("ip", "-j", "-4", "addr", "show", "dev", br).stdout
            have = {a["local"] for i in json.loads(addrs or "[]") for a in i.get("addr_info", [])}
            if mgmt.gateway not in have:
                _run("ip", "addr", "add", f"{mgmt.gateway}/{mgmt.prefixlen}", "dev", br)

    def _ensure_netns(self, h: HostPlan, index: int) -> bool:
        """Create the node's netns and veths if missing; True when something was (re)created."""
        ns = self.netns(h.name)
        changed = False
        if not Path(f"/run/netns/{ns}").exists():
            _run("ip", "netns", "add", ns)
            _run("ip", "-n", ns, "link", "set", "lo", "up")
            changed = True
        inside = {
            str(i["ifname"]) for i in json.loads(_run("ip", "-n", ns, "-j", "link", "show").stdout or "[]")
        }
        for link in self.links(h, index):
            if link.node_if not in inside:
                _run("ip", "link", "del", link.host_if, check=False)
                _run(
                    "ip",
                    "link",
                    "add",
                    link.host_if,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    link.node_if,
                    "netns",
                    ns,
                )
                changed = True
            _run("ip", "link", "set", link.host_if, "master", link.bridge, "mtu", str(link.mtu), "up")
            _run("ip", "-n", ns, "link", "set", link.node_if, "mtu", str(link.mtu), "up")
            _run("ip", "-n", ns, "addr", "replace", f"{link.address}/{link.prefixlen}", "dev", link.node_if)
            if link.rate_gbps:
                # Egress of the host end is what the node receives, egress of the node end what it
                # sends: a full-duplex link of the declared rate.
                _run("tc", "qdisc", "replace", "dev", link.host_if, "root", *_tbf(link.rate_gbps))
                _run(
                    "ip",
                    "netns",
                    "exec",
                    ns,
                    "tc",
                    "qdisc",
                    "replace",
                    "dev",
                    link.node_if,
                    "root",
                    *_tbf(link.rate_gbps),
                )
        return changed

    def _init_pid(self, host: str) -> int | None:
        """PID of the node's init if it is alive and in the node's network namespace."""
        pidfile = self.node_dir(host) / "init.pid"
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        if not _pid_alive(pid):
            return None
        try:
            ns_inode = os.stat(f"/run/netns/{self.netns(host)}").st_ino
            if os.stat(f"/proc/{pid}/ns/net").st_ino != ns_inode:
                return None
        except OSError:
            return None
        return pid

    def _kill_node_processes(self, host: str) -> list[str]:
        """Kill the node's init (its PID namespace dies with it) and anything left in its netns."""
        killed = []
        pid = self._init_pid(host)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            killed.append(f"init pid {pid}")
        ns = self.netns(host)
        if Path(f"/run/netns/{ns}").exists():
            res = _run("ip", "netns", "pids", ns, check=False)
            for line in res.stdout.split():
                try:
                    os.kill(int(line), signal.SIGKILL)
                    killed.append(f"pid {line}")
                except (ProcessLookupError, ValueError):
                    pass
        deadline = time.monotonic() + 10
        while pid is not None and _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        return killed

    def _start_init(self, h: HostPlan) -> None:
        d = self.node_dir(h.name)
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        pub = (self.ssh_key().with_suffix(".pub")).read_text().strip()
        cfg = {
            "hostname": h.name,
            "merged": str(d / "root"),
            "upper": str(d / "upper"),
            "work": str(d / "work"),
            "pidfile": str(d / "init.pid"),
            "authorized_key": pub,
            "listen": h.addresses["management"],
        }
        (d / "init.json").write_text(json.dumps(cfg, indent=2))
        (d / "init.pid").unlink(missing_ok=True)
        log = (d / "init.log").open("ab")
        subprocess.Popen(
            [
                "nsenter",
                f"--net=/run/netns/{self.netns(h.name)}",
                "--",
                "unshare",
                "--mount",
                "--uts",
                "--pid",
                "--fork",
                "--kill-child",
                "--propagation",
                "private",
                "--",
                "/usr/bin/python3",
                "-I",
                str(INIT),
                str(d / "init.json"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )
        log.close()

    def _wait_ssh(self, h: HostPlan) -> None:
        addr = h.addresses["management"]
        deadline = time.monotonic() + SSH_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((addr, 22), timeout=1) as s:
                    if s.recv(4).startswith(b"SSH"):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        tail = (self.node_dir(h.name) / "init.log").read_text(errors="replace")[-800:]
        raise LabError(
            f"lab node {h.name!r}: sshd on {addr}:22 did not answer within {SSH_TIMEOUT_S:.0f}s; "
            f"init log ({self.node_dir(h.name) / 'init.log'}):\n{tail}"
        )

    def _ssh_ok(self, h: HostPlan) -> bool:
        try:
            with socket.create_connection((h.addresses["management"], 22), timeout=1) as s:
                return s.recv(4).startswith(b"SSH")
        except OSError:
            return False

    def provision(self, progress: Progress) -> HostsRecord:
        """Create or repair every node; nodes already running and answering SSH are left alone."""
        missing = self.prerequisites()
        if missing:
            raise LabError("this machine cannot run lab nodes:\n  - " + "\n  - ".join(missing))
        clashes = self.route_problems()
        if clashes:
            raise StackInvalid(clashes, source=f"lab stack {self.plan.stack!r}")
        self.state.ensure()
        self.state.lab.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.ssh_key()
        progress.step("bridges")
        self._ensure_bridges()
        created: list[str] = []
        repaired: list[str] = []
        for index, h in enumerate(self.plan.hosts, start=1):
            fresh = not self.node_dir(h.name).exists()
            # A failed command or write (a full disk, a stale name) names the node it was for.
            try:
                wired = self._ensure_netns(h, index)
                pid = self._init_pid(h.name)
                if pid is not None and self._ssh_ok(h):
                    if wired:
                        repaired.append(h.name)
                    continue
                progress.step(f"{'creating' if fresh else 'repairing'} {h.name}")
                self._kill_node_processes(h.name)
                self._start_init(h)
            except (LabError, OSError) as e:
                raise LabError(
                    f"lab node {h.name!r}: {'creating' if fresh else 'repairing'} it failed: {e}; once the "
                    "cause is fixed `dcinfra up` repairs the half-made lab (`dcinfra destroy` removes it)"
                ) from e
            (created if fresh else repaired).append(h.name)
        for h in self.plan.hosts:
            self._wait_ssh(h)
        return HostsRecord(
            self.plan.site.provider,
            tuple(self.status()),
            tuple(created),
            tuple(repaired),
            str(self.ssh_key()),
            "root",
        )

    # -- status / exec ----------------------------------------------------------------------------
    def status(self) -> list[HostStatus]:
        """Each node: running (init alive and sshd answering), stopped, or missing."""
        out = []
        for h in self.plan.hosts:
            pid = self._init_pid(h.name)
            mgmt = h.addresses["management"]
            if pid is None:
                exists = Path(f"/run/netns/{self.netns(h.name)}").exists() or self.node_dir(h.name).exists()
                out.append(HostStatus(h.name, "stopped" if exists else "missing", mgmt))
            elif self._ssh_ok(h):
                out.append(HostStatus(h.name, "running", mgmt, f"pid {pid}"))
            else:
                out.append(HostStatus(h.name, "stopped", mgmt, f"pid {pid}, sshd not answering"))
        return out

    def exec(
        self, host: str, argv: list[str], *, timeout: float | None = None, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside node ``host`` (all its namespaces, its root) and return the result."""
        if host not in {h.name for h in self.plan.hosts}:
            raise LabError(f"no lab node {host!r}; nodes: {', '.join(h.name for h in self.plan.hosts)}")
        pid = self._init_pid(host)
        if pid is None:
            raise LabError(f"lab node {host!r} is not running; run `dcinfra up` first")
        return subprocess.run(
            ["nsenter", "-t", str(pid), "--all", "--", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            check=False,
        )

    # -- orphans and removal ----------------------------------------------------------------------
    def orphans(self) -> list[str]:
        """Nodes of this stack that exist on this machine (a runtime dir in the stack's state) but are
        in no host of the plan: left by an older scale-in, or the plan lost them without --allow-remove."""
        planned = {h.name for h in self.plan.hosts}
        if not self.state.lab.exists():
            return []
        return sorted(d.name for d in self.state.lab.iterdir() if d.is_dir() and d.name not in planned)

    def _remove_node(self, host: str) -> list[str]:
        """Kill the node's processes, delete its namespace (its veths go with it) and its runtime dir."""
        removed = [f"{host}: {k}" for k in self._kill_node_processes(host)]
        ns = self.netns(host)
        if Path(f"/run/netns/{ns}").exists():
            _run("ip", "netns", "del", ns)
            removed.append(f"netns {ns}")
        d = self.node_dir(host)
        if d.exists():
            _umount_below(d)
            shutil.rmtree(d)
            removed.append(f"dir {d}")
        return removed

    def remove(self, hosts: list[str], progress: Progress) -> TeardownRecord:
        """Deprovision ``hosts`` (nodes no longer in the plan, already drained by scale-in)."""
        removed: list[str] = []
        for host in hosts:
            progress.step(f"removing lab node {host}")
            removed += self._remove_node(host)
        return TeardownRecord(tuple(removed))

    # -- teardown ---------------------------------------------------------------------------------
    def teardown(self, progress: Progress) -> TeardownRecord:
        """Remove every node process, namespace, veth, bridge and upper dir of this stack."""
        removed: list[str] = []
        for index, h in enumerate(self.plan.hosts, start=1):
            progress.step(f"removing {h.name}")
            links = self.links(h, index)
            removed += self._remove_node(h.name)
            existing = _links_of_host()
            for link in links:
                if link.host_if in existing:
                    _run("ip", "link", "del", link.host_if, check=False)
                    removed.append(f"veth {link.host_if}")
        existing = _links_of_host()
        for name in self.networks:
            br = self.bridge(name)
            if br in existing:
                _run("ip", "link", "del", br)
                removed.append(f"bridge {br}")
        # Leftovers of hosts no longer in the plan: namespaces and links carrying this stack's names.
        for ns in _run("ip", "netns", "list", check=False).stdout.split("\n"):
            name = ns.split(" ", 1)[0]
            if name.startswith(f"dcinfra-{self.plan.stack}-"):
                for p in _run("ip", "netns", "pids", name, check=False).stdout.split():
                    with contextlib.suppress(ProcessLookupError, ValueError):
                        os.kill(int(p), signal.SIGKILL)
                _run("ip", "netns", "del", name, check=False)
                removed.append(f"netns {name}")
        for ifname in _links_of_host():
            if ifname.startswith(f"{self.prefix}{self.tag}"):
                _run("ip", "link", "del", ifname, check=False)
                removed.append(f"link {ifname}")
        if self.state.lab.exists():
            _umount_below(self.state.lab)
            shutil.rmtree(self.state.lab)
        return TeardownRecord(tuple(removed))


def _umount_below(path: Path) -> None:
    """Unmount anything mounted under ``path`` in the host's mount namespace (deepest first)."""
    target = str(path.resolve())
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for m in sorted((m for m in mounts if m == target or m.startswith(target + "/")), reverse=True):
        _run("umount", "-l", m, check=False)
