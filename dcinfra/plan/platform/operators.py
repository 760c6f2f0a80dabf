"""The operators' part of the platform plan: the NVIDIA GPU Operator (with the Container Toolkit CVE floor)
and the NVIDIA Network Operator with one secondary pod network per compute rail."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

from dcinfra.catalog import charts
from dcinfra.errors import Problem
from dcinfra.model.platform import Kubernetes
from dcinfra.plan.addresses import address_runs
from dcinfra.plan.platform.records import IPAM_BLOCK_PER_NODE, GpuOperatorPlan, NetworkOperatorPlan, RailPlan
from dcinfra.plan.types import HostPlan, Plan

# --- GPU Operator ---------------------------------------------------------------------------------------


def gpu_operator(k8s: Kubernetes, problems: list[Problem]) -> GpuOperatorPlan:
    """The GPU Operator's settings; a toolkit older than the CVE floor is a problem."""
    base = "platform.kubernetes"
    shipped = charts.GPU_OPERATOR_TOOLKIT.get(k8s.gpu_operator_version)
    if k8s.toolkit_version is not None:
        if charts.version_tuple(k8s.toolkit_version) < charts.TOOLKIT_MIN:
            problems.append(
                Problem(
                    f"{base}.toolkit_version",
                    f"NVIDIA Container Toolkit {k8s.toolkit_version!r} is older than "
                    f"v{'.'.join(map(str, charts.TOOLKIT_MIN))}, which fixes container-escape CVEs "
                    "(CVE-2024-0132, CVE-2025-23359, CVE-2025-23266)",
                    f"use v{'.'.join(map(str, charts.TOOLKIT_MIN))} or newer, or None for the chart's own",
                    "platform.toolkit",
                )
            )
    elif charts.version_tuple(k8s.gpu_operator_version) < charts.GPU_OPERATOR_MIN:
        problems.append(
            Problem(
                f"{base}.gpu_operator_version",
                f"GPU Operator {k8s.gpu_operator_version!r} ships an NVIDIA Container Toolkit older than "
                f"v{'.'.join(map(str, charts.TOOLKIT_MIN))} (container-escape CVEs up to CVE-2025-23266)",
                f"use v{'.'.join(map(str, charts.GPU_OPERATOR_MIN))} or newer (default "
                f"{Kubernetes.model_fields['gpu_operator_version'].default!r}), or force toolkit_version",
                "platform.toolkit",
            )
        )
    return GpuOperatorPlan(
        version=k8s.gpu_operator_version,
        driver_enabled=k8s.gpu_driver == "operator",
        toolkit_version=k8s.toolkit_version,
        toolkit_shipped=shipped,
    )


# --- rails ----------------------------------------------------------------------------------------------


def _ranges(addresses: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """Consecutive runs of ``addresses`` as (first, last) pairs, sorted."""
    return tuple((str(first), str(last)) for first, last in address_runs(addresses))


def rail_of(network: str) -> int | None:
    """The rail of a plan network named ``compute-r<n>``; None for the other networks."""
    m = re.fullmatch(r"compute-r(\d+)", network)
    return int(m.group(1)) if m is not None else None


def rail_room(rail: int, cidr: str, hosts: int, problems: list[Problem]) -> None:
    """``platform.rail-addresses``: the subnet ``cidr`` of ``rail`` cannot hold its ``hosts`` (compute
    hosts with that rail) plus their pod addresses. The Network Operator's plan (:func:`network`) and
    validation (:func:`dcinfra.plan.platform.check_platform`) both ask here."""
    subnet = ipaddress.IPv4Network(cidr)
    need = hosts * IPAM_BLOCK_PER_NODE + hosts
    if need > subnet.num_addresses - 2:
        problems.append(
            Problem(
                "fabric.compute.cidr",
                f"rail {rail} subnet {cidr} ({subnet.num_addresses} addresses) cannot hold "
                f"{hosts} hosts plus {IPAM_BLOCK_PER_NODE} pod addresses per host ({need})",
                "use a larger compute CIDR",
                "platform.rail-addresses",
            )
        )


def network(
    k8s: Kubernetes,
    plan: Plan,
    compute: Sequence[HostPlan],
    rdma: bool,
    nfd: bool,
    problems: list[Problem],
) -> NetworkOperatorPlan:
    """The Network Operator's settings: one secondary network per compute rail, with the host addresses
    NV-IPAM must skip; a rail subnet too small for the pod addresses is a problem."""
    assert plan.fabric is not None
    kind = plan.fabric.kind
    rails = []
    for net in plan.networks:
        r = rail_of(net.name)
        if r is None:
            continue
        hosts = [h for h in compute if len(h.rails) > r]
        rail_room(r, net.cidr, len(hosts), problems)
        rails.append(
            RailPlan(
                rail=r,
                name=f"rail{r}",
                master=net.interface,
                cni="ipoib" if kind == "infiniband" else "macvlan",
                subnet=net.cidr,
                mtu=net.mtu,
                exclusions=_ranges(h.rails[r].address for h in hosts),
            )
        )
    return NetworkOperatorPlan(
        version=k8s.network_operator_version,
        fabric=kind,
        rails=tuple(sorted(rails, key=lambda x: x.rail)),
        rdma=rdma,
        pools=tuple(sorted({h.pool for h in compute})),
        nfd=nfd,
    )
