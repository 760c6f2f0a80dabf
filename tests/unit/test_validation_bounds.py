"""Validation's bounds (issue 13): directories on the hosts that shadow the system, addresses no host can
have, rails that do not match the GPUs, and validation that stays fast and quiet at any size.

Each broken stack file is validated through the CLI in an empty directory, which must stay empty: the
problem names the field path, the value, what is allowed and the fix. The scale tests use stacks large
enough to show the behaviour (thousands of hosts) and small enough to keep this file to a few seconds;
``benchmarks/validate_scale.py`` times 1k to 100k nodes. Nothing here asserts on wall-clock time.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest
from typer.testing import CliRunner

import dcinfra.sites
from dcinfra import (
    BareMetalHost,
    BareMetalSite,
    CephCluster,
    CephFs,
    Compute,
    ComputeFabric,
    Fabric,
    Hardware,
    LabSite,
    Network,
    NodePool,
    Placement,
    Rack,
    Stack,
    Storage,
)
from dcinfra.catalog import NODE_PROFILES
from dcinfra.cli import app
from dcinfra.errors import Problem, StackInvalid
from dcinfra.plan import FOLD_AFTER, compile_plan, fold, validate
from dcinfra.plan.addressing import assign_addresses
from dcinfra.plan.checks._common import SYSTEM_DIRS, Ctx, system_dir_reason
from dcinfra.plan.checks.fabric import check_fabric
from dcinfra.plan.hosts import make_hosts, place

REPO = Path(__file__).resolve().parents[2]

# --- directories on the hosts (item 2) -----------------------------------------------------------------

ALLOWED = ["/mnt/datasets", "/data/1/hdfs", "/srv/hdfs", "/scratch/x", "/var/lib/hadoop/data", "/home/data"]
REFUSED_EVERYWHERE = {
    "/": "is the system directory '/'",
    "/var": "is the system directory '/var', which holds '/var/backups'",
    "/var/lib": "is the system directory '/var/lib'",
    "/usr": "is the system directory '/usr'",
    "/etc": "is the system directory '/etc'",
    "/home": "is the system directory '/home'",
    "/mnt": "is the system directory '/mnt'",
    "/opt": "is the system directory '/opt'",
    "/tmp": "is the system directory '/tmp'",
    "/proc/x": "inside '/proc'",
    "/sys/fs/x": "inside '/sys'",
    "/dev/shm/x": "inside '/dev'",
    "/run/x": "inside '/run'",
    "/boot/x": "inside '/boot'",
    "/mnt/../etc": "not a normalized absolute path",
    "/mnt//x": "not a normalized absolute path",
    "/mnt/x/": "not a normalized absolute path",
    "mnt/x": "not a normalized absolute path",
}
REFUSED_FOR_DATA = {
    "/etc/ssh": "inside '/etc'",
    "/usr/local/hdfs": "inside '/usr'",
    "/lib64/x": "inside '/lib64'",
    "/tmp/hdfs": "inside '/tmp'",
    "/var/tmp/hdfs": "inside '/var/tmp'",
}


@pytest.mark.parametrize("path", ALLOWED)
def test_a_directory_of_its_own_is_allowed(path: str) -> None:
    assert system_dir_reason(path, data=True) is None
    assert system_dir_reason(path, data=False) is None


@pytest.mark.parametrize(("path", "why"), REFUSED_EVERYWHERE.items())
def test_system_directories_and_kernel_trees_are_refused(path: str, why: str) -> None:
    for data in (True, False):
        reason = system_dir_reason(path, data=data)
        assert reason is not None and why in reason, (path, data, reason)


@pytest.mark.parametrize(("path", "why"), REFUSED_FOR_DATA.items())
def test_mounts_and_data_dirs_stay_out_of_the_os_trees(path: str, why: str) -> None:
    reason = system_dir_reason(path, data=True)
    assert reason is not None and why in reason
    # Configuration such as keytabs does belong there.
    assert system_dir_reason(path, data=False) is None


def test_a_path_containing_a_system_directory_is_one() -> None:
    # SYSTEM_DIRS holds every parent of its members, so "contains a system directory" is "is one".
    for d in SYSTEM_DIRS:
        parent = d.rsplit("/", 1)[0] or "/"
        assert parent in SYSTEM_DIRS, d


# --- broken stack files through the CLI ---------------------------------------------------------------

STACK = textwrap.dedent(
    """
    from dcinfra import *

    hosts = [BareMetalHost(name=f"gpu-{{i:03d}}", management_ip=f"10.0.0.{{10 + i}}") for i in (1, 2)]
    hosts += [BareMetalHost(name=f"stor-{{i:03d}}", management_ip=f"10.0.0.{{20 + i}}") for i in (1, 2, 3)]
    hosts[0] = BareMetalHost(name="gpu-001", management_ip="{gpu1_ip}")

    stack = Stack(
        name="bounds",
        site=BareMetalSite(hosts=hosts),
        racks=[Rack(name="r01", power_budget_kw=44)],
        compute=Compute(
            pools=[
                NodePool(name="gpu", count=2, hardware=Hardware(profile="hgx-h100", rails={rails})),
                NodePool(name="stor", count=3, hardware=Hardware(profile="cpu-storage"), roles=["storage"]),
            ]
        ),
        fabric=Fabric(
            management=Network(cidr="{management}"),
            storage=Network(cidr="{storage}", mtu=9000),
            compute=ComputeFabric(
                kind="infiniband", switch="qm9700", cidr="10.128.0.0/16", rail_gpu_ratio="{ratio}"
            ),
        ),
        storage=Storage(
            ceph=CephCluster(
                mons=Placement(pools=["stor"], count=3),
                osds=Placement(pools=["stor"]),
                devices=["/dev/nvme1n1"],
                cephfs=CephFs(mount_path="{mount}"),
            ),
            hdfs=HdfsCluster(
                namenode=Placement(hosts=["stor-001"]),
                datanodes=Placement(pools=["stor"]),
                data_dirs=["{data_dir}"],
            ),
        ),
    )
    """
)
GOOD = {
    "gpu1_ip": "10.0.0.11",
    "rails": 8,
    "management": "10.0.0.0/24",
    "storage": "10.16.0.0/24",
    "ratio": "even",
    "mount": "/mnt/datasets",
    "data_dir": "/data/1/hdfs",
}


@pytest.fixture
def run_validate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, list[Problem]]]:
    """Write the stack with ``changes`` into an empty directory, run ``dcinfra validate --json`` there,
    and check that the directory holds nothing but the stack file afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")

    def run(**changes: object) -> tuple[int, list[Problem]]:
        path = tmp_path / "stack.py"
        path.write_text(STACK.format(**{**GOOD, **changes}))
        result = CliRunner().invoke(app, ["validate", str(path), "--json"], catch_exceptions=False)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["stack.py"], "validate created files"
        doc = json.loads(result.stdout)
        return result.exit_code, [
            Problem(**{k: p[k] for k in ("path", "message", "hint", "rule")}) for p in doc["problems"]
        ]

    return run


