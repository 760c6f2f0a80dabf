"""The Ansible engine against real ansible-core: local playbooks on ``localhost`` (and, where this
machine has ``sshd``, over real SSH on 127.0.0.1), no mocks.

Each test writes its own inventory and state dir under ``tmp_path``; the fixture playbooks are in
``tests/fixtures/ansible/``.
"""

from __future__ import annotations

import getpass
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from dcinfra.engines import ansible as engine
from dcinfra.engines.ansible import (
    HIDDEN,
    AnsibleEngineError,
    NullProgress,
    RichProgress,
    RunRecord,
    close_ssh_masters,
    format_summary,
    hygiene,
    kill_orphaned_runs,
    results,
    run_playbook,
    runner,
    scrub,
)
from dcinfra.errors import DcinfraError
from tests.conftest import SshServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ansible"
CEPH_KEY = "AQAA8VNlAAAAABAAAAECAwQFBgcICQoLDA0ODw=="  # the key fail.yml puts in its message
SECRET = "canary-SECRET-123"
ENV_CANARY = "canary-ENV-4f1c9e"


def local_inventory(tmp_path: Path, *hosts: str) -> Path:
    """An INI inventory of hosts that run on this machine with the test's own Python."""
    lines = [f"{h} ansible_connection=local ansible_python_interpreter={sys.executable}" for h in hosts]
    path = tmp_path / "inventory.ini"
    path.write_text("\n".join(lines or ["localhost"]) + "\n")
    return path


def run_dirs(runs: Path) -> list[str]:
    return sorted(p.name for p in runs.iterdir())


def files_containing(root: Path, needle: str) -> list[Path]:
    """Every file under ``root`` whose bytes contain ``needle``."""
    found = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if not path.is_symlink() and needle.encode() in path.read_bytes():
                found.append(path)
    return found


