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
    kill_orphaned_runs,
    run_playbook,
    scrub,
)
from dcinfra.engines.playbooks import playbook
from dcinfra.errors import DcinfraError, Problem
from dcinfra.model.stack import Stack
from dcinfra.plan import compile_plan
from dcinfra.plan.diff import ObjectChange, diff_objects
from dcinfra.plan.moves import AddressMove, address_moves, keep_hints
from dcinfra.plan.removals import Removal, removals
from dcinfra.plan.types import Plan, to_jsonable
from dcinfra.render import read_manifest, render, write_tree
from dcinfra.sites import HostsRecord, Progress, SiteProvider, TeardownRecord, provider_for
from dcinfra.state import StateDir
from dcinfra.verify.stage import VerifyRecord, run_verify


class PrerequisitesMissing(DcinfraError):
    """This machine lacks what the site needs."""


class DataProtected(DcinfraError):
    """destroy would remove data-bearing storage and --destroy-data was not given."""


class RemovalRefused(DcinfraError):
    """The plan drops applied hosts and --allow-remove was not given (or removing one is unsafe)."""

    def __init__(self, stack: str, gone: list[Removal], *, allowed: bool) -> None:
        self.removals = gone
        lines = []
        for r in gone:
            holds = "; ".join(r.holds) or "nothing stateful"
            lines.append(f"  - {r.host}: {holds}")
            lines += [f"      unsafe: {b}" for b in r.blockers]
        if allowed:
            head = f"stack {stack!r}: removing these hosts is unsafe, even with --allow-remove"
            tail = "fix what is marked unsafe, or keep the hosts in the stack; nothing was touched"
        else:
            head = f"stack {stack!r}: the plan no longer has {len(gone)} applied host(s)"
            tail = (
                "`dcinfra preview` shows the removal; `dcinfra up --allow-remove` removes them safely "
                "(data moved away first, then the hosts drained and deprovisioned); nothing was touched"
            )
        super().__init__("\n".join([f"{head}:", *lines, tail]))


class AddressMoveRefused(DcinfraError):
    """The plan changes addresses of applied hosts and --allow-address-change was not given."""

    def __init__(self, stack: str, moves: list[AddressMove], hints: list[str]) -> None:
        self.moves = moves
        hosts = sorted({m.host for m in moves})
        lines = [f"  - {m.render()}" for m in moves[:20]]
        if len(moves) > 20:
            lines.append(f"  - ... and {len(moves) - 20} more")
        super().__init__(
            "\n".join(
                [
                    f"stack {stack!r}: the plan moves {len(moves)} address(es) of {len(hosts)} applied "
                    "host(s):",
                    *lines,
                    "running daemons keep the old addresses (a Ceph monitor cannot change its address by a "
                    "config edit), so nothing was touched. To keep the addresses:",
                    *(f"  - {h}" for h in hints),
                    "or, if moving them is intended (every daemon bound to them is re-addressed by hand), "
                    "run `dcinfra up --allow-address-change`",
                ]
            )
        )


