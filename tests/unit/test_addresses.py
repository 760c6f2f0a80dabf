"""Stable addresses (issue "a real site in the first hour", section 1): pools hold blocks of address
slots, any address can be pinned per host, and a plan that moves an applied host's address is found,
explained (what binds to it, how to keep it) and refused by ``up`` without ``--allow-address-change``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import dcinfra.pipeline
from dcinfra import (
    CephCluster,
    CephPool,
    Compute,
    ComputeFabric,
    Fabric,
    Hardware,
    HostAddresses,
    LabSite,
    Network,
    NodePool,
    Placement,
    PoolAddresses,
    Rack,
    Stack,
    Storage,
)
from dcinfra.errors import Problem, StackInvalid
from dcinfra.pipeline import AddressMoveRefused, preview, up
from dcinfra.plan import compile_plan
from dcinfra.plan.moves import address_moves, keep_hints
from dcinfra.plan.types import Plan, to_jsonable
from dcinfra.render import render, write_tree
from dcinfra.state import StateDir
from tests.unit.test_pipeline_paths import FakeAnsible, run_record
from tests.unit.test_scale_in import RemovingSite

CPU = Hardware(profile="lab-cpu")


def stack(
    gpu_a: int = 2,
    *,
    a: PoolAddresses | None = None,
    b: PoolAddresses | None = None,
    stor: PoolAddresses | None = None,
) -> Stack:
    """Two compute pools and a Ceph pool with a storage network: the issue's site in miniature."""
    pools = [
        NodePool(name="gpu-a", count=gpu_a, hardware=CPU, addresses=a or PoolAddresses()),
        NodePool(name="gpu-b", count=2, hardware=CPU, addresses=b or PoolAddresses()),
        NodePool(name="stor", count=3, hardware=CPU, roles=["storage"], addresses=stor or PoolAddresses()),
    ]
    return Stack(
        name="addr",
        site=LabSite(),
        racks=[Rack(name="rack-a")],
        compute=Compute(pools=pools),
        fabric=Fabric(
            management=Network(cidr="172.31.250.0/24"),
            storage=Network(cidr="172.31.252.0/24", interface="stor0"),
            compute=ComputeFabric(kind="ethernet", switch="lab-bridge", cidr="172.31.251.0/24", mtu=1500),
        ),
        storage=Storage(
            ceph=CephCluster(
                mons=Placement(pools=["stor"], count=3),
                osds=Placement(pools=["stor"]),
                pools=[CephPool(name="rbd", size=3, min_size=2, application="rbd")],
                failure_domain="host",
                public_network="storage",
            )
        ),
    )


def applied(plan: Plan) -> dict[str, Any]:
    """The plan as ``up`` records it (through JSON, as read back from applied.json)."""
    return json.loads(json.dumps(to_jsonable(plan)))


def problems(s: Stack) -> list[Problem]:
    with pytest.raises(StackInvalid) as exc:
        compile_plan(s)
    return list(exc.value.problems)


def addr(plan: Plan, host: str, net: str) -> str:
    return next(h.addresses[net] for h in plan.hosts if h.name == host)


def test_default_packing_is_unchanged_and_growing_the_first_pool_moves_the_monitors() -> None:
    before = compile_plan(stack())
    assert addr(before, "gpu-b-001", "management") == "172.31.250.12"
    assert addr(before, "stor-001", "storage") == "172.31.252.14"
    after = compile_plan(stack(gpu_a=3))
    moves = address_moves(applied(before), after)
    moved = {(m.host, m.network) for m in moves}
    assert ("stor-001", "storage") in moved and ("gpu-b-001", "rail 0") in moved
    assert not {m.host for m in moves} & {"gpu-a-001", "gpu-a-002"}
    mon = next(m for m in moves if m.host == "stor-001" and m.network == "storage")
    assert (mon.before, mon.after) == ("172.31.252.14", "172.31.252.15")
    assert any("Ceph monitor" in h for h in mon.holds)
    assert "stor-001 storage: 172.31.252.14 -> 172.31.252.15 [a Ceph monitor" in mon.render()


def test_the_hints_keep_every_applied_address_when_followed() -> None:
    before = compile_plan(stack())
    grown = compile_plan(stack(gpu_a=3))
    hints = keep_hints(address_moves(applied(before), grown), applied(before), grown)
    assert (
        "keep pool 'gpu-b' where it was: NodePool(name='gpu-b', ..., addresses=PoolAddresses(offset=2))"
        in hints
    )
    assert (
        "keep pool 'stor' where it was: NodePool(name='stor', ..., addresses=PoolAddresses(offset=4))"
        in hints
    )
    grew = next(h for h in hints if h.startswith("pool 'gpu-a' grew"))
    assert (
        "HostAddresses(host='gpu-a-003', management='172.31.250.17', storage='172.31.252.17', "
        "rails=['172.31.251.14'])" in grew
    )
    # Following them: gpu-b and stor keep their blocks, the new host is pinned past every applied address.
    fixed = stack(
        gpu_a=3,
        a=PoolAddresses(
            hosts=[
                HostAddresses(
                    host="gpu-a-003",
                    management="172.31.250.17",
                    storage="172.31.252.17",
                    rails=["172.31.251.14"],
                )
            ]
        ),
        b=PoolAddresses(offset=2),
        stor=PoolAddresses(offset=4),
    )
    plan = compile_plan(fixed)
    assert address_moves(applied(before), plan) == []
    assert addr(plan, "gpu-a-003", "storage") == "172.31.252.17"


