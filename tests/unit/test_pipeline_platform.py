"""The pipeline's platform stage (a stack with ``platform=Platform(kubernetes=...)``) inside up, preview and
destroy, with the real Pulumi adapter and SDK over the fake Pulumi CLI of test_platform_engine.py. Only what
needs root or real hosts is stubbed: the site provider (``provider_for``) and the Ansible runs
(``_configure``, ``run_playbook``), which return a successful RunRecord. Asserted: up runs the platform
after configure and records it; a platform failure names the stage, leaves the applied plan recorded and
the stack lock free; preview includes the platform preview and ``changes`` follows it; destroy runs the
platform first, refuses data-bearing storage before touching it, and keeps protected platform resources
unless destroy_data."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dcinfra import pipeline
from dcinfra.config import Config
from dcinfra.engines import pulumi as engine
from dcinfra.engines.ansible import HostResult, RunRecord
from dcinfra.loader import load_stack
from dcinfra.model.stack import Stack
from dcinfra.model.storage import Storage
from dcinfra.plan import compile_plan
from dcinfra.plan.types import Plan, to_jsonable
from dcinfra.platform import build_objects
from dcinfra.platform.program import resource_name
from dcinfra.sites import HostsRecord, HostStatus, Progress, TeardownRecord
from dcinfra.state import StateDir
from tests.fixtures.platform.stacks import ROOT, with_platform
from tests.unit.test_platform_engine import HOLDER, FakePulumi


@dataclass
class Site:
    """What happened, in order: site steps, Ansible runs, Pulumi commands (``pulumi <command>``)."""

    events: list[str] = field(default_factory=list)
    applied_at_platform: list[bool] = field(default_factory=list)  # applied plan present at each pulumi up

    def step(self, message: str) -> None:
        self.events.append(f"step {message}")

    def pulumi(self) -> list[str]:
        return [e for e in self.events if e.startswith("pulumi ")]


class FakeProvider:
    """A site whose hosts all exist and answer SSH (no root, no real hosts)."""

    def __init__(self, plan: Plan, state: StateDir, site: Site) -> None:
        self.plan = plan
        self.site = site

    def prerequisites(self) -> list[str]:
        return []

    def provision(self, progress: Progress) -> HostsRecord:
        self.site.events.append("provision")
        return HostsRecord(self.plan.site.provider, tuple(self.status()))

    def status(self) -> list[HostStatus]:
        return [HostStatus(h.name, "reachable", h.addresses["management"]) for h in self.plan.hosts]

    def teardown(self, progress: Progress) -> TeardownRecord:
        self.site.events.append("teardown")
        return TeardownRecord(removed=tuple(h.name for h in self.plan.hosts))

    def site_problems(self) -> list[Any]:
        return []

    def ssh_identity(self) -> str:
        return ""

    def orphans(self) -> list[str]:
        return []

    def remove(self, hosts: list[str], progress: Progress) -> TeardownRecord:
        raise AssertionError("these paths remove no host")


def ok_run(playbook: str, hosts: list[str], *, check: bool) -> RunRecord:
    return RunRecord(
        id="20250923T132131Z-test",
        playbook=playbook,
        status="successful",
        rc=0,
        hosts={h: HostResult(h, ok=12, changed=0, failed=0, unreachable=0, skipped=0) for h in hosts},
        failures=[],
        changes=[],
        artifacts_dir="/nonexistent/artifacts",
        duration_s=0.5,
        check=check,
    )


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch) -> Site:
    site = Site()

    def configure(
        plan: Plan,
        state: StateDir,
        hosts: HostsRecord,
        build: Path,
        progress: Any,
        *,
        check: bool,
        limit: str | None = None,
    ) -> RunRecord:
        site.events.append("check" if check else "configure")
        assert (build / "inventory" / "hosts.yml").is_file()  # rendered before Ansible runs
        return ok_run("site.yml", [h.name for h in plan.hosts], check=check)

    def run_playbook(playbook: Path, inventory: Path, **kwargs: Any) -> RunRecord:
        site.events.append(f"playbook {Path(playbook).name}")
        return ok_run(str(playbook), kwargs.get("limit", "").split(","), check=False)

    monkeypatch.setattr(pipeline, "provider_for", lambda plan, state: FakeProvider(plan, state, site))
    monkeypatch.setattr(pipeline, "_configure", configure)
    monkeypatch.setattr(pipeline, "run_playbook", run_playbook)
    return site


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site: Site) -> FakePulumi:
    # the pipeline passes no env: the adapter reads the process environment, so clear what a developer's
    # shell may set (the state dir backend and the generated passphrase file apply)
    for var in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"):
        monkeypatch.delenv(var, raising=False)
    fake = FakePulumi()
    fake.install(monkeypatch, tmp_path)
    fake.on_command = lambda args: site.events.append(f"pulumi {fake._command(args)}")
    return fake


@pytest.fixture(scope="module")
def h100() -> Stack:
    """stacks/h100_su.py as it is: a platform, Ceph and HDFS on bare metal."""
    return load_stack(ROOT / "stacks" / "h100_su.py", Config({}))


def state_of(tmp_path: Path, stack: Stack) -> StateDir:
    return StateDir(tmp_path / ".dcinfra" / stack.name)


def backend(state: StateDir) -> str:
    return f"file://{state.path / 'pulumi'}"


def platform_items(stack: Stack) -> tuple[Any, ...]:
    pp = compile_plan(stack).platform
    assert pp is not None
    return build_objects(pp)


def resources(cli: FakePulumi, state: StateDir, stack: str) -> dict[str, dict[str, Any]]:
    return cli.stacks[(backend(state), stack)].resources


def test_up_runs_the_platform_after_configure_and_records_it(
    tmp_path: Path, h100: Stack, site: Site, cli: FakePulumi
) -> None:
    state = state_of(tmp_path, h100)
    cli.on_command = lambda args: (
        site.events.append(f"pulumi {cli._command(args)}"),
        site.applied_at_platform.append(state.applied_plan.exists()),
    )
    record = pipeline.up(h100, state, steps=site, run_verify=False)

    events = site.events
    assert events.index("configure") < events.index("step platform (Pulumi)") < events.index("pulumi up")
    assert events[:3] == ["provision", "step rendering", "configure"]
    assert all(site.applied_at_platform)  # the host layers are recorded before the platform starts
    items = platform_items(h100)
    assert cli.programs[-1]["items"] == items
    platform = record.platform
    assert isinstance(platform, engine.PlatformRecord)
    assert (platform.operation, platform.stack, platform.result) == ("up", "h100-su", "succeeded")
    assert platform.changes == {"create": len(items) + 2} and platform.outputs == {"objects": len(items)}
    assert platform.backend_url == backend(state)
    as_json = record.to_dict()["platform"]
    assert as_json["changed"] is True and as_json["changes"] == {"create": len(items) + 2}

    again = pipeline.up(h100, state, steps=site, run_verify=False)
    assert again.platform.changes == {"same": len(items) + 2} and not again.platform.changed


@pytest.mark.parametrize("failure", ["lock held", "program error", "no CLI"])
def test_platform_failure_in_up(
    tmp_path: Path, h100: Stack, site: Site, cli: FakePulumi, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    state = state_of(tmp_path, h100)
    path = os.environ["PATH"]  # the fake CLI's first
    if failure == "lock held":
        cli.lock_holder = HOLDER
    elif failure == "program error":
        cli.fail["up"] = ("error: python inline source runtime error: boom\nValueError: boom", "")
    else:
        monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(engine.PulumiEngineError) as e:
        pipeline.up(h100, state, steps=site, run_verify=False)
    message = str(e.value)
    assert message.startswith("platform: ")  # names the stage that failed
    assert {
        "lock held": f"locked by {HOLDER}",
        "program error": "ValueError: boom",
        "no CLI": "is not on PATH",
    }[failure] in message
    # The hosts were configured: the applied plan and the storage marker say so, as the pipeline writes
    # them before the platform stage (the next up redoes only what is left, the platform).
    assert "configure" in site.events
    applied = json.loads(state.applied_plan.read_text())
    assert applied["plan"] == json.loads(json.dumps(to_jsonable(compile_plan(h100))))
    assert applied["deployed"] == {"ceph": True, "hdfs": True, "slurm-accounting": True}
    # and the stack lock is free: the next up runs (no StaleLock) and finishes the platform
    cli.lock_holder = ""
    cli.fail.clear()
    monkeypatch.setenv("PATH", path)
    record = pipeline.up(h100, state, steps=site, run_verify=False)
    assert record.platform is not None and record.platform.result == "succeeded"


def test_preview_includes_the_platform(tmp_path: Path, h100: Stack, site: Site, cli: FakePulumi) -> None:
    state = state_of(tmp_path, h100)
    items = platform_items(h100)
    first = pipeline.preview(h100, state)
    assert first.platform is not None and first.platform.operation == "preview"
    assert first.platform.changes == {"create": len(items) + 2} and first.changes
    assert "up" not in [a[0] for a in cli.commands]  # a preview changes nothing

    pipeline.up(h100, state, steps=site, run_verify=False)
    quiet = pipeline.preview(h100, state)
    assert quiet.platform is not None and not quiet.platform.changed
    assert not quiet.changes and quiet.to_dict()["platform"]["changed"] is False

    # Someone removed an object from the platform stack behind dcinfra's back: only the platform differs,
    # and that alone makes the preview report changes.
    urn, gone = next((u, r) for u, r in resources(cli, state, "h100-su").items() if "Namespace" in r["type"])
    del resources(cli, state, "h100-su")[urn]
    drifted = pipeline.preview(h100, state)
    assert (drifted.plan_changes, drifted.files, drifted.hosts_missing) == ([], [], [])
    assert drifted.check is not None and drifted.check.changed_total == 0
    assert drifted.platform is not None and drifted.platform.changes == {"create": 1, "same": len(items) + 1}
    assert drifted.changes and drifted.to_dict()["changes"] is True
    assert gone["type"] == "kubernetes:core/v1:Namespace"

    cli.fail["preview"] = ("", "error: configured Kubernetes cluster is unreachable")
    with pytest.raises(
        engine.PulumiEngineError, match=r"^platform: pulumi preview of stack 'h100-su' failed"
    ):
        pipeline.preview(h100, state)


def test_destroy_runs_the_platform_first(tmp_path: Path, h100: Stack, site: Site, cli: FakePulumi) -> None:
    state = state_of(tmp_path, h100)
    pipeline.up(h100, state, steps=site, run_verify=False)
    assert resources(cli, state, "h100-su")

    # Ceph and HDFS hold data: without destroy_data nothing is touched, the platform included.
    before = len(cli.commands)
    with pytest.raises(pipeline.DataProtected):
        pipeline.destroy(h100, state, steps=site)
    assert cli.commands[before:] == [] and resources(cli, state, "h100-su")

    site.events.clear()
    pipeline.destroy(h100, state, destroy_data=True, steps=site)
    events = site.events
    assert events.index("pulumi destroy") < events.index("playbook destroy_storage.yml")
    assert events.index("pulumi destroy") < events.index("teardown")
    # the platform's data-bearing objects go too: protection lifted in the state, then one destroy
    assert site.pulumi() == [
        "pulumi stack select",
        "pulumi state unprotect",
        "pulumi destroy",
        "pulumi stack history",
    ]
    assert "--exclude-protected" not in cli.ran("destroy")[-1]
    assert resources(cli, state, "h100-su") == {}
    assert not state.applied_plan.exists()


def storage_free_platform() -> Stack:
    """The lab with a platform, no host storage and no Slurm accounting database: destroy needs no
    --destroy-data for the hosts."""
    stack = with_platform("lab", storage="none")
    return type(stack).model_validate(
        {**stack.model_dump(), "storage": Storage().model_dump(), "scheduler": None}
    )


def test_destroy_keeps_protected_platform_resources_unless_destroy_data(
    tmp_path: Path, site: Site, cli: FakePulumi
) -> None:
    stack = storage_free_platform()
    state = state_of(tmp_path, stack)
    plan = compile_plan(stack)
    assert plan.ceph is None and plan.hdfs is None and plan.platform is not None
    items = build_objects(plan.platform)
    protected = {resource_name(i) for i in items if i.data_bearing}
    assert protected == {"training"}

    pipeline.up(stack, state, steps=site, run_verify=False)
    site.events.clear()
    record = pipeline.destroy(stack, state, steps=site)
    assert site.events.index("pulumi destroy") < site.events.index("teardown")
    # what stayed is reported, by name, with how to remove it
    assert [k for k in record.teardown.kept if k.startswith("platform resource")] == [
        "platform resource training (data-bearing, protected; --destroy-data removes it)"
    ]
    assert record.to_dict()["platform"]["operation"] == "destroy"
    assert "--exclude-protected" in cli.ran("destroy")[-1] and cli.ran("state unprotect") == []
    left = resources(cli, state, "lab")
    assert {u.rsplit("::", 1)[-1] for u, r in left.items() if r.get("protect")} == protected
    assert len(left) == len(protected) + 2  # with the provider and the stack they need

    # later, with destroy_data: the kept objects go, and nothing is created again on the way
    ups = len(cli.ran("up"))
    pipeline.destroy(stack, state, destroy_data=True, steps=site)
    assert len(cli.ran("up")) == ups and len(cli.ran("state unprotect")) == 1
    assert resources(cli, state, "lab") == {}
