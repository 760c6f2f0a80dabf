"""The Automation API adapter: state dir backend and its override, passphrase handling, the missing-CLI
and concurrent-update errors, typed records from preview/up/destroy (with a stand-in stack), and -
marked, only where the `pulumi` CLI is on PATH - a real up in render-to-directory mode compared with the
GitOps output, then preview --expect-no-changes, then destroy."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from pulumi import automation as auto

from dcinfra.engines import pulumi as engine
from dcinfra.platform import K8sObject, build_objects, plan_platform
from dcinfra.platform.gitops import render_gitops
from dcinfra.platform.objects import Item
from dcinfra.state import StateDir
from tests.fixtures.platform.stacks import BENCH_IMAGE, plan_of, reference, with_platform

needs_cli = pytest.mark.skipif(shutil.which("pulumi") is None, reason="needs the pulumi CLI on PATH")

LOCKED = (
    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or "
    "delete the lock file with `pulumi cancel`.\n"
    "  file:///srv/.dcinfra/h100-su/pulumi/.pulumi/locks/organization/h100-su/h100-su/0b6a.json: "
    "created by ops@deploy-01 (pid 4242) at 2025-09-23T13:21:31Z\n"
)


@pytest.fixture
def state(tmp_path: Path) -> StateDir:
    return StateDir(tmp_path / ".dcinfra" / "h100-su")


def h100_items() -> tuple[Item, ...]:
    stack = reference("h100_su")
    pp = plan_platform(stack, plan_of(stack))
    assert pp is not None
    return build_objects(pp)


def test_default_backend_and_generated_passphrase(state: StateDir) -> None:
    settings, env = engine.settings_for("h100-su", state, env={})
    assert settings.project == settings.stack == "h100-su"
    assert settings.backend_url == f"file://{state.path / 'pulumi'}"
    assert env["PULUMI_BACKEND_URL"] == settings.backend_url
    assert settings.work_dir == state.path / "pulumi" / "workspace" and settings.work_dir.is_dir()
    assert stat.S_IMODE((state.path / "pulumi").stat().st_mode) == 0o700
    secret = state.path / "secrets" / engine.PASSPHRASE_FILE
    assert env["PULUMI_CONFIG_PASSPHRASE_FILE"] == str(secret)
    assert "PULUMI_CONFIG_PASSPHRASE" not in env  # the value never travels in the environment
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    first = secret.read_text()
    assert len(first.strip()) >= 32
    engine.settings_for("h100-su", state, env={})
    assert secret.read_text() == first  # generated once, then reused


def test_env_overrides(state: StateDir) -> None:
    settings, env = engine.settings_for(
        "h100-su",
        state,
        env={
            "PULUMI_BACKEND_URL": "s3://key:secret@dc-state/pulumi?region=x",
            "PULUMI_CONFIG_PASSPHRASE": "pw",
        },
    )
    assert env["PULUMI_BACKEND_URL"] == "s3://key:secret@dc-state/pulumi?region=x"  # the CLI needs it whole
    assert settings.backend_url == "s3://dc-state/pulumi"  # records never carry credentials
    assert env["PULUMI_CONFIG_PASSPHRASE"] == "pw" and settings.passphrase_from == "PULUMI_CONFIG_PASSPHRASE"
    assert not (state.path / "secrets" / engine.PASSPHRASE_FILE).exists()


def test_passphrase_file_readable_by_others_is_refused(state: StateDir) -> None:
    engine.settings_for("h100-su", state, env={})
    secret = state.path / "secrets" / engine.PASSPHRASE_FILE
    secret.chmod(0o644)
    with pytest.raises(engine.PulumiEngineError, match="chmod 600"):
        engine.settings_for("h100-su", state, env={})


def test_missing_cli_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    called = []
    monkeypatch.setattr(auto.PulumiCommand, "install", classmethod(lambda cls, **kw: called.append(kw)))
    with pytest.raises(engine.PulumiCliMissing) as e:
        engine.pulumi_command(install_cli=False)
    assert "not on PATH" in str(e.value)
    assert "--install-pulumi" in str(e.value) and "get.pulumi.com" in str(e.value)
    assert called == []  # never downloads without the flag
    engine.pulumi_command(install_cli=True)
    assert called == [{}]


def test_preview_without_cli_is_a_clear_error(state: StateDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    target = engine.Target("h100-su", h100_items(), state)
    with pytest.raises(engine.PulumiCliMissing, match="install the Pulumi CLI"):
        engine.preview(target, env={})


def test_concurrent_update_names_the_holder(state: StateDir) -> None:
    settings, _ = engine.settings_for("h100-su", state, env={})
    exc = auto.ConcurrentUpdateError(auto.CommandResult(stdout="", stderr=LOCKED, code=255))
    err = engine.map_error(exc, settings, "up")
    assert isinstance(err, engine.PulumiStackBusy)
    assert "locked by ops@deploy-01 (pid 4242) at 2025-09-23T13:21:31Z" in str(err)
    assert "pulumi cancel --stack h100-su" in str(err)
    other = engine.map_error(
        auto.CommandError(auto.CommandResult(stdout="", stderr="warning: x\nerror: boom happened\n", code=1)),
        settings,
        "preview",
    )
    assert type(other) is engine.PulumiEngineError
    assert "pulumi preview of stack 'h100-su' failed" in str(other) and "boom happened" in str(other)


@dataclass
class FakeStack:
    """Stands in for pulumi.automation.Stack: records calls, returns canned results."""

    changes: dict[str, int]
    protected: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def _summary(self) -> SimpleNamespace:
        return SimpleNamespace(result="succeeded", resource_changes=self.changes)

    def preview(self, **kwargs: Any) -> SimpleNamespace:
        self.calls.append("preview")
        return SimpleNamespace(change_summary=self.changes)

    def up(self, **kwargs: Any) -> SimpleNamespace:
        self.calls.append("up")
        return SimpleNamespace(
            summary=self._summary(), outputs={"objects": SimpleNamespace(value=3, secret=False)}
        )

    def destroy(self, **kwargs: Any) -> SimpleNamespace:
        self.calls.append(f"destroy(exclude_protected={kwargs['exclude_protected']})")
        return SimpleNamespace(summary=self._summary())

    def export_stack(self) -> SimpleNamespace:
        resources = [{"urn": f"urn:pulumi:s::p::t::{n}", "protect": True} for n in self.protected]
        return SimpleNamespace(deployment={"resources": [*resources, {"urn": "urn:x::gone"}]})


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeStack, list[dict[str, Any]]]]:
    stack = FakeStack({"create": 3, "same": 70})
    made: list[dict[str, Any]] = []

    def _stack(items: Any, settings: Any, cli_env: Any, **kwargs: Any) -> FakeStack:
        made.append(kwargs)
        return stack

    monkeypatch.setattr(engine, "_stack", _stack)
    yield stack, made


def test_records(state: StateDir, fake: tuple[FakeStack, list[dict[str, Any]]]) -> None:
    stack, made = fake
    target = engine.Target("h100-su", h100_items(), state, kubeconfig="~/.kube/h100", context="admin")
    rec = engine.preview(target, env={})
    assert rec.operation == "preview" and rec.changes == {"create": 3, "same": 70} and rec.changed
    assert rec.summary() == "preview h100-su: 3 create, 70 same"
    assert made[0]["kubeconfig"] == "~/.kube/h100" and made[0]["context"] == "admin"
    with pytest.raises(engine.PlatformDrift, match="expected no changes") as drift:
        engine.preview(target, expect_no_changes=True, env={})
    assert drift.value.exit_code == 2
    stack.changes = {"same": 73}
    assert not engine.preview(target, expect_no_changes=True, env={}).changed
    up = engine.up(target, env={})
    assert up.outputs == {"objects": 3} and up.to_dict()["changed"] is False


def test_destroy_keeps_protected_unless_destroy_data(
    state: StateDir, fake: tuple[FakeStack, list[dict[str, Any]]]
) -> None:
    stack, made = fake
    stack.changes = {"delete": 60}
    stack.protected = ["training", "ceph-rbd"]
    target = engine.Target("h100-su", h100_items(), state)
    rec = engine.destroy(target, env={})
    assert stack.calls == ["destroy(exclude_protected=True)"]
    assert rec.kept == ("ceph-rbd", "training") and "kept 2 protected" in rec.summary()
    assert made[-1]["protect"] is True
    stack.calls.clear()
    rec = engine.destroy(target, destroy_data=True, env={})
    # unprotect first (an update of state only), then destroy everything
    assert stack.calls == ["up", "destroy(exclude_protected=False)"]
    assert [m["protect"] for m in made[-2:]] == [False, False]
    assert rec.kept == ()


def test_target_for(state: StateDir) -> None:
    stack = with_platform("h100_su", kubeconfig="/k", context="c")
    target = engine.target_for(stack, plan_of(stack), state)
    assert target is not None
    assert (target.stack, target.kubeconfig, target.context) == ("h100-su", "/k", "c")
    assert engine.target_for(reference("lab"), plan_of(reference("lab")), state) is None


# --- real runs: only with the Pulumi CLI ---------------------------------------------------------------


def _rendered(directory: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    out = {}
    for path in sorted(directory.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            meta = doc.get("metadata", {})
            out[(doc["kind"], meta.get("namespace", ""), meta["name"])] = doc
    return out


def _comparable(doc: dict[str, Any]) -> dict[str, Any]:
    """What both outputs must agree on: drop what each tool adds for itself."""
    doc = yaml.safe_load(yaml.safe_dump(doc))
    meta = doc.get("metadata", {})
    for key in ("annotations", "labels"):
        entries = {
            k: v
            for k, v in meta.get(key, {}).items()
            if not k.startswith(("pulumi.com/", "argocd.argoproj.io/"))
            and k != "app.kubernetes.io/managed-by"
        }
        if entries:
            meta[key] = entries
        else:
            meta.pop(key, None)
    return dict(doc)


@needs_cli
def test_real_render_up_matches_gitops_then_no_changes_then_destroy(tmp_path: Path) -> None:
    """Helm charts are left out unless DCINFRA_TEST_HELM=1: fetching them needs network access."""
    stack = with_platform("h100_su", bench_image=BENCH_IMAGE)
    pp = plan_platform(stack, plan_of(stack))
    assert pp is not None
    items = build_objects(pp)
    if os.environ.get("DCINFRA_TEST_HELM") != "1":
        items = tuple(i for i in items if isinstance(i, K8sObject))
    state = StateDir(tmp_path / "state")
    rendered = tmp_path / "rendered"
    target = engine.Target("h100-su", items, state, render_dir=str(rendered))
    env = {**os.environ, "PULUMI_CONFIG_PASSPHRASE": "test-only"}
    env.pop("PULUMI_BACKEND_URL", None)

    up = engine.up(target, env=env)
    assert up.changes.get("create", 0) >= len(items)

    gitops = tmp_path / "gitops"
    render_gitops(items, gitops, "argocd")
    ours = {k: v for k, v in _rendered(gitops).items() if k[0] not in ("Kustomization", "Application")}
    theirs = _rendered(rendered)
    assert set(theirs) == set(ours)
    for key, doc in ours.items():
        assert _comparable(theirs[key]) == _comparable(doc), key

    assert not engine.preview(target, expect_no_changes=True, env=env).changed
    gone = engine.destroy(target, destroy_data=True, env=env)
    assert gone.changes.get("delete", 0) >= len(items) and gone.kept == ()