def test_a_reserved_block_lets_a_pool_grow_without_moving_the_next() -> None:
    before = compile_plan(stack(a=PoolAddresses(reserve=8)))
    assert addr(before, "gpu-b-001", "management") == "172.31.250.18"
    after = compile_plan(stack(gpu_a=8, a=PoolAddresses(reserve=8)))
    assert address_moves(applied(before), after) == []


def test_an_offset_fixes_a_pool_on_every_network_it_joins() -> None:
    plan = compile_plan(stack(stor=PoolAddresses(offset=100)))
    assert addr(plan, "stor-002", "management") == "172.31.250.111"
    assert addr(plan, "stor-002", "storage") == "172.31.252.111"


def test_overlapping_blocks_are_one_problem_naming_both_pools() -> None:
    found = problems(stack(b=PoolAddresses(offset=1)))
    overlap = [p for p in found if p.rule == "address.overlap"]
    assert len(overlap) == 1, found
    assert overlap[0].path == "compute.pools[1].addresses.offset"
    assert overlap[0].message == (
        "pool 'gpu-b' takes address slots 1-2 (management), which overlap slots 0-1 of pool 'gpu-a'"
    )
    assert "offset=2 or higher" in overlap[0].hint
    assert not [p for p in found if p.rule == "address.duplicate"]


def test_pins_are_checked_against_their_networks_and_hosts() -> None:
    found = problems(
        stack(
            a=PoolAddresses(
                reserve=1,
                hosts=[
                    HostAddresses(host="gpu-a-009", storage="172.31.252.50"),
                    HostAddresses(
                        host="gpu-a-001", storage="10.9.9.9", rails=["172.31.251.60", "172.31.251.61"]
                    ),
                ],
            ),
            stor=PoolAddresses(hosts=[HostAddresses(host="stor-001", rails=["172.31.251.70"])]),
        )
    )
    by_path = {p.path: p for p in found}
    assert by_path["compute.pools[0].addresses.reserve"].message == (
        "pool 'gpu-a' reserves 1 address slots but has count=2"
    )
    assert by_path["compute.pools[0].addresses.hosts[0].host"].message == (
        "'gpu-a-009' is not a host of pool 'gpu-a'"
    )
    assert "did you mean 'gpu-a-002'?" in by_path["compute.pools[0].addresses.hosts[0].host"].hint
    assert by_path["compute.pools[0].addresses.hosts[1].storage"].message == (
        "pinned address '10.9.9.9' is not a host address of the storage network '172.31.252.0/24'"
    )
    assert by_path["compute.pools[0].addresses.hosts[1].rails"].message == (
        "2 rail address(es) pinned for 'gpu-a-001', which has 1 rails"
    )
    assert by_path["compute.pools[2].addresses.hosts[0].rails"].message == (
        "'stor-001' is not on the compute fabric, so it has no rail address to pin"
    )


def test_a_pin_on_another_hosts_address_is_a_duplicate_at_the_pin() -> None:
    found = problems(
        stack(b=PoolAddresses(hosts=[HostAddresses(host="gpu-b-002", management="172.31.250.10")]))
    )
    dup = [p for p in found if p.rule == "address.duplicate"]
    assert len(dup) == 1, found
    assert dup[0].path == "compute.pools[1].addresses.hosts[0]"
    assert dup[0].message == (
        "address '172.31.250.10' of 'gpu-b-002' on management is also used by 'gpu-a-001'"
    )


def test_blocks_past_the_network_end_are_one_size_problem() -> None:
    found = problems(stack(stor=PoolAddresses(offset=243)))
    assert [p.rule for p in found] == ["network.size", "network.size"], found
    assert {p.path for p in found} == {"fabric.management.cidr", "fabric.storage.cidr"}
    assert found[0].message == (
        "'172.31.250.0/24' (management) has room for 245 hosts (slots 0-244) but the pools' address "
        "blocks reach slot 245: the hosts past its end get no address on it"
    )


@pytest.fixture
def grown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[StateDir, FakeAnsible]:
    """The issue's stack applied; now its first pool has one more node."""
    state = StateDir(tmp_path / "state" / "addr")
    state.ensure()
    before = compile_plan(stack())
    write_tree(render(before), state.build)
    record = {"plan": to_jsonable(before), "deployed": {"ceph": True, "hdfs": False}}
    state.applied_plan.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    site = RemovingSite(compile_plan(stack(gpu_a=3)))
    ansible = FakeAnsible(record=run_record("site.yml"))
    monkeypatch.setattr(dcinfra.pipeline, "provider_for", lambda p, s: site)
    monkeypatch.setattr(dcinfra.pipeline, "run_playbook", ansible)
    return state, ansible


