"""Run an Ansible playbook through ansible-runner and return a typed :class:`RunRecord`.

One function, :func:`run_playbook`, is the whole adapter. What it guarantees:

- **Private data dir per run** at ``runs_dir/<id>/`` (id: UTC time + random suffix, sortable), 0700,
  every file in it 0600; the last ``keep_runs`` dirs are kept, older ones removed.
- **No environment leaks.** ansible-runner seeds the child's environment with the *whole* parent
  environment and writes it to ``artifacts/<id>/command`` (``suppress_env_files`` only stops the
  ``env/*`` input files). We pass ``suppress_env_files=True`` and then replace the prepared environment
  with an explicit minimal one (:func:`_ansible_env`): PATH, HOME, a UTF-8 locale and the ``ANSIBLE_*``
  settings chosen here, plus the few keys ansible-runner's own callback needs.
- **No secrets in records or artifacts.** ``no_log`` results are never copied (they read
  ``(hidden: no_log)``); private-key blocks and Ceph keys are :func:`scrub`-bed from messages, diffs
  and, after the run, from every file of the run dir. The SSH private key is passed by path only.
- **SSH host keys are checked**: ``StrictHostKeyChecking=accept-new`` with a ``known_hosts`` file in the
  state dir (``runs_dir/../known_hosts``), never ``host_key_checking=False``.
- **Tuned or stock Ansible** (``tuned``): Mitogen for Ansible's ``mitogen_linear`` strategy (one SSH
  connection and one remote Python per host for the whole run; new hosts' keys are learned first,
  trust on first use, because Mitogen enforces host keys; run as :data:`MITOGEN_STRATEGY`, which drops
  Mitogen's CPU pinning on controllers with fewer than 4 CPUs), or, without Mitogen, pipelining and a short
  ``%C`` ControlPath that persists 60 s; ``forks >= hosts``, smart gathering with a jsonfile fact cache
  in ``runs_dir/../facts``. Or Ansible's defaults, for the benchmark that compares both.
- **No orphans**: ansible-playbook runs in a session of its own, so a kill -9 of dcinfra does not
  reach it; :func:`kill_orphaned_runs` (called under the stack lock) stops what is left.
- **Failures are data**: a host that fails returns a record with status ``failed`` and the failures
  listed; only setup problems (no playbook, no ``ansible-playbook``, a playbook Ansible cannot parse)
  raise :class:`AnsibleEngineError`.

Live progress goes to a :class:`ProgressSink` (:class:`RichProgress` for the CLI); the run's own
output is never printed (``quiet=True``), :func:`format_summary` renders the record for people and
:meth:`RunRecord.to_dict` for ``--json``.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import importlib.util
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from dcinfra.errors import DcinfraError

HIDDEN = "(hidden: no_log)"  # what a no_log task's message or diff reads in a record

_MAX_MESSAGE_CHARS = 500  # a failure message is one short human line, not a wall of JSON
# Mitogen's mitogen_linear, unpinned below 4 CPUs: dcinfra/engines/strategy/dcinfra_mitogen_linear.py
MITOGEN_STRATEGY = "dcinfra_mitogen_linear"
_MAX_DIFF_LINES = 2000  # per task change; the full result stays in the run's artifacts
_ERROR_TAIL_LINES = 20  # lines of Ansible's own output kept when a run dies before any task

# A run id: UTC time to the microsecond, then a random suffix; sorts by start time.
_RUN_ID = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{6}$")

# Keys ansible-runner sets in the child's environment that its callback plugin reads; everything
# else in its prepared environment (a copy of ours) is dropped.
_RUNNER_ENV_KEYS = (
    "ANSIBLE_STDOUT_CALLBACK",  # awx_display: turns Ansible's output into job events
    "ANSIBLE_CALLBACK_PLUGINS",  # where awx_display lives
    "ANSIBLE_RETRY_FILES_ENABLED",
    "AWX_ISOLATED_DATA_DIR",  # the artifact dir the callback writes partial event data to
    "RUNNER_OMIT_EVENTS",
    "RUNNER_ONLY_FAILED_EVENTS",
)

# ssh binds "<ControlPath>.<16 random chars>" before renaming it, and a Unix socket path has at most
# 107 bytes; %C expands to 40 hex chars.
_SUN_PATH_MAX = 107
_CONTROL_NAME_BYTES = 1 + 40 + 17

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_SSH_NOISE = re.compile(r"^(Shared connection to \S+ closed\.|Connection to \S+ closed\.)$")


class AnsibleEngineError(DcinfraError):
    """Ansible could not be started or could not run the playbook at all (not: a task failed)."""


# --------------------------------------------------------------------------------------------------
# Scrubbing


_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
# A Ceph key is base64 of 28 bytes: "AQ" + 36 chars + "==" (40 chars); {36,38} also catches the
# 42-char form some tools print. The lookbehind keeps it from matching inside longer base64 blobs.
_CEPH_KEY = re.compile(r"(?<![A-Za-z0-9+/])AQ[A-Za-z0-9+/]{36,38}==")


def scrub(text: str) -> str:
    """``text`` with private-key blocks and Ceph keys replaced by a ``<redacted: ...>`` marker.

    A key block cut off before its END line is redacted to the end of the text.
    """
    if "PRIVATE KEY-----" in text:
        text = _PRIVATE_KEY.sub("<redacted: private key>", text)
    if "AQ" in text:
        text = _CEPH_KEY.sub("<redacted: ceph key>", text)
    return text


# --------------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True, slots=True)
class HostResult:
    """Task counts of one host in one run, as Ansible's recap reports them."""

    host: str  # inventory hostname
    ok: int  # tasks that ran without error, changed ones included (Ansible's recap convention)
    changed: int  # tasks that changed something (in check mode: would change)
    failed: int  # tasks that failed; ignored and rescued failures are not counted
    unreachable: int  # tasks that could not reach the host
    skipped: int  # tasks skipped by a condition (or in check mode by a module without check support)

    def to_dict(self) -> dict[str, int]:
        """``{"ok", "changed", "failed", "unreachable", "skipped"}``."""
        return {
            "ok": self.ok,
            "changed": self.changed,
            "failed": self.failed,
            "unreachable": self.unreachable,
            "skipped": self.skipped,
        }


