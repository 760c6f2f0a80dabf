"""Rolling changes: the Rollout model (errors with field paths), its plan and inventory form, and the
drain / resume steps of the Slurm role's reconciler (``slurm-ctl drain|resume``) against a fake
scontrol: an operator's drain is kept, a busy node is waited for, resume lifts only dcinfra's drains."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import ValidationError

from dcinfra import Rollout
from dcinfra.loader import problems_from_pydantic
from dcinfra.plan import compile_plan
from dcinfra.render.inventory import load_yaml, render_inventory
from tests.unit.test_validation import base_stack

HELPER = Path(__file__).resolve().parents[2] / "playbooks" / "roles" / "slurm" / "files" / "slurm-ctl.py"


@pytest.fixture(scope="module")
def ctl() -> ModuleType:
    spec = importlib.util.spec_from_file_location("slurm_ctl_rollout", HELPER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- model, plan, inventory ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "path", "words"),
    [
        ({"batch": 0}, "rollout.batch", "at least 1"),
        ({"batch": "25%"}, "rollout.batch", "not an integer"),
        ({"batch_percent": 101}, "rollout.batch_percent", "at most 100"),
        ({"batch": 2, "batch_percent": 25}, "rollout.batch_percent", "both given"),
        ({"max_fail_percentage": -1}, "rollout.max_fail_percentage", "at least 0"),
        ({"drain_timeout_s": True}, "rollout.drain_timeout_s", "not an integer"),
    ],
)
def test_bad_rollout_values_are_problems_at_their_path(kwargs: dict[str, Any], path: str, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        Rollout(**kwargs)
    problems = problems_from_pydantic(info.value, "rollout")
    assert [p.path for p in problems] == [path], [p.render() for p in problems]
    assert words in problems[0].message and problems[0].hint


@pytest.mark.parametrize(
    ("rollout", "serial"),
    [(Rollout(), 1), (Rollout(batch=3), 3), (Rollout(batch_percent=25), "25%")],
)
def test_rollout_reaches_the_inventory_as_play_keywords(rollout: Rollout, serial: int | str) -> None:
    stack = base_stack().model_copy(update={"rollout": rollout})
    plan = compile_plan(stack)
    assert plan.rollout.serial == serial
    data = load_yaml(render_inventory(plan)["inventory/group_vars/all.yml"])
    assert data["dcinfra_rollout"] == {
        "serial": serial,
        "max_fail_percentage": rollout.max_fail_percentage,
        "drain_timeout_s": rollout.drain_timeout_s,
        "drain_reason": "dcinfra: rolling",
    }


# --- slurm-ctl drain / resume ---------------------------------------------------------------------------


class FakeSlurm:
    """scontrol/squeue over a dict of nodes: state word (``MIXED+DRAIN``, ``IDLE*``) and reason. A
    busy node's job ends after ``busy_polls`` reads of it."""

    def __init__(self, nodes: dict[str, tuple[str, str]], busy_polls: int = 0) -> None:
        self.nodes = dict(nodes)
        self.busy_polls = busy_polls
        self.calls: list[list[str]] = []

    def run(self, argv: list[str]) -> str:
        self.calls.append(argv)
        if argv[:3] == ["scontrol", "-o", "show"]:
            name = argv[4]
            state, reason = self.nodes[name]
            if "+DRAIN" in state and state.startswith("MIXED"):
                self.busy_polls -= 1
                if self.busy_polls < 0:
                    state = state.replace("MIXED", "IDLE")
                    self.nodes[name] = (state, reason)
            tail = f" Reason={reason} [root@2024-05-01T10:00:00]" if reason else ""
            return f"NodeName={name} Arch=x86_64 State={state} Partitions=all{tail}\n"
        if argv[:2] == ["scontrol", "update"]:
            name = argv[2].split("=", 1)[1]
            state, reason = self.nodes[name]
            if argv[3] == "state=drain":
                self.nodes[name] = (state.split("+")[0] + "+DRAIN", argv[4].split("=", 1)[1])
            elif argv[3] == "state=resume":
                self.nodes[name] = (state.split("+")[0], "")
            return ""
        if argv[0] == "squeue":
            return "42@node-001\n"
        raise AssertionError(argv)


def _args(**kw: Any) -> argparse.Namespace:
    base = {"nodes": "node-001", "reason": "dcinfra: rolling restart of slurmd", "timeout": 5.0, "delay": 0.0}
    return argparse.Namespace(**{**base, "check": False, **kw})


