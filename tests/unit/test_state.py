"""The stack lock (:meth:`dcinfra.state.StateDir.lock`): one operation at a time per stack.

What README "State and safety" promises: a second holder fails at once naming the holder's pid and
host; a lock left by a process that died is reported and taken over only with ``force``
(``--force-unlock``); the lock is released when the body raises; the state dir is 0700. No root: the
holders are this process and child processes of it.
"""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dcinfra.state import LockHeld, StaleLock, StateDir

REPO = Path(__file__).resolve().parents[2]

# A child process that takes the lock, says so, and holds it until its stdin closes.
HOLDER = """
import sys
from pathlib import Path
from dcinfra.state import StateDir

with StateDir(Path(sys.argv[1])).lock(sys.argv[2]):
    print("held", flush=True)
    sys.stdin.read()
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def holder_of(state: StateDir) -> dict[str, object]:
    text = (state.path / "lock").read_text()
    return json.loads(text) if text else {}


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


@pytest.fixture
def state(tmp_path: Path) -> StateDir:
    return StateDir(tmp_path / "state" / "demo")


@pytest.fixture
def other_holder(state: StateDir) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock of ``state`` for ``up``."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state.path), "up"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=10)


def test_lock_records_its_holder_and_clears_it_on_release(state: StateDir) -> None:
    with state.lock("up"):
        holder = holder_of(state)
        assert holder["pid"] == os.getpid()
        assert holder["host"] == socket.gethostname()
        assert holder["command"] == "up"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", str(holder["since"]))
        assert mode(state.path / "lock") == 0o600
        assert mode(state.path) == 0o700
    assert (state.path / "lock").read_text() == ""  # released: no holder left behind
    with state.lock("destroy"):  # ...so the next operation takes it without --force-unlock
        assert holder_of(state)["command"] == "destroy"


def test_an_existing_state_dir_is_made_0700(state: StateDir) -> None:
    state.path.mkdir(parents=True, mode=0o755)
    state.path.chmod(0o755)
    with state.lock("up"):
        assert mode(state.path) == 0o700


def test_a_second_holder_fails_at_once_naming_pid_and_host(
    state: StateDir, other_holder: subprocess.Popen[str]
) -> None:
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            with state.lock("destroy"):
                outcome.append(None)
        except BaseException as e:  # handed to the test thread
            outcome.append(e)

    # In a thread: a lock that waits for the holder instead of failing would hang the test, not pass.
    t = threading.Thread(target=attempt, daemon=True)
    t.start()
    t.join(timeout=10)
    assert not t.is_alive(), "the second holder waited for the lock instead of failing at once"
    [error] = outcome
    assert isinstance(error, LockHeld)
    message = str(error)
    assert f"pid {other_holder.pid} on {socket.gethostname()}" in message
    assert "`up`" in message and "'demo'" in message and "wait for it to finish" in message
    # The failed attempt leaves the holder's record alone.
    assert holder_of(state)["pid"] == other_holder.pid


def test_a_second_holder_in_the_same_process_fails_too(state: StateDir) -> None:
    with state.lock("up"):
        with pytest.raises(LockHeld, match=rf"pid {os.getpid()} on "), state.lock("verify"):
            pytest.fail("took a lock that is held")
        assert holder_of(state)["command"] == "up"  # the failed attempt did not clear it
    assert (state.path / "lock").read_text() == ""


def test_a_lock_left_by_a_dead_process_is_taken_over_only_with_force(state: StateDir) -> None:
    pid = dead_pid()
    left = {"pid": pid, "host": socket.gethostname(), "command": "up", "since": "2024-01-01T00:00:00Z"}
    state.ensure()
    (state.path / "lock").write_text(json.dumps(left))

    with pytest.raises(StaleLock) as info, state.lock("destroy"):
        pytest.fail("took over a stale lock without force")
    message = str(info.value)
    assert f"previous `up` (pid {pid} on {socket.gethostname()}, since 2024-01-01T00:00:00Z)" in message
    assert "--force-unlock" in message
    assert holder_of(state) == left  # reported, not taken over: the next run reports it again
    with pytest.raises(StaleLock), state.lock("destroy"):
        pass

    with state.lock("destroy", force=True):
        assert holder_of(state)["pid"] == os.getpid()
        assert holder_of(state)["command"] == "destroy"
    with state.lock("up"):  # released normally: no stale lock any more
        pass


def test_the_lock_is_released_when_the_body_raises(state: StateDir) -> None:
    with pytest.raises(RuntimeError, match="boom"), state.lock("up"):
        raise RuntimeError("boom")
    assert (state.path / "lock").read_text() == ""
    # Free for another process, not only for this one.
    res = subprocess.run(
        [sys.executable, "-c", HOLDER, str(state.path), "verify"],
        input="",
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=30,
        check=False,
    )
    assert res.returncode == 0 and res.stdout.strip() == "held", res.stderr
