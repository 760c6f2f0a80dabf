"""The engine itself: :func:`run_playbook`, in three steps.

1. **Prepare** (:func:`_checked_setup`, :func:`_prepare`): check the inputs and the tools before
   anything is created, then make the run's private dir, ansible-playbook's environment and, under
   Mitogen, learn new hosts' SSH keys.
2. **Run** (:func:`_execute`): ansible-playbook through ansible-runner, events read by the
   :class:`~dcinfra.engines.ansible.results._Collector`, SIGINT/SIGTERM turned into a clean cancel;
   afterwards (:func:`_close_run_dir`) leftover processes are killed, the run dir sealed and old ones
   rotated.
3. **Collect** (:func:`_record_of`): the :class:`~dcinfra.engines.ansible.results.RunRecord`, or an
   :class:`~dcinfra.engines.ansible.results.AnsibleEngineError` when Ansible never ran a task.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dcinfra.engines.ansible.hygiene import (
    _RUNNER_ENV_KEYS,
    MITOGEN_STRATEGY,
    _ansible_env,
    _cancel_on_signals,
    _kill_leftovers,
    _new_run_id,
    _private_dir,
    _rotate,
    _seal,
    _tool_path,
    _write_private,
    learn_host_keys,
)
from dcinfra.engines.ansible.progress import NullProgress, ProgressSink
from dcinfra.engines.ansible.results import AnsibleEngineError, RunRecord, _Collector, scrub


def run_playbook(
    playbook: Path,
    inventory: Path,
    *,
    runs_dir: Path,
    ssh_key: Path | None,
    ssh_user: str = "root",
    extravars: Mapping[str, object] | None = None,
    check: bool = False,
    diff: bool = False,
    limit: str | None = None,
    skip_tags: str | None = None,
    forks: int | None = None,
    tuned: bool = True,
    keep_runs: int = 10,
    timeout_s: int | None = None,
    progress: ProgressSink | None = None,
) -> RunRecord:
    """Run ``playbook`` against ``inventory`` and return what happened on each host.

    Args:
        playbook: the playbook file; roles are found next to it (``roles/``).
        inventory: an inventory file or dir (e.g. the rendered ``build/inventory``).
        runs_dir: where run dirs go (the state dir's ``runs/``); its parent holds ``known_hosts``,
            ``facts/`` and, when short enough, ``cp/`` (ssh control sockets).
        ssh_key: the private key to log in with, passed by path; None uses ssh's defaults and agent.
        ssh_user: the remote user unless the inventory sets ``ansible_user``.
        extravars: ``-e`` variables. They are recorded in ``artifacts/<id>/command``: never put a
            secret here; pass the path of a 0600 file instead.
        check, diff: ``--check`` / ``--diff``; with both, :attr:`RunRecord.changes` is the preview.
        limit: ``--limit`` host pattern.
        skip_tags: ``--skip-tags`` (comma-separated tags whose tasks do not run).
        forks: parallel hosts; tuned runs use at least the inventory's host count (and 5).
        tuned: dcinfra's fast SSH and fact settings; False runs with Ansible's defaults.
        keep_runs: run dirs kept under ``runs_dir`` (this one included).
        timeout_s: stop the run after this many seconds (status "timeout").
        progress: live progress sink (e.g. :class:`RichProgress`); default none.

    Raises:
        AnsibleEngineError: the playbook, inventory or key is missing, ``ansible-playbook`` is not
            installed, or Ansible stopped before running any task (e.g. a syntax error).
    """
    sink: ProgressSink = progress or NullProgress()
    playbook, inventory, ssh_key = _checked_setup(playbook, inventory, ssh_key, keep_runs=keep_runs)
    runs_dir = runs_dir.absolute()
    run_dir, envvars, run_forks = _prepare(
        runs_dir, inventory, limit=limit, forks=forks, ssh_key=ssh_key, ssh_user=ssh_user, tuned=tuned
    )
    args = [flag for flag, on in (("--check", check), ("--diff", diff)) if on]
    options = {  # RunnerConfig's arguments beside the run dir and the environment
        "playbook": str(playbook),
        "inventory": str(inventory),
        "limit": limit,
        "skip_tags": skip_tags,
        "forks": run_forks,
        "cmdline": shlex.join(args) if args else None,
        "extravars": dict(extravars) if extravars else None,
        "timeout": timeout_s,
    }
    started = time.monotonic()
    collector = _Collector(sink)
    runner = _execute(run_dir, envvars, options, collector, sink)
    duration = time.monotonic() - started
    _close_run_dir(runs_dir, run_dir, runner.status, keep_runs=keep_runs)
    try:
        record = _record_of(
            runner,
            collector,
            run_dir,
            playbook=playbook,
            duration_s=duration,
            check=check,
            timeout_s=timeout_s,
        )
    except AnsibleEngineError:
        sink.run_done(None)
        raise
    sink.run_done(record)
    return record


# --------------------------------------------------------------------------------------------------
# Prepare


def _checked_setup(
    playbook: Path, inventory: Path, ssh_key: Path | None, *, keep_runs: int
) -> tuple[Path, Path, Path | None]:
    """The absolute paths of ``playbook``, ``inventory`` and ``ssh_key``, once they, ``keep_runs``,
    ``ansible-playbook`` and ansible-runner are found usable; raises before anything is created."""
    playbook = playbook.absolute()
    inventory = inventory.absolute()
    if keep_runs < 1:
        raise ValueError(f"keep_runs must be >= 1, got {keep_runs!r}")
    if not playbook.is_file():
        raise AnsibleEngineError(f"playbook {str(playbook)!r} not found; check the path")
    if not inventory.exists():
        raise AnsibleEngineError(
            f"inventory {str(inventory)!r} not found; run `dcinfra render` first or check the path"
        )
    if ssh_key is not None:
        ssh_key = ssh_key.absolute()
        if not ssh_key.is_file():
            raise AnsibleEngineError(f"SSH key {str(ssh_key)!r} not found; check the path")
        if ssh_key.stat().st_mode & 0o077:
            raise AnsibleEngineError(
                f"SSH key {str(ssh_key)!r} is readable by others and ssh will refuse it; "
                f"fix: chmod 600 {shlex.quote(str(ssh_key))}"
            )
    if shutil.which("ansible-playbook", path=_tool_path()) is None:
        raise AnsibleEngineError(
            "ansible-playbook not found on PATH; install it in dcinfra's environment: "
            "pip install 'ansible-core>=2.16,<2.20'"
        )
    _runner_classes()
    return playbook, inventory, ssh_key


def _runner_classes() -> tuple[Any, Any]:
    """ansible-runner's ``Runner`` and ``RunnerConfig``, imported when a run starts rather than with
    this package."""
    try:
        from ansible_runner import Runner, RunnerConfig
    except ImportError as e:  # pragma: no cover - a dependency of dcinfra
        raise AnsibleEngineError(
            f"ansible-runner is not importable ({e}); fix: pip install 'ansible-runner>=2.4,<3'"
        ) from e
    return Runner, RunnerConfig


def _prepare(
    runs_dir: Path,
    inventory: Path,
    *,
    limit: str | None,
    forks: int | None,
    ssh_key: Path | None,
    ssh_user: str,
    tuned: bool,
) -> tuple[Path, dict[str, str], int | None]:
    """Create the run's private dir under ``runs_dir``, build ansible-playbook's environment, choose
    the forks and, under Mitogen, learn new hosts' SSH keys. Returns (run dir, environment, forks)."""
    state_dir = runs_dir.parent
    run_dir = _new_run_dir(runs_dir)
    envvars = _ansible_env(
        state_dir=state_dir, run_dir=run_dir, ssh_key=ssh_key, ssh_user=ssh_user, tuned=tuned
    )
    run_forks = max(forks or 0, _count_hosts(inventory), 5) if tuned else forks
    if envvars.get("ANSIBLE_STRATEGY") == MITOGEN_STRATEGY:
        learn_host_keys(state_dir / "known_hosts", _ssh_targets(inventory, limit))
    return run_dir, envvars, run_forks


def _new_run_dir(runs_dir: Path) -> Path:
    """A new private run dir ``runs_dir/<id>/`` holding ansible-runner's inputs."""
    _private_dir(runs_dir)
    run_id = _new_run_id()
    run_dir = runs_dir / run_id
    run_dir.mkdir(mode=0o700)
    _private_dir(run_dir / "artifacts")
    _private_dir(run_dir / "env")
    _write_private(
        run_dir / "ansible.cfg",
        "# dcinfra passes every Ansible setting as an ANSIBLE_* environment variable (see\n"
        "# artifacts/<id>/command); this empty file keeps ~/.ansible.cfg and /etc/ansible out.\n",
    )
    # ansible-runner reads its own settings only from env/settings: with suppress_env_files=True a
    # `settings=` argument is silently dropped. pexpect_timeout is how often it checks for a cancel.
    _write_private(run_dir / "env" / "settings", json.dumps({"pexpect_timeout": 1}) + "\n")
    return run_dir


def _count_hosts(inventory: Path) -> int:
    """Hosts in ``inventory`` as Ansible parses it; 0 when it cannot be read here (forks falls back)."""
    try:
        from ansible.inventory.manager import (  # type: ignore[import-untyped,unused-ignore]
            InventoryManager,
        )
        from ansible.parsing.dataloader import (  # type: ignore[import-untyped,unused-ignore]
            DataLoader,
        )

        manager = InventoryManager(loader=DataLoader(), sources=[str(inventory)])
        return len(manager.list_hosts("all"))
    except Exception:
        return 0


def _ssh_targets(inventory: Path, limit: str | None) -> list[tuple[str, int]]:
    """(address, port) of the hosts of ``inventory`` (within ``limit``) that Ansible reaches over SSH."""
    try:
        from ansible.inventory.manager import (  # type: ignore[import-untyped,unused-ignore]
            InventoryManager,
        )
        from ansible.parsing.dataloader import (  # type: ignore[import-untyped,unused-ignore]
            DataLoader,
        )
        from ansible.vars.manager import (  # type: ignore[import-untyped,unused-ignore]
            VariableManager,
        )

        loader = DataLoader()
        manager = InventoryManager(loader=loader, sources=[str(inventory)])
        variables = VariableManager(loader=loader, inventory=manager)
        out = []
        for host in manager.list_hosts(limit or "all"):
            hv = variables.get_vars(host=host, include_hostvars=False)
            if str(hv.get("ansible_connection", "ssh")) not in ("ssh", "smart"):
                continue
            address = str(hv.get("ansible_host", host.name))
            if "{{" in address:  # templated: Ansible resolves it at run time, nothing to learn here
                continue
            out.append((address, int(hv.get("ansible_port", 22))))
        return out
    except Exception:
        return []


# --------------------------------------------------------------------------------------------------
# Run


def _artifacts(run_dir: Path) -> Path:
    """The run's artifacts: ansible-runner's ``<artifact_dir>/<ident>`` (the ident is the run id)."""
    return run_dir / "artifacts" / run_dir.name


def _execute(
    run_dir: Path,
    envvars: dict[str, str],
    options: Mapping[str, Any],
    collector: _Collector,
    sink: ProgressSink,
) -> Any:
    """Run ansible-playbook in ``run_dir`` through ansible-runner; returns the finished ``Runner``.

    Whatever interrupts it (an error, Ctrl-C) tells ``sink`` the run ended without a record, kills
    what the run left running and seals the run dir before it propagates.
    """
    try:
        runner_class, config_class = _runner_classes()  # importable: _checked_setup made sure
        config = config_class(
            private_data_dir=str(run_dir),
            artifact_dir=str(run_dir / "artifacts"),
            ident=run_dir.name,
            envvars=envvars,
            suppress_env_files=True,
            quiet=True,
            **options,
        )
        config.prepare()
        # prepare() seeded the environment with a copy of ours; keep only what we chose and the keys
        # ansible-runner's callback needs (it writes this env to artifacts/<id>/command).
        config.env = {**envvars, **{k: config.env[k] for k in _RUNNER_ENV_KEYS if k in config.env}}
        with _cancel_on_signals() as cancelled:
            runner = runner_class(config=config, event_handler=collector, cancel_callback=cancelled)
            runner.run()
    except BaseException:
        sink.run_done(None)
        with contextlib.suppress(OSError):
            _kill_leftovers(str(_artifacts(run_dir)))
            _seal(run_dir)
        raise
    return runner


def _close_run_dir(runs_dir: Path, run_dir: Path, status: str, *, keep_runs: int) -> None:
    """After the run: kill what a timed-out or canceled run left running, seal the run dir and
    rotate the older ones."""
    if status in ("timeout", "canceled"):
        _kill_leftovers(str(_artifacts(run_dir)))
    _seal(run_dir)
    _rotate(runs_dir, keep_runs, run_dir)


# --------------------------------------------------------------------------------------------------
# Collect


def _record_of(
    runner: Any,
    collector: _Collector,
    run_dir: Path,
    *,
    playbook: Path,
    duration_s: float,
    check: bool,
    timeout_s: int | None,
) -> RunRecord:
    """The record of a finished run. Raises :class:`AnsibleEngineError` when the run cannot be read
    or Ansible stopped before running any task."""
    artifacts = _artifacts(run_dir)
    status = str(runner.status)
    rc = int(runner.rc) if runner.rc is not None else -1
    if collector.exception is not None:
        raise AnsibleEngineError(
            f"dcinfra could not read Ansible's events ({collector.exception!r}); "
            f"the run itself is in {artifacts}"
        ) from collector.exception
    tail = scrub("\n".join(line for line in collector.output_tail if line.strip()))
    if status == "failed" and not collector.tasks_seen and collector.stats is None:
        raise AnsibleEngineError(
            f"ansible-playbook stopped before running any task (rc={rc}):\n{tail}\n(run dir: {run_dir})"
        )

    hosts = collector.host_results()
    failures = collector.failures
    if collector.stats is not None:
        # A failure later rescued by a block is an event but not a failure of the host.
        bad = {h for h, r in hosts.items() if r.failed or r.unreachable}
        failures = [f for f in failures if f.host in bad]
    error = ""
    if status == "timeout":
        error = f"the run was stopped after the {timeout_s}s timeout"
    elif status == "canceled":
        error = "the run was canceled (interrupted)"
    elif status == "failed" and not failures:
        error = tail or f"ansible-playbook exited with rc={rc}"
    return RunRecord(
        id=run_dir.name,
        playbook=str(playbook),
        status=status,
        rc=rc,
        hosts=hosts,
        failures=failures,
        changes=collector.changes,
        artifacts_dir=str(artifacts),
        duration_s=duration_s,
        check=check,
        error=error,
    )