class Recording:
    """A ProgressSink that remembers every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def play_started(self, play: str) -> None:
        self.calls.append(("play", play))

    def task_started(self, host: str, role: str, task: str) -> None:
        self.calls.append(("start", host, role, task))

    def task_done(self, host: str, status: str) -> None:
        self.calls.append(("done", host, status))

    def run_done(self, record: RunRecord | None) -> None:
        self.calls.append(("run_done", record))


# ------------------------------------------------------------------------------------------------
# scrub()


def test_scrub_redacts_private_key_blocks_and_ceph_keys() -> None:
    pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"
    text = f"before\n{pem}\nafter key = {CEPH_KEY} end"
    out = scrub(text)
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in out
    assert CEPH_KEY not in out
    assert out == "before\n<redacted: private key>\nafter key = <redacted: ceph key> end"
    # a block cut off before its END line (e.g. a stderr tail) is redacted to the end
    assert scrub("x -----BEGIN RSA PRIVATE KEY-----\nMIIEow") == "x <redacted: private key>"
    # JSON-escaped newlines (how keys sit in job_events files) are still one block
    escaped = json.dumps({"k": pem})
    assert "b3Blbn" not in scrub(escaped)


def test_scrub_leaves_ordinary_text_alone() -> None:
    text = "ok: AQ is not a key; sha256 abcdEFGH+/== and -----BEGIN CERTIFICATE----- stay"
    assert scrub(text) == text
    # base64 that merely contains a key-shaped run is not cut in half
    blob = "Zm9v" + CEPH_KEY
    assert scrub(blob) == blob


def test_failure_messages_are_short_and_human() -> None:
    censored = {"censored": "the output has been hidden ..."}
    assert results._failure_message(censored) == HIDDEN
    command = {"msg": "non-zero return code", "stderr": "a\nb\nc\nls: cannot access 'x'", "rc": 2}
    assert results._failure_message(command) == "non-zero return code: b / c / ls: cannot access 'x' (rc=2)"
    crashed = {
        "msg": "The following modules failed to execute: ansible.legacy.setup.",
        "failed_modules": {
            "ansible.legacy.setup": {
                "msg": "MODULE FAILURE",
                "module_stdout": "/bin/sh: python9: not found\n",
                "module_stderr": "Shared connection to 10.0.0.1 closed.\n",
                "rc": 127,
            }
        },
    }
    assert results._failure_message(crashed) == (
        "ansible.legacy.setup: MODULE FAILURE: /bin/sh: python9: not found (rc=127)"
    )
    loop = {"results": [{"failed": False}, {"failed": True, "msg": "bad item"}, {"failed": True}]}
    assert results._failure_message(loop) == "bad item (and 1 more failed item)"
    assert len(results._failure_message({"msg": "x" * 5000})) <= 500


def test_diffs_from_before_after_prepared_loops_and_no_log() -> None:
    res = {"diff": {"before": "a\nb\n", "after": "a\nc", "before_header": "/etc/x", "after_header": "/etc/x"}}
    assert results._diff_text(res) == (
        "--- /etc/x\n+++ /etc/x\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n\\ No newline at end of file\n"
    )
    assert (
        results._diff_text({"diff": [{"prepared": "+added line"}]})
        == "+added line\n\\ No newline at end of file\n"
    )
    loop = {"results": [{"diff": {"before": "", "after": "x\n"}}, {"censored": "hidden"}]}
    assert results._diff_text(loop) == HIDDEN
    assert (
        results._diff_text({"diff": {"before": "k=" + CEPH_KEY + "\n", "after": ""}}).count("redacted") == 1
    )
    assert results._diff_text({"changed": True}) == ""


# ------------------------------------------------------------------------------------------------
# Real runs


def test_change_then_idempotent_rotation_and_private_dirs(tmp_path: Path) -> None:
    runs = tmp_path / "state" / "runs"
    inv = local_inventory(tmp_path, "localhost")
    dest = tmp_path / "dest"
    dest.mkdir()
    recording = Recording()
    records = [
        run_playbook(
            FIXTURES / "change.yml",
            inv,
            runs_dir=runs,
            ssh_key=None,
            extravars={"dest_dir": str(dest)},
            keep_runs=2,
            progress=recording if i == 0 else None,
        )
        for i in range(3)
    ]
    first, second, third = records
    assert (dest / "hello-localhost.txt").read_text() == "hello from localhost\n"
    assert first.ok and first.status == "successful" and first.rc == 0
    assert first.hosts["localhost"].changed == 1
    assert [(c.host, c.task, c.role) for c in first.changes] == [("localhost", "Write hello", "")]
    assert first.changes[0].diff == ""  # no --diff asked
    # idempotent: the second run changes nothing
    assert second.ok and second.changed_total == 0 and second.changes == []
    # tuned: smart gathering reused the cached facts, so the second run skipped fact gathering
    assert first.hosts["localhost"].ok == 2 and second.hosts["localhost"].ok == 1
    assert any((tmp_path / "state" / "facts").iterdir())
    # rotation: only the newest two run dirs are kept, ids sort by start time
    assert run_dirs(runs) == sorted([second.id, third.id])
    assert [r.id for r in records] == sorted(r.id for r in records)
    # every dir of a run is 0700 and every file 0600
    run_dir = runs / third.id
    for dirpath, _dirs, files in os.walk(run_dir):
        assert stat.S_IMODE(Path(dirpath).stat().st_mode) == 0o700, dirpath
        for name in files:
            assert stat.S_IMODE((Path(dirpath) / name).stat().st_mode) == 0o600, name
    assert Path(third.artifacts_dir).is_relative_to(run_dir)
    assert (Path(third.artifacts_dir) / "job_events").is_dir()
    # progress was driven from the events, in order, and told about the end
    assert recording.calls[0] == ("play", "Change a file")
    assert ("start", "localhost", "", "Write hello") in recording.calls
    assert ("done", "localhost", "changed") in recording.calls
    assert recording.calls[-1] == ("run_done", first)


def test_check_diff_reports_the_change_and_touches_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    record = run_playbook(
        FIXTURES / "change.yml",
        local_inventory(tmp_path, "localhost"),
        runs_dir=tmp_path / "state" / "runs",
        ssh_key=None,
        extravars={"dest_dir": str(dest)},
        check=True,
        diff=True,
    )
    assert record.ok and record.check
    assert record.changed_total == 1
    [change] = record.changes
    assert (change.host, change.task) == ("localhost", "Write hello")
    assert "+hello from localhost" in change.diff
    assert f"+++ {dest}/hello-localhost.txt" in change.diff
    assert list(dest.iterdir()) == []  # check mode wrote nothing
    data = json.loads(json.dumps(record.to_dict()))
    assert data["check"] is True and data["changed_total"] == 1
    # ok counts fact gathering and the (would-be) changed task, as Ansible's recap does
    assert data["hosts"]["localhost"] == {"ok": 2, "changed": 1, "failed": 0, "unreachable": 0, "skipped": 0}


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs the ssh client for the unreachable host")
def test_failures_are_records_with_host_task_and_scrubbed_message(tmp_path: Path) -> None:
    inv = tmp_path / "inventory.ini"
    # "ghost" is an SSH host on a closed loopback port: unreachable at once.
    inv.write_text(
        f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
        "ghost ansible_host=127.0.0.1 ansible_port=9 ansible_connection=ssh\n"
    )
    runs = tmp_path / "state" / "runs"
    try:
        record = run_playbook(FIXTURES / "fail.yml", inv, runs_dir=runs, ssh_key=None)
    finally:
        assert close_ssh_masters(runs) == 0  # ghost never connected; this removes the socket dir
    assert not hygiene._control_dir(runs.parent).exists()
    assert record.status == "failed" and not record.ok and record.rc != 0
    by_host = {f.host: f for f in record.failures}
    assert set(by_host) == {"localhost", "ghost"}
    failure = by_host["localhost"]
    assert (failure.task, failure.role) == ("Check the widget", "widget")
    assert failure.message == "the widget on localhost is broken (key <redacted: ceph key>)"
    assert record.hosts["localhost"].failed == 1
    assert record.hosts["ghost"].unreachable == 1
    assert (by_host["ghost"].task, by_host["ghost"].role) == ("Reach the host", "widget")
    assert "ssh" in by_host["ghost"].message.lower()  # Ansible's "Failed to connect to the host via ssh"
    # the key is scrubbed from every artifact too (stdout, job events)
    assert files_containing(runs, CEPH_KEY) == []
    # the summary people read: host | task | message
    console = Console(record=True, width=200)
    console.print(format_summary(record))
    text = console.export_text()
    assert "localhost | widget : Check the widget | the widget on localhost is broken" in text
    assert "ghost | widget : Reach the host |" in text


def test_no_log_secret_and_parent_env_never_reach_artifacts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DCINFRA_CANARY", ENV_CANARY)
    secret_file = tmp_path / "secret.key"
    secret_file.write_text(SECRET)
    dest = tmp_path / "dest"
    dest.mkdir()
    state = tmp_path / "state"
    record = run_playbook(
        FIXTURES / "secret.yml",
        local_inventory(tmp_path, "localhost"),
        runs_dir=state / "runs",
        ssh_key=None,
        extravars={"dest_dir": str(dest), "secret_file": str(secret_file)},
        diff=True,
    )
    assert record.ok, record.failures
    assert (dest / "secret.txt").read_text() == SECRET + "\n"  # the task really handled it
    [change] = record.changes
    assert (change.task, change.diff) == ("Install the secret", HIDDEN)
    # nowhere in the run dir, the fact cache, known_hosts ... (every file of the state dir)
    assert files_containing(state, SECRET) == []
    assert files_containing(state, ENV_CANARY) == []
    assert SECRET not in json.dumps(record.to_dict())
    # the recorded environment is the minimal one we chose, not a copy of ours
    command = json.loads((Path(record.artifacts_dir) / "command").read_text())
    assert "DCINFRA_CANARY" not in command["env"]
    assert command["env"]["ANSIBLE_HOST_KEY_CHECKING"] == "True"
    assert "StrictHostKeyChecking=accept-new" in command["env"]["ANSIBLE_SSH_COMMON_ARGS"]
    assert f"UserKnownHostsFile={state / 'known_hosts'}" in command["env"]["ANSIBLE_SSH_COMMON_ARGS"]
    assert not (state / "runs" / record.id / "env" / "envvars").exists()  # suppress_env_files


def test_untuned_runs_with_ansible_defaults(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    state = tmp_path / "state"
    record = run_playbook(
        FIXTURES / "change.yml",
        local_inventory(tmp_path, "localhost"),
        runs_dir=state / "runs",
        ssh_key=None,
        extravars={"dest_dir": str(dest)},
        tuned=False,
        progress=NullProgress(),
    )
    assert record.ok and record.changed_total == 1
    env = json.loads((Path(record.artifacts_dir) / "command").read_text())["env"]
    assert not {"ANSIBLE_PIPELINING", "ANSIBLE_SSH_ARGS", "ANSIBLE_GATHERING", "ANSIBLE_CACHE_PLUGIN"} & set(
        env
    )
    assert not (state / "facts").exists()


def test_timeout_stops_the_run(tmp_path: Path) -> None:
    started = time.monotonic()
    record = run_playbook(
        FIXTURES / "pause.yml",
        local_inventory(tmp_path, "localhost"),
        runs_dir=tmp_path / "state" / "runs",
        ssh_key=None,
        timeout_s=2,
    )
    assert time.monotonic() - started < 20
    assert record.status == "timeout" and not record.ok
    assert "timeout" in record.error
    # ansible-core's workers run in their own sessions; none of this run's processes is left
    assert processes_of(record.artifacts_dir) == []


def processes_of(artifacts_dir: str) -> list[int]:
    """Pids of live processes started for the run whose artifacts are in ``artifacts_dir``."""
    marker = f"AWX_ISOLATED_DATA_DIR={artifacts_dir}\0".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if status != "Z" and marker in (entry / "environ").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


# ------------------------------------------------------------------------------------------------
# Setup errors


def test_setup_errors_raise_with_a_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inv = local_inventory(tmp_path, "localhost")
    runs = tmp_path / "state" / "runs"
    with pytest.raises(AnsibleEngineError, match=r"playbook .*nope\.yml.* not found"):
        run_playbook(tmp_path / "nope.yml", inv, runs_dir=runs, ssh_key=None)
    key = tmp_path / "id_ed25519"
    key.write_text("not really a key")
    key.chmod(0o644)
    with pytest.raises(AnsibleEngineError, match="chmod 600"):
        run_playbook(FIXTURES / "change.yml", inv, runs_dir=runs, ssh_key=key)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setattr(runner, "_tool_path", lambda: str(empty))
    with pytest.raises(DcinfraError, match="ansible-playbook not found"):
        run_playbook(FIXTURES / "change.yml", inv, runs_dir=runs, ssh_key=None)
    assert not runs.exists()  # nothing was created for a run that could not start


def test_a_playbook_ansible_cannot_run_raises_with_its_error(tmp_path: Path) -> None:
    recording = Recording()
    with pytest.raises(AnsibleEngineError, match="no_such_module") as info:
        run_playbook(
            FIXTURES / "broken.yml",
            local_inventory(tmp_path, "localhost"),
            runs_dir=tmp_path / "state" / "runs",
            ssh_key=None,
            progress=recording,
        )
    assert "stopped before running any task" in str(info.value)
    assert recording.calls[-1] == ("run_done", None)


# ------------------------------------------------------------------------------------------------
# Progress display


def _drive(progress: RichProgress) -> None:
    progress.play_started("Configure")
    for host in ("n1", "n2"):
        progress.task_started(host, "common", "Set sysctls")
        progress.task_done(host, "changed")
        progress.task_started(host, "common", "Write hosts")
        progress.task_done(host, "ok")
    progress.task_done("n2", "failed")
    progress.play_started("Verify")
    progress.task_started("n1", "", "Ping")
    progress.task_done("n1", "ok")
    progress.run_done(None)


def test_rich_progress_without_a_terminal_prints_one_line_per_play() -> None:
    out = io.StringIO()
    _drive(RichProgress(Console(file=out, force_terminal=False, width=200)))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("play 'Configure': 2 hosts  ok=4 changed=2 failed=1 unreachable=0")
    assert lines[1].startswith("play 'Verify': 1 hosts  ok=1 changed=0 failed=0")


def test_rich_progress_on_a_terminal_shows_a_live_table() -> None:
    out = io.StringIO()
    progress = RichProgress(Console(file=out, force_terminal=True, width=120))
    progress.play_started("Configure")
    progress.task_started("n1", "common", "Set sysctls")
    progress.task_done("n1", "changed")
    table = Console(record=True, width=120)
    table.print(progress._render())
    text = table.export_text()
    assert "n1" in text and "common : Set sysctls" in text
    progress.run_done(None)
    assert progress._live is None


# ------------------------------------------------------------------------------------------------
# Real SSH (tuned and untuned), when this machine has sshd


@pytest.fixture
def sshd(tmp_path: Path, ssh_server: SshServer) -> tuple[Path, Path]:
    """The shared loopback sshd as an inventory of two hosts; yields (inventory, client key)."""
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    inv = tmp_path / "ssh-inventory.ini"
    inv.write_text(
        "".join(f"{n} ansible_host=127.0.0.1 ansible_port={ssh_server.port}\n" for n in ("node1", "node2"))
        + f"[all:vars]\nansible_python_interpreter={python}\n"
    )
    return inv, ssh_server.client_key


def test_over_ssh_tuned_and_untuned_both_converge(tmp_path: Path, sshd: tuple[Path, Path]) -> None:
    inventory, key = sshd

    def converge(tuned: bool) -> RunRecord:
        return run_playbook(
            FIXTURES / "change.yml",
            inventory,
            runs_dir=tmp_path / f"state-{tuned}" / "runs",
            ssh_key=key,
            ssh_user=getpass.getuser(),
            extravars={"dest_dir": str(tmp_path / f"dest-{tuned}")},
            tuned=tuned,
        )

    for tuned in (True, False):
        (tmp_path / f"dest-{tuned}").mkdir()
        record = converge(tuned)
        assert record.ok, record.failures
        assert record.changed_total == 2
        assert sorted(p.name for p in (tmp_path / f"dest-{tuned}").iterdir()) == [
            "hello-node1.txt",
            "hello-node2.txt",
        ]
        # host keys were learned into the state dir's known_hosts (accept-new), not ~/.ssh
        assert "ssh-ed25519" in (tmp_path / f"state-{tuned}" / "known_hosts").read_text()
    # tuned, again: idempotent, facts from the cache
    again = converge(True)
    assert again.ok and again.changed_total == 0
    assert all(h.ok == 1 for h in again.hosts.values())  # no fact gathering this time
    runs = tmp_path / "state-True" / "runs"
    command = (Path(again.artifacts_dir) / "command").read_text()
    if hygiene._mitogen_strategies() is not None:
        # Mitogen: one connection per host for the run, no ControlPersist master left behind
        assert json.loads(command)["env"]["ANSIBLE_STRATEGY"] == engine.MITOGEN_STRATEGY
        assert close_ssh_masters(runs) == 0
    else:
        # over the ControlPersist master of the first run: one %C socket (same host:port:user)
        assert "ANSIBLE_STRATEGY" not in json.loads(command)["env"]
        assert close_ssh_masters(runs) == 1
    assert not hygiene._control_dir(runs.parent).exists()  # destroy leaves no socket dir behind


def test_kill_orphaned_runs_stops_only_this_stacks_runs(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    other = tmp_path / "other-runs"
    ours = subprocess.Popen(
        ["sleep", "60"], env={"AWX_ISOLATED_DATA_DIR": f"{runs}/20260101T000000-ab/artifacts/x"}
    )
    theirs = subprocess.Popen(
        ["sleep", "60"], env={"AWX_ISOLATED_DATA_DIR": f"{other}/20260101T000000-ab/artifacts/x"}
    )
    try:
        assert kill_orphaned_runs(runs) == 1
        assert ours.wait(timeout=10) == -signal.SIGKILL
        assert theirs.poll() is None
        assert kill_orphaned_runs(runs) == 0
    finally:
        for p in (ours, theirs):
            p.kill()
            p.wait()


@pytest.mark.skipif(hygiene._mitogen_strategies() is None, reason="Mitogen for Ansible is not installed")
@pytest.mark.parametrize(("cpus", "pinned"), [(2, False), (3, False), (4, True), (16, True)])
def test_tuned_strategy_drops_mitogen_pinning_below_4_cpus(cpus: int, pinned: bool) -> None:
    # Loaded the way Ansible loads a strategy plugin (a file in ANSIBLE_STRATEGY_PLUGINS), in a fresh
    # interpreter that reports `cpus` CPUs: below 4, Mitogen's pinning policy is replaced by its no-op base.
    strategies = hygiene._mitogen_strategies()
    assert strategies is not None
    plugin = strategies / f"{engine.MITOGEN_STRATEGY}.py"
    code = (
        "import importlib.util, os, sys\n"
        f"os.cpu_count = lambda: {cpus}\n"
        f"spec = importlib.util.spec_from_file_location('plugin', {str(plugin)!r})\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        "import ansible_mitogen.affinity as a, ansible_mitogen.strategy as s\n"
        "assert issubclass(mod.StrategyModule, s.StrategyMixin)\n"
        "print(type(a.policy).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert (out.strip() != "Policy") is pinned, out
