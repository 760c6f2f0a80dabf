"""The verify stage, controller side: run the verify playbook on the provisioned hosts and turn what
the nodes measured into a :class:`~dcinfra.verify.report.VerifyReport` against the plan.

Input: the Plan and the state dir (its ``build/`` inventory from ``up``). Output: a
:class:`VerifyRecord` (the report, the files saved under ``reports/<time>/``, the playbook run).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dcinfra.engines.ansible import ProgressSink, RunRecord, run_playbook
from dcinfra.engines.playbooks import playbook
from dcinfra.errors import DcinfraError
from dcinfra.plan.types import Plan, to_jsonable
from dcinfra.state import StateDir

if TYPE_CHECKING:
    from dcinfra.verify.slurm_job import SlurmJob


@dataclass(frozen=True, slots=True)
class VerifyRecord:
    """What ``verify`` measured and where the report went."""

    report: Any  # dcinfra.verify.report.VerifyReport (imported lazily: torch-free CLI start)
    files: dict[str, Path]  # "json", "table", "plot" -> path under reports/<time>/
    run: RunRecord  # the verify playbook run


def _attribute(measured: dict[str, Any], results: Path, first_rank: dict[str, int]) -> dict[str, Any]:
    """Name the nodes whose launcher died when the bench could not say so itself.

    Rank 0 names a dead or hung peer when it can; when a node's torchrun itself is killed (or dies
    before the rendezvous), no rank reports and the others only time out waiting. The verify
    playbook keeps each node's exit status: a launcher killed by a signal (negative rc) is the culprit,
    the ones that timed out waiting for it are not.
    """
    if not measured.get("error"):
        return measured
    dead: list[tuple[str, str]] = []
    for path in sorted(results.glob("rc-*.json")):
        try:
            rc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        code = rc.get("rc")
        tail = str(rc.get("stderr_tail", ""))
        if isinstance(code, int) and code < 0:
            dead.append((str(rc.get("host")), f"torchrun on {rc.get('host')} was killed by signal {-code}"))
        elif "SIGKILL" in tail or "exitcode  : -" in tail:
            # torchrun reports a worker that died by a signal ("Signal 9 (SIGKILL) received by PID ...")
            dead.append(
                (str(rc.get("host")), f"a benchmark worker on {rc.get('host')} was killed by a signal")
            )
        elif not rc.get("finished", 1):
            dead.append((str(rc.get("host")), f"torchrun on {rc.get('host')} did not finish in time"))
    if not dead:
        return measured
    error = dict(measured["error"])
    culprits = [{"rank": first_rank.get(host, 0), "node": host, "reason": why} for host, why in dead]
    # "rank 0 never wrote its result" is a consequence of the dead node, not a cause of its own.
    if error.get("kind") != "launch":
        culprits += [c for c in error.get("culprits", []) if c.get("node") not in dict(dead)]
    error["culprits"] = culprits
    error["message"] = "; ".join(why for _, why in dead) + f" ({error.get('message', '')})"
    error["node"] = dead[0][0]
    return {**measured, "error": error}


def _bench_python(plan: Plan) -> str:
    # Hosts that share the controller's root (the lab's overlays) run its Python, which has torch;
    # other hosts run the venv the bench_env role created.
    return sys.executable if plan.site.bench_python == "controller" else "/opt/dcinfra/bench/bin/python"


def _job_vars(job: SlurmJob | None) -> dict[str, Any] | None:
    """What the verify_bench role needs of a :class:`~dcinfra.verify.slurm_job.SlurmJob`."""
    if job is None:
        return None
    return {
        "submit_host": job.submit_host,
        "batch_script": job.batch_script,
        "batch_path": job.batch_path,
        "node_script": job.node_script,
        "node_path": job.node_path,
        "output": job.output,
        "wait_s": job.wait_s,
        "submit_argv": list(job.submit_argv),
        "record_argv": list(job.record_argv),
    }


def _slurm_outcome(
    job: SlurmJob, measured: dict[str, Any], results: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report's scheduler section from what the role kept, and ``measured`` with the job's failure
    in its error when the job did not complete."""
    from dcinfra.verify.slurm_job import scheduler_section, with_job_error

    try:
        run: dict[str, Any] = json.loads((results / "slurm-job.json").read_text())
    except (OSError, ValueError) as exc:
        run = {"submit_rc": None, "submit_stderr": f"no record of the submission ({exc})"}
    tails = [p.read_text(errors="replace") for p in sorted(results.glob("slurm-output-*.txt"))]
    run["output_tail"] = "".join(t for t in tails if t.strip())
    section = scheduler_section(job, run)
    return with_job_error(measured, section, run), section


