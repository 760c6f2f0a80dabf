"""The verify benchmark as a Slurm batch job, and what Slurm says about it afterwards. Pure.

When the plan has Slurm (``Plan.slurm``), ``dcinfra verify`` does not start torchrun on each host
itself: the verify playbook submits one batch job over the verify hosts from the first controller
(:data:`SUBMIT_AND_WAIT`: ``sbatch --parsable``, then ``squeue`` every second until the job has ended),
and ``srun`` starts one task per node, the node launcher, which runs
the same torchrun command with the same environment as the direct launch
(:func:`~dcinfra.verify.launch.bench_launches`). Stacks without a scheduler keep the direct launch.

Two files:

* the **batch script** (:attr:`SlurmJob.batch_script`, on the submit host): ``#SBATCH`` lines for the
  nodes, one task per node, the partition, ``--exclusive``, a time limit from
  :func:`~dcinfra.verify.launch.job_timeout_s`, the output file, and ``--gres=gpu:N`` on real GPU nodes
  (never for the lab's stand-in GPUs, which have no devices); then one ``srun``;
* the **node launcher** (:attr:`SlurmJob.node_script`, on every verify host): one ``case`` arm per host
  with that host's environment and torchrun command, chosen by ``$SLURMD_NODENAME``. The node rank comes
  from the plan by node name, not from ``$SLURM_NODEID``: Slurm numbers the allocation in its own node
  order, while torchrun's static rendezvous needs node rank 0 on the rendezvous host
  (``VerifyPlan.master``), and the report numbers ranks in plan order. Per-host arms also carry a
  per-host environment (interface names may differ between pools).

After the job, :func:`parse_sacct` (accounting on) or :func:`parse_scontrol_job` (accounting off) reads
Slurm's record of it, and :func:`scheduler_section` makes the report's ``scheduler`` section: job id,
state, exit code, queue wait (Start - Submit) and run time (End - Start), and the TRES allocated.
:func:`job_error` turns a job that did not complete into the report's error.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dcinfra.plan.types import Plan
from dcinfra.verify.launch import WORK_DIR, BenchLaunch, job_timeout_s

JOB_NAME = "dcinfra-verify"
BATCH_SCRIPT = "dcinfra-verify.sbatch"  # in the work dir of the submit host
NODE_SCRIPT = "dcinfra-verify-node.sh"  # in the work dir of every verify host
# How long the job may pend before verify gives up and cancels it (an idle cluster starts it at once;
# a busy one makes verify fail with the pending reason rather than wait for hours).
QUEUE_WAIT_S = 300
# Slack for the submission and the last poll, in the outer bound.
WAIT_POLL_S = 30
# Submit the batch script ($1) and return when the job has ended, whatever its state: the job id on the
# first line of stdout (sbatch's own error and exit status when it cannot submit). Not `sbatch --wait`:
# that polls the job's state after 2, 8, then every 32 s (Slurm 22.05's sbatch.c), which adds up to 32 s
# to every verify run; this polls every second. A job slurmctld has already forgotten has ended too.
SUBMIT_AND_WAIT = r"""set -u
out=$(sbatch --parsable "$1") || exit $?
id="${out%%;*}"
echo "$id"
while :; do
  if state=$(squeue --noheader --jobs "$id" --states=all --format=%T 2>&1); then
    case "$state" in
      ""|PENDING|CONFIGURING|RUNNING|COMPLETING|SUSPENDED|REQUEUED|REQUEUE_*|RESIZING|SIGNALING|STAGE_OUT) ;;
      *) exit 0 ;;
    esac
  else
    case "$state" in *"Invalid job id"*) exit 0 ;; esac
  fi
  sleep 1