@dataclass(frozen=True, slots=True)
class TaskFailure:
    """A task that failed on a host (or could not reach it)."""

    host: str  # inventory hostname
    task: str  # task name as written in the playbook or role
    role: str  # role the task belongs to; "" for a task written in the playbook
    message: str  # the module's msg (or the tail of stderr, or rc): short, scrubbed; HIDDEN for no_log


@dataclass(frozen=True, slots=True)
class TaskChange:
    """A task that changed (in check mode: would change) something on a host."""

    host: str  # inventory hostname
    task: str  # task name
    role: str  # role the task belongs to; "" for a task written in the playbook
    diff: str  # unified diff when the module returned one (--diff), else ""; scrubbed; HIDDEN for no_log


@dataclass(frozen=True, slots=True)
class RunRecord:
    """The outcome of one :func:`run_playbook` call."""

    id: str  # run id, also the run dir's name under runs_dir (UTC time + suffix, sortable)
    playbook: str  # absolute path of the playbook that ran
    status: str  # "successful" | "failed" | "timeout" | "canceled" (ansible-runner's status)
    rc: int  # ansible-playbook's exit code (2: a task failed, 4: a host unreachable or a parse error)
    hosts: dict[str, HostResult]  # per-host counts, by inventory hostname (sorted)
    failures: list[TaskFailure]  # failed and unreachable tasks, in the order they happened
    changes: list[TaskChange]  # changed (check mode: would-change) tasks, in the order they happened
    artifacts_dir: str  # ansible-runner's artifacts of this run (stdout, job_events/, command)
    duration_s: float  # wall-clock seconds of the whole run
    check: bool  # True when run with --check: nothing was changed on the hosts
    error: str = ""  # why the run failed when no task failure says it (timeout, cancel, Ansible's error)

    @property
    def changed_total(self) -> int:
        """Changed (or would-change) tasks over all hosts."""
        return sum(h.changed for h in self.hosts.values())

    @property
    def ok(self) -> bool:
        """The playbook completed on every host without a failure."""
        return self.status == "successful" and not self.failures

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (``--json``): per-host ok/changed/failed/unreachable/skipped and the lists."""
        return {
            "id": self.id,
            "playbook": self.playbook,
            "status": self.status,
            "ok": self.ok,
            "rc": self.rc,
            "check": self.check,
            "duration_s": round(self.duration_s, 3),
            "changed_total": self.changed_total,
            "hosts": {name: h.to_dict() for name, h in self.hosts.items()},
            "failures": [asdict(f) for f in self.failures],
            "changes": [asdict(c) for c in self.changes],
            "error": self.error,
            "artifacts_dir": self.artifacts_dir,
        }


# --------------------------------------------------------------------------------------------------
# Progress


class ProgressSink(Protocol):
    """Receives live progress of a run; called from the thread that called :func:`run_playbook`."""

    def play_started(self, play: str) -> None:
        """A play began (``play``: its name, or its host pattern when unnamed)."""

    def task_started(self, host: str, role: str, task: str) -> None:
        """``task`` (of ``role``, "" outside roles) started on ``host``."""

    def task_done(self, host: str, status: str) -> None:
        """The current task of ``host`` ended: ok | changed | failed | skipped | unreachable."""

    def run_done(self, record: RunRecord | None) -> None:
        """The run ended; ``record`` is None when it ended without one (an error or an interrupt)."""


class NullProgress:
    """A :class:`ProgressSink` that shows nothing."""

    def play_started(self, play: str) -> None:
        """Ignored."""

    def task_started(self, host: str, role: str, task: str) -> None:
        """Ignored."""

    def task_done(self, host: str, status: str) -> None:
        """Ignored."""

    def run_done(self, record: RunRecord | None) -> None:
        """Ignored."""


@dataclass
class _HostLine:
    current: str = ""  # "role : task" running now
    counts: Counter[str] = field(default_factory=Counter)  # ok (changed included), changed, failed, ...


class RichProgress:
    """Live per-host progress on stderr: current role/task and ok/changed/failed counts.

    On a terminal it is a rich ``Live`` table that disappears when the run ends (the caller prints
    :func:`format_summary`). When stderr is not a terminal (CI logs) it prints one line per play.
    """

    def __init__(self, console: Console | None = None, *, max_rows: int = 24) -> None:
        self.console = console or Console(stderr=True)
        self.max_rows = max_rows  # hosts shown in the live table; the rest are summed in one line
        self._lock = threading.Lock()  # rich refreshes from its own thread
        self._live: Live | None = None
        self._hosts: dict[str, _HostLine] = {}
        self._play = ""
        self._play_hosts: dict[str, Counter[str]] = {}
        self._play_t0 = 0.0

    # ProgressSink ---------------------------------------------------------------------------------

    def play_started(self, play: str) -> None:
        """Start the display (terminal) or print the previous play's line (no terminal)."""
        self._flush_play_line()
        with self._lock:
            self._play = play
            self._play_hosts = {}
            self._play_t0 = time.monotonic()
        self._ensure_live()

    def task_started(self, host: str, role: str, task: str) -> None:
        """Show ``role : task`` as the host's current task."""
        self._ensure_live()
        with self._lock:
            line = self._hosts.setdefault(host, _HostLine())
            line.current = f"{role} : {task}" if role else task
            self._play_hosts.setdefault(host, Counter())

    def task_done(self, host: str, status: str) -> None:
        """Count the task's outcome for the host and the play."""
        with self._lock:
            line = self._hosts.setdefault(host, _HostLine())
            play = self._play_hosts.setdefault(host, Counter())
            for counts in (line.counts, play):
                counts[status] += 1
                if status == "changed":
                    counts["ok"] += 1

    def run_done(self, record: RunRecord | None) -> None:
        """Stop the live display; without a terminal, print the last play's line. Ready for a new run."""
        if self._live is not None:
            self._live.stop()
            self._live = None
        self._flush_play_line()
        with self._lock:
            self._hosts = {}
            self._play = ""

    # internals ------------------------------------------------------------------------------------

    def _ensure_live(self) -> None:
        if self._live is None and self.console.is_terminal:
            self._live = Live(
                console=self.console,
                get_renderable=self._render,
                refresh_per_second=8,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._live.start()

    def _render(self) -> RenderableType:
        with self._lock:
            table = Table(title=f"play: {self._play}" if self._play else None, title_justify="left")
            table.add_column("host", no_wrap=True)
            table.add_column("current task", overflow="ellipsis", no_wrap=True, max_width=70)
            for col in ("ok", "changed", "failed"):
                table.add_column(col, justify="right")
            names = sorted(self._hosts, key=lambda h: (-self._hosts[h].counts["failed"], h))
            for name in names[: self.max_rows]:
                line = self._hosts[name]
                failed = line.counts["failed"] + line.counts["unreachable"]
                table.add_row(
                    name,
                    line.current,
                    str(line.counts["ok"]),
                    Text(str(line.counts["changed"]), style="yellow" if line.counts["changed"] else ""),
                    Text(str(failed), style="bold red" if failed else ""),
                )
            rest = names[self.max_rows :]
            if rest:
                total: Counter[str] = Counter()
                for name in rest:
                    total.update(self._hosts[name].counts)
                table.add_row(
                    f"... {len(rest)} more",
                    "",
                    str(total["ok"]),
                    str(total["changed"]),
                    str(total["failed"] + total["unreachable"]),
                )
            return table

    def _flush_play_line(self) -> None:
        if self.console.is_terminal:
            return
        with self._lock:
            if not self._play_hosts:
                return
            total: Counter[str] = Counter()
            for counts in self._play_hosts.values():
                total.update(counts)
            line = (
                f"play {self._play!r}: {len(self._play_hosts)} hosts  ok={total['ok']} "
                f"changed={total['changed']} failed={total['failed']} unreachable={total['unreachable']} "
                f"skipped={total['skipped']}  ({time.monotonic() - self._play_t0:.1f}s)"
            )
            self._play_hosts = {}
        self.console.print(Text(line), soft_wrap=True)


def format_summary(record: RunRecord) -> RenderableType:
    """The per-host table (host, ok, changed, failed, unreachable), then one line per failure:
    ``host | role : task | message``."""
    mode = " (check mode: nothing was changed)" if record.check else ""
    table = Table(title=f"{Path(record.playbook).name}: {record.status}{mode}", title_justify="left")
    table.add_column("host", no_wrap=True)
    for col in ("ok", "changed", "failed", "unreachable"):
        table.add_column(col, justify="right")
    for name, h in record.hosts.items():
        table.add_row(
            name,
            str(h.ok),
            Text(str(h.changed), style="yellow" if h.changed else ""),
            Text(str(h.failed), style="bold red" if h.failed else ""),
            Text(str(h.unreachable), style="bold red" if h.unreachable else ""),
        )
    parts: list[RenderableType] = [table]
    for f in record.failures:
        where = f"{f.role} : {f.task}" if f.role else f.task
        line = Text()
        line.append(f.host, style="bold")
        line.append(f" | {where} | ")
        line.append(f.message, style="red")
        parts.append(line)
    if record.error:
        parts.append(Text(record.error, style="red"))
    parts.append(Text(f"artifacts: {record.artifacts_dir}", style="dim"))
    return Group(*parts)


# --------------------------------------------------------------------------------------------------
# Reading events


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=True, default=str) + "\n"


