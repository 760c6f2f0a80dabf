"""Live progress of a playbook run, and the summary people read when it ends.

:class:`ProgressSink` is what :func:`~dcinfra.engines.ansible.run_playbook` reports to while a run goes
on: :class:`NullProgress` shows nothing, :class:`RichProgress` is the CLI's live per-host table (one
line per play when stderr is not a terminal). :func:`format_summary` renders a finished
:class:`~dcinfra.engines.ansible.results.RunRecord`; the run's own output is never printed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from dcinfra.engines.ansible.results import RunRecord, TaskEvents


class ProgressSink(TaskEvents, Protocol):
    """Receives live progress of a run; called from the thread that called
    :func:`~dcinfra.engines.ansible.run_playbook`.

    The task events (``play_started``, ``task_started``, ``task_done``) are :class:`TaskEvents`'s;
    ``run_done`` ends every run, whether it produced a record or not.
    """

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