done
"""
SACCT_FIELDS = ("JobID", "State", "ExitCode", "Submit", "Start", "End", "AllocTRES")
# Slurm's record of a finished job, the job id appended: sacct with accounting (one line, -P: "|"
# between fields), else slurmctld's own (it forgets a job MinJobAge after its end, 300 s by default).
SACCT_ARGV = ("sacct", "-X", "-n", "-P", "-o", ",".join(SACCT_FIELDS), "-j")
SCONTROL_ARGV = ("scontrol", "--oneliner", "show", "job")
OUTPUT_TAIL_BYTES = 2000  # of the job's output, kept for the report when the job fails


@dataclass(frozen=True, slots=True)
class SlurmJob:
    """The verify benchmark as one batch job: the scripts, where they go, and how long to wait."""

    submit_host: str  # where sbatch runs: the first slurmctld host
    partition: str  # the partition that holds every verify host
    nodes: tuple[str, ...]  # the verify hosts (--nodelist), rank order
    gres_gpus: int  # --gres=gpu:N per node; 0: none asked (CPU nodes, stand-in GPUs)
    standin: bool  # the nodes advertise stand-in GPUs (the lab): scheduling only, never reported as GPUs
    time_limit_s: int  # --time, rounded up to whole minutes (Slurm's granularity)
    wait_s: int  # outer bound of the submission and the wait: queue wait + time limit + slack
    batch_script: str  # the sbatch script (text)
    batch_path: str  # where it is written on the submit host
    node_script: str  # the launcher srun starts on every node (text)
    node_path: str  # where it is written on every verify host
    output: str  # the job's output file on its batch host (%j: the job id)
    accounting: bool  # the job's record comes from sacct (slurmdbd); else from `scontrol show job`
    submit_argv: tuple[str, ...]  # submit the batch script and wait for the job's end (SUBMIT_AND_WAIT)
    record_argv: tuple[str, ...]  # Slurm's record of the job: sacct (or scontrol), the role adds the id


def _covering_partition(plan: Plan, hosts: Sequence[str]) -> str | None:
    """The default partition when it holds every host, else the first that does; None if none does."""
    assert plan.slurm is not None
    parts = sorted(plan.slurm.partitions, key=lambda p: not p.default)
    return next((p.name for p in parts if set(hosts) <= set(p.nodes)), None)


def slurm_time(seconds: int) -> str:
    """``--time`` for ``seconds``, rounded up to a whole minute: ``1620`` -> ``"0:27:00"``."""
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes // 60}:{minutes % 60:02d}:00"


def node_script(plan: Plan, launches: Sequence[BenchLaunch]) -> str:
    """The launcher srun starts on every node: this node's environment and torchrun, by node name."""
    lines = [
        "#!/bin/bash",
        f"# dcinfra verify, stack {plan.stack}: the node side of the {JOB_NAME} Slurm job (srun runs it once",
        "# per node). Each arm is the direct launch of that host: its NCCL/gloo environment from the plan,",
        "# and torchrun with the host's node rank in plan order (rank 0 on the rendezvous host).",
        "set -euo pipefail",
        'node="${SLURMD_NODENAME:-$(hostname -s)}"',
        'case "$node" in',
    ]
    for x in launches:
        lines.append(f"  {shlex.quote(x.host)})")
        lines += [f"    export {k}={shlex.quote(v)}" for k, v in sorted(x.env.items())]
        lines.append(f"    exec {shlex.join(x.argv)}")
        lines.append("    ;;")
    lines += [
        "  *)",
        f'    echo "dcinfra verify: node $node is not a verify host of stack {plan.stack}" >&2',
        "    exit 2",
        "    ;;",
        "esac",
    ]
    return "\n".join(lines) + "\n"


def batch_script(
    plan: Plan,
    *,
    nodes: Sequence[str],
    partition: str,
    gres_gpus: int,
    time_limit_s: int,
    output: str,
    work_dir: str,
    node_path: str,
) -> str:
    """The sbatch script: the allocation in ``#SBATCH`` lines, then one srun of the node launcher."""
    n = len(nodes)
    opts = [
        f"--job-name={JOB_NAME}",
        f"--partition={partition}",
        f"--nodes={n}",
        "--ntasks-per-node=1",
        f"--nodelist={','.join(nodes)}",
        "--exclusive",
        "--mem=0",  # all of each node's memory (with --exclusive: the whole node)
        f"--time={slurm_time(time_limit_s)}",
        f"--chdir={work_dir}",
        f"--output={output}",
    ]
    if gres_gpus:
        opts.append(f"--gres=gpu:{gres_gpus}")
    srun = [
        "srun",
        f"--nodes={n}",
        f"--ntasks={n}",
        "--ntasks-per-node=1",
        # The bench bounds every phase and names a dead or hung rank itself; killing the step on the
        # first bad exit would kill rank 0 before it writes that diagnosis.
        "--kill-on-bad-exit=0",
        "--cpu-bind=none",  # torchrun's workers use every core of the node, as in the direct launch
        node_path,
    ]
    lines = [
        "#!/bin/bash",
        f"# dcinfra verify, stack {plan.stack}: the training smoke benchmark as a Slurm job.",
        "# Written by dcinfra (dcinfra/verify/slurm_job.py) for each verify run; submitted with",
        "# `sbatch --parsable` on the first controller. One task per node: srun starts the node",
        f"# launcher ({node_path}), which runs that node's torchrun.",
        *(f"#SBATCH {o}" for o in opts),
        "set -euo pipefail",
        'echo "dcinfra verify: job $SLURM_JOB_ID on $SLURM_JOB_NODELIST"',
        shlex.join(srun),
    ]
    return "\n".join(lines) + "\n"