def _diff_lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines


def _one_diff(d: object) -> list[str]:
    """Unified diff lines for one entry of a module's ``diff`` (before/after, prepared, or a note)."""
    if not isinstance(d, Mapping):
        return []
    out: list[str] = []
    for key, note in (
        ("dst_binary", "diff skipped: destination file appears to be binary\n"),
        ("src_binary", "diff skipped: source file appears to be binary\n"),
    ):
        if key in d:
            out.append(note)
    for key, what in (("dst_larger", "destination"), ("src_larger", "source")):
        if key in d:
            out.append(f"diff skipped: {what} file size is greater than {d[key]}\n")
    if "before" in d and "after" in d:
        before, after = _text(d["before"]), _text(d["after"])
        if before != after:
            out.extend(
                difflib.unified_diff(
                    _diff_lines(before),
                    _diff_lines(after),
                    fromfile=str(d.get("before_header") or "before"),
                    tofile=str(d.get("after_header") or "after"),
                )
            )
    if d.get("prepared"):
        out.extend(_diff_lines(_text(d["prepared"])))
    return out


def _diff_text(res: Mapping[str, Any]) -> str:
    """The diff of a task result (loops included), scrubbed; HIDDEN when any part was censored."""
    if "censored" in res:
        return HIDDEN
    entries: list[object] = []
    for source in [res, *(r for r in res.get("results") or [] if isinstance(r, Mapping))]:
        if "censored" in source:
            return HIDDEN
        diff = source.get("diff")
        entries.extend(diff if isinstance(diff, list) else [diff] if diff else [])
    lines: list[str] = []
    for entry in entries:
        lines.extend(_one_diff(entry))
    if len(lines) > _MAX_DIFF_LINES:
        more = len(lines) - _MAX_DIFF_LINES
        lines = [*lines[:_MAX_DIFF_LINES], f"... ({more} more lines in the run's artifacts)\n"]
    return scrub("".join(lines))