def test_the_bounds_stack_is_valid(run_validate: Callable[..., tuple[int, list[Problem]]]) -> None:
    assert run_validate() == (0, [])


BROKEN = [
    pytest.param(
        {"mount": "/var/lib"},
        ("ceph.mount", "storage.ceph.cephfs.mount_path"),
        ["'/var/lib'", "is the system directory '/var/lib'"],
        ["e.g. '/mnt/datasets'", "never a system directory or one that contains one"],
        id="cephfs-over-var-lib",
    ),
    pytest.param(
        {"data_dir": "/usr/local/hdfs"},
        ("hdfs.dirs", "storage.hdfs.data_dirs[0]"),
        ["DataNode directory '/usr/local/hdfs'", "inside '/usr', which the operating system owns"],
        ["e.g. '/data/1/hdfs'", "nor anything inside /etc, /usr"],
        id="hdfs-data-in-usr",
    ),
    pytest.param(
        {"gpu1_ip": "10.0.0.255"},
        ("address.reserved", "site.hosts[0].management_ip"),
        ["'10.0.0.255' of 'gpu-001'", "broadcast address of the management network '10.0.0.0/24'"],
        ["10.0.0.2 to 10.0.0.254"],
        id="host-on-broadcast",
    ),
    pytest.param(
        {"gpu1_ip": "10.0.0.0"},
        ("address.reserved", "site.hosts[0].management_ip"),
        ["'10.0.0.0' of 'gpu-001'", "is the network address"],
        ["neither its network address 10.0.0.0 nor its broadcast address 10.0.0.255"],
        id="host-on-network-address",
    ),
    pytest.param(
        {"management": "10.0.0.5/24"},
        ("model", "fabric.management.cidr"),
        ["'10.0.0.5/24' has host bits set", "'10.0.0.0/24'"],
        ["use the network address, '10.0.0.0/24'"],
        id="cidr-with-host-bits",
    ),
    pytest.param(
        {"storage": "10.16.0.0/29"},
        ("network.size", "fabric.storage.cidr"),
        ["'10.16.0.0/29' (storage) has room for 0 hosts but 5 join it", "follow-on address problems"],
        ["use a /28 or larger"],
        id="storage-network-too-small",
    ),
    pytest.param(
        {"rails": 12},
        ("fabric.rails", "compute.pools[0].hardware.rails"),
        ["pool 'gpu' has rails=12 for 8 GPUs per node"],
        ["use rails=8", "rail_gpu_ratio='any'"],
        id="rails-12-on-8-gpus",
    ),
    pytest.param(
        {"rails": 7},
        ("fabric.rails", "compute.pools[0].hardware.rails"),
        ["rails=7 for 8 GPUs"],
        ["allowed for 8 GPUs: 1, 2, 4, 8, 16"],
        id="rails-7-on-8-gpus",
    ),
]


