"""Rules on the platform layer (``platform.kubernetes``): namespace names and the control-plane size.

Rules (``Problem.rule``): ``platform.namespaces``, ``platform.control-plane``
"""

from __future__ import annotations

from collections.abc import Iterator

from dcinfra.errors import Problem
from dcinfra.plan.checks._common import Ctx, dup_names

__all__ = ["check_platform"]

# A Kubernetes namespace name is a DNS-1123 label.
K8S_NAMESPACE_MAX = 63


def check_platform(ctx: Ctx) -> Iterator[Problem]:
    """Kubernetes namespaces and control-plane size."""
    k8s = ctx.stack.platform.kubernetes if ctx.stack.platform else None
    if k8s is None:
        return
    base = "platform.kubernetes"
    for j, ns in enumerate(k8s.namespaces):
        ok = (
            0 < len(ns) <= K8S_NAMESPACE_MAX
            and ns[0].isalnum()
            and ns[-1].isalnum()
            and all(c.islower() or c.isdigit() or c == "-" for c in ns)
        )
        if not ok:
            yield Problem(
                f"{base}.namespaces[{j}]",
                f"namespace {ns!r} is not a DNS-1123 label",
                "use lower-case letters, digits and '-', at most 63 characters",
                "platform.namespaces",
            )
    yield from dup_names(
        k8s.namespaces, lambda j: f"{base}.namespaces[{j}]", "namespace", "platform.namespaces"
    )
    if k8s.control_plane is not None:
        cp = ctx.select(k8s.control_plane)
        if cp and len(cp) % 2 == 0:
            yield Problem(
                f"{base}.control_plane",
                f"{len(cp)} control-plane hosts: etcd needs a majority, so an "
                "even count adds no fault tolerance",
                "use 1, 3 or 5 control-plane hosts (count=3)",
                "platform.control-plane",
            )
