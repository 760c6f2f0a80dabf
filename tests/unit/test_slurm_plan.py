"""Slurm: the model's validation (one broken stack per rule, all problems at once, no follow-on noise)
and the plan (node lines, gres.conf, topology, host roles, flows, partitions, accounts, stand-ins).

The validation cases use :class:`tests.unit.test_validation.Case`, and start from the same stacks: the
lab (which declares Slurm) or the small bare-metal base stack given a Slurm cluster here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dcinfra import (
    Hardware,
    Placement,
    Rule,
    Slurm,
    SlurmAccounting,
    SlurmPartition,
    SlurmTenant,
    Stack,
    Tenant,
)
from dcinfra.errors import Problem, StackInvalid
from dcinfra.plan import checks, compile_plan, validate
from dcinfra.plan.checks import scheduler as scheduler_checks
from dcinfra.plan.checks._common import Ctx
from dcinfra.plan.checks.scheduler import check_scheduler
from dcinfra.plan.scheduler import _gpu_files
from dcinfra.plan.types import Plan, SlurmPlan
from tests.unit.test_validation import Case, base_stack, mutate, show

# --- stacks -------------------------------------------------------------------------------------------


def slurm(**changes: Any) -> Slurm:
    """The base stack's Slurm cluster: controller and accounting on svc-001, both tenants with a QOS
    (team-a owns gpu-a: 2 DGX H100, 16 GPUs; team-b owns gpu-b: 2 HGX H100), then ``changes``."""
    spec: dict[str, Any] = {
        "controller": Placement(hosts=["svc-001"]),
        "accounting": SlurmAccounting(database=Placement(hosts=["svc-001"])),
        "tenants": [
            SlurmTenant(name="team-a", fairshare=60, max_gpus=16, max_nodes=2),
            SlurmTenant(name="team-b", fairshare=40),
        ],
    }
    return Slurm(**(spec | changes))


def with_slurm(**changes: Any) -> dict[str, Any]:
    """Changes that give the base stack :func:`slurm` (with ``changes``)."""
    return {"scheduler": slurm(**changes)}


@pytest.fixture(scope="module")
def starts(load: Callable[..., Stack]) -> dict[str, Stack]:
    """The stacks the cases start from ("base" has no scheduler: cases give it one)."""
    return {"base": base_stack(), "lab": load("lab"), "slurm": mutate(base_stack(), with_slurm())}


@pytest.fixture(scope="module")
def dgx_plan(load: Callable[..., Stack]) -> Plan:
    """Two scalable units of DGX H100 (64 nodes) on an NDR InfiniBand fat tree, with Slurm."""
    stack = mutate(
        load("superpod", su_count=2),
        {
            "scheduler": Slurm(
                controller=Placement(hosts=["dgx-001", "dgx-002"]),
                accounting=SlurmAccounting(database=Placement(hosts=["dgx-003"])),
            )
        },
    )
    return compile_plan(stack)


def _slurm_of(plan: Plan) -> SlurmPlan:
    assert plan.slurm is not None
    return plan.slurm


# --- one broken stack per rule ------------------------------------------------------------------------

# Each of these breaks exactly one thing, and the stack then has exactly that one problem.
CASES = [
    Case(
        "slurm.accounting",
        "lab",
        {"scheduler.accounting.database": None},
        "slurm.accounting",
        "scheduler.accounting.database",
        "database=None",
        "database=Placement(hosts=['node-001'])",
    ),
    Case(
        "slurm.tenants-without-accounting",
        "base",
        with_slurm(accounting=None),
        "slurm.tenants",
        "scheduler.tenants",
        "'team-a', 'team-b' are declared with accounting=None",
        "SlurmAccounting(database=Placement(hosts=['svc-001']))",
    ),
    Case(
        "slurm.tenants-unknown",
        "base",
        with_slurm(tenants=[SlurmTenant(name="team-a"), SlurmTenant(name="teamb")]),
        "slurm.tenants",
        "scheduler.tenants[1].name",
        "'teamb' is not in security.tenants",
        "did you mean 'team-b'",
    ),
    Case(
        "slurm.tenants-root",
        "base",
        with_slurm(tenants=[SlurmTenant(name="root")]),
        "slurm.tenants",
        "scheduler.tenants[0].name",
        "'root'",
        "name the tenant differently",
    ),
    Case(
        "slurm.duplicate-tenant",
        "base",
        with_slurm(tenants=[SlurmTenant(name="team-a"), SlurmTenant(name="team-a", fairshare=5)]),
        "slurm.duplicate",
        "scheduler.tenants[1].name",
        "duplicate Slurm tenant 'team-a' (first at index 0)",
    ),
    Case(
        "slurm.duplicate-partition",
        "base",
        with_slurm(
            partitions=[
                SlurmPartition(name="gpu", pools=["gpu-a"], default=True),
                SlurmPartition(name="gpu", pools=["gpu-b"]),
            ]
        ),
        "slurm.duplicate",
        "scheduler.partitions[1].name",
        "duplicate partition 'gpu'",
    ),
    Case(
        "slurm.partitions-defaults",
        "base",
        with_slurm(
            partitions=[
                SlurmPartition(name="a100", pools=["gpu-a"], default=True),
                SlurmPartition(name="b100", pools=["gpu-b"], default=True),
            ]
        ),
        "slurm.partitions",
        "scheduler.partitions[1].default",
        "2 partitions say default=True ('a100', 'b100')",
        "'a100'",
    ),
    Case(
        "slurm.partitions-no-compute",
        "base",
        with_slurm(
            partitions=[
                SlurmPartition(name="gpu", pools=["gpu-a", "gpu-b"], default=True),
                SlurmPartition(name="cpu", pools=["stor"]),
            ]
        ),
        "slurm.partitions",
        "scheduler.partitions[1].pools[0]",
        "pool 'stor', which has no compute hosts (roles storage)",
        "add 'compute' to the roles of pool 'stor'",
    ),
    Case(
        "slurm.gres",
        "base",
        with_slurm(gres_pools=["gpu-a", "svc"]),
        "slurm.gres",
        "scheduler.gres_pools[1]",
        "'svc', whose hardware has no GPU",
        "'gpu-a', 'gpu-b'",
    ),
    Case(
        "refs.pool-gres",
        "base",
        with_slurm(gres_pools=["gpu-a", "gpu-c"]),
        "refs.pool",
        "scheduler.gres_pools[1]",
        "unknown pool 'gpu-c'",
        "'gpu-a'",
    ),
    Case(
        "slurm.qos-gpus",
        "base",
        with_slurm(tenants=[SlurmTenant(name="team-a", max_gpus=17), SlurmTenant(name="team-b")]),
        "slurm.qos",
        "scheduler.tenants[0].max_gpus",
        "max_gpus=17 but the partitions it may use (pools 'gpu-a') hold 16 GPU(s)",
        "max_gpus <= 16",
    ),
    Case(
        "slurm.qos-nodes",
        "base",
        with_slurm(tenants=[SlurmTenant(name="team-a"), SlurmTenant(name="team-b", max_nodes=3)]),
        "slurm.qos",
        "scheduler.tenants[1].max_nodes",
        "max_nodes=3 but the partitions it may use (pools 'gpu-b') hold 2 node(s)",
        "max_nodes <= 2",
    ),
    Case(
        "slurm.standin",
        "base",
        with_slurm(standin_gpus=2),
        "slurm.standin",
        "scheduler.standin_gpus",
        "standin_gpus=2 on a site whose hosts have GPUs",
        "standin_gpus=0",
    ),
    Case(
        "slurm.paths-root",
        "lab",
        {"scheduler.prolog": "/"},
        "slurm.paths",
        "scheduler.prolog",
        "'/' is not a normalized absolute path",
        "'/etc/slurm/prolog.sh'",
    ),
    Case(
        "slurm.paths-kernel",
        "lab",
        {"scheduler.epilog": "/proc/self/epilog"},
        "slurm.paths",
        "scheduler.epilog",
        "'/proc/self/epilog' is under /proc",
        "/etc/slurm/epilog.sh",
    ),
]


def _check(starts: dict[str, Stack], case: Case) -> tuple[Stack, list[Problem], Problem]:
    stack = mutate(starts[case.start], case.changes)
    problems = validate(stack)
    found = [p for p in problems if p.rule == case.rule and p.path == case.path]
    assert found, f"expected [{case.rule}] at {case.path}; got:\n{show(problems)}"
    p = found[0]
    assert case.value in p.message, show(found)
    assert p.hint and case.hint in p.hint, show(found)
    return stack, problems, p


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_rule_reports_the_broken_field_and_nothing_else(starts: dict[str, Stack], case: Case) -> None:
    stack, problems, p = _check(starts, case)
    assert problems == [p], f"one broken field, one problem:\n{show(problems)}"
    # compile_plan refuses the stack with the same problem.
    with pytest.raises(StackInvalid) as info:
        compile_plan(stack)
    assert info.value.problems == [p]


def test_the_rules_are_the_ones_the_module_documents(starts: dict[str, Stack]) -> None:
    documented = {
        "slurm.accounting",
        "slurm.tenants",
        "slurm.duplicate",
        "slurm.partitions",
        "slurm.gres",
        "slurm.qos",
        "slurm.standin",
        "slurm.paths",
        "refs.pool",
    }
    doc = (scheduler_checks.__doc__ or "").split("Rules (", 1)[1].split("\n\n", 1)[0]
    assert {r for r in documented if f"``{r}``" in doc} == documented
    assert {c.rule for c in CASES} == documented
    assert check_scheduler in checks.FAMILIES


def test_starting_stacks_are_valid(starts: dict[str, Stack]) -> None:
    for name, stack in starts.items():
        assert validate(stack) == [], f"{name}:\n{show(validate(stack))}"


def test_a_rule_that_denies_slurmctld_is_reported_naming_rule_and_flow(starts: dict[str, Stack]) -> None:
    deny = Rule(name="no-slurmctld", src="any", dst="nodes", ports=[6817], action="deny")
    problems = validate(mutate(starts["lab"], {"security.rules": [deny]}))
    found = [p for p in problems if p.rule == "security.blocks-flow" and "'slurmctld'" in p.message]
    assert len(found) == 1, show(problems)
    p = found[0]
    assert p.path == "security.rules[0]"
    assert "tcp/6817" in p.message and "slurm-controller" in p.message
    assert "decided by security.rules[0] 'no-slurmctld'" in p.message
    assert "allow the flow with a rule placed before it" in p.hint


@pytest.mark.parametrize(
    ("port", "flow"),
    [(6818, "slurmd"), (6819, "slurmdbd"), ("60001-63000", "srun")],
)
def test_every_slurm_flow_is_guarded(starts: dict[str, Stack], port: int | str, flow: str) -> None:
    deny = Rule(name="deny-it", src="any", dst="any", ports=[port], action="deny")
    problems = validate(mutate(starts["lab"], {"security.rules": [deny]}))
    assert [p.path for p in problems if f"flow {flow!r}" in p.message] == ["security.rules[0]"], show(
        problems
    )


def test_every_problem_at_once_each_reported_once(starts: dict[str, Stack]) -> None:
    broken = slurm(
        accounting=SlurmAccounting(),
        partitions=[
            SlurmPartition(name="gpu", pools=["gpu-a"], default=True),
            SlurmPartition(name="gpu", pools=["gpu-b"], default=True),
            SlurmPartition(name="cpu", pools=["stor"]),
            SlurmPartition(name="spare", pools=["gpu-x"]),
        ],
        tenants=[
            SlurmTenant(name="team-a", max_gpus=64),
            SlurmTenant(name="team-a"),
            SlurmTenant(name="team-c"),
            SlurmTenant(name="root"),
        ],
        gres_pools=["gpu-a", "svc", "gpu-z"],
        standin_gpus=2,
        prolog="/",
        epilog="/sys/epilog",
    )
    problems = validate(mutate(starts["base"], {"scheduler": broken}))
    got = sorted((p.rule, p.path) for p in problems)
    assert got == sorted(
        [
            ("slurm.accounting", "scheduler.accounting.database"),
            ("slurm.duplicate", "scheduler.tenants[1].name"),
            ("slurm.tenants", "scheduler.tenants[2].name"),
            ("slurm.tenants", "scheduler.tenants[3].name"),
            ("slurm.duplicate", "scheduler.partitions[1].name"),
            ("slurm.partitions", "scheduler.partitions[1].default"),
            ("slurm.partitions", "scheduler.partitions[2].pools[0]"),
            ("slurm.gres", "scheduler.gres_pools[1]"),
            ("refs.pool", "scheduler.gres_pools[2]"),
            ("slurm.standin", "scheduler.standin_gpus"),
            ("slurm.paths", "scheduler.prolog"),
            ("slurm.paths", "scheduler.epilog"),
            # the planner's: an unknown pool in a partition
            ("refs.pool", "scheduler.partitions[3].pools[0]"),
        ]
    ), show(problems)
    # The QOS rule stays quiet while partitions and GRES name pools wrongly: that capacity is unknown.
    assert not [p for p in problems if p.rule == "slurm.qos"]
    assert validate(mutate(starts["base"], {"scheduler": broken})) == problems  # deterministic


def test_declared_partitions_without_compute_hosts_are_reported_per_pool_not_again_by_the_planner(
    starts: dict[str, Stack],
) -> None:
    only_cpu = with_slurm(
        tenants=[], partitions=[SlurmPartition(name="cpu", pools=["stor", "svc"], default=True)]
    )
    problems = validate(mutate(starts["base"], only_cpu))
    assert [(p.rule, p.path) for p in problems] == [
        ("slurm.partitions", "scheduler.partitions[0].pools[0]"),
        ("slurm.partitions", "scheduler.partitions[0].pools[1]"),
    ], show(problems)


def test_default_partitions_without_any_compute_pool_are_the_planners(starts: dict[str, Stack]) -> None:
    no_compute = {
        "compute.pools[0].roles": ["service"],
        "compute.pools[1].roles": ["service"],
        **with_slurm(tenants=[]),
    }
    problems = validate(mutate(starts["base"], no_compute))
    found = [(p.rule, p.path) for p in problems if p.rule.startswith("slurm.")]
    assert found == [("slurm.partitions", "scheduler.partitions")], show(problems)


def test_qos_counts_what_the_tenant_may_use(starts: dict[str, Stack]) -> None:
    # team-b declares no Slurm tenant: its partition admits every account, team-a's too (4 nodes).
    only_a = with_slurm(tenants=[SlurmTenant(name="team-a", max_nodes=4, max_gpus=32)])
    assert validate(mutate(starts["base"], only_a)) == []
    over = with_slurm(tenants=[SlurmTenant(name="team-a", max_nodes=5, max_gpus=33)])
    problems = validate(mutate(starts["base"], over))
    assert [(p.rule, p.path) for p in problems] == [
        ("slurm.qos", "scheduler.tenants[0].max_nodes"),
        ("slurm.qos", "scheduler.tenants[0].max_gpus"),
    ], show(problems)
    assert "hold 4 node(s)" in problems[0].message and "hold 32 GPU(s)" in problems[1].message
    # GPUs of pools left out of gres_pools are not scheduled as gres/gpu: they do not count.
    gres = with_slurm(
        gres_pools=["gpu-a"], tenants=[SlurmTenant(name="team-a"), SlurmTenant(name="team-b", max_gpus=8)]
    )
    problems = validate(mutate(starts["base"], gres))
    assert [(p.rule, p.path) for p in problems] == [("slurm.qos", "scheduler.tenants[1].max_gpus")]
    assert "hold 0 GPU(s)" in problems[0].message


def test_stand_ins_never_count_as_gpus_for_a_qos(starts: dict[str, Stack]) -> None:
    lab = mutate(
        starts["lab"],
        {
            "security.tenants": [Tenant(name="team-a", pools=["node"])],
            "scheduler.tenants": [SlurmTenant(name="team-a", max_gpus=2, max_nodes=3)],
        },
    )
    problems = validate(lab)
    assert [(p.rule, p.path) for p in problems] == [("slurm.qos", "scheduler.tenants[0].max_gpus")]
    assert "hold 0 GPU(s)" in problems[0].message and "stand-in GPUs do not count" in problems[0].message


@pytest.mark.parametrize(
    "path",
    ["/etc/slurm/prolog.sh", "/usr/local/sbin/dcinfra-prolog", "/opt/site/bin/epilog", "/devices/x"],
)
def test_ordinary_script_paths_pass(starts: dict[str, Stack], path: str) -> None:
    stack = mutate(starts["lab"], {"scheduler.prolog": path, "scheduler.epilog": path})
    assert list(check_scheduler(Ctx.of(stack))) == []


@pytest.mark.parametrize(
    "path",
    # paths with '.', '..', '//' or a trailing '/' never get this far: the model refuses them (AbsPath,
    # tests/unit/test_model_types.py)
    ["/", "/sys/x", "/dev", "/proc/self/x", "/sys"],
)
def test_odd_script_paths_are_reported_once(starts: dict[str, Stack], path: str) -> None:
    stack = mutate(starts["lab"], {"scheduler.prolog": path})
    problems = list(check_scheduler(Ctx.of(stack)))
    assert [(p.rule, p.path) for p in problems] == [("slurm.paths", "scheduler.prolog")], show(problems)
    assert repr(path) in problems[0].message


# --- the plan -----------------------------------------------------------------------------------------


def test_dgx_h100_node_lines_and_gres(dgx_plan: Plan) -> None:
    s = _slurm_of(dgx_plan)
    assert len(s.nodes) == 64
    n = s.nodes[0]
    assert (n.name, n.address) == ("dgx-001", "10.0.1.10")
    assert (n.sockets, n.cores_per_socket, n.threads_per_core) == (2, 56, 2)
    assert n.real_memory_mb == 2_048_000
    assert (n.gpu_type, n.gpus, n.standin) == ("h100", 8, False)
    assert n.gpu_files == (("/dev/nvidia[0-3]", "0-55"), ("/dev/nvidia[4-7]", "56-111"))
    assert n.features[0] == "dgx" and "h100" in n.features
    assert all(m.gpu_files == n.gpu_files and m.gpus == 8 for m in s.nodes)


@pytest.mark.parametrize(
    ("gpus", "sockets", "cores", "files"),
    [
        (8, 2, 112, (("/dev/nvidia[0-3]", "0-55"), ("/dev/nvidia[4-7]", "56-111"))),
        (4, 1, 32, (("/dev/nvidia[0-3]", "0-31"),)),
        (1, 2, 64, (("/dev/nvidia0", "0-31"),)),
        (3, 2, 2, (("/dev/nvidia0", "0"), ("/dev/nvidia[1-2]", "1"))),
        (0, 2, 64, ()),
    ],
)
def test_gres_files_split_gpus_across_sockets(
    gpus: int, sockets: int, cores: int, files: tuple[tuple[str, str], ...]
) -> None:
    assert _gpu_files(gpus, sockets, cores) == files


def test_topology_one_switch_per_scalable_unit_under_a_spine(dgx_plan: Plan) -> None:
    s = _slurm_of(dgx_plan)
    by_su: dict[int, list[str]] = {}
    for h in dgx_plan.hosts:
        assert h.su is not None
        by_su.setdefault(h.su, []).append(h.name)
    assert [sw.name for sw in s.topology] == ["su1", "su2", "spine"]
    su1, su2, spine = s.topology
    assert su1.nodes == tuple(by_su[1]) and su2.nodes == tuple(by_su[2])
    assert len(su1.nodes) == len(su2.nodes) == 32 and not su1.switches
    assert spine.switches == ("su1", "su2") and not spine.nodes


def test_one_scalable_unit_is_one_switch(starts: dict[str, Stack]) -> None:
    s = _slurm_of(compile_plan(starts["lab"]))
    assert [(sw.name, sw.nodes, sw.switches) for sw in s.topology] == [
        ("su1", ("node-001", "node-002", "node-003"), ())
    ]


def test_compute_nodes_off_the_fabric_get_a_switch_of_their_own(starts: dict[str, Stack]) -> None:
    # svc (CPU-only, no rails) becomes a compute pool: its nodes join Slurm but not the InfiniBand tree.
    stack = mutate(starts["slurm"], {"compute.pools[3].roles": ["compute", "service"]})
    s = _slurm_of(compile_plan(stack))
    assert [(sw.name, sw.nodes, sw.switches) for sw in s.topology] == [
        ("su1", ("gpu-a-001", "gpu-a-002", "gpu-b-001", "gpu-b-002"), ()),
        ("off-fabric", ("svc-001", "svc-002", "svc-003"), ()),
    ]
    named = {n for sw in s.topology for n in sw.nodes}
    assert named == {n.name for n in s.nodes}  # topology/tree schedules only nodes a switch reaches


def test_no_topology_without_a_compute_fabric(starts: dict[str, Stack]) -> None:
    no_fabric = {
        "fabric.compute": None,
        "compute.pools[0].hardware.rails": 0,
        "compute.pools[1].hardware.rails": 0,
    }
    s = _slurm_of(compile_plan(mutate(starts["slurm"], no_fabric)))
    assert s.topology == ()
    assert len(s.nodes) == 4


def test_host_roles(dgx_plan: Plan) -> None:
    roles = {h.name: set(h.roles) for h in dgx_plan.hosts}
    assert [n for n, r in roles.items() if "slurm-controller" in r] == ["dgx-001", "dgx-002"]
    assert [n for n, r in roles.items() if "slurm-dbd" in r] == ["dgx-003"]
    assert all("slurm-compute" in r for r in roles.values())
    s = _slurm_of(dgx_plan)
    assert s.controllers == ("dgx-001", "dgx-002")
    assert (s.database_host, s.accounting, s.enforce) == ("dgx-003", True, True)
    assert s.controller_addresses == tuple(
        h.addresses["management"] for h in dgx_plan.hosts if h.name in s.controllers
    )


def test_a_dedicated_controller_is_not_a_compute_node(starts: dict[str, Stack]) -> None:
    plan = compile_plan(starts["slurm"])
    roles = {h.name: set(h.roles) for h in plan.hosts}
    assert {"slurm-controller", "slurm-dbd"} <= roles["svc-001"]
    assert "slurm-compute" not in roles["svc-001"]
    assert {n for n, r in roles.items() if "slurm-compute" in r} == {
        "gpu-a-001",
        "gpu-a-002",
        "gpu-b-001",
        "gpu-b-002",
    }


def test_flows_in_the_security_plan(dgx_plan: Plan) -> None:
    flows = {f.name: f for f in dgx_plan.security.flows if f.layer == "slurm"}
    assert {name: f.ports for name, f in flows.items()} == {
        "slurmctld": ("6817",),
        "slurmd": ("6818",),
        "srun": ("60001-63000",),
        "slurmdbd": ("6819",),
    }
    assert all(f.allowed and f.protocol == "tcp" and f.network == "management" for f in flows.values())
    assert all(f.scope == "host" for f in flows.values())


def test_no_slurmdbd_flow_without_accounting(starts: dict[str, Stack]) -> None:
    plan = compile_plan(mutate(starts["base"], with_slurm(accounting=None, tenants=[])))
    assert {f.name for f in plan.security.flows if f.layer == "slurm"} == {"slurmctld", "slurmd", "srun"}
    s = _slurm_of(plan)
    assert (s.accounting, s.database_host, s.enforce) == (False, None, False)


def test_partitions_default_to_one_per_compute_pool(starts: dict[str, Stack]) -> None:
    s = _slurm_of(compile_plan(starts["slurm"]))
    assert [(p.name, p.nodes, p.default, p.max_time) for p in s.partitions] == [
        ("gpu-a", ("gpu-a-001", "gpu-a-002"), True, "UNLIMITED"),
        ("gpu-b", ("gpu-b-001", "gpu-b-002"), False, "UNLIMITED"),
    ]


def test_declared_partitions_first_default_wins_when_none_says_so(starts: dict[str, Stack]) -> None:
    parts = [
        SlurmPartition(name="all", pools=["gpu-a", "gpu-b"], max_time="2-00:00:00"),
        SlurmPartition(name="bb", pools=["gpu-b"]),
    ]
    s = _slurm_of(compile_plan(mutate(starts["base"], with_slurm(partitions=parts))))
    assert [(p.name, len(p.nodes), p.default, p.max_time) for p in s.partitions] == [
        ("all", 4, True, "2-00:00:00"),
        ("bb", 2, False, "UNLIMITED"),
    ]


def test_allow_accounts_are_the_owning_tenants_and_root(starts: dict[str, Stack]) -> None:
    s = _slurm_of(compile_plan(starts["slurm"]))
    assert {p.name: p.accounts for p in s.partitions} == {
        "gpu-a": ("root", "team-a"),
        "gpu-b": ("root", "team-b"),
    }
    assert [(a.name, a.fairshare, a.grp_tres, a.partitions) for a in s.accounts] == [
        ("team-a", 60, "gres/gpu=16,node=2", ("gpu-a",)),
        ("team-b", 40, "", ("gpu-b",)),
    ]
    # A partition no declared Slurm tenant owns admits every account: no AllowAccounts at all.
    only_a = _slurm_of(compile_plan(mutate(starts["base"], with_slurm(tenants=[SlurmTenant(name="team-a")]))))
    assert {p.name: p.accounts for p in only_a.partitions} == {"gpu-a": ("root", "team-a"), "gpu-b": ()}
    # A mixed partition admits both owners.
    mixed = with_slurm(partitions=[SlurmPartition(name="all", pools=["gpu-a", "gpu-b"])])
    both = _slurm_of(compile_plan(mutate(starts["base"], mixed)))
    assert both.partitions[0].accounts == ("root", "team-a", "team-b")
    assert [a.partitions for a in both.accounts] == [("all",), ("all",)]


def test_pool_tenant_owns_its_pool_for_slurm_too(starts: dict[str, Stack]) -> None:
    # gpu-b says tenant team-a itself (security.tenants lists only gpu-a for team-a)
    stack = mutate(
        starts["slurm"],
        {
            "security.tenants": [
                Tenant(name="team-a", pools=["gpu-a"]),
                Tenant(name="team-b", pools=["stor"]),
            ],
            "compute.pools[1].tenant": "team-a",
        },
    )
    assert validate(stack) == [], show(validate(stack))
    s = _slurm_of(compile_plan(stack))
    assert {p.name: p.accounts for p in s.partitions} == {
        "gpu-a": ("root", "team-a"),
        "gpu-b": ("root", "team-a"),
    }
    assert s.accounts[0].partitions == ("gpu-a", "gpu-b")


def test_gres_pools_limit_which_gpus_are_scheduled(starts: dict[str, Stack]) -> None:
    s = _slurm_of(compile_plan(mutate(starts["base"], with_slurm(gres_pools=["gpu-a"]))))
    by_pool = {n.name.rsplit("-", 1)[0]: n for n in s.nodes}
    assert (by_pool["gpu-a"].gpu_type, by_pool["gpu-a"].gpus) == ("h100", 8)
    assert (by_pool["gpu-b"].gpu_type, by_pool["gpu-b"].gpus, by_pool["gpu-b"].gpu_files) == (None, 0, ())


def test_stand_in_gpus_on_the_lab(starts: dict[str, Stack]) -> None:
    s = _slurm_of(compile_plan(starts["lab"]))
    assert [n.name for n in s.nodes] == ["node-001", "node-002", "node-003"]
    for n in s.nodes:
        # Slurm 22.05 drops file-less GPUs: stand-ins are the null devices the role creates, no cores
        files = (("/var/lib/dcinfra/slurm-standin/gpu[0-1]", ""),)
        assert (n.gpu_type, n.gpus, n.standin, n.gpu_files) == ("standin", 2, True, files)
        assert "standin" not in n.features  # --constraint never selects a stand-in as a GPU type
    assert (s.cgroups, s.config_overrides) == (False, True)
    assert [(p.name, p.default, p.accounts) for p in s.partitions] == [("node", True, ())]


def test_a_cpu_only_pool_without_stand_ins_has_no_gres(starts: dict[str, Stack]) -> None:
    s = _slurm_of(compile_plan(mutate(starts["lab"], {"scheduler.standin_gpus": 0})))
    assert all((n.gpu_type, n.gpus, n.standin) == (None, 0, False) for n in s.nodes)


def test_plan_is_deterministic(starts: dict[str, Stack]) -> None:
    assert compile_plan(starts["slurm"]).slurm == compile_plan(starts["slurm"]).slurm


def test_checks_never_raise_on_unresolvable_hardware(starts: dict[str, Stack]) -> None:
    stack = mutate(
        starts["slurm"],
        {"compute.pools[0].hardware": Hardware(), "scheduler.gres_pools": ["gpu-a"]},
    )
    assert all(isinstance(p, Problem) for p in checks.check_stack(stack))
