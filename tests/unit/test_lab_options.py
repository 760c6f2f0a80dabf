"""stacks/lab.py's options for measuring scale: light nodes (no storage, no slurmd) and storage=0."""

from __future__ import annotations

from pathlib import Path

from dcinfra.config import Config
from dcinfra.loader import load_stack
from dcinfra.plan import compile_plan
from dcinfra.plan.types import Plan

LAB = Path(__file__).resolve().parents[2] / "stacks" / "lab.py"


def _plan(**values: str) -> Plan:
    return compile_plan(load_stack(LAB, Config(values)))


def test_light_nodes_are_compute_hosts_without_storage_or_slurm() -> None:
    plan = _plan(light_nodes="13")
    names = [h.name for h in plan.hosts]
    assert len(names) == 16
    assert names[:3] == ["node-001", "node-002", "node-003"]
    assert names[3:] == [f"light-{i:03d}" for i in range(1, 14)]
    light = [h for h in plan.hosts if h.pool == "light"]
    assert len(light) == 13 and all(set(h.roles) == {"compute"} for h in light)
    # Ceph and Slurm stay on the full nodes: no daemon, client mount or slurmd on a light node.
    assert plan.ceph is not None and set(plan.ceph.clients) == {"node-001", "node-002", "node-003"}
    assert plan.slurm is not None
    assert {n.name for n in plan.slurm.nodes} == {"node-001", "node-002", "node-003"}
    assert [p.name for p in plan.slurm.partitions] == ["node"]
    # Addresses stay in the stack's /24s.
    assert all(h.addresses["management"].startswith("172.31.250.") for h in plan.hosts)


def test_storage_0_leaves_ceph_out() -> None:
    plan = _plan(storage="0", light_nodes="5")
    assert plan.ceph is None and len(plan.hosts) == 8
    assert not any(r.startswith("ceph-") for h in plan.hosts for r in h.roles)
    assert plan.slurm is not None


def test_the_default_lab_is_the_light_free_lab() -> None:
    assert _plan() == _plan(light_nodes="0", storage="1")
    assert [h.name for h in _plan().hosts] == ["node-001", "node-002", "node-003"]
