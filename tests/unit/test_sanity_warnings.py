"""Sanity a careful engineer expects (issue: "a real site in the first hour", sections 4 and 5): a
warning severity for designs that build but lose a quorum to one rack failure, the 64-port 400G
Ethernet switch, and a ``radix=`` that names no catalog model or more ports than the model has.

Each message is pinned here; warnings never make ``validate`` exit 1 nor ``plan``/``compile_plan``
refuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dcinfra import (
    BareMetalHost,
    BareMetalSite,
    CephCluster,
    CephPool,
    Compute,
    ComputeFabric,
    Fabric,
    Hardware,
    Network,
    NodePool,
    Placement,
    Rack,
    RoceSettings,
    Slurm,
    Stack,
    Storage,
)
from dcinfra.catalog import SWITCHES
from dcinfra.cli import app
from dcinfra.errors import Problem, StackInvalid, errors_of, warnings_of
from dcinfra.plan import compile_plan, validate

REPO = Path(__file__).resolve().parents[2]

STACK_FILE = """
from dcinfra import *

NAMES = ["stor-001", "stor-002", "stor-003", "cpu-001", "cpu-002"]
stack = Stack(
    name="sane",
    site=BareMetalSite(hosts=[BareMetalHost(name=n, management_ip=f"10.0.0.{{11 + i}}")
                              for i, n in enumerate(NAMES)]),
    racks=[Rack(name="rack-a"), Rack(name="rack-b")],
    compute=Compute(pools=[
        NodePool(name="stor", count=3, hardware=Hardware(profile="cpu-storage"), roles=["storage"],
                 racks=["rack-a"]),
        NodePool(name="cpu", count=2, hardware=Hardware(profile="cpu-storage"), roles=["compute"],
                 racks=["rack-b"]),
    ]),
    fabric=Fabric(management=Network(cidr="10.0.0.0/24", interface="eno1")),
    storage=Storage(ceph=CephCluster(
        mons=Placement(pools=["stor"], count=3), osds=Placement(pools=["stor"]), devices=["/dev/nvme0n1"],
        pools=[CephPool(name="rbd", size=3, min_size={min_size}, application="rbd")],
        failure_domain="host", public_network="management")),
)
"""


def make(
    *,
    stor_racks: tuple[str, ...] = ("rack-a",),
    racks: tuple[str, ...] = ("rack-a", "rack-b"),
    cpu: int = 2,
    cpu_racks: tuple[str, ...] = ("rack-b",),
    per_rack: int | None = None,
    controllers: tuple[str, ...] = (),
) -> Stack:
    """Three Ceph hosts ("stor") and ``cpu`` compute hosts, every host in the bare-metal site."""
    names = [f"stor-{i:03d}" for i in range(1, 4)] + [f"cpu-{i:03d}" for i in range(1, cpu + 1)]
    return Stack(
        name="sane",
        site=BareMetalSite(
            hosts=[BareMetalHost(name=n, management_ip=f"10.0.0.{11 + i}") for i, n in enumerate(names)]
        ),
        racks=[Rack(name=r) for r in racks],
        compute=Compute(
            pools=[
                NodePool(
                    name="stor",
                    count=3,
                    hardware=Hardware(profile="cpu-storage"),
                    roles=["storage"],
                    racks=list(stor_racks),
                    nodes_per_rack=2 if len(stor_racks) > 1 else None,
                ),
                NodePool(
                    name="cpu",
                    count=cpu,
                    hardware=Hardware(profile="cpu-storage"),
                    roles=["compute"],
                    racks=list(cpu_racks),
                    nodes_per_rack=per_rack,
                ),
            ]
        ),
        fabric=Fabric(management=Network(cidr="10.0.0.0/24", interface="eno1")),
        storage=Storage(
            ceph=CephCluster(
                mons=Placement(pools=["stor"], count=3),
                osds=Placement(pools=["stor"]),
                devices=["/dev/nvme0n1"],
                pools=[CephPool(name="rbd", size=3, min_size=2, application="rbd")],
                failure_domain="host",
                public_network="management",
            )
        ),
        scheduler=Slurm(controller=Placement(hosts=list(controllers))) if controllers else None,
    )


def only(found: list[Problem], rule: str) -> Problem:
    (p,) = [p for p in found if p.rule == rule]
    return p


# --- Problem.severity --------------------------------------------------------------------------------


def test_a_problem_is_an_error_unless_it_says_warning_and_keeps_its_positional_order() -> None:
    p = Problem("a.b", "wrong", "fix it", "rule.x")
    assert p.severity == "error" and not p.is_warning
    w = Problem("a.b", "odd", "spread it", "rule.y", "warning")
    assert w.is_warning
    assert w.render() == "a.b: warning: odd\n    fix: spread it"
    assert p.render() == "a.b: wrong\n    fix: fix it"
    assert w.to_dict() == {
        "rule": "rule.y",
        "path": "a.b",
        "message": "odd",
        "hint": "spread it",
        "severity": "warning",
    }
    assert errors_of([w, p]) == [p] and warnings_of([w, p]) == [w]


def test_stack_invalid_counts_only_errors_and_lists_warnings_after_them() -> None:
    w = Problem("x", "odd", "", "r.w", "warning")
    e = Problem("y", "wrong", "", "r.e")
    exc = StackInvalid([w, e], source="stack 's'")
    assert exc.problems == [e, w]
    assert str(exc) == "stack 's': 1 problem found:\n  - y: wrong\n  - x: warning: odd"


# --- every Ceph monitor in one rack -------------------------------------------------------------------


def test_every_monitor_in_one_rack_is_a_warning_naming_the_rack_the_monitors_and_the_fix() -> None:
    found = validate(make())
    assert errors_of(found) == []
    p = only(found, "ceph.mons-rack")
    assert p.severity == "warning"
    assert p.path == "storage.ceph.mons"
    assert p.message == (
        "all 3 Ceph monitors are in rack 'rack-a' (stor-001, stor-002, stor-003), one of the 2 racks the "
        "stack's hosts fill: a failure of that one rack loses the monitor quorum, and the cluster stops "
        "serving I/O"
    )
    assert p.hint == (
        "spread the monitors over racks: every host of pool 'stor' is in rack 'rack-a', so spread the pool "
        "(NodePool.racks=[...] with nodes_per_rack=N), or name hosts of other racks in "
        "storage.ceph.mons.hosts"
    )


def test_a_stack_with_only_warnings_compiles_and_its_plan_carries_them() -> None:
    plan = compile_plan(make())
    assert [w.rule for w in plan.warnings] == ["ceph.mons-rack"]
    # A report about the plan, not a part of it: plan.json and plan diffs do not see it.
    from dcinfra.plan.types import to_jsonable

    assert "warnings" not in to_jsonable(plan)


def test_monitors_spread_over_racks_get_no_warning() -> None:
    found = validate(make(stor_racks=("rack-a", "rack-b")))
    assert found == [], found


def test_a_stack_whose_hosts_are_all_in_one_rack_is_not_nagged() -> None:
    found = validate(make(racks=("rack-a",), cpu_racks=("rack-a",)))
    assert found == [], found


def test_the_lab_stack_has_no_warning() -> None:
    from dcinfra.config import Config
    from dcinfra.loader import load_stack

    assert validate(load_stack(REPO / "stacks" / "lab.py", Config())) == []


def test_an_error_and_a_warning_refuse_the_plan_with_the_warning_last() -> None:
    bad = make()
    assert bad.storage.ceph is not None
    ceph = bad.storage.ceph.model_copy(update={"mons": Placement(pools=["stor"], count=2)})
    stack = bad.model_copy(update={"storage": bad.storage.model_copy(update={"ceph": ceph})})
    with pytest.raises(StackInvalid) as exc:
        compile_plan(stack)
    rules = [(p.rule, p.severity) for p in exc.value.problems]
    assert rules[-1] == ("ceph.mons-rack", "warning")
    assert ("ceph.mons", "error") in rules
    assert exc.value.problems == validate(stack)


# --- primary and backup Slurm controller in one rack -------------------------------------------------


def test_primary_and_backup_controller_in_one_rack_is_a_warning_naming_a_host_elsewhere() -> None:
    stack = make(
        stor_racks=("rack-a", "rack-b"),
        cpu=3,
        cpu_racks=("rack-b", "rack-a"),
        per_rack=2,
        controllers=("cpu-001", "cpu-002"),
    )
    p = only(validate(stack), "slurm.controller-rack")
    assert p.severity == "warning" and p.path == "scheduler.controller"
    assert p.message == (
        "the primary and the backup Slurm controller ('cpu-001', 'cpu-002') are both in rack 'rack-b', one "
        "of the 2 racks the stack's hosts fill: a failure of that one rack stops slurmctld, and no job is "
        "scheduled, although the backup is there to survive it"
    )
    assert p.hint == (
        "spread the controllers over racks: name hosts in different racks in scheduler.controller.hosts "
        "(e.g. 'cpu-003' in rack 'rack-a')"
    )


def test_one_controller_or_controllers_in_two_racks_get_no_warning() -> None:
    base = {"stor_racks": ("rack-a", "rack-b"), "cpu": 3, "cpu_racks": ("rack-b", "rack-a"), "per_rack": 2}
    assert validate(make(**base, controllers=("cpu-001",))) == []  # type: ignore[arg-type]
    assert validate(make(**base, controllers=("cpu-001", "cpu-003"))) == []  # type: ignore[arg-type]


# --- the command line ----------------------------------------------------------------------------------


@pytest.fixture
def stack_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COLUMNS", "250")
    path = tmp_path / "sane.py"
    path.write_text(STACK_FILE.format(min_size=2))
    return path


def test_validate_exits_0_with_only_warnings_and_prints_them_marked(stack_file: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(stack_file)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "✓ stack 'sane' is valid" in out and "; 1 warning" in out
    assert "warnings (1)" in out
    assert "! storage.ceph.mons: warning: all 3 Ceph monitors are in rack 'rack-a'" in out
    assert "[ceph.mons-rack]" in out


def test_validate_json_with_only_warnings_is_valid_and_gives_each_its_severity(stack_file: Path) -> None:
    result = CliRunner().invoke(app, ["validate", str(stack_file), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["valid"] is True
    assert [(p["rule"], p["severity"]) for p in doc["problems"]] == [("ceph.mons-rack", "warning")]


def test_validate_with_an_error_exits_1_and_lists_warnings_after_the_errors(
    stack_file: Path,
) -> None:
    stack_file.write_text(STACK_FILE.format(min_size=5))  # min_size above size: an error
    result = CliRunner().invoke(app, ["validate", str(stack_file)])
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "1 problem found (and 1 warning)" in out
    assert out.index("✗ storage.ceph.pools[0]") < out.index("warnings (1)") < out.index("! storage.ceph.mons")
    doc = json.loads(CliRunner().invoke(app, ["validate", str(stack_file), "--json"]).stdout)
    assert doc["valid"] is False
    assert [p["severity"] for p in doc["problems"]] == ["error", "warning"]


def test_plan_shows_the_warnings_and_does_not_refuse(stack_file: Path) -> None:
    result = CliRunner().invoke(app, ["plan", str(stack_file)])
    assert result.exit_code == 0, result.output
    assert "warnings (1)" in result.stdout
    assert "warning: all 3 Ceph monitors are in rack 'rack-a'" in result.stdout
    doc = json.loads(CliRunner().invoke(app, ["plan", str(stack_file), "--json"]).stdout)
    assert [w["rule"] for w in doc["warnings"]] == ["ceph.mons-rack"]
    assert doc["warnings"][0]["severity"] == "warning"


def test_plan_json_of_a_stack_without_warnings_has_an_empty_list() -> None:
    result = CliRunner().invoke(app, ["plan", str(REPO / "stacks" / "lab.py"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["warnings"] == []


# --- the 64-port 400G Ethernet switch ----------------------------------------------------------------


def roce(switch: str, radix: int | None = None, nodes: int = 2) -> Stack:
    names = [f"gpu-{i:03d}" for i in range(1, nodes + 1)]
    return Stack(
        name="roce",
        site=BareMetalSite(
            hosts=[BareMetalHost(name=n, management_ip=f"10.0.0.{11 + i}") for i, n in enumerate(names)]
        ),
        racks=[Rack(name="rack-a", power_budget_kw=80, cooling="liquid")],
        compute=Compute(pools=[NodePool(name="gpu", count=nodes, hardware=Hardware(profile="hgx-h200"))]),
        fabric=Fabric(
            management=Network(cidr="10.0.0.0/24", interface="eno1"),
            compute=ComputeFabric(
                kind="roce",
                switch=switch,
                radix=radix,
                cidr="10.128.0.0/16",
                mtu=9000,
                roce=RoceSettings(),
            ),
        ),
    )


def test_the_catalog_has_a_64_port_400g_ethernet_switch_next_to_the_sn5600() -> None:
    s = SWITCHES["sn5400"]
    assert (s.radix, s.port_gbps, s.transport, s.emulated) == (64, 400, "roce", False)
    assert s.source.startswith("https://docs.nvidia.com/networking/display/sn5000/")
    assert s.power_w is None  # no figure in a source read: not a guess


def test_a_roce_fabric_plans_on_the_sn5400() -> None:
    plan = compile_plan(roce("sn5400"))
    assert plan.fabric is not None
    assert (plan.fabric.switch, plan.fabric.radix, plan.fabric.link_gbps) == ("sn5400", 64, 400)


# --- radix= ----------------------------------------------------------------------------------------------


def test_radix_with_a_switch_the_catalog_lacks_says_radix_is_no_stand_in() -> None:
    p = only(validate(roce("sn5440", radix=64)), "catalog.unknown")
    assert p.path == "fabric.compute.switch"
    assert p.message == (
        "unknown switch 'sn5440' (with radix=64): radix only sets the ports per switch of a catalog model; "
        "the model's transport, line rate and MTU come from the catalog"
    )
    assert p.hint.startswith("did you mean 'sn5400'")
    assert "known: q3400 144 x 800G, qm8700 40 x 200G, qm9700 64 x 400G, sn5400 64 x 400G, " in p.hint
    assert p.hint.endswith("lab-bridge (the lab's Linux bridge)")


def test_a_radix_above_the_models_ports_names_the_models_that_have_enough() -> None:
    p = only(validate(roce("sn5400", radix=128)), "fabric.radix")
    assert p.path == "fabric.compute.radix"
    assert p.message == (
        "radix=128 but 'sn5400' has 64 ports at 400 Gb/s: a radix above the model's port count plans "
        "switches that do not exist"
    )
    assert p.hint == (
        "use radix <= 64 (or leave it None for the catalog value), or a switch with 128 ports or more: "
        "did you mean 'sn5600'? roce switches: sn5400 64 x 400G, sn5600 128 x 400G, sn5600-800g 64 x 800G"
    )


def test_a_radix_within_the_models_ports_is_accepted() -> None:
    plan = compile_plan(roce("sn5600", radix=64))
    assert plan.fabric is not None and plan.fabric.radix == 64


def test_up_says_the_warnings_first_and_goes_on() -> None:
    """``up`` reports each warning as a step before it takes the lock (where this test stops it)."""
    from typing import Any

    from dcinfra import pipeline

    class Stop(Exception):
        pass

    class State:
        def lock(self, *args: Any, **kwargs: Any) -> Any:
            raise Stop

    class Steps:
        def __init__(self) -> None:
            self.lines: list[str] = []

        def step(self, message: str) -> None:
            self.lines.append(message)

    steps = Steps()
    with pytest.raises(Stop):
        pipeline.up(make(), State(), steps=steps)  # type: ignore[arg-type]
    assert steps.lines == [
        "warning: storage.ceph.mons: all 3 Ceph monitors are in rack 'rack-a' (stor-001, stor-002, "
        "stor-003), one of the 2 racks the stack's hosts fill: a failure of that one rack loses the "
        "monitor quorum, and the cluster stops serving I/O (fix: spread the monitors over racks: every "
        "host of pool 'stor' is in rack 'rack-a', so spread the pool (NodePool.racks=[...] with "
        "nodes_per_rack=N), or name hosts of other racks in storage.ceph.mons.hosts)"
    ]