@pytest.mark.parametrize(("changes", "where", "says", "fix"), BROKEN)
def test_a_broken_stack_names_path_value_and_fix(
    run_validate: Callable[..., tuple[int, list[Problem]]],
    changes: dict[str, object],
    where: tuple[str, str],
    says: list[str],
    fix: list[str],
) -> None:
    code, problems = run_validate(**changes)
    assert code == 1
    assert [(p.rule, p.path) for p in problems] == [where], problems
    for text in says:
        assert text in problems[0].message, problems[0]
    for text in fix:
        assert text in problems[0].hint, problems[0]


def test_rails_that_differ_on_purpose_pass_with_the_override(
    run_validate: Callable[..., tuple[int, list[Problem]]],
) -> None:
    assert run_validate(rails=12, ratio="any") == (0, [])


@pytest.mark.parametrize("profile", sorted(NODE_PROFILES))
def test_every_catalog_profile_passes_the_rail_rule_as_shipped(profile: str) -> None:
    stack = Stack(
        name="profile",
        site=BareMetalSite(hosts=[BareMetalHost(name="node-001", management_ip="10.0.0.11")]),
        compute=Compute(pools=[NodePool(name="node", count=1, hardware=Hardware(profile=profile))]),
        fabric=Fabric(
            management=Network(cidr="10.0.0.0/24"),
            compute=ComputeFabric(kind="roce", switch="sn5600", cidr="10.128.0.0/16"),
        ),
    )
    assert [p for p in check_fabric(Ctx.of(stack)) if p.rule == "fabric.rails"] == []


# --- addresses stay inside their networks (item 3) -----------------------------------------------------


