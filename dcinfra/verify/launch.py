"""The command line and environment the verify playbook runs on each compute host. Pure.

One torchrun per compute host, all started at once; static rendezvous on the first compute host's
compute address (``VerifyPlan.master_address:rendezvous_port``), node rank = the host's position in
``VerifyPlan.hosts``, so rank order is plan order. NCCL on GPU hosts with one rank per GPU, gloo on
CPU hosts with one rank per host. The environment is the host's ``nccl_env`` from the plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dcinfra.plan.types import Plan, VerifyPlan

PHASES = ("preflight", "collectives", "gemm", "training")
# Where the playbook copies dcinfra/verify/bench/ (bench_env keeps its venv at /opt/dcinfra/bench).
BENCH_DIR = "/opt/dcinfra/verify-bench"
WORK_DIR = "/var/lib/dcinfra/verify"  # declared.json in, bench.json out (on the master)
BENCH_SOURCE = Path(__file__).with_name("bench")  # what the playbook copies to BENCH_DIR on each host
STARTUP_S = 120  # torchrun, interpreter and torch import on every node, before the first phase


@dataclass(frozen=True, slots=True)
class BenchLaunch:
    """How to start the benchmark on one host."""

    host: str
    node_rank: int  # position in VerifyPlan.hosts
    argv: tuple[str, ...]  # the command, ready for ansible.builtin.command's argv
    env: dict[str, str]  # environment for the command (NCCL/gloo settings from the plan)
    out: str  # the JSON rank 0 writes (only the master's copy exists)


def job_timeout_s(verify: VerifyPlan, phases: Sequence[str] = PHASES) -> int:
    """An outer bound for the whole job: every phase's budget, plus init and startup.

    The bench enforces each phase itself; this is for the playbook task's own timeout, the last
    line of defence that guarantees nothing is left running.
    """
    return (len(phases) + 1) * verify.timeout_s + STARTUP_S


def bench_launches(
    plan: Plan,
    *,
    bench_dir: str = BENCH_DIR,
    work_dir: str = WORK_DIR,
    python: str = "python3",
    phases: Sequence[str] = PHASES,
) -> tuple[BenchLaunch, ...]:
    """One :class:`BenchLaunch` per compute host, in rank order; () when the plan has no compute."""
    v = plan.verify
    if v is None:
        return ()
    out = f"{work_dir}/bench.json"
    launches = []
    for node_rank, name in enumerate(v.hosts):
        h = plan.host(name)
        nproc = h.gpu_count if v.backend == "nccl" and h.gpu_count else 1
        argv = (
            python,
            "-m",
            "torch.distributed.run",
            f"--nnodes={len(v.hosts)}",
            f"--nproc-per-node={nproc}",
            f"--node-rank={node_rank}",
            f"--master-addr={v.master_address}",
            f"--master-port={v.rendezvous_port}",
            f"--rdzv-conf=timeout={v.timeout_s}",  # static rendezvous: nodes must join within this
            "--max-restarts=0",
            "--monitor-interval=1",
            f"{bench_dir}/main.py",
            f"--phase={','.join(phases)}",
            f"--out={out}",
            f"--node-name={name}",
            f"--backend={v.backend}",
            f"--timeout-s={v.timeout_s}",
            f"--max-bytes={v.max_message_bytes}",
            f"--warmup-iters={v.warmup_iters}",
            f"--iters={v.iters}",
            f"--train-steps={v.training_steps}",
            f"--peak-tflops={v.gemm_peak_tflops}",
            f"--declared={work_dir}/declared.json",
        )
        env = dict(sorted(h.nccl_env.items()))
        env["PYTHONUNBUFFERED"] = "1"
        if v.backend == "gloo":
            env["OMP_NUM_THREADS"] = str(max(h.cpu_cores, 1))  # the cores the plan gives the node
        launches.append(BenchLaunch(name, node_rank, argv, env, out))
    return tuple(launches)
