"""How changes that restart services or reboot roll: the stack's :class:`~dcinfra.model.rollout.Rollout`
as Ansible's play keywords (``serial``, ``max_fail_percentage``) and the drain the plays do first."""

from __future__ import annotations

from dcinfra.model.stack import Stack
from dcinfra.plan.types import RolloutPlan

# The Reason dcinfra gives the scheduler when it drains a node for a change; resume lifts only drains
# whose Reason starts with it (an operator's drain, or the health check's, is left as it is).
DRAIN_REASON = "dcinfra: rolling"


def plan_rollout(stack: Stack) -> RolloutPlan:
    """Batches of ``batch`` hosts (one by default) or ``batch_percent`` of them."""
    r = stack.rollout
    serial: int | str = f"{r.batch_percent}%" if r.batch_percent is not None else (r.batch or 1)
    return RolloutPlan(
        serial=serial,
        max_fail_percentage=r.max_fail_percentage,
        drain_timeout_s=r.drain_timeout_s,
        drain_reason=DRAIN_REASON,
    )