def _lab(nodes: int, management: str) -> Stack:
    return Stack(
        name="tiny",
        site=LabSite(),
        compute=Compute(pools=[NodePool(name="node", count=nodes, hardware=Hardware(profile="lab-cpu"))]),
        fabric=Fabric(
            management=Network(cidr=management),
            compute=ComputeFabric(kind="ethernet", switch="lab-bridge", cidr="172.31.251.0/24"),
        ),
    )


@pytest.mark.parametrize("nodes", [5, 6, 16])
def test_planned_addresses_never_leave_their_network(nodes: int) -> None:
    # A /28 holds 5 planned hosts (.10 to .14): the network (.0) and broadcast (.15) addresses are never
    # given out, and hosts that do not fit get no address, never one past the end of the network.
    stack = _lab(nodes, "172.31.250.0/28")
    problems: list[Problem] = []
    drafts = make_hosts(stack, problems)
    place(stack, drafts, problems)
    assign_addresses(stack, drafts, problems)
    net = IPv4Network("172.31.250.0/28")
    got = [IPv4Address(d.addresses["management"]) for d in drafts if "management" in d.addresses]
    assert len(got) == min(nodes, 5)
    assert all(a in net and a not in (net.network_address, net.broadcast_address) for a in got)
    assert [p.rule for p in problems] == ([] if nodes <= 5 else ["network.size"])
    if nodes > 5:
        assert f"the other {nodes - 5} get no address on it" in problems[0].message


# --- fast and quiet at any size (item 7) ---------------------------------------------------------------


