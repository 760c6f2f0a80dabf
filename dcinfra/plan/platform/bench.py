"""The benchmark part of the platform plan: the verify stage's benchmark as an indexed Job, with the
verify plan's settings and the first compute host's NCCL environment."""

from __future__ import annotations

from collections.abc import Sequence

from dcinfra.errors import Problem
from dcinfra.model.platform import Kubernetes
from dcinfra.plan.platform.records import BenchPlan, NetworkOperatorPlan
from dcinfra.plan.types import HostPlan, Plan


def no_compute(problems: list[Problem]) -> None:
    """``platform.bench``: a benchmark image on a stack without compute hosts (the plan has no verify
    settings without them either)."""
    problems.append(
        Problem(
            "platform.kubernetes.bench_image",
            "the benchmark Job needs compute hosts, and the stack has none",
            "add a pool with role 'compute' or leave bench_image unset",
            "platform.bench",
        )
    )


def bench(
    k8s: Kubernetes,
    plan: Plan,
    compute: Sequence[HostPlan],
    network: NetworkOperatorPlan | None,
    problems: list[Problem],
) -> BenchPlan | None:
    """The benchmark Job's settings; None (and a problem) without compute hosts."""
    v = plan.verify
    if v is None or not compute:
        no_compute(problems)
        return None
    first = plan.host(v.hosts[0])
    rails: tuple[tuple[str, str], ...] = ()
    if network is not None:
        rails = tuple((r.name, r.master) for r in network.rails)
    # The pods get the rail interfaces under the hosts' names, so the plan's NCCL env applies as is.
    env = dict(first.nccl_env)
    env["PYTHONUNBUFFERED"] = "1"
    if v.backend == "gloo":
        env["OMP_NUM_THREADS"] = str(max(first.cpu_cores, 1))  # as the verify stage sets it
    return BenchPlan(
        image=k8s.bench_image or "",
        nodes=len(v.hosts),
        procs_per_node=max(first.gpu_count, 1),
        gpus_per_node=first.gpu_count,
        port=v.rendezvous_port,
        timeout_s=v.timeout_s,
        env=dict(sorted(env.items())),
        rails=rails,
        rdma=network is not None and network.rdma,
        backend=v.backend,
        max_message_bytes=v.max_message_bytes,
        warmup_iters=v.warmup_iters,
        iters=v.iters,
        training_steps=v.training_steps,
        peak_tflops=v.gemm_peak_tflops,
    )
