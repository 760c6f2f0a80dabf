"""Process and environment hygiene around a playbook run: what Ansible sees, what it leaves behind.

- **Run dirs**: one private dir per run (0700, files 0600), sealed after the run (modes fixed, key
  material :func:`~dcinfra.engines.ansible.results.scrub`-bed out of every file) and rotated.
- **A minimal environment**: :func:`_ansible_env` is ansible-playbook's whole environment (PATH, HOME,
  a UTF-8 locale and the ``ANSIBLE_*`` settings chosen here); of ansible-runner's prepared copy of ours
  only :data:`_RUNNER_ENV_KEYS` are kept.
- **SSH**: the control socket dir (short enough for a Unix socket path), host keys learned on first
  use (:func:`learn_host_keys`), persistent masters closed on ``destroy`` (:func:`close_ssh_masters`).
- **No orphans**: a run's processes are found by the ``AWX_ISOLATED_DATA_DIR`` in their environment
  and killed (:func:`kill_orphaned_runs`, :func:`_kill_leftovers`); SIGINT/SIGTERM cancel a run
  cleanly instead of abandoning it (:func:`_cancel_on_signals`).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
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
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from dcinfra.engines.ansible.results import AnsibleEngineError, scrub

# Mitogen's mitogen_linear, unpinned below 4 CPUs: dcinfra/engines/strategy/dcinfra_mitogen_linear.py
MITOGEN_STRATEGY = "dcinfra_mitogen_linear"

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

# --------------------------------------------------------------------------------------------------
# Run dirs


def _new_run_id() -> str:
    now = datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S}.{now.microsecond:06d}Z-{secrets.token_hex(3)}"


def _private_dir(path: Path) -> Path:
    """``path`` created if needed, mode 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


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


# --------------------------------------------------------------------------------------------------
# Environment


def _tool_path() -> str:
    """PATH for Ansible: the running interpreter's bin dir first (a venv or pipx install that is not
    activated still finds its own ansible-playbook), then the caller's PATH."""
    own = str(Path(sys.executable).parent)
    rest = (os.environ.get("PATH") or os.defpath).split(os.pathsep)
    return os.pathsep.join([own, *(entry for entry in rest if entry and entry != own)])


def _mitogen_strategies() -> Path | None:
    """dcinfra's strategy plugins dir, if Mitogen for Ansible is installed (None otherwise).

    The dir holds :data:`MITOGEN_STRATEGY`: Mitogen's ``mitogen_linear`` without its CPU pinning on
    controllers with fewer than 4 CPUs (see ``dcinfra/engines/strategy/dcinfra_mitogen_linear.py``).
    """
    if importlib.util.find_spec("ansible_mitogen") is None:
        return None
    return Path(__file__).resolve().parent.parent / "strategy"  # dcinfra/engines/strategy/


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


# --------------------------------------------------------------------------------------------------
# SSH


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


# --------------------------------------------------------------------------------------------------
# Processes


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
