"""The stack's state dir (``.dcinfra/<stack>/``): lock, last applied plan, build dir, runs, reports,
lab runtime, Pulumi backend and secrets.

Layout::

    .dcinfra/<stack>/
      lock                 holder of the stack lock (pid, host, command, since)
      applied-plan.json    the plan of the last successful `up`
      build/               the rendered files of the last `up`/`preview`
      runs/<id>/           ansible-runner private data dirs (0700), rotated
      reports/<time>/      verify reports
      lab/                 lab runtime: one dir per node (overlay upper, pid, logs)
      secrets/             0700: the stack's SSH key and other generated secrets (0600)
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dcinfra.errors import DcinfraError


class LockHeld(DcinfraError):
    """Another live process holds the stack lock."""


class StaleLock(DcinfraError):
    """A dead process left the stack lock; it is taken over only with an explicit flag."""


def default_root() -> Path:
    """Where state dirs live: ``$DCINFRA_STATE_DIR`` or ``./.dcinfra``."""
    return Path(os.environ.get("DCINFRA_STATE_DIR", ".dcinfra")).absolute()


@dataclass(frozen=True, slots=True)
class StateDir:
    """The state dir of one stack."""

    path: Path

    @staticmethod
    def for_stack(name: str, root: Path | None = None) -> StateDir:
        """The state dir of stack ``name`` under ``root`` (default: :func:`default_root`)."""
        return StateDir((root or default_root()) / name)

    def ensure(self) -> StateDir:
        """Create the dir (0700: it holds secrets and run artifacts)."""
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path.chmod(0o700)
        return self

    @property
    def secrets(self) -> Path:
        """0700 dir of generated secrets."""
        p = self.path / "secrets"
        p.mkdir(parents=True, exist_ok=True, mode=0o700)
        p.chmod(0o700)
        return p

    @property
    def runs(self) -> Path:
        """ansible-runner private data dirs."""
        return self.path / "runs"

    @property
    def lab(self) -> Path:
        """Lab runtime dir."""
        return self.path / "lab"

    @property
    def build(self) -> Path:
        """Rendered files."""
        return self.path / "build"

    @property
    def applied_plan(self) -> Path:
        """The plan of the last successful ``up``."""
        return self.path / "applied-plan.json"

    @contextlib.contextmanager
    def lock(self, command: str, *, force: bool = False) -> Iterator[None]:
        """Hold the stack lock for ``command``; fail at once if another process holds it."""
        self.ensure()
        path = self.path / "lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                holder = _read_holder(path)
                raise LockHeld(
                    f"stack {self.path.name!r} is locked by {holder}; wait for it to finish "
                    f"(lock file {path})"
                ) from None
            previous = _read_holder_dict(path)
            if previous and not force:
                raise StaleLock(
                    f"stack {self.path.name!r}: a previous `{previous.get('command')}` "
                    f"(pid {previous.get('pid')} on {previous.get('host')}, since {previous.get('since')}) "
                    "ended without releasing the "
                    "lock, so it may have stopped half-way; rerun with --force-unlock to take the lock over "
                    "(up and destroy repair a half-done run)"
                )
            info = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "command": command,
                "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
            os.fsync(fd)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _read_holder_dict(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_holder(path: Path) -> str:
    d = _read_holder_dict(path)
    if not d:
        return "another process"
    return f"`{d.get('command')}` (pid {d.get('pid')} on {d.get('host')}, since {d.get('since')})"