def slurm_job(plan: Plan, launches: Sequence[BenchLaunch], *, work_dir: str = WORK_DIR) -> SlurmJob | None:
    """The verify job of ``plan``; None without Slurm (the direct launch), or when no partition holds
    every verify host (one job runs in one partition), or a verify host is not a Slurm node."""
    s, v = plan.slurm, plan.verify
    if s is None or v is None or not launches or not s.controllers:
        return None
    hosts = tuple(x.host for x in launches)
    slurm_nodes = {n.name: n for n in s.nodes}
    if not set(hosts) <= set(slurm_nodes):
        return None
    partition = _covering_partition(plan, hosts)
    if partition is None:
        return None
    # Stand-ins have no device files: asking for them would bind nothing and report GPUs that are not.
    real = [slurm_nodes[h].gpus for h in hosts if not slurm_nodes[h].standin]
    gres = min(real) if real and len(real) == len(hosts) else 0
    limit = math.ceil(job_timeout_s(v) / 60) * 60
    output = f"{work_dir}/slurm-%j.out"
    node_path = f"{work_dir}/{NODE_SCRIPT}"
    return SlurmJob(
        submit_host=s.controllers[0],
        partition=partition,
        nodes=hosts,
        gres_gpus=gres,
        standin=any(slurm_nodes[h].standin for h in hosts),
        time_limit_s=limit,
        wait_s=QUEUE_WAIT_S + limit + WAIT_POLL_S,
        batch_script=batch_script(
            plan,
            nodes=hosts,
            partition=partition,
            gres_gpus=gres,
            time_limit_s=limit,
            output=output,
            work_dir=work_dir,
            node_path=node_path,
        ),
        batch_path=f"{work_dir}/{BATCH_SCRIPT}",
        node_script=node_script(plan, launches),
        node_path=node_path,
        output=output,
        accounting=s.accounting,
        submit_argv=("bash", "-c", SUBMIT_AND_WAIT, "dcinfra-verify-submit", f"{work_dir}/{BATCH_SCRIPT}"),
        record_argv=SACCT_ARGV if s.accounting else SCONTROL_ARGV,
    )


# -- after the job ------------------------------------------------------------------------------------


def _time(value: str) -> datetime | None:
    """A Slurm timestamp (``2025-01-01T00:00:05``, local time); None for Unknown/None/empty."""
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        return None


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    return (b - a).total_seconds() if a is not None and b is not None else None


def _record(
    job_id: str, state: str, exit_code: str, submit: str, start: str, end: str, tres: str
) -> dict[str, Any]:
    t_submit, t_start, t_end = _time(submit), _time(start), _time(end)
    return {
        "job_id": job_id,
        # "CANCELLED by 0" -> "CANCELLED": the state without who did it
        "state": state.split(maxsplit=1)[0] if state.strip() else "UNKNOWN",
        "exit_code": exit_code,
        "submit": t_submit.isoformat() if t_submit else None,
        "start": t_start.isoformat() if t_start else None,
        "end": t_end.isoformat() if t_end else None,
        "queue_wait_s": _seconds(t_submit, t_start),
        "run_s": _seconds(t_start, t_end),
        "alloc_tres": tres,
    }


def parse_sacct(text: str) -> dict[str, Any] | None:
    """The job's record from ``sacct -X -n -P -o JobID,State,ExitCode,Submit,Start,End,AllocTRES``;
    None when there is no such line. A requeued job has a line per run: the last one counts."""
    rows = [line.split("|") for line in text.splitlines() if line.strip()]
    rows = [r for r in rows if len(r) >= len(SACCT_FIELDS)]
    if not rows:
        return None
    job_id, state, code, submit, start, end, tres = rows[-1][: len(SACCT_FIELDS)]
    return _record(job_id, state, code, submit, start, end, tres)


def parse_scontrol_job(text: str) -> dict[str, Any] | None:
    """The job's record from ``scontrol -o show job ID`` (clusters without accounting); None when the
    job is unknown (slurmctld forgets finished jobs after MinJobAge, 300 s by default)."""
    fields: dict[str, str] = {}
    for token in text.split():
        key, sep, value = token.partition("=")
        if sep and key not in fields:
            fields[key] = value
    if "JobId" not in fields:
        return None
    return _record(
        fields["JobId"],
        fields.get("JobState", ""),
        fields.get("ExitCode", ""),
        fields.get("SubmitTime", ""),
        fields.get("StartTime", ""),
        fields.get("EndTime", ""),
        fields.get("AllocTRES", fields.get("TRES", "")),  # 22.05 says AllocTRES; before 21.08, TRES
    )


def _without_gpus(tres: str | None) -> tuple[str | None, int]:
    """``tres`` without its ``gres/gpu`` entries, and the GPUs they counted (``gres/gpu=6``; typed
    entries such as ``gres/gpu:standin=6`` repeat that count and are dropped, not added)."""
    if tres is None:
        return None, 0
    kept, gpus = [], 0
    for item in tres.split(","):
        key, _, value = item.partition("=")
        if key == "gres/gpu":
            gpus += int(value) if value.isdigit() else 0
        elif not key.startswith("gres/gpu:"):
            kept.append(item)
    return ",".join(kept), gpus


