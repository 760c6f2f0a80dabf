"""Messages a new user met when describing their own site (issue: "a real site in the first hour"):
each says the cause it has, with the numbers, and one mistake gives one problem, not a cascade."""

from __future__ import annotations

import pytest

from dcinfra import (
    BareMetalHost,
    BareMetalSite,
    CephCluster,
    CephPool,
    Compute,
    ComputeFabric,
    Fabric,
    Hardware,
    LabSite,
    Network,
    NodePool,
    Placement,
    Rack,
    Slurm,
    Stack,
    Storage,
)
from dcinfra.errors import Problem, StackInvalid
from dcinfra.plan import compile_plan


def problems(stack: Stack) -> list[Problem]:
    with pytest.raises(StackInvalid) as exc:
        compile_plan(stack)
    return list(exc.value.problems)


def lab(**pools: NodePool) -> Stack:
    return Stack(
        name="first",
        site=LabSite(),
        racks=[Rack(name="rack-a")],
        compute=Compute(pools=list(pools.values())),
        fabric=Fabric(
            management=Network(cidr="172.31.250.0/24"),
            compute=ComputeFabric(kind="ethernet", switch="lab-bridge", cidr="172.31.251.0/24", mtu=1500),
        ),
        storage=Storage(
            ceph=CephCluster(
                mons=Placement(pools=["node"], count=3),
                osds=Placement(pools=["node"]),
                pools=[CephPool(name="rbd", size=3, min_size=2, application="rbd")],
                failure_domain="host",
                public_network="management",
            )
        ),
        scheduler=Slurm(controller=Placement(hosts=["gpu-001"])),
    )


def test_two_pools_with_one_hostname_prefix_is_one_problem() -> None:
    cpu = Hardware(profile="lab-cpu")
    found = problems(
        lab(
            a=NodePool(
                name="node", count=3, hardware=cpu, roles=["compute", "storage"], hostname_prefix="gpu"
            ),
            b=NodePool(name="other", count=2, hardware=cpu, roles=["compute"], hostname_prefix="gpu"),
        )
    )
    assert [(p.rule, p.path) for p in found] == [("hosts.duplicate", "compute.pools[1].hostname_prefix")]


def test_a_site_host_matching_no_planned_host_is_told_the_planned_names() -> None:
    stack = Stack(
        name="first",
        site=BareMetalSite(
            hosts=[
                BareMetalHost(name="gpu-001", management_ip="10.0.0.11"),
                BareMetalHost(name="node-001", management_ip="10.0.0.12"),
            ]
        ),
        racks=[Rack(name="rack-a")],
        compute=Compute(
            pools=[
                NodePool(
                    name="node", count=1, hardware=Hardware(profile="cpu-storage"), hostname_prefix="gpu"
                )
            ]
        ),
        fabric=Fabric(management=Network(cidr="10.0.0.0/24", interface="eno1")),
    )
    (p,) = [p for p in problems(stack) if p.rule == "site.hosts"]
    assert "'node-001'" in p.message and "gpu-001" in p.hint and "hostname_prefix" in p.hint
    assert "<pool>-<nnn>" not in p.hint


def test_a_full_rack_names_the_limiting_constraint_with_its_numbers() -> None:
    stack = Stack(
        name="first",
        site=BareMetalSite(hosts=[BareMetalHost(name="gpu-001", management_ip="10.0.0.11")]),
        racks=[Rack(name="rack-a", power_budget_kw=40, cooling="liquid")],
        compute=Compute(pools=[NodePool(name="gpu", count=8, hardware=Hardware(profile="dgx-h100"))]),
        fabric=Fabric(management=Network(cidr="10.0.0.0/24", interface="eno1")),
    )
    (p,) = [p for p in problems(stack) if p.rule == "racks.capacity"]
    assert "30.6 kW placed (3 nodes) + 10.2 kW = 40.8 kW > 40 kW budget" in p.message, p.message


def test_node_power_below_its_gpus_tdp_is_refused() -> None:
    stack = Stack(
        name="first",
        site=BareMetalSite(hosts=[BareMetalHost(name="gpu-001", management_ip="10.0.0.11")]),
        racks=[Rack(name="rack-a")],
        compute=Compute(
            pools=[NodePool(name="gpu", count=1, hardware=Hardware(profile="dgx-h200", power_kw=4.5))]
        ),
        fabric=Fabric(management=Network(cidr="10.0.0.0/24", interface="eno1")),
    )
    (p,) = [p for p in problems(stack) if p.rule == "hardware.power"]
    assert p.path == "compute.pools[0].hardware.power_kw"
    assert "8 x 700 W" in p.message and "5.6 kW" in p.message