class ScaleInFailed(DcinfraError):
    """A step of the scale-in playbook failed (the record says where); nothing was deprovisioned."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        first = record.failures[0] if record.failures else None
        where = f"{first.host} | {first.task}: {first.message}" if first else record.error
        super().__init__(
            f"scale-in stopped: {where}; no host was deprovisioned and the new plan was not "
            f"applied. Fix the cause and run `dcinfra up --allow-remove` again: it resumes where it "
            f"stopped (artifacts: {record.artifacts_dir})"
        )


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
    verify: VerifyRecord | None = None  # None when verification was skipped or is disabled
    platform: Any = None  # dcinfra.engines.pulumi.PlatformRecord when the stack declares one
    removed: list[Removal] = field(default_factory=list)  # hosts scale-in removed (--allow-remove)
    orphans: list[str] = field(default_factory=list)  # site hosts of this stack in no plan (left alone)
    limit: str | None = None  # the --limit pattern configure ran with
    moved: list[AddressMove] = field(default_factory=list)  # addresses moved (--allow-address-change)

    def to_dict(self) -> dict[str, Any]:
        """JSON for ``--json``."""
        return {
            "stack": self.stack,
            "ok": self.configure.ok,
            "site": self.hosts.site,
            "created": list(self.hosts.created),
            "repaired": list(self.hosts.repaired),
            "removed": [r.to_dict() for r in self.removed],
            "address_moves": [m.to_dict() for m in self.moved],
            "orphans": self.orphans,
            "limit": self.limit,
            "configure": self.configure.to_dict(),
            "verify": self.verify.report.to_json() if self.verify else None,
            "platform": self.platform.to_dict() if self.platform else None,
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
    plan_changes: list[ObjectChange]  # per-object plan differences vs the last applied plan
    files: list[FileDiff]  # rendered-file differences vs the last applied render
    hosts_missing: list[str]  # hosts ``up`` would create or repair (check mode cannot reach them)
    check: RunRecord | None  # Ansible check+diff run, None when hosts are missing
    first_up: bool  # nothing applied yet
    platform: Any = None  # the Pulumi preview (PlatformRecord) when the stack declares a platform
    removals: list[Removal] = field(
        default_factory=list
    )  # applied hosts the plan drops (up needs --allow-remove)
    orphans: list[str] = field(
        default_factory=list
    )  # site hosts of this stack in no plan (destroy removes them)
    address_moves: list[AddressMove] = field(
        default_factory=list
    )  # applied hosts' addresses the plan changes (up needs --allow-address-change)
    address_hints: list[str] = field(default_factory=list)  # how to keep them
    warnings: list[Problem] = field(default_factory=list)  # validation's warnings (up goes on)

    @property
    def changes(self) -> bool:
        """Anything at all would change."""
        return bool(
            self.first_up
            or self.removals
            or self.address_moves
            or self.plan_changes
            or self.files
            or self.hosts_missing
            or (self.check is not None and (self.check.changed_total or not self.check.ok))
            or (self.platform is not None and self.platform.changed)
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON for ``--json``."""
        return {
            "stack": self.stack,
            "changes": self.changes,
            "first_up": self.first_up,
            "plan_changes": [c.to_dict() for c in self.plan_changes],
            "files": [{"path": f.path, "status": f.status, "diff": f.diff} for f in self.files],
            "hosts_missing": self.hosts_missing,
            "removals": [r.to_dict() for r in self.removals],
            "orphans": self.orphans,
            "address_moves": [m.to_dict() for m in self.address_moves],
            "address_hints": self.address_hints,
            "warnings": [w.to_dict() for w in self.warnings],
            "check": self.check.to_dict() if self.check else None,
            "platform": self.platform.to_dict() if self.platform else None,
        }


@dataclass(frozen=True, slots=True)
class DestroyRecord:
    """What ``destroy`` removed."""

    stack: str
    teardown: TeardownRecord
    removed_state: list[str] = field(default_factory=list)
    platform: Any = None  # the Pulumi destroy (dcinfra.engines.pulumi.PlatformRecord) when there is one

    def to_dict(self) -> dict[str, Any]:
        """JSON for ``--json``."""
        return {
            "stack": self.stack,
            "removed": list(self.teardown.removed) + self.removed_state,
            "kept": list(self.teardown.kept),
            "platform": self.platform.to_dict() if self.platform else None,
        }


def _extravars(build: Path) -> dict[str, object]:
    # Lab nodes see the controller's filesystem through their overlay root, so the bench env reuses
    # the controller's Python (and its torch) instead of downloading one.
    return {"dcinfra_build_dir": str(build), "dcinfra_bench_python": sys.executable}


def _configure(
    plan: Plan,
    state: StateDir,
    hosts: HostsRecord,
    build: Path,
    progress: ProgressSink,
    *,
    check: bool,
    limit: str | None = None,
) -> RunRecord:
    return run_playbook(
        playbook("site.yml"),
        build / "inventory" / "hosts.yml",
        runs_dir=state.runs,
        ssh_key=Path(hosts.ssh_key) if hosts.ssh_key else None,
        ssh_user=hosts.ssh_user,
        extravars=_extravars(build),
        check=check,
        diff=check,
        forks=len(plan.hosts),
        progress=progress,
        limit=limit,
    )


_PATTERN_CHARS = set("*?~:!&[]^$")


def check_limit(plan: Plan, limit: str | None) -> None:
    """Refuse a ``--limit`` naming a host or group the plan does not have (Ansible would silently run on
    nothing). Patterns (globs, regexes, ``:&!`` set operators) go to Ansible as they are."""
    if limit is None:
        return
    from dcinfra.render.inventory import group_names

    known = {h.name for h in plan.hosts} | group_names(plan)
    items = [i.strip() for i in limit.split(",")]
    unknown = [i for i in items if i and not (_PATTERN_CHARS & set(i)) and i not in known]
    if not [i for i in items if i] or unknown:
        hosts = ", ".join(h.name for h in plan.hosts[:8]) + (" ..." if len(plan.hosts) > 8 else "")
        raise DcinfraError(
            f"--limit {limit!r}: {', '.join(map(repr, unknown)) or 'empty'} is no host or group of stack "
            f"{plan.stack!r}; allowed: host names ({hosts}), inventory groups "
            f"({', '.join(sorted(group_names(plan)))}), or an Ansible pattern (node-00*, compute:&ceph_osd)"
        )


