"""Shared fixtures: the repository root and a loader for the reference stacks in ``stacks/``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dcinfra.config import Config
from dcinfra.loader import load_stack
from dcinfra.model.stack import Stack

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (where ``stacks/`` and ``pyproject.toml`` are)."""
    return REPO_ROOT


LoadStack = Callable[..., Stack]


@pytest.fixture(scope="session")
def load() -> LoadStack:
    """``load("superpod", su_count=16)``: a reference stack from ``stacks/``, with ``--config`` values."""

    def _load(name: str, **config: object) -> Stack:
        cfg = Config({key: str(value) for key, value in config.items()})
        return load_stack(REPO_ROOT / "stacks" / f"{name}.py", cfg)

    return _load


def updating_golden() -> bool:
    """``DCINFRA_UPDATE_GOLDEN=1``: golden tests rewrite their fixtures (then fail, see :func:`rewrote`)."""
    import os

    return os.environ.get("DCINFRA_UPDATE_GOLDEN") == "1"


def rewrote(what: Path) -> None:
    """Fail after an update-mode rewrite: a run that rewrote its fixtures compared nothing, so it must
    never read as a pass. Review the change (``git diff tests/fixtures``), then rerun without the flag."""
    pytest.fail(
        f"DCINFRA_UPDATE_GOLDEN=1 rewrote {what}: review `git diff {what}` and rerun without it "
        "(a run that rewrites its golden files compares nothing, so it does not pass)",
        pytrace=False,
    )


@dataclass(frozen=True)
class SshServer:
    """A real sshd on 127.0.0.1 and 127.0.0.2 for the current user (key-only)."""

    port: int
    client_key: Path  # the private key its authorized_keys admits


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def ssh_server(tmp_path: Path) -> Iterator[SshServer]:
    """A real sshd on 127.0.0.1 and 127.0.0.2 (two "hosts") at a free port, stopped after the test.

    It skips only where openssh-server is not installed; an installed sshd that does not start fails
    the test. It prepares what a booted system would (the privilege separation dir /run/sshd)."""
    sshd_bin = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(sshd_bin).exists() or shutil.which("ssh-keygen") is None:
        pytest.skip("needs sshd and ssh-keygen (apt-get install -y openssh-server)")
    d = tmp_path / "sshd"
    d.mkdir()
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / name)], check=True)
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    port = _free_port()
    sftp = next(
        (p for p in ("/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server") if Path(p).exists()),
        "internal-sftp",
    )
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nListenAddress 127.0.0.2\nHostKey {d / 'host_key'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPidFile {d / 'sshd.pid'}\n"
        "UsePAM no\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        f"PermitRootLogin prohibit-password\nLogLevel ERROR\nSubsystem sftp {sftp}\n"
    )
    # sshd refuses to start without its privilege separation directory, which only a booted system's
    # tmpfiles.d creates: prepare it, as the lab does for its nodes.
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    proc = subprocess.Popen(
        [sshd_bin, "-D", "-e", "-f", str(d / "sshd_config")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if proc.poll() is not None:  # sshd is installed: not starting is a failure, not a gap to skip
                pytest.fail(f"sshd did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        else:
            pytest.fail(f"sshd did not listen on 127.0.0.1:{port} within 5 s")
        yield SshServer(port, d / "client_key")
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=5)
