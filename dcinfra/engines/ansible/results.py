"""What a playbook run produced: the typed records, the secret scrubber and the event collector.

:class:`RunRecord` (with :class:`HostResult`, :class:`TaskFailure` and :class:`TaskChange`) is what
:func:`~dcinfra.engines.ansible.run_playbook` returns. :class:`_Collector` is ansible-runner's event
handler: it turns job events into those records' lists, turning module results into short failure
messages and unified diffs on the way. Everything that leaves a result passes :func:`scrub` first, and
a ``no_log`` result is never copied (it reads :data:`HIDDEN`).

No I/O here beyond what the caller's progress sink does.
"""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from dcinfra.errors import DcinfraError

HIDDEN = "(hidden: no_log)"  # what a no_log task's message or diff reads in a record

_MAX_MESSAGE_CHARS = 500  # a failure message is one short human line, not a wall of JSON
_MAX_DIFF_LINES = 2000  # per task change; the full result stays in the run's artifacts
_ERROR_TAIL_LINES = 20  # lines of Ansible's own output kept when a run dies before any task

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
    """The outcome of one :func:`~dcinfra.engines.ansible.run_playbook` call."""

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

    @property
    def first_failure(self) -> str:
        """Where the run failed, for one-line messages: ``host | task: message``, or the run's error."""
        if not self.failures:
            return self.error
        first = self.failures[0]
        return f"{first.host} | {first.task}: {first.message}"

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
# Task events


class TaskEvents(Protocol):
    """The task events :class:`_Collector` forwards as it reads them (the first part of
    :class:`~dcinfra.engines.ansible.progress.ProgressSink`)."""

    def play_started(self, play: str) -> None:
        """A play began (``play``: its name, or its host pattern when unnamed)."""

    def task_started(self, host: str, role: str, task: str) -> None:
        """``task`` (of ``role``, "" outside roles) started on ``host``."""

    def task_done(self, host: str, status: str) -> None:
        """The current task of ``host`` ended: ok | changed | failed | skipped | unreachable."""


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

    def __init__(self, progress: TaskEvents) -> None:
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
