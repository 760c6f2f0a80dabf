"""The access layer's flows: what every host needs so dcinfra and its operators can reach it, and
(until the platform layer declares its own) the Kubernetes control-plane flows."""

from __future__ import annotations

from collections.abc import Sequence

from dcinfra.model.stack import Stack
from dcinfra.plan.flows import Need, with_roles
from dcinfra.plan.hosts import Draft


def flows(stack: Stack, drafts: Sequence[Draft]) -> list[Need]:
    """The access every host needs: SSH from the management CIDR (how dcinfra and operators reach it)."""
    mgmt = str(stack.security.ssh.management_cidr or stack.fabric.management.cidr)
    everyone = frozenset(d.name for d in drafts)
    return [
        Need("ssh", frozenset(), everyone, "tcp", ("22",), "management", mgmt, "all hosts", (mgmt,), "host")
    ]


def platform_flows(stack: Stack, drafts: Sequence[Draft]) -> list[Need]:
    """Kubernetes: every host to the API server, the control plane to every kubelet."""
    k8s = stack.platform.kubernetes if stack.platform else None
    cp = with_roles(drafts, "k8s-control-plane")
    if k8s is None or not cp:
        return []
    everyone = frozenset(d.name for d in drafts)
    return [
        Need(
            "kube-apiserver", everyone, cp, "tcp", ("6443",), "management", "all hosts", "k8s-control-plane"
        ),
        Need(
            "kubelet",
            cp,
            everyone,
            "tcp",
            ("10250",),
            "management",
            "k8s-control-plane",
            "all hosts",
            scope="host",
        ),
    ]
