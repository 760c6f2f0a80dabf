"""The ``--json`` contract: every command with ``--json`` prints exactly one JSON document on stdout,
when it succeeds and when it fails (``json.loads`` rejects a second document or a line of text).

Nothing here needs root or touches the machine: failures come from a lab stack without the lab
prerequisites, a stale lock, a missing ``--yes`` or ``verify`` before ``up``; the pipeline stages that
would change the machine are replaced by fakes that return their records.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner, Result

import dcinfra.pipeline
import dcinfra.sites.lab
from dcinfra.cli import app
from dcinfra.engines.ansible import RunRecord
from dcinfra.pipeline import ConfigureFailed, DestroyRecord, UpRecord
from dcinfra.sites import HostsRecord, HostStatus, TeardownRecord

REPO = Path(__file__).resolve().parents[2]
LAB = str(REPO / "stacks" / "lab.py")
H100_SU = str(REPO / "stacks" / "h100_su.py")  # a bare-metal stack with a Kubernetes platform

BROKEN = textwrap.dedent(
    """
    from dcinfra import Compute, Fabric, Hardware, LabSite, Network, NodePool, Stack

    pool = NodePool(name="node", count=2, hardware=Hardware(profile="lab-cpu", gpu="h100-sxn"))
    stack = Stack(
        name="broken",
        site=LabSite(),
        compute=Compute(pools=[pool]),
        fabric=Fabric(management=Network(cidr="172.31.0.0/16")),
    )
    """
).lstrip()


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.delenv("DCINFRA_DEBUG", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("DCINFRA_STATE_DIR", str(tmp_path / "state"))
    return CliRunner()


@pytest.fixture
def no_lab(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine cannot run lab nodes (not root), and nothing may create one."""
    monkeypatch.setattr(dcinfra.sites.lab.os, "geteuid", lambda: 1000)

    def provision(*args: object, **kwargs: object) -> None:
        pytest.fail("a unit test reached Lab.provision")

    monkeypatch.setattr(dcinfra.sites.lab.Lab, "provision", provision)


def one_document(result: Result, exit_code: int) -> Any:
    """The single JSON document on stdout (json.loads fails on text before it or a second one)."""
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def error_of(result: Result, exit_code: int = 1) -> dict[str, Any]:
    """The error document of a failed command: stdout says what stderr says."""
    doc = one_document(result, exit_code)
    assert doc["ok"] is False
    error: dict[str, Any] = doc["error"]
    assert error["exit_code"] == exit_code
    if error["type"] != "StackInvalid":  # stderr lists the problems instead of the message
        assert error["message"] in result.stderr
    return error


def invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=False)


def stale_lock(state_root: Path, stack: str, command: str) -> None:
    """A lock left behind by a ``command`` that was killed."""
    lock = state_root / stack / "lock"
    lock.parent.mkdir(parents=True)
    holder = {"pid": 999_999_999, "host": "gone", "command": command, "since": "2024-01-01T00:00:00Z"}
    lock.write_text(json.dumps(holder))


def run_record(status: str = "successful") -> RunRecord:
    return RunRecord(
        id="20240101T000000Z-test",
        playbook="playbooks/site.yml",
        status=status,
        rc=0 if status == "successful" else 2,
        hosts={},
        failures=[],
        changes=[],
        artifacts_dir="",
        duration_s=0.0,
        check=False,
        error="" if status == "successful" else "a task failed",
    )


# -- validate, plan, render, schema, catalog ---------------------------------------------------------


@pytest.fixture
def broken(tmp_path: Path) -> str:
    path = tmp_path / "broken.py"
    path.write_text(BROKEN)
    return str(path)


def test_validate(runner: CliRunner, broken: str, tmp_path: Path) -> None:
    assert one_document(invoke(runner, "validate", LAB, "--json"), 0) == {"valid": True, "problems": []}
    assert one_document(invoke(runner, "validate", broken, "--json"), 1)["valid"] is False
    error = error_of(invoke(runner, "validate", str(tmp_path / "nope.py"), "--json"))
    assert error["type"] == "StackLoadError"
    assert error_of(invoke(runner, "validate", LAB, "-c", "node=5", "--json"))["type"] == "ConfigError"