def scheduler_section(job: SlurmJob, run: Mapping[str, Any]) -> dict[str, Any]:
    """The report's ``scheduler`` section from what the verify role kept (``slurm-job.json``):
    ``{"job_id", "submit_rc", "submit_stdout", "submit_stderr", "timed_out", "record", "pending_reason",
    "output_tail"}``, where ``record`` is sacct's line (or scontrol's, without accounting)."""
    text = str(run.get("record") or "")
    rec = parse_sacct(text) if job.accounting else parse_scontrol_job(text)
    # --parsable prints "<id>" or "<id>;<cluster>" as soon as the job is queued
    submitted = str(run.get("submit_stdout") or "").strip().splitlines()
    job_id = submitted[0].split(";")[0].strip() if submitted else ""
    section: dict[str, Any] = {
        "kind": "slurm",
        "job_id": job_id or None,
        "partition": job.partition,
        "nodes": list(job.nodes),
        "gres_gpus": job.gres_gpus,
        "time_limit_s": job.time_limit_s,
        "state": None,
        "exit_code": None,
        "submit": None,
        "start": None,
        "end": None,
        "queue_wait_s": None,
        "run_s": None,
        "alloc_tres": None,
        "timed_out": bool(run.get("timed_out")),
        "pending_reason": str(run.get("pending_reason") or "").strip() or None,
        "output_tail": None,
    }
    if rec is not None:
        section.update(rec)
        section["job_id"] = rec["job_id"] or section["job_id"]
    if job.standin:
        # --exclusive gives the job every GRES of its nodes, the lab's stand-ins too: Slurm counts them
        # as gres/gpu, verify does not (they are no GPUs). Kept apart, under their own name.
        section["alloc_tres"], section["standin_gpus"] = _without_gpus(section["alloc_tres"])
    if section["timed_out"] and section["state"] in (None, "PENDING", "RUNNING"):
        # verify cancelled it; the record may predate the cancellation
        section["state"] = "CANCELLED"
    if section["state"] != "COMPLETED":
        tail = str(run.get("output_tail") or "")[-OUTPUT_TAIL_BYTES:]
        section["output_tail"] = tail or None
    return section


def job_error(section: Mapping[str, Any], run: Mapping[str, Any]) -> str | None:
    """Why the job is a failed verify, in one message; None when Slurm ran it to COMPLETED."""
    state = section.get("state")
    if state == "COMPLETED":
        return None
    job = section.get("job_id")
    if not job:
        err = str(run.get("submit_stderr") or run.get("submit_stdout") or "").strip()
        return f"sbatch could not submit the verify job (exit {run.get('submit_rc')}): {err or 'no output'}"
    if section.get("timed_out"):
        waited = "pending" if section.get("start") is None else "running"
        why = f" (squeue said: {section['pending_reason']})" if section.get("pending_reason") else ""
        msg = f"Slurm job {job} was still {waited} when verify's bound ran out and was cancelled{why}"
    elif state is None:
        msg = f"Slurm has no record of job {job}"
    else:
        msg = f"Slurm job {job} ended {state} (exit code {section.get('exit_code')})"
    return msg


def with_job_error(
    measured: dict[str, Any], section: Mapping[str, Any], run: Mapping[str, Any]
) -> dict[str, Any]:
    """``measured`` (the bench JSON) with the job's failure in its error: a job that did not complete is
    a failed verify, even when rank 0 wrote a result. The bench's own error, when it has one, stays the
    explanation (with the Slurm state added); otherwise the message is the Slurm state and the tail of
    the job's output."""
    msg = job_error(section, run)
    if msg is None:
        return measured
    error = measured.get("error")
    if error and error.get("kind") != "launch":
        e = dict(error)
        e["message"] = f"{e.get('message', '')} ({msg})"
        return {**measured, "error": e}
    if error:  # no result from rank 0 (load_measured's record): say so after the Slurm state
        msg += f"; {error.get('message')}"
    short = msg
    tail = section.get("output_tail")
    if tail:
        msg += "; the job's output ends with:\n" + str(tail).rstrip()
    kind = "timeout" if section.get("timed_out") or section.get("state") == "TIMEOUT" else "launch"
    node = (error or {}).get("node")
    culprits = [{**c, "reason": short} for c in (error or {}).get("culprits") or []]
    # phase "slurm": the checks say the run stopped there, and the message (with the tail) is shown once
    return {
        **measured,
        "error": {"kind": kind, "phase": "slurm", "message": msg, "node": node, "culprits": culprits},
    }
