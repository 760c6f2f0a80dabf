"""examples/ci: the GitOps repository workflow runs validate -> preview --expect-no-changes on pull
requests -> up on merge, never two platform operations at once; the Argo CD Application is valid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.fixtures.platform.schemas import validate

CI = Path(__file__).resolve().parents[2] / "examples" / "ci"


def workflow() -> dict[Any, Any]:
    doc = yaml.safe_load((CI / "platform-gitops.yml").read_text())
    assert isinstance(doc, dict)
    return doc


def runs(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_triggers_and_concurrency() -> None:
    wf = workflow()
    triggers = wf[True]  # YAML 1.1 reads the key `on` as a boolean
    assert set(triggers) == {"pull_request", "push"}
    assert triggers["push"]["branches"] == ["main"]
    assert wf["concurrency"]["cancel-in-progress"] is False


def test_validate_then_preview_on_pull_requests_then_up_on_merge() -> None:
    jobs = workflow()["jobs"]
    assert list(jobs) == ["validate", "preview", "up"]
    validate_runs = runs(jobs["validate"])
    assert any(r.startswith('dcinfra validate "$STACK"') for r in validate_runs)
    assert any("--gitops" in r and "git diff --exit-code" in r for r in validate_runs)

    preview = jobs["preview"]
    assert preview["needs"] == "validate" and preview["if"] == "github.event_name == 'pull_request'"
    preview_runs = runs(preview)
    drift = [r for r in preview_runs if "--expect-no-changes" in r]
    assert len(drift) == 1 and drift[0].startswith('dcinfra preview "$STACK"')
    # the drift check runs on the base commit, the change preview on the head commit
    refs = [s["with"]["ref"] for s in preview["steps"] if s.get("uses", "").startswith("actions/checkout")]
    assert refs == ["${{ github.event.pull_request.base.sha }}", "${{ github.event.pull_request.head.sha }}"]

    up = jobs["up"]
    assert up["needs"] == "validate" and "refs/heads/main" in up["if"]
    up_runs = runs(up)
    assert up_runs[-2].startswith('dcinfra up "$STACK"') and "--yes" in up_runs[-2]
    assert "--expect-no-changes" in up_runs[-1]


def test_secrets_come_from_the_ci_secret_store() -> None:
    env = workflow()["env"]
    assert env["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"
    assert env["PULUMI_BACKEND_URL"] == "${{ secrets.PULUMI_BACKEND_URL }}"


def test_argocd_application_is_valid() -> None:
    doc = yaml.safe_load((CI / "argocd-application.yaml").read_text())
    assert validate(doc, "1.31") == "shipped"
    assert doc["spec"]["source"]["path"] == "gitops"
