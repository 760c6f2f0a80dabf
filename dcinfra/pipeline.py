"""preview / up / destroy: short functions over the stages' typed records.

    up:       compile -> lock -> provision (site) -> render -> configure (Ansible) -> record
    preview:  compile -> plan diff vs last applied -> file diffs -> Ansible check+diff (if hosts exist)
    destroy:  compile -> lock -> refuse data-bearing storage without destroy_data -> teardown (site)

Nothing here branches on the site kind: sites implement :class:`~dcinfra.sites.SiteProvider`.
"""

from __future__ import annotations

import difflib
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dcinfra.engines.ansible import (
    NullProgress,
    ProgressSink,
    RunRecord,
    close_ssh_masters,
    run_playbook,
    scrub,
)
from dcinfra.errors import DcinfraError
from dcinfra.model.stack import Stack
from dcinfra.plan import compile_plan
from dcinfra.plan.types import Plan, to_jsonable
from dcinfra.render import read_manifest, render, write_tree
from dcinfra.sites import HostsRecord, Progress, TeardownRecord, provider_for
from dcinfra.state import StateDir

PLAYBOOKS = Path(__file__).resolve().parent.parent / "playbooks"


class PrerequisitesMissing(DcinfraError):
    """This machine lacks what the site needs."""


class DataProtected(DcinfraError):
    """destroy would remove data-bearing storage and --destroy-data was not given."""


class ConfigureFailed(DcinfraError):
    """The configure stage failed on some host (the record says where)."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        first = record.failures[0] if record.failures else None
        where = f"{first.host} | {first.role} : {first.task}: {first.message}" if first else record.error
        super().__init__(f"configure failed ({len(record.failures)} task failure(s)); first: {where}")


class _NoSteps:
    def step(self, message: str) -> None:
        del message


@dataclass(frozen=True, slots=True)
class UpRecord:
    """What ``up`` did."""

    stack: str
    hosts: HostsRecord
    configure: RunRecord

    def to_dict(self) -> dict[str, Any]:
        """JSON for ``--json``."""
        return {
            "stack": self.stack,
            "ok": self.configure.ok,
            "site": self.hosts.site,
            "created": list(self.hosts.created),
            "repaired": list(self.hosts.repaired),
            "configure": self.configure.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class FileDiff:
    """A rendered file that would change."""

    path: str  # relative to the build dir
    status: str  # "added", "removed", "changed"
    diff: str  # unified diff (scrubbed)


@dataclass(frozen=True, slots=True)
class PreviewRecord:
    """What ``up`` would change."""

    stack: str
    plan_changes: list[str]  # human-readable plan differences vs the last applied plan
    files: list[FileDiff]  # rendered-file differences vs the last applied render
    hosts_missing: list[str]  # hosts ``up`` would create or repair (check mode cannot reach them)
    check: RunRecord | None  # Ansible check+diff run, None when hosts are missing
    first_up: bool  # nothing applied yet

    @property
    def changes(self) -> bool:
        """Anything at all would change."""
        return bool(
            self.first_up
            or self.plan_changes
            or self.files
            or self.hosts_missing
            or (self.check is not None and (self.check.changed_total or not self.check.ok))
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON for ``--json``."""
        return {
            "stack": self.stack,
            "changes": self.changes,
            "first_up": self.first_up,
            "plan_changes": self.plan_changes,
            "files": [{"path": f.path, "status": f.status, "diff": f.diff} for f in self.files],
            "hosts_missing": self.hosts_missing,
            "check": self.check.to_dict() if self.check else None,
        }


