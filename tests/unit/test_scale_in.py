"""Scale-in and ``--limit`` without hosts: what the plan drops and what each host holds
(:func:`dcinfra.plan.removals.removals`), ``up`` refusing a removal (nothing provisioned, no playbook
run) and running scale_in.yml from the last applied build before anything else with --allow-remove,
and ``--limit`` checked against the plan. The real removal on a Ceph lab is in
tests/integration/test_storage.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import dcinfra.pipeline
from dcinfra.config import Config
from dcinfra.errors import DcinfraError
from dcinfra.loader import load_stack
from dcinfra.pipeline import RemovalRefused, ScaleInFailed, check_limit, up
from dcinfra.plan import compile_plan
from dcinfra.plan.removals import removals
from dcinfra.plan.types import Plan, to_jsonable
from dcinfra.render import render, write_tree
from dcinfra.sites import HostsRecord, Progress, TeardownRecord
from dcinfra.state import StateDir
from tests.unit.test_pipeline_paths import FakeAnsible, FakeSite, run_record

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "stacks" / "lab.py"


def lab(nodes: int) -> Plan:
    return compile_plan(load_stack(LAB, Config({"nodes": str(nodes)})))


def test_a_dropped_host_is_named_with_what_it_holds() -> None:
    four, three = lab(4), lab(3)
    gone = removals(to_jsonable(four), three)
    assert [r.host for r in gone] == ["node-004"]
    r = gone[0]
    assert r.osds == (3,) and not r.mon and r.slurm_node and not r.datanode and not r.blockers
    assert r.daemons == ("CephFS client",)
    assert any("osd.3" in h for h in r.holds) and any("Slurm" in h for h in r.holds)
    assert removals(to_jsonable(three), three) == []
    assert removals(to_jsonable(three), four) == []  # scale-out removes nothing


def test_losing_monitor_quorum_or_the_slurm_controller_is_a_blocker() -> None:
    four, three = lab(4), lab(3)
    applied = to_jsonable(four)
    applied["storage"]["ceph"]["mons"] = ["node-001", "node-004"]  # 1 of 2 stays: no quorum
    (r,) = removals(applied, three)
    assert r.mon and any("loses quorum" in b for b in r.blockers), r.blockers
    applied["storage"]["ceph"]["mons"] = ["node-002", "node-003", "node-004"]  # 2 of 3 stay
    (r,) = removals(applied, three)
    assert r.mon and not r.blockers and r.monitors == (3, 2)
    assert any("3 -> 2 monitors, quorum needs 2" in h for h in r.holds), r.holds
    # A stack whose controller and slurmdbd host, node-004, is dropped.
    applied = json.loads(json.dumps(to_jsonable(four)).replace('"node-001"', '"node-00X"'))
    applied = json.loads(
        json.dumps(applied).replace('"node-004"', '"node-001"').replace('"node-00X"', '"node-004"')
    )
    blockers = {r.host: r.blockers for r in removals(applied, three)}
    assert any("Slurm controller" in b for b in blockers["node-004"]), blockers


class RemovingSite(FakeSite):
    """A site that provisions and records removals."""

    removed: list[str]

    def provision(self, progress: Progress) -> Any:
        return HostsRecord("lab", tuple(self.status()), ssh_key="/nonexistent/key")

    def remove(self, hosts: list[str], progress: Progress) -> TeardownRecord:
        self.removed = [*getattr(self, "removed", []), *hosts]
        return TeardownRecord(tuple(hosts))


@pytest.fixture
def scaled_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[StateDir, FakeAnsible, RemovingSite]:
    """A 4-node lab applied; the stack now has 3 nodes."""
    state = StateDir(tmp_path / "state" / "lab")
    state.ensure()
    four = lab(4)
    write_tree(render(four), state.build)
    record = {"plan": to_jsonable(four), "deployed": {"ceph": True, "hdfs": False}}
    state.applied_plan.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    site = RemovingSite(lab(3))
    ansible = FakeAnsible()
    monkeypatch.setattr(dcinfra.pipeline, "provider_for", lambda p, s: site)
    monkeypatch.setattr(dcinfra.pipeline, "run_playbook", ansible)
    return state, ansible, site


def test_up_refuses_a_removal_without_the_flag_and_touches_nothing(
    scaled_in: tuple[StateDir, FakeAnsible, RemovingSite],
) -> None:
    state, ansible, site = scaled_in
    before = state.applied_plan.read_text()
    site.provision = lambda progress: pytest.fail("nothing is provisioned")  # type: ignore[method-assign]
    with pytest.raises(RemovalRefused) as exc:
        up(load_stack(LAB, Config({"nodes": "3"})), state, run_verify=False)
    text = str(exc.value)
    assert (
        "node-004" in text and "osd.3" in text and "--allow-remove" in text and "nothing was touched" in text
    )
    assert ansible.calls == [] and state.applied_plan.read_text() == before
    assert "node-004" in (state.build / "inventory" / "hosts.yml").read_text()


def test_up_with_the_flag_runs_scale_in_on_the_applied_build_first(
    scaled_in: tuple[StateDir, FakeAnsible, RemovingSite],
) -> None:
    state, _, site = scaled_in
    seen: list[str] = []

    def fake(playbook: Path, inventory: Path, **kwargs: Any) -> Any:
        # scale_in.yml runs while the build still has node-004, before the new plan is rendered
        seen.append(f"{Path(playbook).name}:{'node-004' in inventory.read_text()}")
        name = Path(playbook).name
        return run_record(name)

    ansible_calls: list[dict[str, Any]] = []
    dcinfra.pipeline.run_playbook = lambda p, i, **k: (ansible_calls.append(k), fake(p, i, **k))[1]  # type: ignore[assignment]
    record = up(load_stack(LAB, Config({"nodes": "3"})), state, run_verify=False, allow_remove=True)
    assert seen == ["scale_in.yml:True", "site.yml:False"]
    assert ansible_calls[0]["extravars"]["dcinfra_remove_hosts"] == ["node-004"]
    assert ansible_calls[0]["extravars"]["dcinfra_allow_remove"] is True
    assert site.removed == ["node-004"] and [r.host for r in record.removed] == ["node-004"]
    hosts = [h["name"] for h in json.loads(state.applied_plan.read_text())["plan"]["hosts"]]
    assert hosts == ["node-001", "node-002", "node-003"]


def test_a_failed_scale_in_deprovisions_nothing_and_keeps_the_build(
    scaled_in: tuple[StateDir, FakeAnsible, RemovingSite],
) -> None:
    state, ansible, site = scaled_in
    from dcinfra.engines.ansible import TaskFailure

    failure = TaskFailure(
        "node-001", "Wait until their data has moved (every PG active+clean)", "ceph", "timeout"
    )
    ansible.record = run_record("scale_in.yml", failures=(failure,))
    with pytest.raises(ScaleInFailed) as exc:
        up(load_stack(LAB, Config({"nodes": "3"})), state, run_verify=False, allow_remove=True)
    assert "active+clean" in str(exc.value) and "--allow-remove" in str(exc.value)
    assert not getattr(site, "removed", [])
    assert [c["playbook"] for c in ansible.calls] == ["scale_in.yml"]
    assert "node-004" in (state.build / "inventory" / "hosts.yml").read_text()


def test_limit_names_hosts_groups_or_patterns_of_the_plan() -> None:
    plan = lab(3)
    for ok in (None, "node-001", "node-001,node-002", "ceph_osd", "node-00*", "compute:&ceph_mon", "all"):
        check_limit(plan, ok)
    with pytest.raises(DcinfraError) as exc:
        check_limit(plan, "node-009")
    assert "'node-009'" in str(exc.value) and "node-001" in str(exc.value) and "ceph_osd" in str(exc.value)
    with pytest.raises(DcinfraError):
        check_limit(plan, " , ")


def test_up_with_a_limit_configures_only_those_hosts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = StateDir(tmp_path / "state" / "lab")
    site = RemovingSite(lab(3))
    ansible = FakeAnsible(record=run_record("site.yml"))
    monkeypatch.setattr(dcinfra.pipeline, "provider_for", lambda p, s: site)
    monkeypatch.setattr(dcinfra.pipeline, "run_playbook", ansible)
    record = up(load_stack(LAB, Config({"nodes": "3"})), state, run_verify=False, limit="node-002")
    assert [c["limit"] for c in ansible.calls] == ["node-002"] and record.limit == "node-002"
    # the plan is still recorded whole
    assert len(json.loads(state.applied_plan.read_text())["plan"]["hosts"]) == 3


def test_lab_orphans_are_node_dirs_of_the_stack_in_no_plan(tmp_path: Path) -> None:
    from dcinfra.sites.lab import Lab

    state = StateDir(tmp_path / "state" / "lab")
    site = Lab(lab(3), state)
    assert site.orphans() == []
    for name in ("node-001", "node-004", "node-007"):
        (state.lab / name).mkdir(parents=True)
    assert site.orphans() == ["node-004", "node-007"]
