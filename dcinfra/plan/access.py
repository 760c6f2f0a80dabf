"""The access layer's flows: what every host needs so dcinfra and its operators can reach it."""

from __future__ import annotations

from collections.abc import Sequence

from dcinfra.model.stack import Stack
from dcinfra.plan.flows import Need
from dcinfra.plan.hosts import Draft


def flows(stack: Stack, drafts: Sequence[Draft]) -> list[Need]:
    """The access every host needs: SSH from the management CIDR (how dcinfra and operators reach it)."""
    mgmt = str(stack.security.ssh.management_cidr or stack.fabric.management.cidr)
    everyone = frozenset(d.name for d in drafts)
    port = str(stack.site.capabilities().ssh_port)  # where sshd already listens
    return [
        Need("ssh", frozenset(), everyone, "tcp", (port,), "management", mgmt, "all hosts", (mgmt,), "host")
    ]