def test_parse_node_reads_flags_responding_and_reason(ctl: ModuleType) -> None:
    text = "NodeName=n State=IDLE*+DRAIN Reason=dcinfra: rolling x [root@2024-05-01T10:00:00]"
    assert ctl.parse_node(text) == ({"IDLE", "DRAIN"}, False, "dcinfra: rolling x")
    assert ctl.parse_node("NodeName=n State=MIXED") == ({"MIXED"}, True, "")


def test_drain_waits_for_the_running_job_then_reports_drained(
    ctl: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeSlurm({"node-001": ("MIXED", "")}, busy_polls=2)
    monkeypatch.setattr(ctl, "run", fake.run)
    out = ctl.cmd_drain(_args())
    assert out["drained"] == ["node-001"] and out["kept"] == {}
    assert fake.nodes["node-001"] == ("IDLE+DRAIN", "dcinfra: rolling restart of slurmd")
    assert out["states"] == {"node-001": "DRAIN+IDLE"}


def test_drain_waits_while_a_restarted_slurmctld_does_not_know_the_node(ctl: ModuleType) -> None:
    assert not ctl.drained({"UNKNOWN", "DRAIN"})
    assert not ctl.drained({"MIXED", "DRAIN"}) and not ctl.drained({"IDLE"})
    assert ctl.drained({"IDLE", "DRAIN"}) and ctl.drained({"DOWN", "DRAIN"})


def test_drain_fails_after_its_timeout_naming_the_jobs(
    ctl: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeSlurm({"node-001": ("MIXED", "")}, busy_polls=10**9)
    monkeypatch.setattr(ctl, "run", fake.run)
    with pytest.raises(ctl.CtlError, match=r"still running jobs after 0 s.*node-001.*42@node-001"):
        ctl.cmd_drain(_args(timeout=0.0))
    assert fake.nodes["node-001"][0] == "MIXED+DRAIN"  # stays drained


def test_drain_keeps_an_operators_reason_and_check_mode_changes_nothing(
    ctl: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeSlurm({"node-001": ("IDLE+DRAIN", "bad DIMM, ticket 123"), "node-002": ("IDLE", "")})
    monkeypatch.setattr(ctl, "run", fake.run)
    out = ctl.cmd_drain(_args(nodes="node-001,node-002", check=True))
    assert out["would_drain"] == ["node-002"] and out["kept"] == {"node-001": "bad DIMM, ticket 123"}
    assert not [c for c in fake.calls if c[:2] == ["scontrol", "update"]]
    out = ctl.cmd_drain(_args(nodes="node-001,node-002"))
    assert out["drained"] == ["node-002"]
    assert fake.nodes["node-001"] == ("IDLE+DRAIN", "bad DIMM, ticket 123")


def test_resume_lifts_only_dcinfras_drains(ctl: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeSlurm(
        {
            "node-001": ("IDLE+DRAIN", "dcinfra: rolling restart of slurmd"),
            "node-002": ("IDLE+DRAIN", "bad DIMM"),
            "node-003": ("IDLE+DRAIN", "dcinfra-health: mount /mnt/x missing"),
            "node-004": ("IDLE", ""),
        }
    )
    monkeypatch.setattr(ctl, "run", fake.run)
    out = ctl.cmd_resume(_args(nodes="node-001,node-002,node-003,node-004", reason="dcinfra: rolling"))
    assert out["resumed"] == ["node-001"]
    assert out["kept"] == {"node-002": "bad DIMM", "node-003": "dcinfra-health: mount /mnt/x missing"}
    assert fake.nodes["node-001"] == ("IDLE", "") and fake.nodes["node-002"][0] == "IDLE+DRAIN"


def test_resume_refuses_a_node_that_does_not_respond(
    ctl: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeSlurm({"node-001": ("IDLE*+DRAIN", "dcinfra: rolling restart of slurmd")})
    monkeypatch.setattr(ctl, "run", fake.run)
    with pytest.raises(ctl.CtlError, match="does not respond"):
        ctl.cmd_resume(_args(reason="dcinfra: rolling", timeout=0.0))
    assert fake.nodes["node-001"][0] == "IDLE*+DRAIN"


@pytest.mark.parametrize(
    ("state", "reason", "verdict"),
    [
        ("drained", "bad DIMM, ticket 123", "held"),  # an operator's drain: kept, not a failure
        ("draining", "maintenance", "held"),
        ("drained", "dcinfra: rolling restart of slurmd", "stuck"),  # a rollout that did not finish
        ("drained", "dcinfra-health: daemon munged not running", "stuck"),
        ("down", "maintenance", "stuck"),
    ],
)
def test_the_gate_holds_an_operators_drain(ctl: ModuleType, state: str, reason: str, verdict: str) -> None:
    assert ctl.verdict(state, reason, set()) == verdict
