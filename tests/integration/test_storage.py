"""Storage on a real 3-node lab through the CLI: a Ceph cluster from the plan (3 monitors, file-backed
BlueStore OSDs, CephFS over ceph-fuse), its data safety, and HDFS up to the Hadoop artifact step.

One lab (stack 'storit', 172.31.200-201.0/24) for the Ceph tests, another ('storhdfs',
172.31.202-203.0/24) for HDFS; the tests run in order and the last
Ceph test destroys it (the fixture destroys it with --destroy-data too if a test fails on the way).
The HDFS tests need no Ceph and run without /dev/fuse. Timings of the converges are printed (pytest -s).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dcinfra.config import Config
from dcinfra.engines.ansible import RunRecord, run_playbook
from dcinfra.loader import load_stack
from dcinfra.plan import compile_plan
from dcinfra.plan.types import Plan
from dcinfra.sites.lab import Lab
from dcinfra.state import StateDir
from tests.integration.conftest import (
    ROOT,
    ceph_ready,
    cli_argv,
    cli_env,
    lab_variant,
    leftovers,
    requires_lab,
)

pytestmark = requires_lab

CANARY = "dcinfra-canary-5b1e0d7a"
# The lab warnings the health gate accepts, with their reasons (the role's own list).
ACCEPTED = set(
    yaml.safe_load((ROOT / "playbooks/roles/ceph/defaults/main.yml").read_text())[
        "ceph_shared_machine_accepted_health"
    ]
)
TIMINGS: dict[str, float] = {}
OUTPUTS: list[str] = []


class Env:
    """A lab stack file, its state root, and helpers to run the CLI and commands on its nodes."""

    def __init__(self, tmp: Path, stack_file: Path, name: str) -> None:
        self.tmp = tmp
        self.name = name
        self.stack_file = stack_file
        self.state_root = tmp / "state"
        self.plan: Plan = compile_plan(load_stack(stack_file, Config()))
        self.state = StateDir(self.state_root / name)
        self.lab = Lab(self.plan, self.state)

    def argv(self, *args: str) -> list[str]:
        return cli_argv(self.stack_file, self.state_root, *args)

    def env(self) -> dict[str, str]:
        return cli_env(CANARY)

    def run(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            self.argv(*args),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(),
            check=False,
            cwd=ROOT,
        )
        OUTPUTS.append(res.stdout + res.stderr)
        return res

    def up(self, label: str, *extra: str) -> dict[str, Any]:
        t0 = time.monotonic()
        res = self.run("up", "--yes", "--json", "--skip-verify", *extra)
        TIMINGS[label] = round(time.monotonic() - t0, 1)
        assert res.returncode == 0, (
            f"rc={res.returncode}\nstdout:\n{res.stdout[-4000:]}\nstderr:\n{res.stderr[-4000:]}"
        )
        data: dict[str, Any] = json.loads(res.stdout)
        return data

    def sh(self, node: str, script: str, *, check: bool = True, timeout: float = 120) -> str:
        res = self.lab.exec(node, ["/bin/sh", "-c", script], timeout=timeout)
        if check:
            assert res.returncode == 0, f"{node}: {script}: rc={res.returncode}\n{res.stdout}\n{res.stderr}"
        return res.stdout

    def ceph(self, *args: str, node: str = "node-001") -> Any:
        res = self.lab.exec(node, ["ceph", *args, "--format", "json"], timeout=60)
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)

    def up_killed_at(self, task: str, after_s: float) -> None:
        """Start `up`, SIGKILL its whole process group `after_s` seconds after Ansible starts `task`."""
        runs = self.state.runs
        before = set(runs.iterdir()) if runs.exists() else set()
        proc = subprocess.Popen(
            self.argv("up", "--yes", "--skip-verify"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=self.env(),
            cwd=ROOT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 600
        seen = False
        try:
            while not seen and time.monotonic() < deadline and proc.poll() is None:
                for run in set(runs.iterdir()) - before if runs.exists() else set():
                    for path in run.glob("artifacts/*/job_events/*.json"):
                        try:
                            event = json.loads(path.read_text())
                        except (OSError, ValueError):
                            continue
                        if (
                            event.get("event") == "runner_on_start"
                            and event["event_data"].get("task") == task
                        ):
                            seen = True
                time.sleep(0.05)
            assert seen, f"up never reached task {task!r} (rc {proc.poll()})"
            time.sleep(after_s)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
            # ansible-runner starts ansible-playbook in a session of its own, so it outlives the killed
            # group; a real kill -9 leaves it too. It must not race the next up: end it like a reboot would.
            for pid_dir in Path("/proc").glob("[0-9]*"):
                try:
                    cmdline = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                if "ansible-playbook" in cmdline and str(self.state.path) in cmdline:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid_dir.name), signal.SIGKILL)

    def playbook(self, name: str, **extravars: Any) -> RunRecord:
        """Run playbooks/NAME on this lab directly (no dcinfra pipeline), with the build dir given."""
        return run_playbook(
            ROOT / "playbooks" / name,
            self.state.build / "inventory/hosts.yml",
            runs_dir=self.state.runs,
            ssh_key=self.state.secrets / "ssh_ed25519",
            extravars={"dcinfra_build_dir": str(self.state.build), **extravars},
            forks=3,
        )

    def osd_ids(self) -> dict[int, str]:
        """OSD id -> uuid, from the cluster."""
        return {o["osd"]: o["uuid"] for o in self.ceph("osd", "dump")["osds"]}


def _destroy(env: Env) -> None:
    env.run("destroy", "--yes", "--destroy-data", "--force-unlock")
    env.lab.teardown(_Quiet())


class _Quiet:
    def step(self, message: str) -> None:
        del message


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    if ceph_ready():
        pytest.skip(ceph_ready())
    tmp = tmp_path_factory.mktemp("storit")
    e = Env(tmp, lab_variant(tmp, "storit", 200), "storit")
    try:
        yield e
    finally:
        _destroy(e)
        print(f"\nstorage timings (s): {json.dumps(TIMINGS, sort_keys=True)}")


def test_first_up_builds_a_healthy_cluster(env: Env) -> None:
    first = env.up("first_converge")
    assert first["ok"] and sorted(first["created"]) == [h.name for h in env.plan.hosts]
    ceph = env.plan.ceph
    assert ceph is not None
    status = env.ceph("status")
    checks = status["health"]["checks"]
    assert status["health"]["status"] == "HEALTH_OK" or set(checks) <= ACCEPTED, checks
    assert all(c["severity"] == "HEALTH_WARN" for c in checks.values()), checks
    quorum = env.ceph("quorum_status")
    assert sorted(quorum["quorum_names"]) == sorted(ceph.mons) and len(ceph.mons) == 3
    osds = {o["osd"]: o for o in env.ceph("osd", "dump")["osds"]}
    assert sorted(osds) == [o.id for o in ceph.osds]
    assert all(o["up"] == 1 and o["in"] == 1 for o in osds.values())
    pgs = status["pgmap"]
    assert pgs["num_pgs"] > 0
    assert {s["state_name"]: s["count"] for s in pgs["pgs_by_state"]} == {"active+clean": pgs["num_pgs"]}


def test_crush_tree_and_pools_follow_the_plan(env: Env) -> None:
    ceph = env.plan.ceph
    assert ceph is not None
    tree = env.ceph("osd", "tree")
    by_id = {n["id"]: n for n in tree["nodes"]}
    parent = {c: n["name"] for n in tree["nodes"] for c in n.get("children", [])}
    for rack in ceph.crush.children:
        for host in rack.children:
            hnode = next(n for n in tree["nodes"] if n["name"] == host.name)
            assert parent[hnode["id"]] == rack.name
            assert sorted(by_id[c]["name"] for c in hnode["children"]) == sorted(
                o.name for o in host.children
            )
        rnode = next(n for n in tree["nodes"] if n["name"] == rack.name)
        assert rnode["type"] == "rack" and parent[rnode["id"]] == "default"
    pools = {p["pool_name"]: p for p in env.ceph("osd", "pool", "ls", "detail")}
    for planned in ceph.pools:
        p = pools[planned.name]
        assert (p["size"], p["min_size"]) == (planned.size, planned.min_size)
        assert p["pg_autoscale_mode"] == ("on" if planned.autoscale else "off")
        assert p["pg_num"] >= planned.pg_num
    assert "rbd" in pools["rbd"]["application_metadata"]
    fs = env.ceph("fs", "ls")
    assert [f["name"] for f in fs] == [ceph.cephfs_name]


def test_compute_node_uses_rados_with_the_client_key_only(env: Env) -> None:
    out = env.sh(
        "node-002",
        "printf storage-roundtrip > /tmp/in && rados --id compute -p rbd put dcinfra-it /tmp/in "
        "&& rados --id compute -p rbd get dcinfra-it /tmp/out && cat /tmp/out "
        "&& rados --id compute -p rbd rm dcinfra-it",
    )
    assert out == "storage-roundtrip"
    # least privilege: no pool creation, no access to the CephFS metadata pool, no client.admin here
    denied = env.lab.exec("node-002", ["ceph", "--id", "compute", "osd", "pool", "create", "nope", "8"])
    assert denied.returncode != 0 and "denied" in denied.stderr.lower()
    meta = env.lab.exec("node-002", ["rados", "--id", "compute", "-p", "datasets-metadata", "ls"])
    assert meta.returncode != 0
    modes = env.sh("node-002", "stat -c '%a %U' /etc/ceph/ceph.client.compute.keyring")
    assert modes.strip() == "600 root"


def test_cephfs_is_mounted_on_every_compute_node(env: Env) -> None:
    ceph = env.plan.ceph
    assert ceph is not None and ceph.cephfs_mount
    compute = [h.name for h in env.plan.hosts if "compute" in h.roles]
    for node in compute:
        fstype = env.sh(node, f"findmnt --noheadings --output FSTYPE --mountpoint {ceph.cephfs_mount}")
        assert fstype.strip() == "fuse.ceph-fuse", node
    env.sh(compute[0], f"echo shared-dataset > {ceph.cephfs_mount}/it-probe")
    for node in compute[1:]:
        assert env.sh(node, f"cat {ceph.cephfs_mount}/it-probe").strip() == "shared-dataset"
    env.sh(compute[0], f"rm {ceph.cephfs_mount}/it-probe")


def test_second_up_changes_nothing(env: Env) -> None:
    second = env.up("second_converge")
    changed = {h: c["changed"] for h, c in second["configure"]["hosts"].items()}
    assert changed == dict.fromkeys((h.name for h in env.plan.hosts), 0), second["configure"]["changes"]


def test_preview_of_a_converged_cluster_expects_no_changes(env: Env) -> None:
    res = env.run("preview", "--expect-no-changes", "--json")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert json.loads(res.stdout)["check"]["changed_total"] == 0


def test_ceph_conf_change_rolls_out_one_host_at_a_time(env: Env) -> None:
    nodes = [h.name for h in env.plan.hosts]
    before = {n: env.sh(n, "cat /run/dcinfra/ceph-mon@*.pid") for n in nodes}
    for n in nodes:
        env.sh(n, "echo '# hand edit' >> /etc/ceph/ceph.conf")
    # preview names the drift on every host, with its diff, though the roll-out itself does not run in
    # check mode
    preview = env.run("preview", "--expect-no-changes", "--json")
    assert preview.returncode == 2, preview.stdout[-3000:] + preview.stderr[-3000:]
    would = {c["host"]: c.get("diff", "") for c in json.loads(preview.stdout)["check"]["changes"]}
    assert sorted(would) == nodes, would
    assert all("-# hand edit" in diff for diff in would.values()), would
    res = env.up("conf_rollout")
    changes = [(c["host"], c["task"]) for c in res["configure"]["changes"]]
    # one host after the other: each host's noout/restart/clear block completes before the next starts
    order = [h for h, t in changes if t in ("Set noout", "Clear noout")]
    assert order == [n for n in nodes for _ in (0, 1)], order
    for n in nodes:
        assert "hand edit" not in env.sh(n, "cat /etc/ceph/ceph.conf")
        assert env.sh(n, "cat /run/dcinfra/ceph-mon@*.pid") != before[n]
    assert "noout" not in env.ceph("osd", "dump")["flags"]
    assert env.ceph("status")["pgmap"]["num_pgs"] > 0


def test_failed_rollout_clears_noout_and_stops(env: Env) -> None:
    for node in ("node-002", "node-003"):
        env.sh(node, "echo '# hand edit 2' >> /etc/ceph/ceph.conf")
    env.sh("node-002", "mv /var/lib/ceph/osd/ceph-1/keyring /var/lib/ceph/osd/ceph-1/keyring.off")
    rec = env.playbook("storage.yml", ceph_osd_timeout_s=15)
    assert not rec.ok
    assert any(f.task == "Stop the roll-out" and "noout is cleared" in f.message for f in rec.failures), (
        rec.failures
    )
    assert "noout" not in env.ceph("osd", "dump")["flags"]
    assert "hand edit 2" in env.sh("node-003", "cat /etc/ceph/ceph.conf")  # the next host was not touched
    env.sh("node-002", "mv /var/lib/ceph/osd/ceph-1/keyring.off /var/lib/ceph/osd/ceph-1/keyring")
    env.up("repair_after_failed_rollout")
    assert "hand edit 2" not in env.sh("node-003", "cat /etc/ceph/ceph.conf")
    assert all(o["up"] for o in env.ceph("osd", "dump")["osds"])


def test_health_gate_times_out_naming_what_is_unhealthy(env: Env) -> None:
    env.lab.exec("node-001", ["ceph", "osd", "set", "noout"])  # OSDMAP_FLAGS: a warning no list accepts
    try:
        rec = env.playbook("storage.yml", ceph_health_timeout_s=6)
    finally:
        env.lab.exec("node-001", ["ceph", "osd", "unset", "noout"])
    assert not rec.ok
    failure = next(f for f in rec.failures if f.task == "Report what is unhealthy")
    assert "not healthy after 6 s" in failure.message and "OSDMAP_FLAGS" in failure.message, failure.message


def test_device_with_other_data_is_refused(env: Env) -> None:
    block = "/var/lib/ceph/osd/ceph-2/block"
    env.sh("node-003", f"/usr/local/sbin/dcinfra-service stop ceph-osd@2 && mv {block} {block}.real")
    env.sh("node-003", f"truncate -s 64M {block} && mkfs.ext4 -q -F {block}")
    try:
        res = env.run("up", "--yes", "--skip-verify")
        assert res.returncode != 0
        text = res.stdout + res.stderr
        assert "refusing to create osd.2" in text and "ext4" in text and "wipefs" in text, text[-3000:]
        assert env.sh("node-003", f"blkid -p -o value -s TYPE {block}").strip() == "ext4"  # left as it was
    finally:
        env.sh("node-003", f"rm -f {block} && mv {block}.real {block}")
    env.up("repair_after_refusal")
    assert all(o["up"] for o in env.ceph("osd", "dump")["osds"])


def test_kill_9_during_the_ceph_play_then_up_keeps_the_osds(env: Env) -> None:
    before = env.osd_ids()
    env.up_killed_at("Classify the declared OSD devices", 0.5)
    again = env.up("after_kill_rerun", "--force-unlock")
    assert again["ok"]
    assert env.osd_ids() == before  # same ids, same uuids: nothing re-created
    # Now from scratch: the cluster's daemons and data removed (hosts kept), then a build killed while
    # OSDs are being created, then up.
    rec = env.playbook("destroy_storage.yml", dcinfra_destroy_data=True)
    assert rec.ok, rec.failures
    env.up_killed_at("Create the file-backed OSDs", 1.5)
    rebuilt = env.up("after_kill_rebuild", "--force-unlock")
    assert rebuilt["ok"]
    ids = env.osd_ids()
    assert sorted(ids) == sorted(before) and len(ids) == len(before)
    assert all(o["up"] == 1 and o["in"] == 1 for o in env.ceph("osd", "dump")["osds"])
    last = env.up("after_kill_converged")
    assert last["configure"]["changed_total"] == 0, last["configure"]["changes"]


def test_no_key_in_runs_build_or_output(env: Env) -> None:
    keys = [e["key"] for e in env.ceph("auth", "ls")["auth_dump"]]
    keys.append(
        env.sh("node-001", "ceph-authtool -p -n mon. /var/lib/ceph/mon/ceph-node-001/keyring").strip()
    )
    assert len(keys) >= 8
    for root in (env.state.runs, env.state.build, env.state.path / "facts"):
        for path in root.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert CANARY.encode() not in data, path
                for k in keys:
                    assert k.encode() not in data, f"a Ceph key is in {path}"
    for text in OUTPUTS:
        assert CANARY not in text
        assert not any(k in text for k in keys)


def _write_canaries(env: Env) -> dict[str, str]:
    """An object in the rbd pool and a file on the CephFS, each with its checksum."""
    env.sh(
        "node-001",
        # never into the bare directory of an unmounted CephFS
        "mountpoint -q /mnt/datasets && head -c 3000000 /dev/urandom > /root/canary.bin "
        "&& rados -p rbd put scale-canary /root/canary.bin "
        "&& cp /root/canary.bin /mnt/datasets/scale-canary.bin && sync",
    )
    return {"sha": env.sh("node-001", "sha256sum < /root/canary.bin").split()[0]}


def _read_canaries(env: Env, node: str) -> str:
    # node-004 is in the 4-node plan only: a Lab of that plan reaches it
    lab = Lab(compile_plan(load_stack(env.stack_file, Config({"nodes": "4"}))), env.state)
    res = lab.exec(
        node,
        [
            "/bin/sh",
            "-c",
            "rados --id compute -p rbd get scale-canary /tmp/canary.out && sha256sum < /tmp/canary.out && "
            "sha256sum < /mnt/datasets/scale-canary.bin",
        ],
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    out = res.stdout
    shas = {line.split()[0] for line in out.splitlines()}
    assert len(shas) == 1, out
    return shas.pop()


SCALE: dict[str, Any] = {}


def test_scale_out_adds_a_node_with_its_osd_and_the_cephfs(env: Env) -> None:
    SCALE.update(_write_canaries(env))
    res = env.up("scale_out_3_to_4", "-c", "nodes=4")
    assert res["created"] == ["node-004"], res
    dump = env.ceph("osd", "dump")["osds"]
    assert sorted(o["osd"] for o in dump) == [0, 1, 2, 3] and all(o["up"] and o["in"] for o in dump), dump
    lab4 = Lab(compile_plan(load_stack(env.stack_file, Config({"nodes": "4"}))), env.state)
    mounted = lab4.exec("node-004", ["findmnt", "-n", "-o", "TARGET", "/mnt/datasets"], timeout=30)
    assert mounted.stdout.strip() == "/mnt/datasets", mounted
    assert _read_canaries(env, "node-004") == SCALE["sha"]


def test_scale_in_without_the_flag_is_refused_with_nothing_touched(env: Env) -> None:
    preview = env.run("preview", "--json")
    assert preview.returncode == 0, preview.stdout[-2000:] + preview.stderr[-2000:]
    removals = json.loads(preview.stdout)["removals"]
    assert [(r["host"], r["osds"], r["slurm_node"]) for r in removals] == [("node-004", [3], True)], removals
    assert json.loads(preview.stdout)["orphans"] == []
    runs_before = len(list(env.state.runs.iterdir()))
    res = env.run("up", "--yes", "--skip-verify")
    assert res.returncode == 1, res.stdout[-2000:] + res.stderr[-2000:]
    # The message names the host, what it holds, the flag; and nothing ran.
    assert "node-004" in res.stderr and "osd.3" in res.stderr and "--allow-remove" in res.stderr, res.stderr
    assert "nothing was touched" in res.stderr
    assert len(list(env.state.runs.iterdir())) == runs_before
    assert Path(f"/run/netns/{env.lab.netns('node-004')}").exists()
    dump = {o["osd"]: o for o in env.ceph("osd", "dump")["osds"]}
    assert dump[3]["up"] and dump[3]["in"], dump[3]
    assert _read_canaries(env, "node-002") == SCALE["sha"]


def test_scale_in_with_the_flag_moves_the_data_then_removes_the_node(env: Env) -> None:
    res = env.up("scale_in_4_to_3", "--allow-remove")
    assert [r["host"] for r in res["removed"]] == ["node-004"] and res["orphans"] == [], res
    dump = env.ceph("osd", "dump")["osds"]
    assert sorted(o["osd"] for o in dump) == [0, 1, 2] and all(o["up"] and o["in"] for o in dump), dump
    status = env.ceph("status")
    checks = status["health"]["checks"]
    assert status["health"]["status"] == "HEALTH_OK" or set(checks) <= ACCEPTED, checks
    pgs = status["pgmap"]
    assert {s["state_name"] for s in pgs["pgs_by_state"]} == {"active+clean"}, pgs
    assert "node-004" not in json.dumps(env.ceph("osd", "tree"))
    assert not [e for e in env.ceph("auth", "ls")["auth_dump"] if e["entity"].endswith("node-004")]
    assert _read_canaries(env, "node-002") == SCALE["sha"]
    # The node is gone from the machine and from Slurm; nothing is left of it.
    assert not Path(f"/run/netns/{env.lab.netns('node-004')}").exists()
    assert env.lab.orphans() == []
    assert "node-004" not in env.sh("node-001", "sinfo --noheader --Node --format=%N")
    assert [x for x in leftovers(env.plan, env.lab) if "node-004" in x] == []
    # The next up and preview see a converged 3-node cluster.
    assert env.run("preview", "--expect-no-changes").returncode == 0


def test_limit_converges_only_the_named_hosts(env: Env) -> None:
    env.sh("node-002", "echo '# hand edit' >> /etc/ceph/ceph.conf")
    env.sh("node-003", "echo '# hand edit' >> /etc/ceph/ceph.conf")
    preview = env.run("preview", "--json", "--limit", "node-002")
    assert preview.returncode == 0, preview.stdout[-2000:] + preview.stderr[-2000:]
    assert {c["host"] for c in json.loads(preview.stdout)["check"]["changes"]} == {"node-002"}
    res = env.up("limited_to_one_host", "--limit", "node-002")
    assert sorted(res["configure"]["hosts"]) == ["node-002"] and res["limit"] == "node-002", res["configure"]
    assert "hand edit" not in env.sh("node-002", "cat /etc/ceph/ceph.conf")
    assert "hand edit" in env.sh("node-003", "cat /etc/ceph/ceph.conf")  # not converged: not in the limit
    bad = env.run("up", "--yes", "--skip-verify", "--limit", "node-009")
    assert bad.returncode == 1 and "'node-009'" in bad.stderr and "node-001" in bad.stderr, bad.stderr
    env.up("converge_the_rest")
    assert "hand edit" not in env.sh("node-003", "cat /etc/ceph/ceph.conf")


def test_destroy_without_destroy_data_refuses_and_keeps_the_cluster(env: Env) -> None:
    res = env.run("destroy", "--yes")
    assert res.returncode == 1 and "--destroy-data" in res.stderr and "ceph" in res.stderr
    assert [s.state for s in env.lab.status()] == ["running"] * 3
    status = env.ceph("status")
    assert status["osdmap"]["num_up_osds"] == len(env.plan.ceph.osds if env.plan.ceph else [])
    assert sorted(env.ceph("quorum_status")["quorum_names"]) == ["node-001", "node-002", "node-003"]


def test_destroy_with_destroy_data_leaves_nothing(env: Env) -> None:
    res = env.run("destroy", "--yes", "--destroy-data")
    assert res.returncode == 0, res.stdout + res.stderr
    assert leftovers(env.plan, env.lab) == []
    assert not env.state.applied_plan.exists()


HDFS_STACK = """
from dcinfra import (Compute, ComputeFabric, Fabric, Hardware, HdfsCluster, LabSite, Network, NodePool,
                     Placement, Rack, Security, Stack, Storage, Zone)