def test_up_refuses_an_address_move_without_the_flag_and_touches_nothing(
    grown: tuple[StateDir, FakeAnsible],
) -> None:
    state, ansible = grown
    before = state.applied_plan.read_text()
    with pytest.raises(AddressMoveRefused) as exc:
        up(stack(gpu_a=3), state, run_verify=False)
    text = str(exc.value)
    assert text.startswith("stack 'addr': the plan moves 12 address(es) of 5 applied host(s):\n")
    assert "  - stor-001 storage: 172.31.252.14 -> 172.31.252.15 [a Ceph monitor" in text
    assert "offset=4" in text and "--allow-address-change" in text and "nothing was touched" in text
    assert ansible.calls == [] and state.applied_plan.read_text() == before


def test_up_with_the_flag_moves_them_and_says_so(grown: tuple[StateDir, FakeAnsible]) -> None:
    state, ansible = grown
    record = up(stack(gpu_a=3), state, run_verify=False, allow_address_change=True)
    assert [c["playbook"] for c in ansible.calls] == ["site.yml"]
    assert len(record.moved) == 12 and record.to_dict()["address_moves"][0]["before"]
    assert (
        address_moves(json.loads(state.applied_plan.read_text())["plan"], compile_plan(stack(gpu_a=3))) == []
    )


def test_preview_shows_the_moves_loudly_with_how_to_keep_them(grown: tuple[StateDir, FakeAnsible]) -> None:
    from rich.console import Console

    from dcinfra.cli.summaries import preview_summary

    state, _ = grown
    record = preview(stack(gpu_a=3), state)
    assert record.changes and len(record.address_moves) == 12
    assert record.to_dict()["address_moves"][0]["host"] == "gpu-b-001"
    console = Console(width=200, record=True)
    console.print(preview_summary(record))
    text = console.export_text()
    assert "! the plan moves 12 address(es) of 5 applied host(s):" in text
    assert "keep pool 'stor' where it was" in text and "up refuses without --allow-address-change" in text


def test_plan_warns_on_stderr_when_the_last_up_would_see_its_addresses_move(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from dcinfra.cli import app

    root = tmp_path / "states"
    monkeypatch.setenv("DCINFRA_STATE_DIR", str(root))
    monkeypatch.setenv("COLUMNS", "250")
    state = StateDir.for_stack("addr", root).ensure()
    state.applied_plan.write_text(json.dumps({"plan": to_jsonable(compile_plan(stack()))}))
    path = tmp_path / "grown.py"
    repo = Path(__file__).resolve().parents[2]
    path.write_text(
        f"import sys\nsys.path.insert(0, {str(repo)!r})\n"
        "from tests.unit.test_addresses import stack as make\n\nstack = make(gpu_a=3)\n"
    )
    result = CliRunner().invoke(app, ["plan", str(path), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["stack"] == "addr"  # stdout stays the plan
    assert "! the plan moves 12 address(es) of 5 applied host(s):" in result.stderr
    assert "up refuses without --allow-address-change" in result.stderr
    same = tmp_path / "same.py"
    same.write_text(path.read_text().replace("gpu_a=3", "gpu_a=2"))
    result = CliRunner().invoke(app, ["plan", str(same)], catch_exceptions=False)
    assert result.exit_code == 0 and "moves" not in result.stderr


def test_validate_warns_per_pool_when_applied_addresses_would_move(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from dcinfra.cli import app

    root = tmp_path / "states"
    monkeypatch.setenv("DCINFRA_STATE_DIR", str(root))
    monkeypatch.setenv("COLUMNS", "400")
    state = StateDir.for_stack("addr", root).ensure()
    state.applied_plan.write_text(json.dumps({"plan": to_jsonable(compile_plan(stack()))}))
    path = tmp_path / "grown.py"
    repo = Path(__file__).resolve().parents[2]
    path.write_text(
        f"import sys\nsys.path.insert(0, {str(repo)!r})\n"
        "from tests.unit.test_addresses import stack as make\n\nstack = make(gpu_a=3)\n"
    )
    result = CliRunner().invoke(app, ["validate", str(path), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output  # warnings only: still valid
    doc = json.loads(result.stdout)
    moves = [p for p in doc["problems"] if p["rule"] == "address.move"]
    assert [p["path"] for p in moves] == ["compute.pools[1].addresses", "compute.pools[2].addresses"]
    assert all(p["severity"] == "warning" for p in moves)
    assert moves[1]["message"].startswith(
        "the last `up` applied 3 host(s) of pool 'stor' at other addresses: 6 would move ("
    )
    assert "PoolAddresses(offset=4)" in moves[1]["hint"]
    assert "--allow-address-change" in moves[1]["hint"]
