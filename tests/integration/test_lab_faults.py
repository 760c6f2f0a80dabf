"""Lab provisioning that goes wrong, on real namespaces (root): the error names the node, a teardown
of the half-made lab leaves nothing behind, and a provision after the fix repairs the lab.

- a node that cannot be started midway (its init cannot be written: the disk is full);
- a node whose sshd never answers (a broken sshd drop-in in the node's root): the wait times out,
  naming the node, its address and how long it waited, with the node's init log.

One lab (stack ``faultlab``, 172.31.214-215.0/24), torn down after every test.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import dcinfra.sites.lab
from dcinfra.config import Config
from dcinfra.loader import load_stack
from dcinfra.plan import compile_plan
from dcinfra.plan.types import HostPlan, Plan
from dcinfra.sites.lab import Lab, LabError
from dcinfra.state import StateDir
from tests.integration.conftest import Steps, lab_ready, lab_variant, leftovers, requires_lab

pytestmark = requires_lab

NAME = "faultlab"
OCTET = 214  # management 172.31.214.0/24, compute 172.31.215.0/24
BROKEN = "node-002"  # the second of three nodes: one before it is up, one after it is not started


@pytest.fixture(scope="module")
def module_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Plan, Lab]]:
    if lab_ready():
        pytest.skip(lab_ready())
    tmp = tmp_path_factory.mktemp(NAME)
    plan = compile_plan(load_stack(lab_variant(tmp, NAME, OCTET), Config()))
    lab = Lab(plan, StateDir(tmp / "state" / NAME))
    lab.teardown(Steps())  # what a killed earlier run of this module may have left (found by name)
    try:
        yield plan, lab
    finally:
        lab.teardown(Steps())


@pytest.fixture
def faultlab(module_lab: tuple[Plan, Lab]) -> Iterator[tuple[Plan, Lab]]:
    """The module's lab, absent before the test and torn down after it, leaving nothing."""
    plan, lab = module_lab
    assert leftovers(plan, lab) == []
    try:
        yield plan, lab
    finally:
        lab.teardown(Steps())
    assert leftovers(plan, lab) == []


def states(lab: Lab) -> dict[str, str]:
    return {s.name: s.state for s in lab.status()}


def wait_running(lab: Lab, host: str) -> None:
    """Until ``host`` (started by a provision that then failed) runs and answers SSH."""
    deadline = time.monotonic() + 30
    while states(lab)[host] != "running":
        assert time.monotonic() < deadline, f"{host} did not come up: {states(lab)}"
        time.sleep(0.2)


def test_a_node_that_fails_to_start_midway(
    faultlab: tuple[Plan, Lab], monkeypatch: pytest.MonkeyPatch
) -> None:
    plan, lab = faultlab
    start = lab._start_init

    def disk_full(h: HostPlan) -> None:
        if h.name == BROKEN:
            # What a full disk does to the first write of the node's start (no node name in it).
            path = lab.node_dir(h.name) / "init.json"
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        start(h)

    monkeypatch.setattr(lab, "_start_init", disk_full)
    with pytest.raises(LabError) as info:
        lab.provision(Steps())
    message = str(info.value)
    assert repr(BROKEN) in message and "No space left on device" in message
    # Midway: the node before the broken one was started (and comes up), the broken one wired but
    # not started, and the one after it not made at all.
    wait_running(lab, "node-001")
    assert states(lab) == {"node-001": "running", BROKEN: "stopped", "node-003": "missing"}

    # A teardown of the half-made lab leaves nothing.
    lab.teardown(Steps())
    assert leftovers(plan, lab) == []

    # Half-made again, then fixed: the next provision repairs it and leaves the good node alone.
    with pytest.raises(LabError, match=repr(BROKEN)):
        lab.provision(Steps())
    monkeypatch.setattr(lab, "_start_init", start)
    # node-001 was started but never waited for; once it answers it must be left alone.
    wait_running(lab, "node-001")
    node1_init = lab._init_pid("node-001")
    record = lab.provision(Steps())
    assert record.ok and states(lab) == dict.fromkeys(("node-001", "node-002", "node-003"), "running")
    assert record.created == (BROKEN, "node-003") and record.repaired == ()
    assert lab._init_pid("node-001") == node1_init  # not restarted
    assert lab.exec(BROKEN, ["hostname"]).stdout.strip() == BROKEN


def test_a_node_whose_sshd_never_answers(faultlab: tuple[Plan, Lab], monkeypatch: pytest.MonkeyPatch) -> None:
    plan, lab = faultlab
    monkeypatch.setattr(dcinfra.sites.lab, "SSH_TIMEOUT_S", 4.0)
    # The node's root is an overlay over the host's /: a drop-in in its upper dir breaks its sshd only.
    dropin = Path("etc/ssh/sshd_config.d/00-faultlab-broken.conf")
    upper = lab.node_dir(BROKEN) / "upper"
    (upper / dropin).parent.mkdir(parents=True)
    (upper / dropin).write_text("DcinfraNoSuchOption yes\n")

    addr = plan.host(BROKEN).addresses["management"]
    began = time.monotonic()
    with pytest.raises(LabError) as info:
        lab.provision(Steps())
    waited = time.monotonic() - began
    message = str(info.value)
    assert f"lab node {BROKEN!r}: sshd on {addr}:22 did not answer within 4s" in message
    assert str(lab.node_dir(BROKEN) / "init.log") in message
    assert "DcinfraNoSuchOption" in message  # sshd's own complaint, from the node's init log
    assert waited >= 4.0
    assert states(lab)[BROKEN] == "stopped" and states(lab)["node-001"] == "running"

    # Fixed on the node, the next provision brings the lab up and leaves the good nodes alone (the
    # broken one is restarted unless its init restarted sshd first).
    assert lab.exec(BROKEN, ["rm", f"/{dropin}"]).returncode == 0
    good = {h: lab._init_pid(h) for h in ("node-001", "node-003")}
    monkeypatch.setattr(dcinfra.sites.lab, "SSH_TIMEOUT_S", 30.0)
    record = lab.provision(Steps())
    assert record.ok and states(lab) == dict.fromkeys(("node-001", "node-002", "node-003"), "running")
    assert record.created == () and set(record.repaired) <= {BROKEN}
    assert {h: lab._init_pid(h) for h in good} == good
