"""A throwaway lab for benchmarks: stacks/lab.py under another name and other addresses."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dcinfra.config import Config  # noqa: E402
from dcinfra.loader import load_stack  # noqa: E402
from dcinfra.model.stack import Stack  # noqa: E402
from dcinfra.plan import compile_plan  # noqa: E402
from dcinfra.sites.lab import Lab  # noqa: E402
from dcinfra.state import StateDir  # noqa: E402


class Quiet:
    """Site progress that prints nothing."""

    def step(self, message: str) -> None:
        del message


def lab_stack_file(tmp: Path, name: str, third_octet: int) -> Path:
    """stacks/lab.py written to ``tmp`` as ``name`` on 172.31.<third_octet>(+1).0/24."""
    text = (ROOT / "stacks" / "lab.py").read_text()
    text = text.replace('name="lab"', f'name="{name}"')
    text = text.replace("172.31.250.0/24", f"172.31.{third_octet}.0/24")
    text = text.replace("172.31.251.0/24", f"172.31.{third_octet + 1}.0/24")
    stack_file = tmp / f"{name}.py"
    stack_file.write_text(text)
    return stack_file


def bench_lab(tmp: Path, name: str, third_octet: int) -> tuple[Stack, StateDir, Lab]:
    """The lab stack as ``name`` on 172.31.<third_octet>(+1).0/24, with its state under ``tmp``."""
    stack = load_stack(lab_stack_file(tmp, name, third_octet), Config())
    state = StateDir(tmp / "state" / name)
    return stack, state, Lab(compile_plan(stack), state)