def _one_line(text: str) -> str:
    return " / ".join(part.strip() for part in text.strip().splitlines() if part.strip())


def _tail(text: str, lines: int = 3) -> str:
    kept = [ln for ln in text.strip().splitlines() if ln.strip() and not _SSH_NOISE.match(ln.strip())]
    return _one_line("\n".join(kept[-lines:]))


def _failure_message(res: Mapping[str, Any]) -> str:
    """A short human message for a failed result: msg, then the tail of the output that explains it
    (stderr; for a module that crashed, its raw stdout), then rc."""
    if "censored" in res:
        return HIDDEN
    failed_items = [r for r in res.get("results") or [] if isinstance(r, Mapping) and r.get("failed")]
    if failed_items:
        first = _failure_message(failed_items[0])
        more = len(failed_items) - 1
        return first + (f" (and {more} more failed item{'s' if more > 1 else ''})" if more else "")
    modules = res.get("failed_modules")
    if isinstance(modules, Mapping) and modules:
        # gather_facts wraps the real errors: "The following modules failed to execute: ..."
        text = "; ".join(
            f"{name}: {_failure_message(sub)}" for name, sub in modules.items() if isinstance(sub, Mapping)
        )
    else:
        text = _one_line(str(res.get("msg") or ""))
        for key in ("stderr", "module_stdout", "module_stderr"):
            tail = _tail(str(res.get(key) or ""))
            if tail and tail not in text:
                text = f"{text}: {tail}" if text else tail
                break
        rc = res.get("rc")
        if isinstance(rc, int) and rc != 0:
            text = f"{text} (rc={rc})" if text else f"rc={rc}"
    text = scrub(text or "failed (the module gave no message)")
    if len(text) > _MAX_MESSAGE_CHARS:
        text = text[: _MAX_MESSAGE_CHARS - 1] + "…"
    return text


