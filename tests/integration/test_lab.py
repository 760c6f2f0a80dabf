"""The lab site on real namespaces: nodes are isolated, reachable only with the stack key, repaired
after kill -9, and leave nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from dcinfra.model.stack import Stack
from dcinfra.plan.types import Plan
from dcinfra.sites.lab import Lab
from tests.integration.conftest import Steps, lab_variant, leftovers, requires_lab

pytestmark = requires_lab


def ssh(lab: Lab, addr: str, *cmd: str, key: bool = True) -> subprocess.CompletedProcess[str]:
    opts = [
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "ConnectTimeout=5",
    ]
    if key:
        opts += ["-i", str(lab.ssh_key()), "-o", "IdentitiesOnly=yes"]
    else:
        opts += ["-o", "IdentityFile=/dev/null", "-o", "IdentitiesOnly=yes"]
    return subprocess.run(
        ["ssh", *opts, f"root@{addr}", *cmd], capture_output=True, text=True, check=False, timeout=30
    )


def test_nodes_run_with_own_hostname_network_and_root(itlab: tuple[Stack, Plan, Lab]) -> None:
    _, plan, lab = itlab
    assert [s.state for s in lab.status()] == ["running"] * 3
    for h in plan.hosts:
        res = lab.exec(h.name, ["sh", "-c", "hostname; ip -4 -o addr show | awk '{print $4}'; echo $$"])
        lines = res.stdout.split()
        assert res.returncode == 0, res.stderr
        assert lines[0] == h.name
        assert f"{h.addresses['management']}/24" in lines
        assert f"{h.addresses['compute']}/24" in lines
        assert int(lines[-1]) > 1  # its own PID namespace: pids are small, init is 1
    # a file written on a node lands in its overlay upper dir, not on the host
    lab.exec("node-001", ["sh", "-c", "echo hi > /etc/dcinfra-it-marker"])
    assert not os.path.exists("/etc/dcinfra-it-marker")
    assert (lab.node_dir("node-001") / "upper" / "etc" / "dcinfra-it-marker").read_text() == "hi\n"
    assert lab.exec("node-002", ["test", "-e", "/etc/dcinfra-it-marker"]).returncode == 1


def test_exec_returns_exit_code_and_output(itlab: tuple[Stack, Plan, Lab]) -> None:
    _, _, lab = itlab
    res = lab.exec("node-002", ["sh", "-c", "echo out; echo err >&2; exit 7"])
    assert (res.returncode, res.stdout, res.stderr) == (7, "out\n", "err\n")


def test_cli_lab_exec_takes_options_before_the_double_dash(itlab: tuple[Stack, Plan, Lab]) -> None:
    _, _, lab = itlab
    tmp = lab.state.path.parent.parent  # tmp/state/itlab; the stack file is tmp/itlab.py
    res = subprocess.run(
        [
            *(sys.executable, "-m", "dcinfra", "lab", "exec", str(tmp / "itlab.py"), "node-003"),
            *("--state-dir", str(tmp / "state"), "--", "sh", "-c", "hostname; exit 5"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (res.returncode, res.stdout) == (5, "node-003\n"), res.stderr


def test_nodes_reach_each_other_on_lab_networks_only(itlab: tuple[Stack, Plan, Lab]) -> None:
    _, plan, lab = itlab
    peer = plan.host("node-003")
    mgmt = peer.addresses["management"]
    banner = f"import socket; print(socket.create_connection(('{mgmt}', 22), 3).recv(4))"
    res = lab.exec("node-001", ["/usr/bin/python3", "-c", banner])
    assert "SSH" in res.stdout, res.stderr
    # sshd listens on management only: on the compute network a refusal (RST) proves the path works
    refused = f"import socket; socket.create_connection(('{peer.addresses['compute']}', 22), 3)"
    res = lab.exec("node-001", ["/usr/bin/python3", "-c", refused])
    assert "ConnectionRefusedError" in res.stderr, res.stderr
    routes = lab.exec("node-001", ["ip", "-4", "route"]).stdout
    assert "default" not in routes  # no way out of the lab


def test_ssh_accepts_only_the_stack_key(itlab: tuple[Stack, Plan, Lab]) -> None:
    _, plan, lab = itlab
    addr = plan.host("node-001").addresses["management"]
    ok = ssh(lab, addr, "hostname")
    assert ok.returncode == 0 and ok.stdout.strip() == "node-001", ok.stderr
    denied = ssh(lab, addr, "true", key=False)
    assert denied.returncode == 255 and "Permission denied" in denied.stderr
    assert oct(lab.ssh_key().stat().st_mode & 0o777) == "0o600"


def test_up_again_keeps_running_nodes_and_repairs_a_killed_one(itlab: tuple[Stack, Plan, Lab]) -> None:
    _, _, lab = itlab
    before = {s.name: s.detail for s in lab.status()}
    record = lab.provision(Steps())
    assert record.created == () and record.repaired == ()
    assert {s.name: s.detail for s in lab.status()} == before
    pid = lab._init_pid("node-002")
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while lab._init_pid("node-002") is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert {s.name: s.state for s in lab.status()}["node-002"] == "stopped"
    record = lab.provision(Steps())
    assert record.repaired == ("node-002",)
    assert [s.state for s in lab.status()] == ["running"] * 3
    # the node's filesystem survived: its upper dir is kept across restarts
    assert lab.exec("node-002", ["cat", "/etc/dcinfra-lab-node"]).stdout.strip() == "node-002"


def test_teardown_leaves_nothing(itlab: tuple[Stack, Plan, Lab]) -> None:
    _, plan, lab = itlab
    assert leftovers(plan, lab)  # sanity: the probe sees a running lab
    lab.teardown(Steps())
    assert leftovers(plan, lab) == []
    lab.provision(Steps())  # the module fixture tears down again at the end


def test_lab_networks_that_shadow_a_host_route_are_rejected(tmp_path: Path) -> None:
    # A bridge stands for one of this machine's own networks (no dummy module: no loadable modules here).
    dummy = "dcitestrt0"
    subprocess.run(["ip", "link", "add", dummy, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", "172.31.190.1/24", "dev", dummy], check=True)
        subprocess.run(["ip", "link", "set", dummy, "up"], check=True)
        stack_file = lab_variant(tmp_path, "routelab", 190)
        res = subprocess.run(
            [sys.executable, "-m", "dcinfra", "validate", str(stack_file), "--json"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert res.returncode == 1, res.stderr
        problems = json.loads(res.stdout)["problems"]
        assert [p["rule"] for p in problems] == ["lab.routes"]
        assert problems[0]["path"] == "fabric.management.cidr" and dummy in problems[0]["message"]
    finally:
        subprocess.run(["ip", "link", "del", dummy], check=False)