stack = Stack(
    name="storhdfs",
    site=LabSite(),
    racks=[Rack(name="storhdfs", cooling="air")],
    compute=Compute(pools=[NodePool(name="node", count=3, hardware=Hardware(profile="lab-cpu"),
                                    roles=["compute", "storage"])]),
    fabric=Fabric(
        management=Network(cidr="172.31.202.0/24"),
        compute=ComputeFabric(kind="ethernet", switch="lab-bridge", cidr="172.31.203.0/24", mtu=1500),
    ),
    storage=Storage(
        hdfs=HdfsCluster(
            namenode=Placement(hosts=["node-001"]),
            datanodes=Placement(pools=["node"]),
            replication=3,
            network="management",
        )
    ),
    security=Security(default="deny", zones=[Zone(name="nodes", pools=["node"])]),
)
"""


@pytest.fixture(scope="module")
def hdfs_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    # HDFS needs no Ceph: its lab (172.31.202-203.0/24) does not depend on the Ceph one, so a machine
    # without /dev/fuse still runs it.
    tmp = tmp_path_factory.mktemp("storhdfs")
    stack_file = tmp / "storhdfs.py"
    stack_file.write_text(HDFS_STACK)
    e = Env(tmp, stack_file, "storhdfs")
    try:
        yield e
    finally:
        _destroy(e)


def test_hdfs_runs_up_to_the_artifact_and_names_the_setting(hdfs_env: Env) -> None:
    res = hdfs_env.run("up", "--yes", "--skip-verify")
    assert res.returncode != 0
    text = res.stdout + res.stderr
    assert "no Hadoop 3.3.6 to install" in text and "hdfs_artifact" in text and "hdfs_artifact_sha512" in text
    # everything before the artifact step ran for real: Java, the user, the rendered files, the dirs
    for node in ("node-001", "node-002", "node-003"):
        conf = hdfs_env.sh(node, "cat /etc/hadoop/hdfs-site.xml")
        assert "<name>dfs.reformat.disabled</name>" in conf
        assert hdfs_env.sh(node, "id -un hdfs").strip() == "hdfs"
        assert hdfs_env.sh(node, "stat -c '%U %a' /var/lib/hadoop/data").strip() == "hdfs 700"
        assert hdfs_env.sh(node, "test -x /usr/lib/jvm/default-java/bin/java && echo ok").strip() == "ok"
    assert hdfs_env.sh("node-001", "ls -A /var/lib/hadoop/name").strip() == ""  # nothing formatted
    assert "storhdfs" in hdfs_env.sh("node-002", "cat /etc/hadoop/topology.map")
    # a declared URL cannot be fetched from a lab node: the message says so
    rec = run_playbook(
        ROOT / "playbooks/storage.yml",
        hdfs_env.state.build / "inventory/hosts.yml",
        runs_dir=hdfs_env.state.runs,
        ssh_key=hdfs_env.state.secrets / "ssh_ed25519",
        extravars={
            "dcinfra_build_dir": str(hdfs_env.state.build),
            # the lab's own gateway (this machine's bridge address): lab traffic stays on lab addresses
            "hdfs_artifact": "http://172.31.202.1:9/hadoop-3.3.6.tar.gz",
            "hdfs_artifact_sha512": "0" * 128,
        },
        forks=3,
        timeout_s=300,
    )
    assert not rec.ok
    assert any("give a path on this machine instead of a URL" in f.message for f in rec.failures), (
        rec.failures
    )