def _deployed_marker(state: StateDir) -> Path:
    # Written BEFORE configure: a run killed in the storage play (kill -9 included) has already marked
    # the clusters that may hold data, so destroy never removes them without --destroy-data.
    return state.path / "deployed.json"


def _deployed(state: StateDir) -> dict[str, bool]:
    """Storage clusters that may hold data: the applied record's and the pre-configure marker's."""
    out = {"ceph": False, "hdfs": False, "slurm-accounting": False}
    for data in ((_applied(state) or {}).get("deployed", {}), _read_json(_deployed_marker(state))):
        for k, v in data.items():
            out[k] = out.get(k, False) or bool(v)
    return out


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _mark_deployed(state: StateDir, plan: Plan) -> dict[str, bool]:
    deployed = _deployed(state)
    deployed["ceph"] = deployed["ceph"] or plan.ceph is not None
    deployed["hdfs"] = deployed["hdfs"] or plan.hdfs is not None
    # Slurm's accounting database (job history, associations, fair-share usage) is data too.
    deployed["slurm-accounting"] = deployed["slurm-accounting"] or bool(plan.slurm and plan.slurm.accounting)
    _deployed_marker(state).write_text(json.dumps(deployed, indent=2, sort_keys=True) + "\n")
    return deployed


def _stop_orphans(state: StateDir, steps: Progress) -> None:
    """Stop Ansible runs left behind by a killed dcinfra of this stack (we hold the lock: none is live)."""
    killed = kill_orphaned_runs(state.runs)
    if killed:
        steps.step(f"stopped {killed} process(es) left running by an interrupted earlier run")


def applied_moves(stack: Stack, plan: Plan) -> tuple[list[AddressMove], list[str]]:
    """The applied hosts' addresses ``plan`` would move (and how to keep them), read from the stack's
    default state dir; none when nothing was applied there (``plan`` warns with these)."""
    applied = _applied(StateDir.for_stack(stack.name))
    if applied is None or not isinstance(applied.get("plan"), dict):
        return [], []
    moved = address_moves(applied["plan"], plan)
    return moved, keep_hints(moved, applied["plan"], plan) if moved else []


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
    run_verify: bool = True,
    install_pulumi: bool = False,
    allow_remove: bool = False,
    limit: str | None = None,
    allow_address_change: bool = False,
) -> UpRecord:
    """Provision, render and configure ``stack``; record the applied plan when configure succeeds;
    then verify (unless ``run_verify`` is False or the stack disables it).

    Applied hosts the plan no longer has are removed only with ``allow_remove`` (scale-in, before
    anything else changes); without it ``up`` refuses and touches nothing. ``limit`` (an Ansible
    pattern) configures only those hosts; the plan is still computed and recorded whole. A plan that
    changes an applied host's address is refused (nothing touched) unless ``allow_address_change``."""
    plan = compile_plan(stack)
    check_limit(plan, limit)
    steps = steps or _NoSteps()
    for w in plan.warnings:  # validation's warnings: up goes on, and says them first
        steps.step(f"warning: {w.path}: {w.message} (fix: {w.hint})")
    with state.lock("up", force=force_unlock):
        _stop_orphans(state, steps)
        provider = provider_for(plan, state)
        applied = _applied(state)
        gone = removals(applied["plan"], plan) if applied else []
        if gone and (not allow_remove or any(r.blockers for r in gone)):
            raise RemovalRefused(plan.stack, [r for r in gone if r.blockers] or gone, allowed=allow_remove)
        moved = address_moves(applied["plan"], plan) if applied else []
        if applied and moved and not allow_address_change:
            raise AddressMoveRefused(plan.stack, moved, keep_hints(moved, applied["plan"], plan))
        if gone and limit is not None:
            raise DcinfraError(
                f"the plan removes {', '.join(r.host for r in gone)}: scale-in moves data across the whole "
                "cluster, so it runs without --limit; nothing was touched"
            )
        missing = provider.prerequisites()
        if missing:
            raise PrerequisitesMissing("this machine is not ready:\n  - " + "\n  - ".join(missing))
        hosts = provider.provision(steps)
        if gone and applied is not None:
            _scale_in(plan, state, provider, gone, applied, steps, progress or NullProgress())
        steps.step("rendering")
        write_tree(render(plan), state.build)
        deployed = _mark_deployed(state, plan)
        record = _configure(
            plan, state, hosts, state.build, progress or NullProgress(), check=False, limit=limit
        )
        if not record.ok:
            raise ConfigureFailed(record)
        applied_now = {"plan": to_jsonable(plan), "deployed": deployed}
        state.applied_plan.write_text(json.dumps(applied_now, indent=2, sort_keys=True) + "\n")
        platform = None
        target = _platform_target(plan, state)
        if target is not None:
            from dcinfra.engines import pulumi as pulumi_engine

            steps.step("platform (Pulumi)")
            platform = pulumi_engine.up(target, install_cli=install_pulumi)
        verified = None
        if run_verify and stack.verify.enabled and plan.verify is not None:
            steps.step("verifying")
            verified = verify(stack, state, progress=progress, plan=plan)
        return UpRecord(plan.stack, hosts, record, verified, platform, gone, provider.orphans(), limit, moved)