def test_plan(runner: CliRunner, broken: str) -> None:
    assert one_document(invoke(runner, "plan", LAB, "--json"), 0)["stack"] == "lab"
    error = error_of(invoke(runner, "plan", broken, "--json"))
    assert error["type"] == "StackInvalid"
    assert "compute.pools[0].hardware.gpu" in [p["path"] for p in error["problems"]]


def test_render_out_and_gitops_is_one_document(runner: CliRunner, tmp_path: Path) -> None:
    out, gitops = tmp_path / "out", tmp_path / "gitops"
    doc = one_document(
        invoke(runner, "render", H100_SU, "--out", str(out), "--gitops", str(gitops), "--json"), 0
    )
    assert doc["out"] == str(out) and "inventory/hosts.yml" in doc["files"]
    assert doc["gitops"]["dir"] == str(gitops) and doc["gitops"]["helm_as"] == "argocd"
    assert doc["gitops"]["files"][-1] == "kustomization.yaml" and doc["gitops"]["removed"] == []
    assert sorted(p.name for p in gitops.iterdir()) == sorted(doc["gitops"]["files"])
    only = one_document(invoke(runner, "render", H100_SU, "--gitops", str(gitops), "--json"), 0)
    assert set(only) == {"gitops"} and only["gitops"]["files"] == doc["gitops"]["files"]


def test_render_out_and_gitops_for_people(runner: CliRunner, tmp_path: Path) -> None:
    result = invoke(runner, "render", H100_SU, "--out", str(tmp_path / "o"), "--gitops", str(tmp_path / "g"))
    assert result.exit_code == 0, result.output
    assert f"manifests to {tmp_path / 'g'} (Helm as argocd); removed 0 stale" in result.stdout
    assert "files/<host>/etc/nftables.conf" in result.stdout
    assert f"into {tmp_path / 'o'}" in result.stdout


def test_render_failures(runner: CliRunner, tmp_path: Path) -> None:
    # The lab stack declares no platform: --gitops is an error, and nothing follows it on stdout.
    error = error_of(
        invoke(runner, "render", LAB, "--out", str(tmp_path / "o"), "--gitops", str(tmp_path / "g"), "--json")
    )
    assert "declares no Kubernetes platform" in error["message"]
    assert error_of(invoke(runner, "render", LAB, "--json"), 2)["type"] == "UsageError"
    assert error_of(invoke(runner, "render", LAB, "--out", "x", "--helm-as", "helm", "--json"), 2)[
        "type"
    ] == ("UsageError")


def test_schema_and_catalog(runner: CliRunner) -> None:
    assert one_document(invoke(runner, "schema"), 0)["title"] == "Stack"
    assert "gpus" in one_document(invoke(runner, "catalog", "--json"), 0)


