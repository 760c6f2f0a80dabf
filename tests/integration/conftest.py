"""Integration fixtures: real lab nodes on this machine (root only), always torn down."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dcinfra.config import Config
from dcinfra.loader import load_stack
from dcinfra.model.stack import Stack
from dcinfra.plan import compile_plan
from dcinfra.plan.types import Plan
from dcinfra.sites.lab import Lab
from dcinfra.state import StateDir

ROOT = Path(__file__).resolve().parents[2]


def lab_ready() -> str:
    """Why lab tests cannot run here ("" when they can): the lab's own prerequisites for the embedded
    lab stack, the same check `dcinfra up` makes (root, the host packages the roles use, overlayfs)."""
    plan = compile_plan(load_stack(ROOT / "stacks" / "lab.py", Config()))
    return "; ".join(Lab(plan, StateDir(Path("/nonexistent"))).prerequisites())


requires_lab = pytest.mark.skipif(bool(lab_ready()), reason=lab_ready() or "lab ready")


def ceph_ready() -> str:
    """Why the Ceph tests cannot run here ("" when they can)."""
    for tool in ("ceph-mon", "ceph-mgr", "ceph-osd", "ceph-mds", "ceph-fuse", "ceph", "rados"):
        if not any(Path(d, tool).exists() for d in ("/usr/bin", "/usr/sbin")):
            return (
                f"{tool} is not installed (apt-get install -y ceph-mon ceph-mgr ceph-osd ceph-mds ceph-fuse)"
            )
    if not Path("/dev/fuse").exists():
        return "/dev/fuse is missing (CephFS mounts on lab nodes use ceph-fuse)"
    return ""


def cli_argv(stack_file: Path, state_root: Path, *args: str) -> list[str]:
    """``python -m dcinfra ARGS... STACK --state-dir STATE_ROOT``: the CLI of this checkout."""
    return [sys.executable, "-m", "dcinfra", *args, str(stack_file), "--state-dir", str(state_root)]


def cli_env(canary: str | None = None) -> dict[str, str]:
    """The environment of a CLI run: wide tables, and a canary secret the tests grep the output for."""
    env = {**os.environ, "COLUMNS": "200"}
    if canary is not None:
        env["DCINFRA_CANARY_SECRET"] = canary
    return env


def lab_variant(tmp: Path, name: str, third_octet: int) -> Path:
    """stacks/lab.py under another name and other addresses, so tests never collide with a user's lab."""
    text = (ROOT / "stacks" / "lab.py").read_text()
    text = text.replace('name="lab"', f'name="{name}"')
    text = text.replace("172.31.250.0/24", f"172.31.{third_octet}.0/24")
    text = text.replace("172.31.251.0/24", f"172.31.{third_octet + 1}.0/24")
    path = tmp / f"{name}.py"
    path.write_text(text)
    return path


class Steps:
    """Collects site progress steps."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def step(self, message: str) -> None:
        self.seen.append(message)


def leftovers(plan: Plan, lab: Lab) -> list[str]:
    """Anything of this stack's lab still on the machine."""
    out = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    out += [line for line in netns.splitlines() if line.startswith(f"dcinfra-{plan.stack}-")]
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=False).stdout
    out += [line.split()[0] for line in links.splitlines() if line.startswith(f"{lab.prefix}{lab.tag}")]
    mounts = Path("/proc/self/mountinfo").read_text()
    out += [f"mount {line.split()[4]}" for line in mounts.splitlines() if str(lab.state.path) in line]
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=False).stdout
    out += [f"process {line.strip()}" for line in ps.splitlines() if str(lab.state.lab) in line]
    if lab.state.lab.exists():
        out.append(f"dir {lab.state.lab}")
    return out


@pytest.fixture(scope="module")
def itlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Plan, Lab]]:
    """A running 3-node lab (stack 'itlab', 172.31.230-231.0/24), torn down after the module."""
    if lab_ready():
        pytest.skip(lab_ready())
    tmp = tmp_path_factory.mktemp("itlab")
    stack = load_stack(lab_variant(tmp, "itlab", 230), Config())
    plan = compile_plan(stack)
    lab = Lab(plan, StateDir(tmp / "state" / "itlab"))
    try:
        lab.provision(Steps())
        yield stack, plan, lab
    finally:
        lab.teardown(Steps())
