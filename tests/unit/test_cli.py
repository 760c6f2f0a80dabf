"""The command line, through typer's CliRunner (and one real subprocess for tracebacks)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner, Result

import dcinfra
from dcinfra.cli import app, args, views

REPO = Path(__file__).resolve().parents[2]
LAB = str(REPO / "stacks" / "lab.py")
H100_SU = str(REPO / "stacks" / "h100_su.py")
SUPERPOD = str(REPO / "stacks" / "superpod.py")

# A stack with two independent problems: an unknown GPU and a compute fabric inside the management network.
BROKEN = textwrap.dedent(
    """
    from dcinfra import Compute, ComputeFabric, Fabric, Hardware, LabSite, Network, NodePool, Stack

    stack = Stack(
        name="broken",
        site=LabSite(),
        compute=Compute(
            pools=[NodePool(name="node", count=2, hardware=Hardware(profile="lab-cpu", gpu="h100-sxn"))]
        ),
        fabric=Fabric(
            management=Network(cidr="172.31.0.0/16"),
            compute=ComputeFabric(kind="ethernet", switch="lab-bridge", cidr="172.31.251.0/24"),
        ),
    )
    """
).lstrip()


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("DCINFRA_DEBUG", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at this width; wide enough for whole lines
    return CliRunner()


def invoke(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(app, list(args), catch_exceptions=False)


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def broken(tmp_path: Path) -> str:
    path = tmp_path / "broken.py"
    path.write_text(BROKEN)
    return str(path)


# -- validate ---------------------------------------------------------------------------------------


def test_validate_lab(runner: CliRunner) -> None:
    result = invoke(runner, "validate", LAB)
    assert result.exit_code == 0, result.output
    assert "✓ stack 'lab' is valid: 3 hosts, 1 pool, 1 rack" in result.stdout
    assert result.stderr == ""


def test_validate_lab_json(runner: CliRunner) -> None:
    assert as_json(invoke(runner, "validate", LAB, "--json")) == {"valid": True, "problems": []}


@pytest.mark.parametrize("stack", [H100_SU, SUPERPOD])
def test_validate_reference_stacks(runner: CliRunner, stack: str) -> None:
    assert invoke(runner, "validate", stack).exit_code == 0


def test_validate_broken_lists_every_problem(runner: CliRunner, broken: str) -> None:
    result = invoke(runner, "validate", broken)
    assert result.exit_code == 1
    out = result.stdout
    assert f"stack 'broken' ({broken}):" in out
    assert "compute.pools[0].hardware.gpu" in out
    assert "'h100-sxn'" in out
    assert "did you mean 'h100-sxm'" in out
    assert "overlap" in out.lower()
    assert "problems found" in out


def test_validate_broken_json(runner: CliRunner, broken: str) -> None:
    result = invoke(runner, "validate", broken, "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["valid"] is False
    problems = data["problems"]
    assert len(problems) >= 2
    for p in problems:
        assert set(p) == {"rule", "path", "message", "hint", "severity"}
        assert p["severity"] == "error"
    assert any(p["path"] == "compute.pools[0].hardware.gpu" and "h100-sxn" in p["message"] for p in problems)
    assert any("overlap" in p["message"].lower() for p in problems)


def test_validate_model_error_reports_file_and_line(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "bad.py"
    path.write_text("from dcinfra import Rack\n\nracks = [Rack(name='r01', power_budget_kw=-1)]\n")
    result = invoke(runner, "validate", str(path))
    assert result.exit_code == 1
    assert f"{path}:3: 1 problem found" in result.stdout
    assert "Rack.power_budget_kw" in result.stdout
    data = json.loads(invoke(runner, "validate", str(path), "--json").stdout)
    assert data["valid"] is False
    assert data["problems"][0]["path"] == "Rack.power_budget_kw"


# -- errors -----------------------------------------------------------------------------------------


def test_error_without_traceback(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "nope.py"
    result = invoke(runner, "plan", str(missing))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: stack file ")
    assert "not found" in result.stderr
    assert "Traceback" not in result.output


def test_config_typo_is_an_error(runner: CliRunner) -> None:
    result = invoke(runner, "plan", LAB, "--config", "node=5")
    assert result.exit_code == 1
    assert "--config node" in result.stderr
    assert "it reads: light_nodes, nodes, storage" in result.stderr


def test_config_malformed(runner: CliRunner) -> None:
    result = invoke(runner, "validate", LAB, "-c", "nodes")
    assert result.exit_code == 1
    assert "expected key=value" in result.stderr


def test_config_value_is_used(runner: CliRunner) -> None:
    data = as_json(invoke(runner, "plan", LAB, "-c", "nodes=5", "--json"))
    assert len(data["hosts"]) == 5


def test_invalid_stack_on_plan_goes_to_stderr(runner: CliRunner, broken: str) -> None:
    result = invoke(runner, "plan", broken)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "h100-sxn" in result.stderr


def test_invalid_stack_on_plan_json_is_an_error_document(runner: CliRunner, broken: str) -> None:
    result = invoke(runner, "plan", broken, "--json")
    assert result.exit_code == 1
    assert "h100-sxn" in result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "StackInvalid" and error["exit_code"] == 1
    assert any(p["path"] == "compute.pools[0].hardware.gpu" for p in error["problems"])


def test_unexpected_exception_is_an_internal_error(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(args, "load_stack", boom)
    result = invoke(runner, "plan", LAB)
    assert result.exit_code == 1
    assert "internal error: RuntimeError: boom" in result.stderr
    assert "DCINFRA_DEBUG=1" in result.stderr
    assert "Traceback" not in result.output


def test_debug_reraises(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCINFRA_DEBUG", "1")
    result = runner.invoke(app, ["plan", str(tmp_path / "nope.py")])
    assert result.exit_code == 1
    assert isinstance(result.exception, dcinfra.errors.StackLoadError)


def _run_module(*args: str, debug: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DCINFRA_DEBUG"}
    if debug:
        env["DCINFRA_DEBUG"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "dcinfra", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
    )


def test_debug_shows_a_traceback_in_a_real_process(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.py")
    quiet = _run_module("validate", missing, debug=False)
    assert quiet.returncode == 1
    assert "Traceback" not in quiet.stderr
    assert "error: stack file" in quiet.stderr
    loud = _run_module("validate", missing, debug=True)
    assert loud.returncode == 1
    assert "Traceback (most recent call last)" in loud.stderr
    assert "dcinfra.errors.StackLoadError" in loud.stderr


def test_usage_errors_exit_2(runner: CliRunner) -> None:
    assert runner.invoke(app, ["plan"]).exit_code == 2  # missing STACK
    assert runner.invoke(app, ["plan", LAB, "--no-such-flag"]).exit_code == 2
    assert runner.invoke(app, ["no-such-command"]).exit_code == 2
    assert runner.invoke(app, ["render", LAB]).exit_code == 2  # --out is required


def test_help_documents_exit_codes(runner: CliRunner) -> None:
    result = invoke(runner, "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "Exit codes: 0 success; 1 invalid stack or error" in text
    assert "2 usage error, or `preview --expect-no-changes` found changes" in text
    assert "3 `verify` (or the verification at the end of `up`) ran but missed a threshold" in text
    assert "reserved" not in text
    for command in ("validate", "plan", "render", "schema", "catalog", "up", "preview", "destroy", "verify"):
        assert command in text


def test_version(runner: CliRunner) -> None:
    result = invoke(runner, "--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"dcinfra {dcinfra.__version__}"


# -- plan -------------------------------------------------------------------------------------------


def test_plan_json_shape(runner: CliRunner) -> None:
    data = as_json(invoke(runner, "plan", H100_SU, "--json"))
    assert data["stack"] == "h100-su"
    for key in ("hosts", "racks", "networks", "fabric", "storage", "security", "verify", "versions"):
        assert key in data, key
    assert len(data["hosts"]) == 41
    for host in data["hosts"]:
        assert {"name", "pool", "roles", "rack", "addresses"} <= set(host)
        assert isinstance(host["roles"], list)
        assert "management" in host["addresses"]
    gpu = next(h for h in data["hosts"] if h["name"] == "gpu-001")
    assert gpu["pool"] == "gpu" and gpu["rack"] == "r01" and "compute" in gpu["roles"]
    fabric = data["fabric"]
    assert fabric["tiers"] == 2
    assert set(fabric["switches"]) == {"leaf", "spine", "core"}
    assert set(fabric["cables"]) == {"node_leaf", "leaf_spine", "spine_core"}
    assert fabric["expected"]["intra_node_busbw_GBps"] > 0
    assert fabric["expected"]["inter_node_busbw_GBps"] > 0
    assert "cabling" not in fabric
    for rack in data["racks"]:
        assert {"name", "power_kw", "budget_kw"} <= set(rack)
    assert set(data["storage"]) == {"ceph", "hdfs"}
    assert len(data["storage"]["ceph"]["mons"]) == 3
    assert data["storage"]["hdfs"]["namenode"] == "stor-001"
    assert data["security"]["flows"]


def test_plan_json_is_deterministic(runner: CliRunner) -> None:
    first = invoke(runner, "plan", H100_SU, "--json").stdout
    assert first == invoke(runner, "plan", H100_SU, "--json").stdout
    assert list(json.loads(first)) == sorted(json.loads(first))


def test_plan_json_cabling(runner: CliRunner) -> None:
    fabric = as_json(invoke(runner, "plan", H100_SU, "--json", "--cabling"))["fabric"]
    cables = fabric["cabling"]
    assert len(cables) == sum(fabric["cables"].values())
    assert {c["tier"] for c in cables} == {"node_leaf", "leaf_spine"}
    assert sum(c["tier"] == "node_leaf" for c in cables) == fabric["cables"]["node_leaf"]


# NVIDIA DGX SuperPOD reference architecture (DGX H100, QM9700, rail-optimized, non-blocking):
# 4 SUs (127/128 nodes): 32 leaf + 16 spine switches, 1,024 node-leaf and 1,024 leaf-spine cables;
# 16 SUs (512 nodes) is three tiers: 128 leaf + 128 spine + 64 core, 4,096 cables per tier.
@pytest.mark.parametrize(
    ("su_count", "tiers", "switches", "cables"),
    [
        (1, 2, (8, 4, 0), (256, 256, 0)),
        (4, 2, (32, 16, 0), (1024, 1024, 0)),
        (16, 3, (128, 128, 64), (4096, 4096, 4096)),
    ],
)
def test_superpod_switch_and_cable_counts(
    runner: CliRunner, su_count: int, tiers: int, switches: tuple[int, int, int], cables: tuple[int, int, int]
) -> None:
    data = as_json(invoke(runner, "plan", SUPERPOD, "--config", f"su_count={su_count}", "--json"))
    fabric = data["fabric"]
    assert len(data["hosts"]) == 32 * su_count
    assert fabric["scalable_units"] == su_count
    assert fabric["tiers"] == tiers
    assert (fabric["switches"]["leaf"], fabric["switches"]["spine"], fabric["switches"]["core"]) == switches
    got = (fabric["cables"]["node_leaf"], fabric["cables"]["leaf_spine"], fabric["cables"]["spine_core"])
    assert got == cables


def test_plan_summary_lab(runner: CliRunner) -> None:
    result = invoke(runner, "plan", LAB)
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in ("Plan for stack 'lab'", "node-001", "172.31.250.10", "Racks", "Networks", "Compute fabric",
                 "Ceph", "rbd", "Security", "bench-rendezvous", "allowed", "GB/s"):  # fmt: skip
        assert text in out, text
    assert result.stderr == ""


def test_plan_summary_h100_su(runner: CliRunner) -> None:
    out = invoke(runner, "plan", H100_SU).stdout
    for text in ("256 GPUs", "HDFS", "namenode", "stor-001", "replication", "inter-node busbw", "360.0 GB/s"):
        assert text in out, text


def test_plan_summary_stays_compact_for_thousands_of_hosts(runner: CliRunner) -> None:
    result = invoke(runner, "plan", SUPERPOD, "-c", "su_count=64")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "2,048 hosts" in out and "16,384 GPUs" in out
    assert "dgx-0001" in out and "dgx-2048" in out
    assert "dgx-1024" not in out
    assert "… 2,043 more" in out
    assert len(out.splitlines()) < 120


def test_plan_summary_of_a_stack_without_verification_shows_no_thresholds(load: Any) -> None:
    from dcinfra.plan import compile_plan

    plan = compile_plan(load("lab"))
    assert plan.verify is not None
    off = dataclasses.replace(plan, verify=dataclasses.replace(plan.verify, enabled=False))
    console = Console(width=200, record=True)
    console.print(views.render_plan_summary(off))
    text = console.export_text()
    assert "disabled (VerifySettings(enabled=False))" in text
    assert "thresholds" not in text and "busbw ≥" not in text


def test_plan_summary_flags_racks_over_budget(load: Any) -> None:
    from dcinfra.plan import compile_plan

    plan = compile_plan(load("h100_su"))
    first = plan.racks[0]
    over = dataclasses.replace(first, power_kw=first.budget_kw + 5)
    doctored = dataclasses.replace(plan, racks=(over, *plan.racks[1:]))
    console = Console(width=200, record=True)
    console.print(views.render_plan_summary(doctored))
    text = console.export_text()
    assert "1 over budget" in text
    assert "OVER BUDGET" in text


# -- render -----------------------------------------------------------------------------------------


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_render_writes_files_byte_identically(runner: CliRunner, tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    result = invoke(runner, "render", H100_SU, "--out", str(first))
    assert result.exit_code == 0, result.output
    assert "rendered" in result.stdout and str(first) in result.stdout
    assert "files/<host>/etc/nftables.conf" in result.stdout
    assert invoke(runner, "render", H100_SU, "--out", str(second)).exit_code == 0
    a, b = _tree(first), _tree(second)
    assert len(a) > 10
    assert a == b
    assert invoke(runner, "render", H100_SU, "--out", str(first)).exit_code == 0
    assert _tree(first) == a


def test_render_json_lists_written_files(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "out"
    data = as_json(invoke(runner, "render", LAB, "--out", str(out), "--json"))
    assert data["out"] == str(out)
    files = data["files"]
    assert files == sorted(files)
    assert "inventory/hosts.yml" in files
    for rel in files:
        assert (out / rel).is_file(), rel


# -- schema and catalog -----------------------------------------------------------------------------


def test_schema(runner: CliRunner) -> None:
    schema = as_json(invoke(runner, "schema"))
    assert schema == json.loads(json.dumps(dcinfra.Stack.model_json_schema()))
    assert schema["title"] == "Stack"


def test_catalog_json(runner: CliRunner) -> None:
    data = as_json(invoke(runner, "catalog", "--json"))
    assert set(data) == {"gpus", "nics", "switches", "node_profiles", "versions"}
    assert data["gpus"]["h100-sxm"]["bf16_dense_tflops"] == 989.5
    assert data["switches"]["qm9700"]["radix"] == 64
    for table in ("gpus", "nics", "switches", "node_profiles"):
        for name, entry in data[table].items():
            assert entry["source"].startswith("https://"), name
    assert "pacific" in data["versions"]["ceph_releases"]


def test_catalog_table(runner: CliRunner) -> None:
    out = invoke(runner, "catalog").stdout
    for text in ("h100-sxm", "connectx-7-ndr", "qm9700", "dgx-h100", "sources:", "https://", "CUDA"):
        assert text in out, text


# -- the README's examples work ---------------------------------------------------------------------


def _readme_stack() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("```python\n") + len("```python\n")
    return text[start : text.index("```", start)]


def test_readme_stack_example_is_valid(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "site_a.py"
    path.write_text(_readme_stack())
    result = invoke(runner, "validate", str(path))
    assert result.exit_code == 0, result.output
    assert "✓ stack 'site-a' is valid: 11 hosts, 2 pools, 3 racks" in result.stdout
    assert "19 hosts" in invoke(runner, "validate", str(path), "-c", "racks=4").stdout


def test_readme_broken_example(runner: CliRunner, tmp_path: Path) -> None:
    source = _readme_stack()
    for old, new in (
        ('switch="qm9700"', 'switch="qm9770"'),
        ('pools=["stor"], count=3)', 'pools=["stor"], count=2)'),
        ('CephPool(name="rbd")', 'CephPool(name="rbd", size=4)'),
    ):
        assert old in source
        source = source.replace(old, new)
    path = tmp_path / "site_a.py"
    path.write_text(source)
    data = json.loads(invoke(runner, "validate", str(path), "--json").stdout)
    assert [p["path"] for p in data["problems"]] == [
        "fabric.compute.switch",
        "storage.ceph.mons",
        "storage.ceph.pools[0].size",
    ]