def test_internal_error_is_a_document(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("dcinfra.cli.args.load_stack", boom)
    error = error_of(invoke(runner, "plan", LAB, "--json"))
    assert error == {"type": "InternalError", "message": "RuntimeError: boom", "exit_code": 1}


# -- up, preview, destroy, verify, lab status ---------------------------------------------------------


def test_up_without_the_lab_prerequisites(runner: CliRunner, no_lab: None) -> None:
    error = error_of(invoke(runner, "up", LAB, "--yes", "--json"))
    assert error["type"] == "PrerequisitesMissing"
    assert "run dcinfra as root" in error["message"]


def test_up_needs_yes_without_a_terminal(runner: CliRunner, no_lab: None) -> None:
    error = error_of(invoke(runner, "up", LAB, "--json"))
    assert "pass --yes" in error["message"]


def test_up_on_a_stale_lock(runner: CliRunner, tmp_path: Path, no_lab: None) -> None:
    stale_lock(tmp_path / "state", "lab", "up")
    assert error_of(invoke(runner, "up", LAB, "--yes", "--json"))["type"] == "StaleLock"


def test_up_configure_failed_is_one_document(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    def up(*args: object, **kwargs: object) -> UpRecord:
        raise ConfigureFailed(run_record("failed"))

    monkeypatch.setattr(dcinfra.pipeline, "up", up)
    result = invoke(runner, "up", LAB, "--yes", "--json")
    doc = one_document(result, 1)
    assert doc["ok"] is False and doc["configure"]["status"] == "failed"
    assert "configure failed" in result.stderr


def test_up_succeeds(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    hosts = HostsRecord("lab", (HostStatus("node-001", "running", "172.31.250.10"),), created=("node-001",))
    monkeypatch.setattr(dcinfra.pipeline, "up", lambda *a, **k: UpRecord("lab", hosts, run_record()))
    doc = one_document(invoke(runner, "up", LAB, "--yes", "--json", "--skip-verify"), 0)
    assert doc["ok"] is True and doc["created"] == ["node-001"] and doc["verify"] is None
    result = invoke(runner, "up", LAB, "--yes", "--skip-verify")
    assert "✓ stack 'lab' is up: created 1, repaired 0 hosts; 0 task(s) changed" in result.stdout


def test_preview(runner: CliRunner) -> None:
    # Never applied, no lab nodes: a result, not an error; with --expect-no-changes it exits 2.
    doc = one_document(invoke(runner, "preview", LAB, "--json"), 0)
    assert doc["first_up"] is True and doc["hosts_missing"] == ["node-001", "node-002", "node-003"]
    assert one_document(invoke(runner, "preview", LAB, "--json", "--expect-no-changes"), 2)["changes"] is True
    assert error_of(invoke(runner, "preview", LAB, "-c", "nodes=many", "--json"))["type"] == "ConfigError"


def test_destroy(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "pass --yes" in error_of(invoke(runner, "destroy", LAB, "--json"))["message"]
    record = DestroyRecord("lab", TeardownRecord(("netns dcinfra-lab-node-001",)), [])
    monkeypatch.setattr(dcinfra.pipeline, "destroy", lambda *a, **k: record)
    doc = one_document(invoke(runner, "destroy", LAB, "--yes", "--json"), 0)
    assert doc == {"stack": "lab", "removed": ["netns dcinfra-lab-node-001"], "kept": [], "platform": None}


def test_destroy_on_a_stale_lock(runner: CliRunner, tmp_path: Path) -> None:
    stale_lock(tmp_path / "state", "lab", "destroy")
    assert error_of(invoke(runner, "destroy", LAB, "--yes", "--json"))["type"] == "StaleLock"


def test_verify_before_up(runner: CliRunner) -> None:
    error = error_of(invoke(runner, "verify", LAB, "--json"))
    assert "has not been brought up here" in error["message"] and "`dcinfra up`" in error["message"]


def test_verify_missed_a_threshold_is_one_document(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = SimpleNamespace(exit_code=3, to_json=lambda: {"stack": "lab", "passed": False, "exit_code": 3})
    record = SimpleNamespace(report=report, files={"json": Path("reports/x/report.json")})
    monkeypatch.setattr(dcinfra.pipeline, "verify", lambda *a, **k: record)
    assert one_document(invoke(runner, "verify", LAB, "--json"), 3)["passed"] is False


def test_verify_force_unlock_takes_a_stale_lock_over(runner: CliRunner, tmp_path: Path) -> None:
    stale_lock(tmp_path / "state", "lab", "verify")
    stale = invoke(runner, "verify", LAB, "--json")
    assert error_of(stale)["type"] == "StaleLock"
    assert "rerun with --force-unlock" in stale.stderr
    # Taken over, verify goes on to its next check (nothing was brought up here).
    taken = invoke(runner, "verify", LAB, "--json", "--force-unlock")
    assert "has not been brought up here" in error_of(taken)["message"]
    # ...and releases the lock it took: the next run sees no stale lock.
    assert "has not been brought up here" in error_of(invoke(runner, "verify", LAB, "--json"))["message"]


def test_lab_status(runner: CliRunner) -> None:
    nodes = one_document(invoke(runner, "lab", "status", LAB, "--json"), 0)
    assert [n["name"] for n in nodes] == ["node-001", "node-002", "node-003"]
    assert {n["state"] for n in nodes} <= {"missing", "stopped"}  # nothing runs from this state dir
    assert "is not a lab stack" in error_of(invoke(runner, "lab", "status", H100_SU, "--json"))["message"]