def run_verify(plan: Plan, state: StateDir, *, ssh_key: str, progress: ProgressSink) -> VerifyRecord:
    """Run the smoke benchmark on the provisioned compute hosts (the verify playbook: iperf3 pairs,
    torchrun on every compute host, then the storage checks when the plan has Ceph) and compare what
    it measured with the plan. ``ssh_key``: the site's identity ("" : the SSH agent)."""
    from dcinfra.verify import (
        LinkPair,
        bench_launches,
        declared_facts,
        iperf3_command,
        job_timeout_s,
        load_measured,
        load_storage,
        parse_iperf3,
        report_for_plan,
        ring_pairs,
        save_report,
        storage_bounds_s,
        storage_budget_s,
    )
    from dcinfra.verify.launch import BENCH_DIR, BENCH_SOURCE, WORK_DIR
    from dcinfra.verify.slurm_job import slurm_job

    if plan.verify is None:
        raise DcinfraError(f"stack {plan.stack!r} has no compute hosts: nothing to verify")
    inventory = state.build / "inventory" / "hosts.yml"
    if not inventory.exists():
        raise DcinfraError(
            f"stack {plan.stack!r} has not been brought up here (no {inventory}); run `dcinfra up`"
        )
    v = plan.verify
    stage = state.path / "verify"
    if stage.exists():
        shutil.rmtree(stage)
    (stage / "results").mkdir(parents=True, mode=0o700)
    shutil.copytree(BENCH_SOURCE, stage / "bench", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    launches = bench_launches(plan, python=_bench_python(plan))
    # With Slurm in the plan the benchmark runs as a batch job; None: the direct launch.
    job = slurm_job(plan, launches, work_dir=WORK_DIR)
    addresses = {h.name: h.addresses.get("compute", h.addresses["management"]) for h in plan.hosts}
    pairs = [
        {"src": s, "dst": d, "dst_address": addresses[d], "client": iperf3_command(addresses[d])}
        for s, d in ring_pairs(v.hosts)
    ]
    variables = {
        "verify_bench_dir": BENCH_DIR,
        "verify_bench_work_dir": WORK_DIR,
        "verify_bench_master": v.master,
        "verify_bench_declared": declared_facts(plan),
        "verify_bench_launch": {x.host: {"argv": list(x.argv), "env": x.env} for x in launches},
        "verify_bench_pairs": pairs,
        "verify_bench_job_timeout_s": job_timeout_s(v),
        "verify_bench_slurm": _job_vars(job),
        # The storage checks (roles/verify_storage): null without Ceph, and the role does nothing.
        "verify_storage_plan": to_jsonable(v.storage),
        "verify_storage_bounds_s": storage_bounds_s(v.storage) if v.storage else {},
    }
    # JSON is YAML: the vars file Ansible reads, written once per run.
    (stage / "vars.yml").write_text(json.dumps(variables, indent=2, sort_keys=True) + "\n")
    run = run_playbook(
        playbook("verify.yml"),
        inventory,
        runs_dir=state.runs,
        ssh_key=Path(ssh_key) if ssh_key else None,
        ssh_user=plan.ssh_user,
        extravars={"dcinfra_verify_dir": str(stage)},
        forks=len(plan.hosts),
        timeout_s=(job.wait_s if job else job_timeout_s(v))
        + 60 * (len(pairs) + 2)
        + storage_budget_s(v.storage),
        progress=progress,
    )
    if not run.ok:
        raise DcinfraError(
            f"the verify playbook failed: {run.first_failure} (artifacts: {run.artifacts_dir})"
        )
    # Each node's first global rank: torchrun numbers ranks node by node.
    first_rank: dict[str, int] = {}
    for x in launches:
        nproc = next((int(a.split("=", 1)[1]) for a in x.argv if a.startswith("--nproc-per-node=")), 1)
        first_rank[x.host] = x.node_rank * nproc
    bench = load_measured(stage / "results" / "bench.json", master=v.master)
    measured = _attribute(bench, stage / "results", first_rank)
    scheduler = None
    if job is not None:
        measured, scheduler = _slurm_outcome(job, measured, stage / "results")
    link = []
    missing: list[tuple[str, str, str]] = []
    for p in pairs:
        path = stage / "results" / f"iperf3-{p['src']}-{p['dst']}.json"
        try:
            link.append(LinkPair(str(p["src"]), str(p["dst"]), parse_iperf3(path.read_text())))
        except OSError as exc:  # the pair never wrote its result: an error in the report, not a pass
            missing.append((str(p["src"]), str(p["dst"]), f"no result file ({exc.strerror or exc})"))
        except ValueError as exc:
            missing.append((str(p["src"]), str(p["dst"]), f"unreadable iperf3 output: {exc}"))
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    storage = load_storage(stage / "results") if v.storage is not None else None
    report = report_for_plan(
        plan,
        measured,
        created_at=created,
        link=link,
        link_missing=missing,
        storage=storage,
        scheduler=scheduler,
    )
    files = save_report(report, state.path / "reports" / created.replace(":", ""))
    return VerifyRecord(report, files, run)
