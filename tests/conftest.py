"""Shared fixtures: the repository root and a loader for the reference stacks in ``stacks/``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dcinfra.config import Config
from dcinfra.loader import load_stack
from dcinfra.model.stack import Stack

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (where ``stacks/`` and ``pyproject.toml`` are)."""
    return REPO_ROOT


LoadStack = Callable[..., Stack]


@pytest.fixture(scope="session")
def load() -> LoadStack:
    """``load("superpod", su_count=16)``: a reference stack from ``stacks/``, with ``--config`` values."""

    def _load(name: str, **config: object) -> Stack:
        cfg = Config({key: str(value) for key, value in config.items()})
        return load_stack(REPO_ROOT / "stacks" / f"{name}.py", cfg)

    return _load


def updating_golden() -> bool:
    """``DCINFRA_UPDATE_GOLDEN=1``: golden tests rewrite their fixtures (then fail, see :func:`rewrote`)."""
    import os

    return os.environ.get("DCINFRA_UPDATE_GOLDEN") == "1"


def rewrote(what: Path) -> None:
    """Fail after an update-mode rewrite: a run that rewrote its fixtures compared nothing, so it must
    never read as a pass. Review the change (``git diff tests/fixtures``), then rerun without the flag."""
    pytest.fail(
        f"DCINFRA_UPDATE_GOLDEN=1 rewrote {what}: review `git diff {what}` and rerun without it "
        "(a run that rewrites its golden files compares nothing, so it does not pass)",
        pytrace=False,
    )
