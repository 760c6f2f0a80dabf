"""verify as a Slurm job: the batch script and node launcher built from the plan, Slurm's record of the
job (sacct and scontrol lines as Slurm 22.05 prints them), and the report's ``scheduler`` section.

The job itself runs on the lab (tests/integration); here the node launcher is run by bash with
``echo`` in place of Python, so what each node would start is checked, not just the text.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dcinfra.plan import compile_plan
from dcinfra.plan.types import Plan
from dcinfra.verify import bench_launches, build_report, job_timeout_s, table_text
from dcinfra.verify.slurm_job import (
    JOB_NAME,
    SACCT_FIELDS,
    SlurmJob,
    parse_sacct,
    parse_scontrol_job,
    scheduler_section,
    slurm_job,
    slurm_time,
    with_job_error,
)
from tests.unit.test_verify_report import NOW, PAIRS, measured, validate, vplan

# `sacct -X -n -P -o JobID,State,ExitCode,Submit,Start,End,AllocTRES -j 1` on Slurm 22.05.8, as printed
# for the lab's 3-node verify job (1 core, 2000 MB per node; --exclusive also allocated the nodes' 2
# stand-in GPUs each, which Slurm counts as gres/gpu).
SACCT_DONE = (
    "1|COMPLETED|0:0|2026-12-03T14:35:46|2026-12-03T14:35:46|2026-12-03T14:36:40|"
    "billing=3,cpu=3,gres/gpu=6,mem=6000M,node=3\n"
)
# A GPU cluster's: 2 nodes x 8 GPUs.
SACCT_GPU = (
    "57|COMPLETED|0:0|2026-12-03T15:00:00|2026-12-03T15:00:02|2026-12-03T15:04:10|"
    "billing=448,cpu=448,gres/gpu=16,mem=4000000M,node=2\n"
)
SACCT_FAILED = (
    "43|FAILED|1:0|2025-01-01T10:05:00|2025-01-01T10:05:02|2025-01-01T10:05:40|"
    "billing=3,cpu=3,mem=6000M,node=3\n"
)
SACCT_CANCELLED = "44|CANCELLED by 0|0:0|2025-01-01T10:10:00|Unknown|2025-01-01T10:15:00|\n"
# `scontrol --oneliner show job 1` on Slurm 22.05.8 (a cluster without accounting), as printed for a
# 1-node verify job: 22.05 names the allocated TRES `TRES=` here (sacct calls them AllocTRES).
SCONTROL_DONE = (
    "JobId=1 JobName=dcinfra-verify UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901759 "
    "Nice=0 Account=(null) QOS=(null) JobState=COMPLETED Reason=None Dependency=(null) Requeue=1 "
    "Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:16 TimeLimit=00:12:00 TimeMin=N/A "
    "SubmitTime=2026-12-03T14:27:21 EligibleTime=2026-12-03T14:27:21 AccrueTime=2026-12-03T14:27:21 "
    "StartTime=2026-12-03T14:27:24 EndTime=2026-12-03T14:27:40 Deadline=N/A SuspendTime=None "
    "SecsPreSuspend=0 LastSchedEval=2026-12-03T14:27:24 Scheduler=Main Partition=node "
    "AllocNode:Sid=vnode1:0 ReqNodeList=vnode1 ExcNodeList=(null) NodeList=vnode1 BatchHost=vnode1 "
    "NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* TRES=cpu=1,mem=2000M,node=1,billing=1 "
    "Socks/Node=* NtasksPerN:B:S:C=1:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 MinTmpDiskNode=0 "
    "Features=(null) DelayBoot=00:00:00 OverSubscribe=NO Contiguous=0 Licenses=(null) Network=(null) "
    "Command=/var/lib/dcinfra/verify/dcinfra-verify.sbatch WorkDir=/var/lib/dcinfra/verify "
    "StdErr=/var/lib/dcinfra/verify/slurm-1.out StdIn=/dev/null StdOut=/var/lib/dcinfra/verify/slurm-1.out "
    "Power= \n"
)


@pytest.fixture(scope="module")
def lab(load: Callable[..., Any]) -> Plan:
    plan = compile_plan(load("lab"))
    assert plan.slurm is not None and all(n.standin for n in plan.slurm.nodes)
    return plan


@pytest.fixture(scope="module")
def gpu(load: Callable[..., Any]) -> Plan:
    plan = compile_plan(load("h100_su"))
    assert plan.slurm is not None and plan.verify is not None and plan.verify.backend == "nccl"
    return plan


def _sbatch(script: str) -> list[str]:
    return [line.removeprefix("#SBATCH ") for line in script.splitlines() if line.startswith("#SBATCH ")]


def _job(plan: Plan, **kw: Any) -> SlurmJob:
    job = slurm_job(plan, bench_launches(plan, **kw))
    assert job is not None
    return job


def test_lab_batch_script_allocates_every_verify_host_one_task_each_without_gres(lab: Plan) -> None:
    assert lab.verify is not None and lab.slurm is not None
    job = _job(lab)
    opts = _sbatch(job.batch_script)
    hosts = lab.verify.hosts
    assert f"--nodes={len(hosts)}" in opts
    assert "--ntasks-per-node=1" in opts
    assert f"--nodelist={','.join(hosts)}" in opts
    assert f"--job-name={JOB_NAME}" in opts and "--exclusive" in opts
    assert "--output=/var/lib/dcinfra/verify/slurm-%j.out" in opts
    assert f"--partition={lab.slurm.partitions[0].name}" in opts
    # The lab's GPUs are stand-ins: no device files, so nothing may ask for them.
    assert not [o for o in opts if o.startswith("--gres")] and job.gres_gpus == 0
    assert "gres" not in job.batch_script
    # The bound: the verify job's own, in whole minutes, never shorter.
    limit = next(o for o in opts if o.startswith("--time="))
    h, m, s = (int(x) for x in limit.removeprefix("--time=").split(":"))
    assert s == 0 and (h * 60 + m) * 60 >= job_timeout_s(lab.verify) > (h * 60 + m - 1) * 60
    assert job.wait_s > job.time_limit_s
    assert job.submit_host == lab.slurm.controllers[0]
    # #SBATCH lines are read only before the first command.
    body = job.batch_script.splitlines()
    first_cmd = next(i for i, line in enumerate(body) if line and not line.startswith("#"))
    assert all(not line.startswith("#SBATCH") for line in body[first_cmd:])
    srun = shlex.split(body[-1])
    assert srun[0] == "srun" and f"--ntasks={len(hosts)}" in srun and srun[-1] == job.node_path
    subprocess.run(["bash", "-n"], input=job.batch_script, text=True, check=True)


def test_gpu_batch_script_asks_for_every_gpu_of_each_node(gpu: Plan) -> None:
    assert gpu.verify is not None
    job = _job(gpu)
    per_node = gpu.host(gpu.verify.hosts[0]).gpu_count
    assert per_node == 8
    assert f"--gres=gpu:{per_node}" in _sbatch(job.batch_script)
    assert f"--nodes={len(gpu.verify.hosts)}" in _sbatch(job.batch_script)


def test_a_stack_without_slurm_keeps_the_direct_launch(load: Callable[..., Any]) -> None:
    stack = load("lab")
    plan = compile_plan(stack.model_copy(update={"scheduler": None}))
    assert plan.slurm is None and slurm_job(plan, bench_launches(plan)) is None


def _node_run(job: SlurmJob, node: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "SLURMD_NODENAME": node}
    return subprocess.run(
        ["bash", "-c", job.node_script], env=env, capture_output=True, text=True, timeout=30, check=False
    )


@pytest.mark.parametrize("plan_name", ["lab", "gpu"])
def test_each_node_runs_its_own_direct_launch_by_node_name(
    plan_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    plan: Plan = request.getfixturevalue(plan_name)
    # In place of Python: print the environment, then the torchrun arguments it was given.
    python = tmp_path / "python"
    python.write_text('#!/bin/sh\nenv\necho "$@"\n')
    python.chmod(0o755)
    launches = bench_launches(plan, python=str(python))
    job = slurm_job(plan, launches)
    assert job is not None
    for x in (launches[0], launches[-1]):
        done = _node_run(job, x.host)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        for key, value in x.env.items():
            assert f"{key}={value}" in lines
        # the last line: exactly the direct launch's argv (rank from the plan: 0 on the master)
        assert lines[-1] == " ".join(x.argv[1:])
        assert f"--node-rank={x.node_rank}" in lines[-1]
    assert launches[0].host == plan.verify.master  # type: ignore[union-attr]
    stray = _node_run(job, "not-a-node")
    assert stray.returncode == 2 and "not a verify host" in stray.stderr


def test_slurm_time_rounds_up_to_whole_minutes() -> None:
    assert slurm_time(1620) == "0:27:00"
    assert slurm_time(1621) == "0:28:00"
    assert slurm_time(5) == "0:01:00"
    assert slurm_time(3 * 3600 + 1) == "3:01:00"


def test_sacct_line_gives_queue_wait_run_time_and_tres() -> None:
    assert len(SACCT_DONE.split("|")) == len(SACCT_FIELDS)
    rec = parse_sacct(SACCT_DONE)
    assert rec is not None
    assert rec["job_id"] == "1" and rec["state"] == "COMPLETED" and rec["exit_code"] == "0:0"
    assert rec["queue_wait_s"] == 0.0 and rec["run_s"] == 54.0
    assert rec["alloc_tres"] == "billing=3,cpu=3,gres/gpu=6,mem=6000M,node=3"
    gpu = parse_sacct(SACCT_GPU)
    assert gpu is not None and gpu["queue_wait_s"] == 2.0 and gpu["run_s"] == 248.0
    cancelled = parse_sacct(SACCT_CANCELLED)
    assert cancelled is not None
    assert cancelled["state"] == "CANCELLED" and cancelled["start"] is None
    assert cancelled["queue_wait_s"] is None and cancelled["run_s"] is None
    # A requeued job has one line per run: the last one is the job.
    assert parse_sacct(SACCT_FAILED + SACCT_DONE)["state"] == "COMPLETED"  # type: ignore[index]
    assert parse_sacct("") is None and parse_sacct("sacct: error: ...\n") is None


def test_scontrol_record_without_accounting() -> None:
    rec = parse_scontrol_job(SCONTROL_DONE)
    assert rec is not None
    assert rec["job_id"] == "1" and rec["state"] == "COMPLETED" and rec["exit_code"] == "0:0"
    assert rec["queue_wait_s"] == 3.0 and rec["run_s"] == 16.0
    assert rec["alloc_tres"] == "cpu=1,mem=2000M,node=1,billing=1"
    # Slurm releases that print AllocTRES= next to ReqTRES=: the allocation, not the request
    both = SCONTROL_DONE.replace("TRES=cpu=1,", "ReqTRES=cpu=1,node=1 AllocTRES=cpu=1,")
    assert parse_scontrol_job(both)["alloc_tres"] == "cpu=1,mem=2000M,node=1,billing=1"  # type: ignore[index]
    assert parse_scontrol_job("slurm_load_jobs error: Invalid job id specified") is None


def _run(sacct: str, **over: Any) -> dict[str, Any]:
    job_id = sacct.split("|", 1)[0] if sacct else "42"
    return {
        "job_id": job_id,
        "submit_rc": 0,
        "submit_stdout": f"{job_id}\n",
        "submit_stderr": "",
        "timed_out": False,
        "pending_reason": "",
        "record": sacct,
        "output_tail": "dcinfra verify: job 43 on node-[001-003]\nTraceback ...\nRuntimeError: boom\n",
        **over,
    }


def test_a_completed_job_is_reported_and_leaves_the_result_alone(lab: Plan) -> None:
    job = _job(lab)
    run = _run(SACCT_DONE)
    section = scheduler_section(job, run)
    assert section["job_id"] == "1" and section["state"] == "COMPLETED"
    assert section["queue_wait_s"] == 0.0 and section["run_s"] == 54.0 and section["output_tail"] is None
    # the lab's stand-ins are no GPUs: kept apart from the TRES, under their own name
    assert section["alloc_tres"] == "billing=3,cpu=3,mem=6000M,node=3" and section["standin_gpus"] == 6
    m = measured()
    assert with_job_error(m, section, run) is m
    r = build_report(vplan(), m, stack="lab", created_at=NOW, link=PAIRS, scheduler=section)
    doc = r.to_json()
    validate(doc)
    assert r.exit_code == 0 and doc["scheduler"]["job_id"] == "1"
    text = " ".join(table_text(r).split())  # the caption wraps at the table's width
    assert "Slurm job 1 on partition node: COMPLETED (exit code 0:0)" in text
    assert "queue wait 0 s, run time 54 s, TRES billing=3,cpu=3,mem=6000M,node=3" in text
    assert "gres/gpu" not in text and "gres/gpu" not in json.dumps(doc)


def test_real_gpus_stay_in_the_tres(gpu: Plan) -> None:
    job = _job(gpu)
    section = scheduler_section(job, _run(SACCT_GPU))
    assert not job.standin and "standin_gpus" not in section
    assert section["alloc_tres"] == "billing=448,cpu=448,gres/gpu=16,mem=4000000M,node=2"


def test_the_direct_launch_has_a_null_scheduler_section() -> None:
    r = build_report(vplan(), measured(), stack="site", created_at=NOW, link=PAIRS)
    doc = r.to_json()
    validate(doc)
    assert doc["scheduler"] is None and "Slurm job" not in table_text(r)


def test_a_failed_job_without_a_result_is_an_error_with_its_state_and_output(lab: Plan) -> None:
    from dcinfra.verify import load_measured

    job = _job(lab)
    run = _run(SACCT_FAILED)
    section = scheduler_section(job, run)
    assert section["state"] == "FAILED" and "RuntimeError: boom" in section["output_tail"]
    missing = load_measured(Path("/nonexistent/bench.json"), master="node-001")
    m = with_job_error(missing, section, run)
    assert "Slurm job 43 ended FAILED (exit code 1:0)" in m["error"]["message"]
    assert "RuntimeError: boom" in m["error"]["message"]
    r = build_report(vplan(), m, stack="lab", created_at=NOW, link=PAIRS, scheduler=section)
    validate(r.to_json())
    assert r.exit_code == 1 and not r.passed
    assert r.attribution[0]["node"] == "node-001"
    # the job's output once, under the table; the checks say where the run stopped
    assert table_text(r).count("RuntimeError: boom") == 1
    assert {c.detail for c in r.checks if c.verdict == "error"} == {
        "not reached: the run stopped in phase 'slurm'"
    }


def test_a_failed_job_whose_bench_wrote_a_result_still_fails(lab: Plan) -> None:
    job = _job(lab)
    run = _run(SACCT_FAILED)
    section = scheduler_section(job, run)
    # rank 0 wrote a passing result, but a node's launcher failed: not a pass
    passing = build_report(vplan(), measured(), stack="lab", created_at=NOW, link=PAIRS)
    assert passing.exit_code == 0
    m = with_job_error(measured(), section, run)
    r = build_report(vplan(), m, stack="lab", created_at=NOW, link=PAIRS, scheduler=section)
    assert r.exit_code == 1 and "FAILED" in (r.error or {})["message"]
    # the bench's own diagnosis stays the message, with the Slurm state added
    hung = measured(
        error={"kind": "timeout", "phase": "collectives", "message": "rank 3 hung", "culprits": []}
    )
    m = with_job_error(hung, section, run)
    assert m["error"]["message"].startswith("rank 3 hung (Slurm job 43 ended FAILED")
    assert m["error"]["kind"] == "timeout"


def test_a_job_cancelled_at_verifys_bound_says_why_it_pended(lab: Plan) -> None:
    job = _job(lab)
    run = _run(SACCT_CANCELLED, timed_out=True, pending_reason="PENDING Resources\n", output_tail="")
    section = scheduler_section(job, run)
    assert section["state"] == "CANCELLED" and section["timed_out"]
    m = with_job_error(measured(phases=()), section, run)
    assert "still pending" in m["error"]["message"]
    assert "(squeue said: PENDING Resources)" in m["error"]["message"]
    assert m["error"]["kind"] == "timeout"


def test_sbatch_that_cannot_submit_is_an_error_with_its_message(lab: Plan) -> None:
    job = _job(lab)
    err = "sbatch: error: Batch job submission failed: Invalid account or account/partition combination"
    run = _run("", job_id="", submit_rc=1, submit_stdout="", submit_stderr=err, output_tail="")
    section = scheduler_section(job, run)
    assert section["job_id"] is None and section["state"] is None
    m = with_job_error({"phases": []}, section, run)
    assert "sbatch could not submit" in m["error"]["message"] and "Invalid account" in m["error"]["message"]
    validate(build_report(vplan(), m, stack="lab", created_at=NOW, scheduler=section).to_json())


def _fake_slurm(tmp: Path, states: list[str], sbatch: str = 'echo "7;lab"') -> dict[str, str]:
    """sbatch, squeue (one state per call, from ``states``) and sleep (instant) in a PATH dir."""
    bin_ = tmp / "bin"
    bin_.mkdir()
    (tmp / "states").write_text("".join(f"{x}\n" for x in states))
    scripts = {
        "sbatch": f'#!/bin/sh\necho "$*" > {tmp}/sbatch.args\n{sbatch}\n',
        # prints the first remaining state (an "!" prefix: print it to stderr and fail, like squeue)
        "squeue": f"""#!/bin/sh
