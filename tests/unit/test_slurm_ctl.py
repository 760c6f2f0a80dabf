"""The Slurm role's reconciler (``playbooks/roles/slurm/files/slurm-ctl.py``): the parts that need no
cluster — what it would change in the accounts, and how it reads node states.

Against a real slurmdbd and slurmctld it runs in every lab ``up`` (a second ``up`` with changed=0 is
what proves these comparisons match what sacctmgr prints).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

HELPER = Path(__file__).resolve().parents[2] / "playbooks" / "roles" / "slurm" / "files" / "slurm-ctl.py"
RESUME = {"Not responding", "Node unexpectedly rebooted"}


@pytest.fixture(scope="module")
def ctl() -> ModuleType:
    spec = importlib.util.spec_from_file_location("slurm_ctl", HELPER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ACCOUNTS = [
    {"name": "team-a", "fairshare": 3, "grp_tres": "gres/gpu=4,node=2", "partitions": ["node"]},
    {"name": "team-b", "fairshare": 1, "grp_tres": "", "partitions": ["node"]},
]
# `sacctmgr -nP show assoc format=account,user,fairshare,qos,defaultqos` of a freshly added cluster.
FRESH = [["root", "", "1", "normal", ""], ["root", "root", "1", "normal", ""]]


def test_new_cluster_gets_every_qos_account_and_user(ctl: ModuleType) -> None:
    changes = ctl.plan_accounts("lab", ACCOUNTS, [["normal", ""]], FRESH)
    assert [what for what, _ in changes] == [
        "qos team-a added",
        "account team-a added",
        "user root added to account team-a",
        "qos team-b added",
        "account team-b added",
        "user root added to account team-b",
    ]
    args = dict(changes)
    assert args["qos team-a added"] == ["add", "qos", "team-a", "GrpTRES=gres/gpu=4,node=2"]
    assert args["qos team-b added"] == ["add", "qos", "team-b"]
    assert args["account team-a added"][:5] == ["add", "account", "team-a", "cluster=lab", "parent=root"]
    assert args["account team-a added"][-3:] == ["fairshare=3", "qos=team-a", "defaultqos=team-a"]


def test_converged_accounts_change_nothing(ctl: ModuleType) -> None:
    # sacctmgr prints TRES in its own order (node before gres/gpu): compared as sets.
    qos = [["normal", ""], ["team-a", "node=2,gres/gpu=4"], ["team-b", ""]]
    assoc = [
        *FRESH,
        ["team-a", "", "3", "team-a", "team-a"],
        ["team-a", "root", "1", "team-a", "team-a"],
        ["team-b", "", "1", "team-b", "team-b"],
        ["team-b", "root", "1", "team-b", "team-b"],
    ]
    assert ctl.plan_accounts("lab", ACCOUNTS, qos, assoc) == []


def test_changed_limits_and_fairshare_are_modified(ctl: ModuleType) -> None:
    qos = [["team-a", "node=2,gres/gpu=8"]]
    assoc = [["team-a", "", "1", "normal,team-a", "team-a"], ["team-a", "root", "1", "team-a", "team-a"]]
    want = [{"name": "team-a", "fairshare": 3, "grp_tres": "gres/gpu=4"}]
    assert ctl.plan_accounts("lab", want, qos, assoc) == [
        # node is no longer limited: -1 clears it.
        (
            "qos team-a GrpTRES gres/gpu=4",
            ["modify", "qos", "where", "name=team-a", "set", "GrpTRES=gres/gpu=4,node=-1"],
        ),
        (
            "account team-a fairshare=3 qos=team-a",
            [
                "modify",
                "account",
                "where",
                "name=team-a",
                "cluster=lab",
                "set",
                "fairshare=3",
                "qos=team-a",
                "defaultqos=team-a",
            ],
        ),
    ]


def test_node_states_once_per_node(ctl: ModuleType) -> None:
    text = "node-001|idle|none\nnode-002|drained|dcinfra-health: mount /mnt/x missing\nnode-001|idle|none\n"
    assert ctl.node_states(text) == {
        "node-001": ("idle", "none"),
        "node-002": ("drained", "dcinfra-health: mount /mnt/x missing"),
    }


@pytest.mark.parametrize(
    ("state", "reason", "verdict"),
    [
        ("idle", "none", "ok"),
        ("mixed", "none", "ok"),
        ("allocated", "none", "ok"),
        ("idle*", "none", "wait"),  # not responding (yet)
        ("unknown*", "none", "wait"),
        ("down*", "Not responding", "wait"),  # slurmd still away
        ("down", "Not responding", "resume"),  # it answers again
        ("down", "Node unexpectedly rebooted", "resume"),
        ("down", "maintenance", "stuck"),
        ("drained", "dcinfra-health: daemon munged not running", "stuck"),
        ("inval", "gres/gpu count reported lower than configured (0 < 2)", "stuck"),
        ("idle~", "none", "ok"),  # powered down by power saving: in service
    ],
)
def test_verdict(ctl: ModuleType, state: str, reason: str, verdict: str) -> None:
    assert ctl.verdict(state, reason, RESUME) == verdict


def test_describe_names_the_reason_and_where_to_look(ctl: ModuleType) -> None:
    states = {"node-002": ("drained", "dcinfra-health: x"), "node-003": ("unknown*", "none")}
    text = ctl.describe(states, ["node-002", "node-003", "node-009"])
    assert "node-002: drained (dcinfra-health: x)" in text
    assert "node-003: unknown* (slurmd not answering" in text and "/var/log/slurm/slurmd.log" in text
    assert "node-009: unknown to slurmctld" in text