def _scale_in(
    plan: Plan,
    state: StateDir,
    provider: SiteProvider,
    gone: list[Removal],
    applied: dict[str, Any],
    steps: Progress,
    progress: ProgressSink,
) -> None:
    """Remove ``gone`` safely (playbooks/scale_in.yml on the last applied build, whose inventory still
    has them), deprovision them, and drop them from the applied record: a later failure of configure
    does not make the next ``up`` try to remove them again."""
    names = [r.host for r in gone]
    inventory = state.build / "inventory" / "hosts.yml"
    if not inventory.exists():
        raise DcinfraError(
            f"cannot remove {', '.join(names)} safely: the last applied build dir ({state.build}) is gone, "
            "and scale-in runs from its inventory; nothing was touched"
        )
    steps.step(f"scale-in: moving data off and draining {', '.join(names)}")
    record = _run_on_build(
        "scale_in.yml",
        plan,
        state,
        provider,
        {"dcinfra_allow_remove": True, "dcinfra_remove_hosts": names},
        forks=max(1, len(applied["plan"].get("hosts", []))),
        progress=progress,
    )
    if not record.ok:
        raise ScaleInFailed(record)
    close_ssh_masters(state.runs)
    provider.remove(names, steps)
    applied["plan"]["hosts"] = [h for h in applied["plan"].get("hosts", []) if h.get("name") not in names]
    state.applied_plan.write_text(json.dumps(applied, indent=2, sort_keys=True) + "\n")


def _platform_target(plan: Plan, state: StateDir) -> Any:
    """The Pulumi target when the plan has a platform (the stage joins only then)."""
    if plan.platform is None:
        return None
    from dcinfra.engines.pulumi import target_for

    return target_for(plan, state)


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


def preview(
    stack: Stack,
    state: StateDir,
    *,
    progress: ProgressSink | None = None,
    install_pulumi: bool = False,
    limit: str | None = None,
) -> PreviewRecord:
    """What ``up`` would change, without changing anything on hosts (``limit``: check only those)."""
    plan = compile_plan(stack)
    check_limit(plan, limit)
    files = render(plan)
    applied = _applied(state)
    new_plan = to_jsonable(plan)
    plan_changes = diff_objects(applied["plan"], new_plan) if applied else []
    file_diffs = [f for f in diff_files(files, state.build) if f.path != "plan.json"] if applied else []
    provider = provider_for(plan, state)
    status = provider.status()
    missing = [h.name for h in status if h.state not in ("running", "reachable")]
    check = None
    if not missing:
        preview_dir = state.path / "preview"
        write_tree(files, preview_dir)
        hosts = HostsRecord(
            plan.site.provider, tuple(status), ssh_key=provider.ssh_identity(), ssh_user=plan.ssh_user
        )
        check = _configure(
            plan, state, hosts, preview_dir, progress or NullProgress(), check=True, limit=limit
        )
    platform = None
    target = _platform_target(plan, state)
    if target is not None:
        from dcinfra.engines import pulumi as pulumi_engine

        platform = pulumi_engine.preview(target, install_cli=install_pulumi)
    gone = removals(applied["plan"], plan) if applied else []
    moved = address_moves(applied["plan"], plan) if applied else []
    return PreviewRecord(
        plan.stack,
        plan_changes,
        file_diffs,
        missing,
        check,
        applied is None,
        platform,
        gone,
        [o for o in provider.orphans() if o not in {r.host for r in gone}],
        moved,
        keep_hints(moved, applied["plan"], plan) if applied and moved else [],
        list(plan.warnings),
    )


