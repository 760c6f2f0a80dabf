"""Tenants end to end, on the two-tenant example (``stacks/two_tenants.py``): pool ownership declared
once (``Tenant.pools`` or ``NodePool.tenant``), the stack's required flows scoped per tenant while shared
services reach every tenant, isolation stated per network (nftables; InfiniBand partitions; RoCE RDMA
not isolated, with the reason), Kueue queues holding only their tenant's flavors with borrowing and
lending limits, and the golden isolation summary of the example's plan."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dcinfra.cli import app
from dcinfra.config import Config
from dcinfra.errors import Problem
from dcinfra.loader import load_stack
from dcinfra.model.stack import Stack
from dcinfra.plan import compile_plan, validate
from dcinfra.plan.types import Plan, to_jsonable
from dcinfra.platform import K8sObject, build_objects
from dcinfra.render import render
from dcinfra.render.slurm import slurm_conf
from tests.conftest import rewrote, updating_golden

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "stacks" / "two_tenants.py"
GOLDEN = ROOT / "tests" / "fixtures" / "tenants" / "two_tenants.json"
_TOKEN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def example() -> Stack:
    return load_stack(EXAMPLE, Config({}))


def mutate(stack: Stack, changes: dict[str, Any]) -> Stack:
    """A validated copy of ``stack`` with each field path (``compute.pools[1].tenant``) set."""
    data = stack.model_dump()
    for path, value in changes.items():
        keys: list[Any] = [m.group(1) if m.group(1) else int(m.group(2)) for m in _TOKEN.finditer(path)]
        target: Any = data
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return Stack.model_validate(data)


def only_on_pools(stack: Stack) -> Stack:
    """Ownership declared on the pools only: no ``security.tenants`` at all."""
    return mutate(
        stack,
        {"security.tenants": [], "compute.pools[0].tenant": "research", "compute.pools[1].tenant": "prod"},
    )


def errors(stack: Stack) -> list[Problem]:
    """The errors validation finds (warnings left out)."""
    return [p for p in validate(stack) if p.severity == "error"]


def flows(plan: Plan) -> dict[str, Any]:
    return {f.name: f for f in plan.security.flows}


def tenant_of(plan: Plan) -> dict[str, str | None]:
    return {h.name: h.tenant for h in plan.hosts}


def isolation(plan: Plan) -> dict[tuple[str, str], Any]:
    return {(i.network, i.traffic): i for i in plan.security.isolation}


# -- one source of truth for pool ownership --------------------------------------------------------------


def test_the_example_is_valid_and_isolates_two_tenants() -> None:
    stack = example()
    assert errors(stack) == []
    plan = compile_plan(stack)
    owners = tenant_of(plan)
    assert {owners[f"research-{i:03d}"] for i in range(1, 9)} == {"research"}
    assert {owners[f"prod-{i:03d}"] for i in range(1, 9)} == {"prod"}
    assert owners["stor-001"] is None and owners["svc-001"] is None  # shared services: no tenant
    assert all(f.allowed for f in plan.security.flows)


def test_declaring_the_tenant_on_the_pool_alone_is_enough() -> None:
    stack = only_on_pools(example())
    assert errors(stack) == []
    plan = compile_plan(stack)
    assert tenant_of(plan)["research-001"] == "research"
    ruleset = plan.security.rulesets[plan.host("research-001").firewall]
    drops = [r for r in ruleset if r.comment == "tenant-isolation: from tenant prod"]
    assert len(drops) == 1 and drops[0].action == "drop"
    prod = plan.host("prod-001")
    # every network of the other tenant's host is dropped: management, storage and its rails
    for addr in (prod.addresses["management"], prod.addresses["storage"], prod.rails[3].address):
        assert any(_covers(c, addr) for c in drops[0].sources), addr
    assert tenant_of(plan) == tenant_of(compile_plan(example()))


def _covers(cidr: str, addr: str) -> bool:
    from ipaddress import IPv4Address, IPv4Network

    return IPv4Address(addr) in IPv4Network(cidr)


def test_the_same_fact_in_both_places_is_fine_when_they_agree() -> None:
    stack = mutate(example(), {"compute.pools[0].tenant": "research"})
    assert errors(stack) == []


def test_a_tenant_entry_without_pools_takes_the_pools_that_name_it() -> None:
    stack = mutate(
        example(),
        {"security.tenants[1].pools": [], "compute.pools[1].tenant": "prod"},
    )
    assert errors(stack) == []
    assert tenant_of(compile_plan(stack))["prod-001"] == "prod"


def test_disagreeing_places_are_one_problem_naming_both() -> None:
    stack = mutate(example(), {"compute.pools[0].tenant": "prod"})
    problems = [p for p in errors(stack) if p.rule == "security.tenants"]
    assert [(p.path, p.message, p.hint) for p in problems] == [
        (
            "compute.pools[0].tenant",
            "pool 'gpu-research' says tenant='prod' but security.tenants[0].pools[0] gives it to tenant "
            "'research'",
            "a pool's tenant is one fact: declare it in one place (NodePool.tenant or Tenant.pools), or make "
            "both say the same tenant",
        )
    ]


def test_a_tenant_owning_no_pool_is_a_problem() -> None:
    stack = mutate(example(), {"security.tenants[1].pools": []})
    problems = [p for p in errors(stack) if p.rule == "security.tenants"]
    assert [(p.path, p.message) for p in problems] == [
        (
            "security.tenants[1]",
            "tenant 'prod' owns no pool: it lists no pools and no pool says tenant='prod'",
        )
    ]
    assert "give it pools=[...] (pools: gpu-research, gpu-prod, stor, svc)" in problems[0].hint


# -- required flows per tenant; shared services reach every tenant ---------------------------------------


def test_benchmark_flows_are_scoped_per_tenant() -> None:
    plan = compile_plan(example())
    by_name = flows(plan)
    names = [n for n in by_name if n.startswith("bench-")]
    assert names == [
        "bench-rendezvous-research",
        "bench-link-research",
        "bench-collectives-research",
        "bench-rendezvous-prod",
        "bench-link-prod",
        "bench-collectives-prod",
    ]
    assert by_name["bench-collectives-prod"].src == "compute of tenant prod"
    assert by_name["bench-collectives-prod"].dst == "compute of tenant prod"
    assert by_name["bench-collectives-prod"].decided_by == "required flow"
    # research hosts accept the benchmark only from research rails
    ruleset = plan.security.rulesets[plan.host("research-001").firewall]
    bench = [r for r in ruleset if r.comment.startswith("flow bench-")]
    assert {r.comment for r in bench} == {
        "flow bench-rendezvous-research",
        "flow bench-link-research",
        "flow bench-collectives-research",
    }
    prod_rail = plan.host("prod-001").rails[0].address
    assert not any(_covers(c, prod_rail) for r in bench for c in r.sources)


def test_shared_services_reach_every_tenant() -> None:
    plan = compile_plan(example())
    for host in ("research-001", "prod-001"):
        comments = {r.comment for r in plan.security.rulesets[plan.host(host).firewall]}
        assert {"flow ssh", "flow kubelet"} <= comments, host
    # the Ceph monitors accept both tenants' clients on the storage network
    mon = plan.security.rulesets[plan.host("stor-001").firewall]
    ceph_mon = next(r for r in mon if r.comment == "flow ceph-mon")
    for host in ("research-001", "prod-001"):
        addr = plan.host(host).addresses["storage"]
        assert any(_covers(c, addr) for c in ceph_mon.sources), host
    assert not any(r.comment.startswith("tenant-isolation") for r in mon)  # no tenant: no drop


def test_without_isolation_the_benchmark_flows_keep_their_names() -> None:
    plan = compile_plan(mutate(example(), {"security.tenant_isolation": False}))
    assert [n for n in flows(plan) if n.startswith("bench-")] == [
        "bench-rendezvous",
        "bench-link",
        "bench-collectives",
    ]
    assert plan.security.isolation == () and plan.security.partitions == ()
    assert plan.verify is not None and plan.verify.tenant is None and plan.verify.unverified == ()


def test_verify_disabled_requires_no_benchmark_flows() -> None:
    for iso in (True, False):
        stack = mutate(example(), {"verify.enabled": False, "security.tenant_isolation": iso})
        assert errors(stack) == []
        assert not [n for n in flows(compile_plan(stack)) if n.startswith("bench-")]


def test_the_benchmark_runs_on_the_first_tenant_and_names_the_rest() -> None:
    v = compile_plan(example()).verify
    assert v is not None
    assert v.tenant == "research"
    assert v.hosts == tuple(f"research-{i:03d}" for i in range(1, 9))
    assert v.master == "research-001"
    assert v.unverified == tuple(f"prod-{i:03d}" for i in range(1, 9))


def test_a_flow_isolation_blocks_names_its_cause_not_allow_required_flows() -> None:
    # the Ceph pool given to tenant research: prod's clients can no longer reach the monitors
    stack = mutate(example(), {"security.tenants[0].pools": ["gpu-research", "stor"]})
    problems = [p for p in errors(stack) if p.rule == "security.blocks-flow"]
    assert problems, "isolation must block prod's Ceph traffic to a research-owned Ceph"
    p = problems[0]
    assert p.path == "security.tenant_isolation"
    assert "decided by security.tenant_isolation (tenant 'prod' -> tenant 'research')" in p.message
    assert p.hint == (
        "tenant isolation drops traffic between tenants before any rule, so no rule and no "
        "allow_required_flows can open it; this flow crosses tenants: shared services belong to no "
        "tenant, so take the serving side out of its tenant (pool 'gpu-prod' (tenant 'prod'), pool 'stor' "
        "(tenant 'research')), put both pools in one tenant, or set tenant_isolation=False"
    )
    assert "set allow_required_flows=True" not in p.hint


def test_a_flow_a_rule_blocks_says_to_fix_the_rule() -> None:
    stack = mutate(
        example(),
        {
            "security.zones": [{"name": "stor", "pools": ["stor"]}],
            "security.rules": [{"name": "no-ceph", "src": "any", "dst": "stor", "action": "deny"}],
        },
    )
    problems = [p for p in errors(stack) if p.rule == "security.blocks-flow"]
    assert problems and problems[0].path == "security.rules[0]"
    assert problems[0].hint == (
        "the stack needs this flow: narrow or reorder the rule, or allow the flow with a rule placed "
        "before it"
    )


def test_a_flow_only_the_default_blocks_says_allow_required_flows() -> None:
    stack = mutate(example(), {"security.allow_required_flows": False})
    problems = [p for p in errors(stack) if p.rule == "security.blocks-flow"]
    assert problems and problems[0].path == "security.default='deny'"
    assert problems[0].hint == (
        "the stack needs this flow and only the default decides it: set allow_required_flows=True, or "
        "allow it with a rule"
    )


# -- isolation on every network ----------------------------------------------------------------------------


def test_roce_states_that_rdma_is_not_isolated_and_why() -> None:
    iso = isolation(compile_plan(example()))
    assert set(iso) == {("management", "ip"), ("storage", "ip"), ("compute", "ip"), ("compute", "rdma")}
    assert all(iso[k].isolated and iso[k].mechanism == "nftables" for k in iso if k[1] == "ip")
    rdma = iso[("compute", "rdma")]
    assert (rdma.isolated, rdma.mechanism) == (False, "none")
    assert rdma.detail == (
        "RDMA over RoCE (UDP 4791, handled by the NIC) bypasses nftables, so tenants' RDMA traffic can "
        "cross the compute fabric; dcinfra does not configure the switches: separate the tenants there "
        "(one VLAN or VRF per tenant on the rail ports)"
    )


def infiniband() -> Stack:
    return mutate(
        example(),
        {
            "fabric.compute.kind": "infiniband",
            "fabric.compute.switch": "qm9700",
            "fabric.compute.roce": None,
            "fabric.compute.mtu": None,
        },
    )


def test_infiniband_gets_one_partition_per_tenant() -> None:
    stack = infiniband()
    assert errors(stack) == []
    plan = compile_plan(stack)
    parts = {p.tenant: p for p in plan.security.partitions}
    assert [(p.tenant, p.pkey) for p in plan.security.partitions] == [
        ("research", "0x0001"),
        ("prod", "0x0002"),
    ]
    assert len(parts["research"].members) == 8 * 8  # 8 hosts x 8 rails
    assert parts["research"].members[:2] == (("research-001", "mlx5_0"), ("research-001", "mlx5_1"))
    assert {h for h, _ in parts["prod"].members} == {f"prod-{i:03d}" for i in range(1, 9)}
    rdma = isolation(plan)[("compute", "rdma")]
    assert (rdma.isolated, rdma.mechanism) == (True, "ib-partitions")
    conf = render(plan)["opensm/partitions.conf"].decode()
    lines = conf.splitlines()
    assert "Default=0x7fff, ipoib : ALL=limited, ALL_SWITCHES=full, SELF=full ;" in lines
    assert "research=0x0001, ipoib, defmember=full :" in lines
    assert "prod=0x0002, ipoib, defmember=full :" in lines
    assert "    @GUID:research-001:mlx5_0@," in lines
    assert "    @GUID:prod-008:mlx5_7@ ;" in lines
    # every partition definition ends with ';' (OpenSM's statement terminator)
    assert sum(line.split("#", 1)[0].count(";") for line in lines) == 3


def test_no_partitions_file_without_infiniband_or_isolation() -> None:
    assert "opensm/partitions.conf" not in render(compile_plan(example()))
    plain = mutate(infiniband(), {"security.tenant_isolation": False})
    assert "opensm/partitions.conf" not in render(compile_plan(plain))


def test_plan_output_and_json_state_isolation_per_network(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("COLUMNS", "240")
    runner = CliRunner()
    result = runner.invoke(app, ["plan", str(EXAMPLE)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "tenants: management ip isolated (nftables)" in text
    assert "tenants: compute rdma NOT ISOLATED by dcinfra (none): RDMA over RoCE" in text
    assert "runs on tenant 'research' only" in text
    result = runner.invoke(app, ["plan", str(EXAMPLE), "--json"], catch_exceptions=False)
    doc = json.loads(result.stdout)
    assert {(i["network"], i["traffic"], i["isolated"]) for i in doc["security"]["isolation"]} == {
        ("management", "ip", True),
        ("storage", "ip", True),
        ("compute", "ip", True),
        ("compute", "rdma", False),
    }


# -- Kueue: each tenant's queue holds only its own nodes ---------------------------------------------------


def cluster_queues(stack: Stack) -> dict[str, dict[str, Any]]:
    plan = compile_plan(stack)
    assert plan.platform is not None
    return {
        o.name: o.manifest["spec"]
        for o in build_objects(plan.platform)
        if isinstance(o, K8sObject) and o.kind == "ClusterQueue"
    }


def flavors(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    group = spec["resourceGroups"][0]
    return {f["name"]: {r["name"]: r for r in f["resources"]} for f in group["flavors"]}


@pytest.mark.parametrize("declare", [example, lambda: only_on_pools(example())])
def test_each_tenant_queue_holds_only_its_own_flavors(declare: Any) -> None:
    cq = cluster_queues(declare())
    assert set(flavors(cq["research"])) == {"gpu-research"}
    assert set(flavors(cq["prod"])) == {"gpu-prod"}
    assert flavors(cq["research"])["gpu-research"]["nvidia.com/gpu"]["nominalQuota"] == 64


def test_prod_neither_borrows_nor_lends() -> None:
    cq = cluster_queues(example())
    gpu = flavors(cq["prod"])["gpu-prod"]["nvidia.com/gpu"]
    assert gpu["borrowingLimit"] == 0 and gpu["lendingLimit"] == 0
    research = flavors(cq["research"])["gpu-research"]["nvidia.com/gpu"]
    assert "borrowingLimit" not in research and "lendingLimit" not in research


def test_shared_pools_carry_borrowing_and_lending_limits() -> None:
    # no tenants: both queues share every flavor, and the limits act within the cohort
    stack = mutate(
        example(),
        {"security.tenants": [], "security.tenant_isolation": False},
    )
    cq = cluster_queues(stack)
    assert set(flavors(cq["research"])) == set(flavors(cq["prod"])) == {"gpu-research", "gpu-prod"}
    prod = flavors(cq["prod"])
    assert {f: r["nvidia.com/gpu"]["lendingLimit"] for f, r in prod.items()} == {
        "gpu-research": 0,
        "gpu-prod": 0,
    }
    # 64 GPUs over the two flavors of 64 GPUs each: 32 in each
    assert {f: r["nvidia.com/gpu"]["nominalQuota"] for f, r in prod.items()} == {
        "gpu-research": 32,
        "gpu-prod": 32,
    }


def test_a_quota_over_its_own_pools_is_a_problem() -> None:
    stack = mutate(example(), {"platform.kubernetes.tenants[0].gpus": 96})
    problems = [p for p in errors(stack) if p.path == "platform.kubernetes.tenants[0].gpus"]
    assert [(p.message, p.hint, p.rule) for p in problems] == [
        (
            "tenant 'research' is guaranteed 96 GPUs but its own pools have 64",
            "lower gpus to at most 64: its queue holds only its own pools' flavors",
            "platform.quota",
        )
    ]


def test_a_quota_naming_no_tenant_when_every_pool_is_owned() -> None:
    stack = mutate(example(), {"platform.kubernetes.tenants[0].name": "reserch"})
    problems = [p for p in errors(stack) if p.path == "platform.kubernetes.tenants[0].name"]
    assert [(p.message, p.hint) for p in problems] == [
        (
            "GPU quota 'reserch' is not a tenant that owns pools, and every compute pool belongs to a "
            "tenant (prod, research): its queue would hold no flavor",
            "did you mean 'research'? name it after the tenant whose pools it uses (prod, research)",
        )
    ]


def test_lending_more_than_the_quota_is_a_problem() -> None:
    stack = mutate(example(), {"platform.kubernetes.tenants[1].lending_limit": 65})
    problems = [p for p in errors(stack) if p.path == "platform.kubernetes.tenants[1].lending_limit"]
    assert [(p.message, p.hint) for p in problems] == [
        (
            "tenant 'prod' may lend 65 GPUs but is guaranteed only 64",
            "lend at most gpus=64 (lending_limit=0: lend none), or leave it None",
        )
    ]


# -- Slurm: accounts and partitions follow pool ownership from either place ------------------------------


def test_slurm_partitions_admit_the_owning_tenant_declared_on_the_pool() -> None:
    stack = only_on_pools(example())
    stack = mutate(
        stack,
        {
            "scheduler": {
                "controller": {"hosts": ["svc-001"]},
                "accounting": {"database": {"hosts": ["svc-002"]}},
                "tenants": [{"name": "research", "fairshare": 40}, {"name": "prod", "fairshare": 60}],
            }
        },
    )
    assert errors(stack) == []
    plan = compile_plan(stack)
    assert plan.slurm is not None
    slurm_flows = [f for f in plan.security.flows if f.layer == "slurm"]
    assert all(f.allowed for f in slurm_flows)
    assert [
        (f.name, f.src, f.dst)
        for f in slurm_flows
        if f.name.startswith(("slurmd", "srun")) and f.name != "slurmdbd"
    ] == [
        ("slurmd", "slurm controllers", "slurm-compute"),
        ("srun", "slurm controllers and nodes", "srun on slurm controllers"),
        ("slurmd-research", "slurm nodes of tenant research", "slurm nodes of tenant research"),
        (
            "srun-research",
            "slurm controllers and slurm nodes of tenant research",
            "srun on slurm nodes of tenant research",
        ),
        ("slurmd-prod", "slurm nodes of tenant prod", "slurm nodes of tenant prod"),
        (
            "srun-prod",
            "slurm controllers and slurm nodes of tenant prod",
            "srun on slurm nodes of tenant prod",
        ),
    ]
    allowed = {p.name: p.accounts for p in plan.slurm.partitions}
    assert allowed == {"gpu-research": ("research", "root"), "gpu-prod": ("prod", "root")}


# -- the golden isolation summary of the example -------------------------------------------------------------


def summary(plan: Plan) -> dict[str, Any]:
    """What tenant isolation means for the example, network by network, with the flows and queues."""
    assert plan.platform is not None and plan.platform.kueue is not None
    k = plan.platform.kueue
    return {
        "tenants": {
            t: sorted(h.name for h in plan.hosts if h.tenant == t)
            for t in sorted({h.tenant for h in plan.hosts if h.tenant})
        },
        "isolation": to_jsonable(plan.security.isolation),
        "partitions": to_jsonable(plan.security.partitions),
        "flows": [
            {"name": f.name, "from": f.src, "to": f.dst, "network": f.network, "allowed": f.allowed}
            for f in plan.security.flows
        ],
        "kueue": {
            q.name: {
                "flavors": [fq.flavor for fq in q.quotas],
                "gpus": sum(fq.gpus for fq in q.quotas),
                "borrowing_limit": q.borrowing_limit,
                "lending_limit": q.lending_limit,
            }
            for q in k.queues
        },
        "verify": {
            "tenant": plan.verify.tenant if plan.verify else None,
            "hosts": list(plan.verify.hosts) if plan.verify else [],
            "unverified": list(plan.verify.unverified) if plan.verify else [],
        },
    }


def test_golden_two_tenant_isolation() -> None:
    got = json.dumps(summary(compile_plan(example())), indent=2, sort_keys=True) + "\n"
    if updating_golden():
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(got)
        rewrote(GOLDEN.relative_to(ROOT))
    assert GOLDEN.is_file(), f"no golden file; create it with DCINFRA_UPDATE_GOLDEN=1 ({GOLDEN})"
    assert got == GOLDEN.read_text(), (
        "two-tenant isolation changed; review and rerun with DCINFRA_UPDATE_GOLDEN=1"
    )


def with_slurm(stack: Stack, **slurm: Any) -> Stack:
    return mutate(
        stack,
        {
            "scheduler": {
                "controller": {"hosts": ["svc-001"]},
                "accounting": {"database": {"hosts": ["svc-002"]}},
                **slurm,
            }
        },
    )


def test_a_slurm_partition_across_tenants_is_a_problem() -> None:
    stack = with_slurm(
        example(), partitions=[{"name": "all", "pools": ["gpu-research", "gpu-prod"], "default": True}]
    )
    problems = [p for p in errors(stack) if p.rule == "slurm.partitions"]
    assert [(p.path, p.message, p.hint) for p in problems] == [
        (
            "scheduler.partitions[0].pools",
            "partition 'all' spans tenants 'prod' and 'research' (pools 'gpu-research' (research), "
            "'gpu-prod' (prod)), but tenant_isolation drops traffic between their hosts: a job on both "
            "cannot run",
            "give each tenant its own partitions (one per pool when partitions are not declared)",
        )
    ]
    assert not [p for p in errors(with_slurm(example())) if p.rule == "slurm.partitions"]


def test_slurm_tree_width_keeps_slurmd_from_forwarding_across_tenants() -> None:
    from dcinfra.plan.scheduler import _tree_width

    isolated = example()
    assert _tree_width(isolated, 16) is None  # Slurm's default fan-out of 50 already reaches all 16
    assert _tree_width(isolated, 51) == 51
    assert _tree_width(isolated, 100_000) == 65533  # slurm.conf(5): "may not exceed 65533"
    assert _tree_width(mutate(isolated, {"security.tenant_isolation": False}), 500) is None
    plan = compile_plan(with_slurm(isolated))
    assert plan.slurm is not None and plan.slurm.tree_width is None
    assert "TreeWidth" not in slurm_conf(plan, plan.slurm)
    wide = replace(plan.slurm, tree_width=64)
    assert "\nTreeWidth=64\n" in slurm_conf(plan, wide)
