"""The operating paths of ``preview`` and ``destroy`` that a healthy run never takes.

- ``preview`` of a stack that was never applied, and ``preview`` whose Ansible check run fails
  (``dcinfra preview`` exits 1 and names the failure);
- ``destroy --destroy-data`` when removing the storage fails (nothing is torn down), and when hosts are
  down (their storage data is reported as kept, the rest proceeds).

No root and no hosts: the site is a fake provider (``dcinfra.pipeline.provider_for``) and the Ansible
boundary (``dcinfra.pipeline.run_playbook``) returns the RunRecord a real run would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import dcinfra.pipeline
from dcinfra.cli import app
from dcinfra.config import Config
from dcinfra.engines.ansible import AnsibleEngineError, HostResult, RunRecord, TaskFailure
from dcinfra.errors import DcinfraError
from dcinfra.loader import load_stack
from dcinfra.model.stack import Stack
from dcinfra.pipeline import destroy, preview
from dcinfra.plan import compile_plan
from dcinfra.plan.types import Plan, to_jsonable
from dcinfra.render import render, write_tree
from dcinfra.sites import HostStatus, Progress, TeardownRecord
from dcinfra.state import StateDir

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "stacks" / "lab.py"  # three nodes with Ceph
HOSTS = ["node-001", "node-002", "node-003"]


@dataclass
class FakeSite:
    """A site whose hosts are in the given states (default: all running); it records teardowns."""

    plan: Plan
    states: dict[str, str] = field(default_factory=dict)
    torn_down: int = 0

    def prerequisites(self) -> list[str]:
        return []

    def provision(self, progress: Progress) -> Any:
        pytest.fail("preview and destroy never provision")

    def status(self) -> list[HostStatus]:
        return [
            HostStatus(h.name, self.states.get(h.name, "running"), h.addresses["management"])
            for h in self.plan.hosts
        ]

    def teardown(self, progress: Progress) -> TeardownRecord:
        self.torn_down += 1
        return TeardownRecord(tuple(f"netns dcinfra-lab-{h.name}" for h in self.plan.hosts))

    def site_problems(self) -> list[Any]:
        return []

    def ssh_identity(self) -> str:
        return "/nonexistent/ssh_ed25519"

    def orphans(self) -> list[str]:
        return []

    def remove(self, hosts: list[str], progress: Progress) -> TeardownRecord:
        pytest.fail("these paths never remove hosts")


@dataclass
class FakeAnsible:
    """``run_playbook`` returning ``record`` and remembering how it was called."""

    record: RunRecord | None = None
    raises: Exception | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, playbook: Path, inventory: Path, **kwargs: Any) -> RunRecord:
        self.calls.append({"playbook": Path(playbook).name, "inventory": Path(inventory), **kwargs})
        if self.raises is not None:
            raise self.raises
        assert self.record is not None
        return self.record


def run_record(
    playbook: str,
    *,
    failures: tuple[TaskFailure, ...] = (),
    error: str = "",
    check: bool = False,
    artifacts: str = "/state/runs/20240101T000000Z-x/artifacts/20240101T000000Z-x",
) -> RunRecord:
    failed = bool(failures or error)
    hosts = {
        h: HostResult(h, 12, 0, sum(f.host == h for f in failures), 0, 0)
        for h in HOSTS
        if not any(f.host == h and f.task == "unreachable" for f in failures)
    }
    return RunRecord(
        id="20240101T000000Z-x",
        playbook=f"{REPO}/playbooks/{playbook}",
        status="failed" if failed else "successful",
        rc=2 if failed else 0,
        hosts=hosts,
        failures=list(failures),
        changes=[],
        artifacts_dir=artifacts,
        duration_s=1.0,
        check=check,
        error=error,
    )


@pytest.fixture
def stack() -> Stack:
    return load_stack(LAB, Config())


@pytest.fixture
def plan(stack: Stack) -> Plan:
    return compile_plan(stack)


@pytest.fixture
def state(tmp_path: Path) -> StateDir:
    return StateDir(tmp_path / "state" / "lab")


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch, plan: Plan) -> FakeSite:
    fake = FakeSite(plan)
    monkeypatch.setattr(dcinfra.pipeline, "provider_for", lambda p, s: fake)
    return fake


@pytest.fixture
def ansible(monkeypatch: pytest.MonkeyPatch) -> FakeAnsible:
    fake = FakeAnsible()
    monkeypatch.setattr(dcinfra.pipeline, "run_playbook", fake)
    return fake


def applied(state: StateDir, plan: Plan) -> None:
    """What a successful ``up`` of a stack with Ceph leaves in its state dir."""
    state.ensure()
    write_tree(render(plan), state.build)
    record = {"plan": to_jsonable(plan), "deployed": {"ceph": True, "hdfs": False}}
    state.applied_plan.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    assert dcinfra.pipeline._deployed(state) == {"ceph": True, "hdfs": False, "slurm-accounting": False}


# -- preview -------------------------------------------------------------------------------------------


def test_preview_of_a_never_applied_stack_without_hosts(
    stack: Stack, state: StateDir, ansible: FakeAnsible
) -> None:
    # The real lab provider: this state dir has no nodes, so every host is missing.
    record = preview(stack, state)
    assert record.first_up is True
    assert record.hosts_missing == HOSTS
    assert record.plan_changes == [] and record.files == []  # nothing applied to compare against
    assert record.check is None and ansible.calls == []  # check mode cannot reach missing hosts
    assert record.changes is True
    assert record.to_dict()["first_up"] is True and record.to_dict()["check"] is None
    assert not state.path.exists()  # preview changes nothing, not even the state dir


def test_preview_of_a_never_applied_stack_runs_check_mode_on_running_hosts(
    stack: Stack, state: StateDir, site: FakeSite, ansible: FakeAnsible
) -> None:
    ansible.record = run_record("site.yml", check=True)
    record = preview(stack, state)
    assert record.first_up is True and record.hosts_missing == []
    assert record.plan_changes == [] and record.files == []
    assert record.check is ansible.record and record.changes is True  # never applied: up would run
    [call] = ansible.calls
    assert call["playbook"] == "site.yml" and call["check"] is True and call["diff"] is True
    assert call["inventory"] == state.path / "preview" / "inventory" / "hosts.yml"
    assert call["ssh_key"] == Path("/nonexistent/ssh_ed25519")
    # Check mode ran against the preview render; what `up` deployed (and its record) is untouched.
    assert call["inventory"].exists()
    assert not state.build.exists() and not state.applied_plan.exists()


FAILURE = TaskFailure("node-002", "ceph packages", "ceph", "No package matching 'ceph-mon' is available")


def test_preview_reports_a_failed_check_run(
    stack: Stack, state: StateDir, plan: Plan, site: FakeSite, ansible: FakeAnsible
) -> None:
    applied(state, plan)
    ansible.record = run_record("site.yml", failures=(FAILURE,), check=True)
    record = preview(stack, state)
    assert record.first_up is False and record.plan_changes == [] and record.files == []
    assert record.check is not None and record.check.ok is False
    assert record.changes is True  # a check run that failed is not "no changes"
    assert record.to_dict()["check"]["failures"][0]["host"] == "node-002"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.delenv("DCINFRA_DEBUG", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("DCINFRA_STATE_DIR", str(tmp_path / "state"))
    return CliRunner()


def test_cli_preview_exits_1_naming_the_failed_check(
    runner: CliRunner, state: StateDir, plan: Plan, site: FakeSite, ansible: FakeAnsible
) -> None:
    applied(state, plan)
    ansible.record = run_record("site.yml", failures=(FAILURE,), check=True)
    result = runner.invoke(app, ["preview", str(LAB)], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert "node-002 | ceph : ceph packages | No package matching 'ceph-mon' is available" in result.stdout
    assert "site.yml: failed (check mode: nothing was changed)" in result.stdout
    assert "artifacts: /state/runs/20240101T000000Z-x" in result.stdout
    # --json: the record, with the failed check, and still exit 1 (also with --expect-no-changes,
    # whose exit 2 means "would change", not "could not tell").
    for extra in ([], ["--expect-no-changes"]):
        result = runner.invoke(app, ["preview", str(LAB), "--json", *extra], catch_exceptions=False)
        assert result.exit_code == 1, result.output
        doc = json.loads(result.stdout)
        assert doc["check"]["ok"] is False and doc["check"]["failures"][0]["host"] == "node-002"
    # A clean check run of an applied stack: exit 0 and "no changes".
    ansible.record = run_record("site.yml", check=True)
    result = runner.invoke(app, ["preview", str(LAB), "--expect-no-changes"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "✓ no changes" in result.stdout


def test_cli_preview_exits_1_when_ansible_cannot_run(
    runner: CliRunner, site: FakeSite, ansible: FakeAnsible
) -> None:
    ansible.raises = AnsibleEngineError("ansible-playbook could not start: ansible-core is not installed")
    result = runner.invoke(app, ["preview", str(LAB)], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert "ansible-core is not installed" in result.stderr
    assert "Traceback" not in result.output


# -- destroy --destroy-data ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failures", "error", "named"),
    [
        ((TaskFailure("node-003", "zap OSD devices", "ceph", "wipefs: device busy"),), "", "wipefs: device"),
        ((), "the run timed out after 600 s", "the run timed out after 600 s"),
    ],
    ids=["task-failed", "run-failed"],
)
def test_destroy_stops_when_removing_the_storage_fails(
    stack: Stack,
    state: StateDir,
    plan: Plan,
    site: FakeSite,
    ansible: FakeAnsible,
    failures: tuple[TaskFailure, ...],
    error: str,
    named: str,
) -> None:
    applied(state, plan)
    artifacts = str(state.runs / "20240101T000000Z-x" / "artifacts" / "20240101T000000Z-x")
    ansible.record = run_record("destroy_storage.yml", failures=failures, error=error, artifacts=artifacts)
    with pytest.raises(DcinfraError) as info:
        destroy(stack, state, destroy_data=True)
    message = str(info.value)
    assert "removing the storage data failed" in message and named in message
    assert "nothing was torn down" in message and f"(artifacts: {artifacts})" in message
    [call] = ansible.calls
    assert call["playbook"] == "destroy_storage.yml"
    assert call["limit"] == ",".join(HOSTS)
    assert call["extravars"]["dcinfra_destroy_data"] is True
    # Nothing torn down: the site is untouched and the state that says what holds data is kept.
    assert site.torn_down == 0
    assert state.applied_plan.exists() and state.build.exists()
    assert dcinfra.pipeline._deployed(state)["ceph"] is True
    # The lock was released: once the storage goes, a second destroy proceeds.
    ansible.record = run_record("destroy_storage.yml")
    record = destroy(stack, state, destroy_data=True)
    assert site.torn_down == 1 and record.teardown.kept == ()
    assert not state.applied_plan.exists() and not state.build.exists()


def test_destroy_without_destroy_data_touches_nothing(
    stack: Stack, state: StateDir, plan: Plan, site: FakeSite, ansible: FakeAnsible
) -> None:
    applied(state, plan)
    with pytest.raises(dcinfra.pipeline.DataProtected, match=r"holds data in ceph; .* --destroy-data"):
        destroy(stack, state)
    assert ansible.calls == [] and site.torn_down == 0 and state.applied_plan.exists()


@pytest.mark.parametrize(
    "down",
    [
        {"node-002": "stopped"},
        {"node-001": "unreachable", "node-003": "missing"},
        dict.fromkeys(HOSTS, "missing"),
    ],
    ids=["one-down", "two-down", "all-down"],
)
def test_destroy_keeps_the_storage_data_of_hosts_that_are_down(
    stack: Stack, state: StateDir, plan: Plan, site: FakeSite, ansible: FakeAnsible, down: dict[str, str]
) -> None:
    applied(state, plan)
    site.states = down
    ansible.record = run_record("destroy_storage.yml")
    record = destroy(stack, state, destroy_data=True)
    reachable = [h for h in HOSTS if h not in down]
    if reachable:
        [call] = ansible.calls
        assert call["playbook"] == "destroy_storage.yml" and call["limit"] == ",".join(reachable)
    else:
        assert ansible.calls == []  # nobody to run it on
    kept = [k for k in record.teardown.kept if "storage data" in k]
    assert kept == [f"{h}: storage data not removed (host not reachable)" for h in sorted(down)]
    assert record.to_dict()["kept"] == kept
    # The rest proceeds: the site is torn down and the stack's state removed.
    assert site.torn_down == 1
    assert record.to_dict()["removed"][:3] == [f"netns dcinfra-lab-{h}" for h in HOSTS]
    assert str(state.applied_plan) in record.removed_state and not state.applied_plan.exists()


def test_cli_destroy_json_names_the_kept_storage_data(
    runner: CliRunner, state: StateDir, plan: Plan, site: FakeSite, ansible: FakeAnsible
) -> None:
    applied(state, plan)
    site.states = {"node-002": "unreachable"}
    ansible.record = run_record("destroy_storage.yml")
    result = runner.invoke(
        app, ["destroy", str(LAB), "--yes", "--destroy-data", "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["kept"] == ["node-002: storage data not removed (host not reachable)"]


def test_cli_destroy_tells_a_person_what_it_kept(
    runner: CliRunner, state: StateDir, plan: Plan, site: FakeSite, ansible: FakeAnsible
) -> None:
    applied(state, plan)
    site.states = {"node-002": "unreachable"}
    ansible.record = run_record("destroy_storage.yml")
    result = runner.invoke(app, ["destroy", str(LAB), "--yes", "--destroy-data"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "node-002: storage data not removed (host not reachable)" in result.output