def destroy(
    stack: Stack,
    state: StateDir,
    *,
    destroy_data: bool = False,
    steps: Progress | None = None,
    force_unlock: bool = False,
    confirm: Callable[[Plan], bool] | None = None,
    install_pulumi: bool = False,
) -> DestroyRecord:
    """Tear the stack down; data-bearing storage that ``up`` deployed goes only with ``destroy_data``."""
    plan = compile_plan(stack)
    steps = steps or _NoSteps()
    with state.lock("destroy", force=force_unlock):
        _stop_orphans(state, steps)
        deployed = [k for k, v in sorted(_deployed(state).items()) if v]
        if deployed and not destroy_data:
            raise DataProtected(
                f"stack {plan.stack!r} holds data in {', '.join(deployed)}; destroy removes it only with "
                "--destroy-data (nothing was touched)"
            )
        if confirm is not None and not confirm(plan):
            raise DcinfraError("destroy cancelled; nothing was touched")
        # Reverse order of up: the platform goes before the hosts it runs on.
        target = _platform_target(plan, state)
        platform = None
        if target is not None:
            from dcinfra.engines import pulumi as pulumi_engine

            steps.step("platform (Pulumi)")
            platform = pulumi_engine.destroy(target, destroy_data=destroy_data, install_cli=install_pulumi)
        # Protected (data-bearing) platform resources stay without --destroy-data: say which.
        why = "(data-bearing, protected; --destroy-data removes it)"
        platform_kept = [
            f"platform resource {urn.rsplit('::', 1)[-1]} {why}"
            for urn in (platform.kept if platform is not None else ())
        ]
        provider = provider_for(plan, state)
        kept: list[str] = []
        if deployed:
            kept = _destroy_storage(plan, state, provider, steps)
        # Persistent SSH masters would outlive the nodes they talk to.
        close_ssh_masters(state.runs)
        teardown = provider.teardown(steps)
        if kept or platform_kept:
            teardown = TeardownRecord(teardown.removed, (*teardown.kept, *kept, *platform_kept))
        removed = []
        # Host keys and cached facts describe hosts that no longer exist: a recreated lab node has new
        # host keys, and stale facts would mislead the next run.
        for p in (
            state.build,
            state.path / "preview",
            state.applied_plan,
            _deployed_marker(state),
            state.path / "known_hosts",
            state.path / "facts",
        ):
            if p.exists():
                shutil.rmtree(p) if p.is_dir() else p.unlink()
                removed.append(str(p))
        return DestroyRecord(plan.stack, teardown, removed, platform)


def _run_on_build(
    name: str,
    plan: Plan,
    state: StateDir,
    provider: SiteProvider,
    extravars: dict[str, object],
    **options: Any,
) -> RunRecord:
    """Playbook ``name`` on the last applied build dir (its inventory, its files), as the site's SSH
    identity: what scale-in and destroy run on hosts the new plan may no longer have."""
    key = provider.ssh_identity()
    return run_playbook(
        playbook(name),
        state.build / "inventory" / "hosts.yml",
        runs_dir=state.runs,
        ssh_key=Path(key) if key else None,
        ssh_user=plan.ssh_user,
        extravars={"dcinfra_build_dir": str(state.build), **extravars},
        **options,
    )


def _destroy_storage(plan: Plan, state: StateDir, provider: SiteProvider, steps: Progress) -> list[str]:
    """Run destroy_storage.yml on the reachable hosts (daemons stopped, this cluster's OSD devices
    zapped, data removed); returns what could not be removed, naming the unreachable hosts."""
    inventory = state.build / "inventory" / "hosts.yml"
    if not inventory.exists():
        return [f"storage data: no build dir ({inventory}) to run destroy_storage.yml from"]
    down = [h.name for h in provider.status() if h.state not in ("running", "reachable")]
    up = [h.name for h in plan.hosts if h.name not in down]
    kept = [f"{name}: storage data not removed (host not reachable)" for name in down]
    if not up:
        return kept
    steps.step("removing storage daemons and data")
    record = _run_on_build(
        "destroy_storage.yml",
        plan,
        state,
        provider,
        {"dcinfra_destroy_data": True},
        limit=",".join(up),
        forks=len(plan.hosts),
    )
    if not record.ok:
        raise DcinfraError(
            f"removing the storage data failed ({record.first_failure}); nothing was torn down "
            f"(artifacts: {record.artifacts_dir})"
        )
    return kept


def verify(
    stack: Stack, state: StateDir, *, progress: ProgressSink | None = None, plan: Plan | None = None
) -> VerifyRecord:
    """Run the smoke benchmark on the provisioned compute hosts and compare it with the plan; when
    the plan has Ceph, then check the storage too (health, rados bench, CephFS from every host)."""
    plan = plan or compile_plan(stack)
    key = provider_for(plan, state).ssh_identity()
    return run_verify(plan, state, ssh_key=key, progress=progress or NullProgress())