@dataclass(frozen=True, slots=True)
class DestroyRecord:
    """What ``destroy`` removed."""

    stack: str
    teardown: TeardownRecord
    removed_state: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON for ``--json``."""
        return {
            "stack": self.stack,
            "removed": list(self.teardown.removed) + self.removed_state,
            "kept": list(self.teardown.kept),
        }


def _playbook(name: str) -> Path:
    path = PLAYBOOKS / name
    if not path.exists():
        raise DcinfraError(
            f"playbook {path} not found; dcinfra must run from its source tree (pip install -e .)"
        )
    return path


def _extravars(build: Path) -> dict[str, object]:
    # Lab nodes see the controller's filesystem through their overlay root, so the bench env reuses
    # the controller's Python (and its torch) instead of downloading one.
    return {"dcinfra_build_dir": str(build), "dcinfra_bench_python": sys.executable}


def _configure(
    plan: Plan, state: StateDir, hosts: HostsRecord, build: Path, progress: ProgressSink, *, check: bool
) -> RunRecord:
    return run_playbook(
        _playbook("site.yml"),
        build / "inventory" / "hosts.yml",
        runs_dir=state.runs,
        ssh_key=Path(hosts.ssh_key) if hosts.ssh_key else None,
        ssh_user=hosts.ssh_user,
        extravars=_extravars(build),
        check=check,
        diff=check,
        forks=len(plan.hosts),
        progress=progress,
    )


def _applied(state: StateDir) -> dict[str, Any] | None:
    try:
        data = json.loads(state.applied_plan.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def up(
    stack: Stack,
    state: StateDir,
    *,
    steps: Progress | None = None,
    progress: ProgressSink | None = None,
    force_unlock: bool = False,
) -> UpRecord:
    """Provision, render and configure ``stack``; record the applied plan when configure succeeds."""
    plan = compile_plan(stack)
    steps = steps or _NoSteps()
    with state.lock("up", force=force_unlock):
        provider = provider_for(plan, state)
        missing = provider.prerequisites()
        if missing:
            raise PrerequisitesMissing("this machine is not ready:\n  - " + "\n  - ".join(missing))
        hosts = provider.provision(steps)
        steps.step("rendering")
        write_tree(render(plan), state.build)
        record = _configure(plan, state, hosts, state.build, progress or NullProgress(), check=False)
        if not record.ok:
            raise ConfigureFailed(record)
        applied = {"plan": to_jsonable(plan), "deployed": {"ceph": False, "hdfs": False}}
        state.applied_plan.write_text(json.dumps(applied, indent=2, sort_keys=True) + "\n")
        return UpRecord(plan.stack, hosts, record)


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, list) and value and all(isinstance(v, dict) and "name" in v for v in value):
        for v in value:
            _flatten(v, f"{prefix}[{v['name']}]", out)
    else:
        out[prefix] = value


def diff_plans(old: dict[str, Any], new: dict[str, Any], limit: int = 200) -> list[str]:
    """Human-readable differences between two plan JSONs (hosts and racks keyed by name)."""
    a: dict[str, Any] = {}
    b: dict[str, Any] = {}
    _flatten(old, "", a)
    _flatten(new, "", b)
    out = []
    for key in sorted(a.keys() | b.keys()):
        if key not in b:
            out.append(f"- {key} = {json.dumps(a[key])}")
        elif key not in a:
            out.append(f"+ {key} = {json.dumps(b[key])}")
        elif a[key] != b[key]:
            out.append(f"~ {key}: {json.dumps(a[key])} -> {json.dumps(b[key])}")
    if len(out) > limit:
        out = [*out[:limit], f"... and {len(out) - limit} more"]
    return out


def diff_files(files: dict[str, bytes], build: Path) -> list[FileDiff]:
    """Rendered files that differ from what the last ``up`` wrote to ``build``."""
    old_paths = set(read_manifest(build)) if build.exists() else set()
    out = []
    for path in sorted(old_paths | files.keys()):
        before = (build / path).read_bytes() if path in old_paths and (build / path).exists() else None
        after = files.get(path)
        if before == after:
            continue
        status = "added" if before is None else "removed" if after is None else "changed"
        text = "".join(
            difflib.unified_diff(
                (before or b"").decode(errors="replace").splitlines(keepends=True),
                (after or b"").decode(errors="replace").splitlines(keepends=True),
                f"a/{path}",
                f"b/{path}",
            )
        )
        out.append(FileDiff(path, status, scrub(text)))
    return out


def preview(stack: Stack, state: StateDir, *, progress: ProgressSink | None = None) -> PreviewRecord:
    """What ``up`` would change, without changing anything on hosts."""
    plan = compile_plan(stack)
    files = render(plan)
    applied = _applied(state)
    new_plan = to_jsonable(plan)
    plan_changes = diff_plans(applied["plan"], new_plan) if applied else []
    file_diffs = [f for f in diff_files(files, state.build) if f.path != "plan.json"] if applied else []
    provider = provider_for(plan, state)
    status = provider.status()
    missing = [h.name for h in status if h.state not in ("running", "reachable")]
    check = None
    if not missing:
        preview_dir = state.path / "preview"
        write_tree(files, preview_dir)
        key = state.secrets / "ssh_ed25519"
        hosts = HostsRecord(
            plan.site, tuple(status), ssh_key=str(key) if key.exists() else "", ssh_user=plan.ssh_user
        )
        check = _configure(plan, state, hosts, preview_dir, progress or NullProgress(), check=True)
    return PreviewRecord(plan.stack, plan_changes, file_diffs, missing, check, applied is None)


def destroy(
    stack: Stack,
    state: StateDir,
    *,
    destroy_data: bool = False,
    steps: Progress | None = None,
    force_unlock: bool = False,
    confirm: Callable[[Plan], bool] | None = None,
) -> DestroyRecord:
    """Tear the stack down; data-bearing storage that ``up`` deployed goes only with ``destroy_data``."""
    plan = compile_plan(stack)
    steps = steps or _NoSteps()
    with state.lock("destroy", force=force_unlock):
        applied = _applied(state) or {}
        deployed = [k for k, v in applied.get("deployed", {}).items() if v]
        if deployed and not destroy_data:
            raise DataProtected(
                f"stack {plan.stack!r} holds data in {', '.join(deployed)}; destroy removes it only with "
                "--destroy-data (nothing was touched)"
            )
        if confirm is not None and not confirm(plan):
            raise DcinfraError("destroy cancelled; nothing was touched")
        # Persistent SSH masters would outlive the nodes they talk to.
        close_ssh_masters(state.runs)
        teardown = provider_for(plan, state).teardown(steps)
        removed = []
        # Host keys and cached facts describe hosts that no longer exist: a recreated lab node has new
        # host keys, and stale facts would mislead the next run.
        for p in (
            state.build,
            state.path / "preview",
            state.applied_plan,
            state.path / "known_hosts",
            state.path / "facts",
        ):
            if p.exists():
                shutil.rmtree(p) if p.is_dir() else p.unlink()
                removed.append(str(p))
        return DestroyRecord(plan.stack, teardown, removed)
