"""The flows registry: every layer's ``flows(stack, drafts) -> list[Need]``, in a fixed order.

The security compiler (:mod:`dcinfra.plan.security`) reads only this: it turns the needs plus the
stack's policies into verdicts (a policy that blocks a needed flow is a problem naming both), host
firewall rulesets and, through each need's ``scope``, the Kubernetes NetworkPolicies. A new layer adds
its ``flows`` function to :data:`FLOW_SOURCES` and nowhere else. The order is the plan's flow table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from dcinfra.model.stack import Stack
from dcinfra.plan import access, platform, scheduler, storage, verify
from dcinfra.plan.flows import Need
from dcinfra.plan.hosts import Draft

FlowSource = Callable[[Stack, Sequence[Draft]], list[Need]]

# (layer, its flows) in table order.
FLOW_SOURCES: tuple[tuple[str, FlowSource], ...] = (
    ("access", access.flows),
    ("ceph", storage.ceph_flows),
    ("hdfs", storage.hdfs_flows),
    ("verify", verify.flows),
    ("platform", platform.flows),
    ("slurm", scheduler.flows),
)


def needed_flows(stack: Stack, drafts: Sequence[Draft]) -> list[Need]:
    """Every connection the declared stack depends on, layer by layer in registry order."""
    out: list[Need] = []
    for layer, source in FLOW_SOURCES:
        out.extend(replace(n, layer=layer) for n in source(stack, drafts))
    return out
