"""One check for a name that points at a pool which does not exist, wherever the stack names one.

Zones and tenants (checked before planning) and placements (resolved by the planner) all report an
unknown pool through :func:`unknown_pool`, with one rule id, ``refs.pool``, and the same hint.
"""

from __future__ import annotations

from collections.abc import Iterable

from dcinfra.catalog import closest
from dcinfra.errors import Problem

RULE = "refs.pool"


def unknown_pool(path: str, pool: str, pools: Iterable[str], named_by: str = "") -> Problem:
    """The problem for ``pool`` named at ``path`` (by ``named_by``, e.g. "zone 'gpu'") not among ``pools``."""
    known = sorted(set(pools))
    near = closest(pool, known)
    hint = f"did you mean {' or '.join(repr(n) for n in near)}? " if near else ""
    who = f"{named_by} names " if named_by else ""
    return Problem(path, f"{who}unknown pool {pool!r}", f"{hint}pools: {', '.join(known)}", RULE)
