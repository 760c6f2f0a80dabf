"""Model-level cross-layer checks: what is wrong with a stack that no single field's type can see.

:func:`check_stack` runs every rule family in :data:`FAMILIES` and returns all problems at once, in a
fixed order (the families in that order, then declaration order inside each). It is pure: it builds
host drafts (``make_hosts`` + ``place``, :meth:`Ctx.placed`) when a rule needs placement, and only reads
them; :func:`dcinfra.plan.validate` passes its own :class:`Ctx` and hands the same drafts to the
planner after every rule has run. What only planning can find (addresses that do not fit, racks over
budget, a switch radix too small for the size, a rule blocking a needed flow, unknown GPU/NIC/profile
names, unknown pools or hosts in placements) is reported by the planner through
:func:`dcinfra.plan.validate`, and is not repeated here.

The families live in modules that mirror :mod:`dcinfra.model`, and each module's docstring lists its
rules (``Problem.rule``) and the decisions behind them:

- :mod:`~dcinfra.plan.checks.fabric`: networks, the compute fabric, MTU and RoCE
- :mod:`~dcinfra.plan.checks.ceph` and :mod:`~dcinfra.plan.checks.hdfs`: storage
- :mod:`~dcinfra.plan.checks.security`: zones, rules, tenants and SSH
- :mod:`~dcinfra.plan.checks.versions` and :mod:`~dcinfra.plan.checks.platform`: the versions lock and
  Kubernetes
- :mod:`~dcinfra.plan.checks.scheduler`: Slurm (accounting, tenants and their QOS, partitions, GRES)
- :mod:`~dcinfra.plan.checks.site`: site host entries and the limits of the site's capabilities
- :mod:`~dcinfra.plan.checks.verify`: the verify stage's settings

Rules read the site's capabilities (``Ctx.site``), never the site's kind; shared helpers are in
:mod:`~dcinfra.plan.checks._common`.

:data:`GATES` run before everything else (:func:`check_gates`): a problem of theirs means the stack
cannot exist on its site at all (the lab asked for 100,000 nodes), so :func:`dcinfra.plan.validate`
reports it alone and plans nothing; every other finding would follow from it and only bury it.
"""

from __future__ import annotations

from dcinfra.errors import Problem
from dcinfra.model.stack import Stack
from dcinfra.plan.checks._common import Check, Ctx
from dcinfra.plan.checks.ceph import check_ceph
from dcinfra.plan.checks.fabric import check_fabric, check_mtu, check_networks, check_roce
from dcinfra.plan.checks.hdfs import check_hdfs
from dcinfra.plan.checks.platform import check_platform
from dcinfra.plan.checks.scheduler import check_scheduler
from dcinfra.plan.checks.security import check_security
from dcinfra.plan.checks.site import check_site, check_site_size
from dcinfra.plan.checks.verify import check_verify
from dcinfra.plan.checks.versions import check_versions

__all__ = ["FAMILIES", "GATES", "Ctx", "check_gates", "check_stack"]

# Every rule family, in the order their problems are reported.
FAMILIES: tuple[Check, ...] = (
    check_networks,
    check_fabric,
    check_mtu,
    check_roce,
    check_ceph,
    check_hdfs,
    check_security,
    check_versions,
    check_platform,
    check_scheduler,
    check_site,
    check_verify,
)


# Rules whose problem makes the stack impossible on its site: checked first, reported alone. Each is
# also part of its family above (check_stack alone still reports everything).
GATES: tuple[Check, ...] = (check_site_size,)


def check_gates(stack: Stack, ctx: Ctx | None = None) -> list[Problem]:
    """The problems of :data:`GATES`: when there are any, nothing else is worth checking."""
    ctx = ctx or Ctx.of(stack)
    return [p for gate in GATES for p in gate(ctx)]


def check_stack(stack: Stack, ctx: Ctx | None = None) -> list[Problem]:
    """Every problem found from the model alone, all at once, in a deterministic order."""
    ctx = ctx or Ctx.of(stack)
    problems: list[Problem] = []
    for check in FAMILIES:
        problems.extend(check(ctx))
    return problems
