"""Model-level cross-layer checks (placeholder until the checks module lands)."""

from __future__ import annotations

from dcinfra.errors import Problem
from dcinfra.model.stack import Stack


def check_stack(stack: Stack) -> list[Problem]:
    """Problems found from the model alone."""
    del stack
    return []