def _big(nodes: int, *, storage: str, budget: float, rails: int, management_prefix: int) -> Stack:
    """A bare-metal stack of ``nodes`` DGX nodes, 4 per rack, with Ceph on 1 storage node per 32."""
    stor = max(3, nodes // 32)
    names = [f"gpu-{i:04d}" for i in range(1, nodes + 1)] + [f"stor-{i:03d}" for i in range(1, stor + 1)]
    hosts = [
        BareMetalHost(name=n, management_ip=IPv4Address(int(IPv4Address("10.0.0.10")) + i))
        for i, n in enumerate(names)
    ]
    racks = [Rack(name=f"g{r:04d}", power_budget_kw=budget) for r in range(nodes // 4)]
    return Stack(
        name="big",
        site=BareMetalSite(hosts=hosts),
        # Three storage racks, so that the monitors are spread (one rack holding them all is a warning).
        racks=[*racks, *(Rack(name=f"s{r:04d}", power_budget_kw=200) for r in (1, 2, 3))],
        compute=Compute(
            pools=[
                NodePool(
                    name="gpu",
                    count=nodes,
                    hardware=Hardware(profile="dgx-h100", rails=rails),
                    racks=[r.name for r in racks],
                    nodes_per_rack=4,
                ),
                NodePool(
                    name="stor",
                    count=stor,
                    hardware=Hardware(profile="cpu-storage"),
                    roles=["storage"],
                    racks=["s0001", "s0002", "s0003"],
                    nodes_per_rack=-(-stor // 3),
                ),
            ]
        ),
        fabric=Fabric(
            management=Network(cidr=f"10.0.0.0/{management_prefix}"),
            storage=Network(cidr=storage, mtu=9000),
            compute=ComputeFabric(kind="infiniband", switch="q3400", cidr="10.128.0.0/12"),
        ),
        storage=Storage(
            ceph=CephCluster(
                mons=Placement(pools=["stor"], count=3),
                osds=Placement(pools=["stor"]),
                devices=["/dev/nvme1n1", "/dev/nvme2n1"],
                cephfs=CephFs(),
            )
        ),
    )


NODES = 4000  # 4,125 hosts: a per-host follow-on would show as thousands of problems


def test_a_large_valid_stack_validates_clean() -> None:
    stack = _big(NODES, storage="10.16.0.0/19", budget=44, rails=8, management_prefix=19)
    assert validate(stack) == []


def test_a_large_broken_stack_reports_one_problem_per_root_cause() -> None:
    # Four root causes at once: a storage network far too small, a management network that holds few
    # of the site's addresses, every rack under budget, and 7 rails on 8 GPUs.
    stack = _big(NODES, storage="10.16.0.0/24", budget=40, rails=7, management_prefix=24)
    problems = validate(stack)
    by_rule = {p.rule: p for p in problems}
    assert sorted(by_rule) == ["fabric.rails", "network.membership", "network.size", "racks.power"], problems
    assert len(problems) == 4, problems
    hosts = NODES + NODES // 32
    assert by_rule["network.size"].message == (
        f"'10.16.0.0/24' (storage) has room for 245 hosts but {hosts} join it: the other {hosts - 245} "
        f"get no address on it (their {hosts - 245} follow-on address problems are suppressed)"
    )
    outside = hosts - 246  # 10.0.0.10 to 10.0.0.255 are inside the /24
    assert by_rule["network.membership"].path == "site.hosts[246].management_ip"
    assert f"(and {outside - 1} more site hosts: " in by_rule["network.membership"].message
    assert "widen fabric.management.cidr to '10.0.0.0/19'" in by_rule["network.membership"].hint
    racks = NODES // 4
    assert by_rule["racks.power"].path == "racks[0].power_budget_kw"
    assert (
        f"(and {racks - 1} more like it, suppressed: racks[1].power_budget_kw, "
        in by_rule["racks.power"].message
    )
    # compile_plan (which plans everything) finds exactly what validate (which plans the checkable
    # part) finds.
    with pytest.raises(StackInvalid) as info:
        compile_plan(stack)
    assert info.value.problems == problems


def test_a_huge_lab_is_refused_first_and_alone(load: Callable[..., Stack]) -> None:
    # The lab holds 16 nodes: 100,000 are refused before anything is planned, with nothing after.
    problems = validate(load("lab", nodes=100_000))
    assert [(p.rule, p.path) for p in problems] == [("lab.size", "compute.pools")]
    assert "100000 nodes" in problems[0].message
    assert "the other checks run once the stack fits its site" in problems[0].hint


def test_one_fix_repeated_is_folded_with_its_count() -> None:
    def same(i: int) -> Problem:
        return Problem(
            f"racks[{i}].power_budget_kw", f"rack 'r{i}' is over", "raise the budget", "racks.power"
        )

    other = Problem("fabric.compute.mtu", "MTU 9000", "use 4096", "mtu.invalid")
    few = [same(i) for i in range(FOLD_AFTER)]
    assert fold([*few, other]) == [*few, other]
    many = [same(i) for i in range(FOLD_AFTER + 3)]
    folded = fold([other, *many])
    assert folded[0] == other and len(folded) == 2
    assert folded[1].path == "racks[0].power_budget_kw"
    assert folded[1].message == (
        "rack 'r0' is over (and 5 more like it, suppressed: racks[1].power_budget_kw, "
        "racks[2].power_budget_kw, racks[3].power_budget_kw and 2 more)"
    )


def test_validate_compiles_a_bare_metal_plan_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A bare-metal site has nothing on this machine to check: `dcinfra validate` does not compile the
    # whole plan (cabling, rulesets, host records) a second time after validating.
    def refuse(stack: Stack) -> None:
        raise AssertionError("compile_plan called for a bare-metal stack")

    monkeypatch.setattr(dcinfra.sites, "compile_plan", refuse)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app, ["validate", str(REPO / "stacks" / "h100_su.py")], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    # The lab does have such checks (routes its bridges would shadow): there it is compiled and asked.
    calls: list[str] = []
    monkeypatch.setattr(
        dcinfra.sites, "compile_plan", lambda stack: calls.append(stack.name) or compile_plan(stack)
    )
    result = CliRunner().invoke(app, ["validate", str(REPO / "stacks" / "lab.py")], catch_exceptions=False)
    assert calls == ["lab"], result.output