class _Collector:
    """ansible-runner's ``event_handler``: feeds the progress sink and collects the record's lists.

    It never raises into ansible-runner (that would abandon a running ansible-playbook); the first
    exception is kept and re-raised once the run is over.
    """

    def __init__(self, progress: ProgressSink) -> None:
        self.progress = progress
        self.failures: list[TaskFailure] = []
        self.changes: list[TaskChange] = []
        self.counts: dict[str, Counter[str]] = {}  # per host, for runs that end without stats
        self.stats: Mapping[str, Any] | None = None
        self.tasks_seen = False
        self.output_tail: deque[str] = deque(maxlen=_ERROR_TAIL_LINES)
        self.exception: BaseException | None = None

    def __call__(self, event: dict[str, Any]) -> bool:
        try:
            self._handle(event)
        except Exception as e:
            if self.exception is None:
                self.exception = e
        return True  # always write the event to artifacts/<id>/job_events/

    def _done(self, host: str, status: str) -> None:
        counts = self.counts.setdefault(host, Counter())
        counts[status] += 1
        if status == "changed":
            counts["ok"] += 1
        self.progress.task_done(host, status)

    def _handle(self, event: Mapping[str, Any]) -> None:
        name = event.get("event", "")
        data: Mapping[str, Any] = event.get("event_data") or {}
        host = str(data.get("host") or "")
        task = str(data.get("task") or "")
        role = str(data.get("role") or "")
        res: Mapping[str, Any] = data.get("res") or {}
        if name == "verbose":
            for line in str(event.get("stdout") or "").splitlines():
                self.output_tail.append(_ANSI.sub("", line))
        elif name == "playbook_on_play_start":
            self.progress.play_started(str(data.get("play") or data.get("play_pattern") or ""))
        elif name == "runner_on_start":
            self.tasks_seen = True
            self.progress.task_started(host, role, task)
        elif name == "runner_on_ok":
            if "censored" in res:
                # ansible-runner replaces a no_log result by {"censored": ...}, "changed" included;
                # the status line Ansible printed for the event still says which it was.
                changed = _ANSI.sub("", str(event.get("stdout") or "")).lstrip().startswith("changed")
            else:
                changed = bool(res.get("changed"))
            if changed:
                self.changes.append(TaskChange(host, task, role, _diff_text(res)))
            self._done(host, "changed" if changed else "ok")
        elif name == "runner_on_failed":
            if data.get("ignore_errors"):
                # Ansible counts it as "ignored" (and changed when it says so), not as a failure.
                self._done(host, "changed" if res.get("changed") else "ok")
            else:
                self.failures.append(TaskFailure(host, task, role, _failure_message(res)))
                self._done(host, "failed")
        elif name == "runner_on_async_failed":
            self.failures.append(TaskFailure(host, task, role, _failure_message(res)))
            self._done(host, "failed")
        elif name == "runner_on_unreachable":
            self.failures.append(TaskFailure(host, task, role, _failure_message(res) or "unreachable"))
            self._done(host, "unreachable")
        elif name == "runner_on_skipped":
            self._done(host, "skipped")
        elif name == "playbook_on_stats":
            self.stats = data

    def host_results(self) -> dict[str, HostResult]:
        if self.stats is None:
            return {
                h: HostResult(h, c["ok"], c["changed"], c["failed"], c["unreachable"], c["skipped"])
                for h, c in sorted(self.counts.items())
            }

        def stat_of(key: str, host: str) -> int:
            values = self.stats.get(key) if self.stats else None
            return int(values.get(host, 0)) if isinstance(values, Mapping) else 0

        names: set[str] = set()
        for key in ("processed", "ok", "changed", "failures", "dark", "skipped", "ignored", "rescued"):
            values = self.stats.get(key)
            if isinstance(values, Mapping):
                names.update(str(h) for h in values)
        return {
            h: HostResult(
                h,
                ok=stat_of("ok", h),
                changed=stat_of("changed", h),
                failed=stat_of("failures", h),
                unreachable=stat_of("dark", h),
                skipped=stat_of("skipped", h),
            )
            for h in sorted(names)
        }


# --------------------------------------------------------------------------------------------------
# Files, environment, rotation


def _new_run_id() -> str:
    now = datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S}.{now.microsecond:06d}Z-{secrets.token_hex(3)}"