echo "$*" >> {tmp}/squeue.args
line=$(head -n 1 {tmp}/states); sed -i 1d {tmp}/states
case "$line" in '!'*) echo "${{line#!}}" >&2; exit 1 ;; *) echo "$line" ;; esac
""",
        "sleep": "#!/bin/sh\nexit 0\n",
    }
    for name, text in scripts.items():
        (bin_ / name).write_text(text)
        (bin_ / name).chmod(0o755)
    return {"PATH": f"{bin_}:{os.environ['PATH']}"}


def _submit(job: SlurmJob, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(job.submit_argv), env=env, capture_output=True, text=True, timeout=30, check=False
    )


def test_submit_prints_the_job_id_and_returns_when_the_job_has_ended(lab: Plan, tmp_path: Path) -> None:
    job = _job(lab)
    env = _fake_slurm(tmp_path, ["PENDING", "RUNNING", "RUNNING", "COMPLETING", "FAILED", "never read"])
    done = _submit(job, env)
    assert done.returncode == 0 and done.stdout == "7\n"
    assert (tmp_path / "sbatch.args").read_text().split() == ["--parsable", job.batch_path]
    polls = (tmp_path / "squeue.args").read_text().splitlines()
    assert len(polls) == 5 and all("--jobs 7" in p and "--states=all" in p for p in polls)


def test_submit_treats_a_forgotten_job_as_ended_and_waits_through_other_errors(
    lab: Plan, tmp_path: Path
) -> None:
    job = _job(lab)
    states = [
        "RUNNING",
        "!slurm_load_jobs error: Socket timed out",
        "!slurm_load_jobs error: Invalid job id specified",
    ]
    done = _submit(job, _fake_slurm(tmp_path, states))
    assert done.returncode == 0 and done.stdout == "7\n"
    assert len((tmp_path / "squeue.args").read_text().splitlines()) == 3


def test_submit_that_sbatch_refuses_fails_with_sbatchs_error(lab: Plan, tmp_path: Path) -> None:
    job = _job(lab)
    refuse = 'echo "sbatch: error: Batch job submission failed: Invalid partition name specified" >&2; exit 1'
    done = _submit(job, _fake_slurm(tmp_path, [], sbatch=refuse))
    assert done.returncode == 1 and done.stdout == "" and "Invalid partition name" in done.stderr
    assert not (tmp_path / "squeue.args").exists()
