"""How changes that restart services or reboot hosts roll through the cluster: batch size, failure
tolerance and the bounded wait for running jobs.

Compiled by the planner into :class:`~dcinfra.plan.types.RolloutPlan` and written to the inventory as
``dcinfra_rollout``; the plays that restart slurmd or change the GPU driver take Ansible's ``serial`` and
``max_fail_percentage`` from it, and drain each node from the scheduler before touching it.
"""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from dcinfra.model.base import Spec
from dcinfra.model.types import FORMAT_ERROR


class Rollout(Spec):
    """Rolling changes: hosts whose change restarts a daemon they serve jobs with (slurmd after a
    gres.conf, cgroup.conf or node-definition change) or changes their GPU driver are changed in
    batches. Each host of a batch is drained from the scheduler first (no new jobs; running jobs
    finish, waited for up to ``drain_timeout_s``), changed, health-checked, and only then resumed.
    Hosts whose configuration did not change are not drained.

    Example::

        Rollout(batch=2, max_fail_percentage=0, drain_timeout_s=1800)
        Rollout(batch_percent=25)  # a quarter of the changing hosts at a time
    """

    batch: int | None = Field(default=None, ge=1, le=100_000)
    """Hosts changed at once (Ansible ``serial``), e.g. ``2``; None: one at a time, unless
    ``batch_percent`` is given."""
    batch_percent: int | None = Field(default=None, ge=1, le=100)
    """Instead of ``batch``: the share of the changing hosts changed at once, percent (Ansible
    ``serial: "25%"``), e.g. ``25``; at least one host per batch."""
    max_fail_percentage: int = Field(default=0, ge=0, le=100)
    """Share of a batch's hosts that may fail before the rollout stops, percent (Ansible
    ``max_fail_percentage``); 0: the first failure stops it, the hosts not yet reached untouched."""
    drain_timeout_s: int = Field(default=600, ge=0, le=604_800)
    """How long to wait for the jobs running on a drained host to finish before its change, seconds; a
    host still busy then fails (it stays drained, and the next ``up`` takes it up again)."""

    @field_validator("batch_percent")
    @classmethod
    def _one_batch_size(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("batch") is not None:
            raise PydanticCustomError(
                FORMAT_ERROR,
                "{reason}",
                {
                    "reason": f"batch_percent={value!r} and batch={info.data['batch']!r} are both given: "
                    "a batch is either a number of hosts or a share of them",
                    "allowed": "only one of batch (hosts) and batch_percent (percent): drop the other",
                    "example": None,
                },
            )
        return value