def _private_dir(path: Path) -> Path:
    """``path`` created if needed, mode 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def _control_dir(state_dir: Path) -> Path:
    """The dir for ssh ControlPath sockets, short enough for ``<dir>/%C``: the state dir's ``cp/`` when
    it fits, else ``/tmp/dcinfra-<uid>/<hash of the state dir>/``. Ansible creates the dir (0700) on
    its first ssh connection; the shared ``/tmp/dcinfra-<uid>`` is created here and checked to be ours.
    """
    candidate = state_dir / "cp"
    if len(os.fsencode(candidate)) + _CONTROL_NAME_BYTES <= _SUN_PATH_MAX:
        return candidate
    base = Path("/tmp") / f"dcinfra-{os.getuid()}"  # not $TMPDIR: that can be long as well
    with contextlib.suppress(FileExistsError):
        base.mkdir(mode=0o700)
    st = base.lstat()
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise AnsibleEngineError(
            f"{base} is not a directory owned by uid {os.getuid()}; it holds ssh control sockets, so "
            "dcinfra will not use it. Remove it, or use a shorter state dir path (DCINFRA_STATE_DIR)"
        )
    base.chmod(0o700)
    return base / hashlib.sha256(os.fsencode(state_dir)).hexdigest()[:12]


def _tool_path() -> str:
    """PATH for Ansible: the running interpreter's bin dir first (a venv or pipx install that is not
    activated still finds its own ansible-playbook), then the caller's PATH."""
    own = str(Path(sys.executable).parent)
    rest = (os.environ.get("PATH") or os.defpath).split(os.pathsep)
    return os.pathsep.join([own, *(entry for entry in rest if entry and entry != own)])


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


