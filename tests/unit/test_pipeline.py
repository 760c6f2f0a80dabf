"""The pure parts of the pipeline: the plan diff preview uses, rendered-file diffs, when the platform
stage joins."""

from __future__ import annotations

from pathlib import Path

from dcinfra.config import Config
from dcinfra.loader import load_stack
from dcinfra.pipeline import _platform_target, diff_files
from dcinfra.plan import compile_plan
from dcinfra.plan.diff import diff_objects
from dcinfra.plan.types import to_jsonable
from dcinfra.render import render, write_tree
from dcinfra.state import StateDir

ROOT = Path(__file__).resolve().parents[2]


def test_preview_diffs_the_plan_per_object() -> None:
    small = to_jsonable(compile_plan(load_stack(ROOT / "stacks" / "lab.py", Config({"nodes": "3"}))))
    big = to_jsonable(compile_plan(load_stack(ROOT / "stacks" / "lab.py", Config({"nodes": "4"}))))
    changes = {(c.kind, c.name): c for c in diff_objects(small, big)}
    host = changes[("host", "node-004")]
    assert host.action == "create"
    assert any(f.path == "addresses.management" for f in host.fields)
    assert ("host", "node-001") not in changes  # unchanged hosts stay quiet
    assert diff_objects(small, small) == []


def test_diff_files_against_the_last_render(tmp_path: Path) -> None:
    plan = compile_plan(load_stack(ROOT / "stacks" / "lab.py", Config()))
    files = render(plan)
    write_tree(files, tmp_path)
    assert diff_files(files, tmp_path) == []
    changed = dict(files)
    key = "files/_all/etc/hosts"
    changed[key] = files[key] + b"10.9.9.9 extra\n"
    del changed["cabling.csv"]
    diffs = {d.path: d for d in diff_files(changed, tmp_path)}
    assert diffs[key].status == "changed" and "+10.9.9.9 extra" in diffs[key].diff
    assert diffs["cabling.csv"].status == "removed"


def test_platform_stage_joins_only_when_declared(tmp_path: Path) -> None:
    lab = load_stack(ROOT / "stacks" / "lab.py", Config())
    assert _platform_target(compile_plan(lab), StateDir(tmp_path / "lab")) is None
    su = load_stack(ROOT / "stacks" / "h100_su.py", Config())
    target = _platform_target(compile_plan(su), StateDir(tmp_path / "h100-su"))
    assert target is not None and len(target.items) > 10