def learn_host_keys(known_hosts: Path, targets: list[tuple[str, int]], timeout_s: int = 5) -> list[str]:
    """Add the SSH host keys of ``targets`` that ``known_hosts`` does not know yet (trust on first use,
    what ``StrictHostKeyChecking=accept-new`` does); a known host is never re-learned, so a changed key
    still fails the connection. Returns the hosts added."""
    added = []
    for address, port in targets:
        name = address if port == 22 else f"[{address}]:{port}"
        if known_hosts.exists():
            found = subprocess.run(
                ["ssh-keygen", "-F", name, "-f", str(known_hosts)], capture_output=True, check=False
            )
            if found.returncode == 0:
                continue
        scan = subprocess.run(
            ["ssh-keyscan", "-T", str(timeout_s), "-p", str(port), address],
            capture_output=True,
            text=True,
            check=False,
        )
        lines = [ln for ln in scan.stdout.splitlines() if ln and not ln.startswith("#")]
        if not lines:
            continue  # unreachable now: the run reports it as unreachable
        fd = os.open(known_hosts, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        added.append(name)
    return added


def _ansible_env(
    *,
    state_dir: Path,
    run_dir: Path,
    ssh_key: Path | None,
    ssh_user: str,
    tuned: bool,
) -> dict[str, str]:
    """The complete environment of ansible-playbook (ansible-runner's callback keys are added later)."""
    home = os.environ.get("HOME") or str(Path.home())
    ssh_common = [
        "-o",
        "StrictHostKeyChecking=accept-new",
        "-o",
        f"UserKnownHostsFile={state_dir / 'known_hosts'}",
    ]
    if ssh_key is not None:
        # Offer only this key: agent keys tried first would hit the nodes' MaxAuthTries (<= 4).
        ssh_common += ["-o", "IdentitiesOnly=yes"]
    env = {
        "PATH": _tool_path(),
        "HOME": home,  # ~/.ansible/tmp and the collections path
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        # Settings come only from here: an empty ansible.cfg keeps ~/.ansible.cfg and
        # /etc/ansible/ansible.cfg out, so a run is reproducible from its artifacts/<id>/command.
        "ANSIBLE_CONFIG": str(run_dir / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "True",
        "ANSIBLE_FORCE_COLOR": "False",
        "ANSIBLE_CALLBACK_PLUGINS": "",  # ansible-runner appends its own dir; nothing from our env
        "ANSIBLE_HOST_KEY_CHECKING": "True",  # ansible-runner would set False when unset
        "ANSIBLE_SSH_COMMON_ARGS": shlex.join(ssh_common),
        "ANSIBLE_REMOTE_USER": ssh_user,
        "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_LOCALHOST_WARNING": "False",
    }
    if ssh_key is not None:
        env["ANSIBLE_PRIVATE_KEY_FILE"] = str(ssh_key)  # by path: the key never enters the run dir
    elif os.environ.get("SSH_AUTH_SOCK"):
        env["SSH_AUTH_SOCK"] = os.environ["SSH_AUTH_SOCK"]  # no key given: the user's agent may hold it
    if os.environ.get("TMPDIR"):
        env["TMPDIR"] = os.environ["TMPDIR"]
    if tuned:
        env.update(
            {
                # One ssh round trip per task instead of put + exec + rm (sudo must not requiretty).
                "ANSIBLE_PIPELINING": "True",
                # No -C: compressing on a datacenter LAN costs more CPU than it saves.
                "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=60s",
                "ANSIBLE_SSH_CONTROL_PATH_DIR": str(_control_dir(state_dir)),
                "ANSIBLE_SSH_CONTROL_PATH": "%(directory)s/%%C",
                # Facts are gathered once and reused by later runs (and plays) for an hour.
                "ANSIBLE_GATHERING": "smart",
                "ANSIBLE_CACHE_PLUGIN": "jsonfile",
                "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(_private_dir(state_dir / "facts")),
                "ANSIBLE_CACHE_PLUGIN_TIMEOUT": "3600",
            }
        )
        strategies = _mitogen_strategies()
        if strategies is not None:
            # Mitogen for Ansible: one SSH connection per host for the whole run, and modules run in a
            # Python that stays up on the host, instead of a new ssh exec and interpreter per task.
            # No ControlMaster: the connection already persists, and `meta: reset_connection` (the
            # firewall role's lockout check) must really log in again. Mitogen turns host key checking
            # into StrictHostKeyChecking=yes, so run_playbook learns new hosts' keys first (accept-new).
            env["ANSIBLE_STRATEGY_PLUGINS"] = str(strategies)
            env["ANSIBLE_STRATEGY"] = MITOGEN_STRATEGY
            env["ANSIBLE_SSH_ARGS"] = ""
    return env


def _mitogen_strategies() -> Path | None:
    """dcinfra's strategy plugins dir, if Mitogen for Ansible is installed (None otherwise).

    The dir holds :data:`MITOGEN_STRATEGY`: Mitogen's ``mitogen_linear`` without its CPU pinning on
    controllers with fewer than 4 CPUs (see ``dcinfra/engines/strategy/dcinfra_mitogen_linear.py``).
    """
    if importlib.util.find_spec("ansible_mitogen") is None:
        return None
    return Path(__file__).resolve().parent / "strategy"


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def _seal(run_dir: Path) -> None:
    """Make every dir of the run 0700 and every file 0600, and scrub key material out of the files."""
    for root, dirs, files in os.walk(run_dir):
        base = Path(root)
        base.chmod(0o700)
        for d in dirs:
            (base / d).chmod(0o700)
        for name in files:
            path = base / name
            if path.is_symlink() or not path.is_file():
                continue
            path.chmod(0o600)
            raw = path.read_bytes()
            if b"PRIVATE KEY-----" not in raw and b"AQ" not in raw:
                continue
            text = raw.decode("utf-8", errors="surrogateescape")
            clean = scrub(text)
            if clean != text:
                tmp = path.with_name(path.name + ".scrub")
                tmp.write_bytes(clean.encode("utf-8", errors="surrogateescape"))
                tmp.chmod(0o600)
                tmp.replace(path)


def _rotate(runs_dir: Path, keep: int, current: Path) -> None:
    """Keep the newest ``keep`` run dirs (``current`` always among them); remove the rest."""
    others = sorted(p for p in runs_dir.iterdir() if p != current and p.is_dir() and _RUN_ID.match(p.name))
    for old in others[: max(len(others) - (keep - 1), 0)]:
        shutil.rmtree(old, ignore_errors=True)


def _run_pids(data_dir: str) -> list[int]:
    """Live processes (not this one) whose ``AWX_ISOLATED_DATA_DIR`` is ``data_dir`` or lies under it.

    A zombie or an exiting process has no environment left to read, so it is never listed."""
    own = f"AWX_ISOLATED_DATA_DIR={data_dir}".encode()
    under = own + (b"" if data_dir.endswith("/") else b"/")
    me = os.getpid()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:  # gone already, or not ours to read
            continue
        if any(var == own or var.startswith(under) for var in env):
            pids.append(int(entry.name))
    return pids


def _kill_runs(data_dir: str, *, settle_s: float = 5.0) -> int:
    """SIGKILL every process whose ``AWX_ISOLATED_DATA_DIR`` is ``data_dir`` or lies under it, and
    wait (up to ``settle_s``) until none is left; returns how many there were.

    One pass is not enough: SIGKILL takes effect when the process is next scheduled, and a worker can
    fork a module process between the scan and its own kill. So scan, kill and scan again until a scan
    finds nothing."""
    killed: set[int] = set()
    deadline = time.monotonic() + settle_s
    while pids := _run_pids(data_dir):
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        killed.update(pids)
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    return len(killed)


def _kill_leftovers(artifact_dir: str) -> int:
    """SIGKILL every process still running for this run; returns how many there were.

    ansible-runner stops a timed-out or canceled run by killing ansible-playbook's process group, but
    ansible-core (2.17+) starts each worker in its own session (``os.setsid``), so workers, and the
    local module processes they started, survive and finish their task unattended. They all carry
    this run's ``AWX_ISOLATED_DATA_DIR`` in their environment, which finds exactly them.
    """
    return _kill_runs(artifact_dir)


def kill_orphaned_runs(runs_dir: Path) -> int:
    """SIGKILL what is left of earlier runs under ``runs_dir`` (ansible-playbook, its workers and
    their local children); returns how many processes there were.

    Call it only while holding the stack lock: then no live dcinfra runs a playbook for this stack, and
    a process still carrying one of its run dirs' ``AWX_ISOLATED_DATA_DIR`` belongs to a run whose
    dcinfra was killed (kill -9 does not reach ansible-playbook: ansible-runner starts it in a session
    of its own). Left alone it would keep configuring hosts beside the new run.
    """
    return _kill_runs(f"{runs_dir.absolute()}/")


@contextlib.contextmanager
def _cancel_on_signals() -> Iterator[Callable[[], bool]]:
    """A cancel callback for ansible-runner that turns SIGINT/SIGTERM into a clean cancel (the run
    ends with status "canceled" and ansible-playbook is stopped) instead of abandoning the child."""
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag.is_set
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        flag.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag.is_set
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# --------------------------------------------------------------------------------------------------
# The engine


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
    playbook = playbook.absolute()
    inventory = inventory.absolute()
    runs_dir = runs_dir.absolute()
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
    try:
        from ansible_runner import Runner, RunnerConfig
    except ImportError as e:  # pragma: no cover - a dependency of dcinfra
        raise AnsibleEngineError(
            f"ansible-runner is not importable ({e}); fix: pip install 'ansible-runner>=2.4,<3'"
        ) from e

    state_dir = runs_dir.parent
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

    envvars = _ansible_env(
        state_dir=state_dir, run_dir=run_dir, ssh_key=ssh_key, ssh_user=ssh_user, tuned=tuned
    )
    run_forks = max(forks or 0, _count_hosts(inventory), 5) if tuned else forks
    if envvars.get("ANSIBLE_STRATEGY") == MITOGEN_STRATEGY:
        learn_host_keys(state_dir / "known_hosts", _ssh_targets(inventory, limit))
    args = [flag for flag, on in (("--check", check), ("--diff", diff)) if on]

    artifacts = run_dir / "artifacts" / run_id  # ansible-runner's <artifact_dir>/<ident>
    started = time.monotonic()
    collector = _Collector(sink)
    try:
        config = RunnerConfig(
            private_data_dir=str(run_dir),
            artifact_dir=str(run_dir / "artifacts"),
            ident=run_id,
            playbook=str(playbook),
            inventory=str(inventory),
            limit=limit,
            skip_tags=skip_tags,
            forks=run_forks,
            cmdline=shlex.join(args) if args else None,
            extravars=dict(extravars) if extravars else None,
            envvars=envvars,
            suppress_env_files=True,
            quiet=True,
            timeout=timeout_s,
        )
        config.prepare()
        # prepare() seeded the environment with a copy of ours; keep only what we chose and the keys
        # ansible-runner's callback needs (it writes this env to artifacts/<id>/command).
        config.env = {**envvars, **{k: config.env[k] for k in _RUNNER_ENV_KEYS if k in config.env}}
        with _cancel_on_signals() as cancelled:
            runner = Runner(config=config, event_handler=collector, cancel_callback=cancelled)
            runner.run()
    except BaseException:
        sink.run_done(None)
        with contextlib.suppress(OSError):
            _kill_leftovers(str(artifacts))
            _seal(run_dir)
        raise
    duration = time.monotonic() - started
    if runner.status in ("timeout", "canceled"):
        _kill_leftovers(str(artifacts))
    _seal(run_dir)
    _rotate(runs_dir, keep_runs, run_dir)

    status = str(runner.status)
    rc = int(runner.rc) if runner.rc is not None else -1
    if collector.exception is not None:
        sink.run_done(None)
        raise AnsibleEngineError(
            f"dcinfra could not read Ansible's events ({collector.exception!r}); "
            f"the run itself is in {artifacts}"
        ) from collector.exception
    tail = scrub("\n".join(line for line in collector.output_tail if line.strip()))
    if status == "failed" and not collector.tasks_seen and collector.stats is None:
        sink.run_done(None)
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
    record = RunRecord(
        id=run_id,
        playbook=str(playbook),
        status=status,
        rc=rc,
        hosts=hosts,
        failures=failures,
        changes=collector.changes,
        artifacts_dir=str(artifacts),
        duration_s=duration,
        check=check,
        error=error,
    )
    sink.run_done(record)
    return record


def close_ssh_masters(runs_dir: Path) -> int:
    """Ask every persistent ssh master of this state dir to exit and remove the control socket dir
    (for ``destroy``, which leaves no process behind). Returns how many masters were asked.

    Untouched masters exit on their own 60 s after their last use anyway.
    """
    cp = _control_dir(runs_dir.absolute().parent)
    if not cp.is_dir():
        return 0
    asked = 0
    for sock in sorted(cp.iterdir()):
        if not stat.S_ISSOCK(sock.lstat().st_mode):
            continue
        asked += 1
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(
                ["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "dcinfra-control-master"],
                capture_output=True,
                timeout=10,
                check=False,
            )
    deadline = time.monotonic() + 2  # a master unlinks its socket as it exits
    while True:
        try:
            cp.rmdir()
            break
        except FileNotFoundError:
            break
        except OSError:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
    return asked
