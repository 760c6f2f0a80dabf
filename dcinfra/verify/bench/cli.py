"""Command line of the node benchmark: which phases, how big, how long, where the JSON goes.

Every rank runs the same phases in order inside one process group. Rank 0 writes one JSON document
to ``--out`` (schema ``dcinfra.verify.bench/1``, see ``dcinfra/verify/report.schema.json`` for the
report built from it) and prints one line per phase. Exit status: 0 when every phase ran (bad numbers
are data, judged by the report, not errors), 1 when a phase raised, 124 when a phase overran
``--timeout-s``; in both failure cases ``error`` in the JSON names the phase, the step, and the
culprit ranks and nodes.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

import torch
import torch.distributed as dist

from . import SCHEMA_VERSION, gemm, preflight, training
from . import collectives as coll
from .runtime import (
    EXIT_ERROR,
    RankInfo,
    Watchdog,
    gather_objects,
    heartbeat_store,
    init_process_group,
    rank_from_env,
)

PHASES = ("preflight", "collectives", "gemm", "training")
PG_TIMEOUT_MARGIN_S = 60  # the process group's own timeout trails the watchdog, which names culprits


class Terminated(Exception):
    """SIGTERM: torchrun is tearing the job down because another rank failed."""


def _csv(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The benchmark's arguments."""
    p = argparse.ArgumentParser(
        prog="dcinfra-bench",
        description="dcinfra verify: node benchmark (run under torchrun on every compute node).",
    )
    p.add_argument(
        "--phase", default="all", help=f"comma-separated phases from {', '.join(PHASES)}, or 'all'"
    )
    p.add_argument("--out", default="bench.json", help="where rank 0 writes the result JSON")
    p.add_argument("--node-name", default=None, help="this node's name in the plan (default: the hostname)")
    p.add_argument(
        "--backend", default="auto", choices=("auto", "nccl", "gloo"), help="auto: NCCL with CUDA, else gloo"
    )
    p.add_argument("--timeout-s", type=float, default=600.0, help="wall-clock budget of each phase, seconds")
    p.add_argument("--min-bytes", type=int, default=1024, help="smallest collective message, bytes")
    p.add_argument("--max-bytes", type=int, default=256 * 2**20, help="largest collective message, bytes")
    p.add_argument("--warmup-iters", type=int, default=5, help="untimed iterations per message size")
    p.add_argument("--iters", type=int, default=20, help="timed iterations per message size")
    p.add_argument(
        "--collectives", default=",".join(coll.COLLECTIVES), help="comma-separated collectives to sweep"
    )
    p.add_argument("--gemm-sizes", default="", help="comma-separated square GEMM sizes (default: by device)")
    p.add_argument(
        "--gemm-budget-s", type=float, default=None, help="time for the GEMM sizes (default: timeout/4)"
    )
    p.add_argument(
        "--peak-tflops", type=float, default=None, help="catalog peak per device (bf16 GPU / fp32 CPU)"
    )
    p.add_argument("--train-steps", type=int, default=30, help="DDP training steps")
    p.add_argument("--train-model", default="auto", choices=("auto", "cpu", "gpu"), help="preset model size")
    for name in ("vocab", "dim", "n_layers", "n_heads", "seq_len", "batch"):
        p.add_argument(
            f"--train-{name.replace('_', '-')}", type=int, default=None, help=f"override the model's {name}"
        )
    p.add_argument("--train-lr", type=float, default=None, help="override the learning rate")
    p.add_argument(
        "--declared", default=None, help="preflight: declared facts, a JSON file or inline JSON {node: {...}}"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--inject-hang", default=None, metavar="RANK:PHASE", help="testing only: RANK sleeps forever in PHASE"
    )
    args = p.parse_args(argv)
    args.phases = PHASES if args.phase == "all" else _csv(args.phase)
    unknown = [x for x in args.phases if x not in PHASES]
    if unknown:
        p.error(f"--phase: unknown {unknown}; use {', '.join(PHASES)} or 'all'")
    bad = [c for c in _csv(args.collectives) if c not in coll.COLLECTIVES]
    if bad:
        p.error(f"--collectives: unknown {bad}; use {', '.join(coll.COLLECTIVES)}")
    if args.timeout_s <= 0:
        p.error("--timeout-s must be > 0")
    return args


def _declared(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    raw = text if text.lstrip().startswith("{") else Path(text).read_text()
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("--declared must be a JSON object {node: {...}}")
    return data


def _run_preflight(
    wd: Watchdog, ctrl: dist.ProcessGroup | None, declared: dict[str, Any] | None
) -> dict[str, Any]:
    info = wd.info
    wd.mark("collecting node facts")
    mine: dict[str, Any] = {"node": info.node, "facts": None, "mismatches": []}
    if info.local_rank == 0:  # one collector per node
        facts = preflight.collect_facts(info.node)
        mine["facts"] = facts
        if declared is not None:
            if info.node in declared:
                mine["mismatches"] = preflight.compare(info.node, declared[info.node], facts)
            else:
                mine["mismatches"] = [
                    {
                        "node": info.node,
                        "item": "node",
                        "declared": sorted(declared),
                        "found": info.node,
                        "severity": "error",
                        "message": f"{info.node}: node: not among the declared nodes {sorted(declared)}"
                        " (pass --node-name with the plan's host name)",
                    }
                ]
    with wd.comm("gathering node facts"):
        gathered = gather_objects(mine, ctrl)
    nodes = {g["node"]: g["facts"] for g in gathered if g["facts"] is not None}
    mismatches = [m for g in gathered for m in g["mismatches"]]
    if declared is not None:
        for name in sorted(set(declared) - set(nodes)):
            mismatches.append(
                {
                    "node": name,
                    "item": "node",
                    "declared": name,
                    "found": None,
                    "severity": "error",
                    "message": f"{name}: node: declared but no rank of the job runs there",
                }
            )
    return {
        "nodes": nodes,
        "mismatches": mismatches,
        "checked": declared is not None,
        "passed": not any(m["severity"] == "error" for m in mismatches),
    }


def _run_gemm(wd: Watchdog, ctrl: dist.ProcessGroup | None, args: argparse.Namespace) -> dict[str, Any]:
    info = wd.info
    sizes = tuple(int(s) for s in _csv(args.gemm_sizes)) or None
    budget = args.gemm_budget_s if args.gemm_budget_s is not None else args.timeout_s / 4
    wd.mark("timing matmuls")
    mine = gemm.measure(info.device, sizes=sizes, budget_s=budget)
    with wd.comm("gathering GEMM results"):
        per_rank = gather_objects({"rank": info.rank, "node": info.node, "tflops": mine["tflops"]}, ctrl)
    slowest = min(per_rank, key=lambda r: float(r["tflops"]))
    peak = args.peak_tflops
    return {
        "dtype": mine["dtype"],
        "tflops": slowest["tflops"],  # what every device reaches: the slowest rank's best
        "peak_tflops": peak,
        "fraction_of_peak": slowest["tflops"] / peak if peak else None,
        "slowest": slowest,
        "per_rank": per_rank,
        "rows": mine["rows"],  # rank 0's sizes
    }


def _train_config(info: RankInfo, args: argparse.Namespace) -> training.GPTConfig:
    gpu = info.device.startswith("cuda")
    base = (
        training.GPU_CONFIG
        if args.train_model == "gpu" or (args.train_model == "auto" and gpu)
        else training.CPU_CONFIG
    )
    over = {
        name: getattr(args, f"train_{name}")
        for name in ("vocab", "dim", "n_layers", "n_heads", "seq_len", "batch", "lr")
        if getattr(args, f"train_{name}") is not None
    }
    cfg = training.GPTConfig(**{**dataclasses.asdict(base), **over})
    if cfg.dim % cfg.n_heads:
        raise ValueError(f"--train-dim {cfg.dim} must be a multiple of --train-n-heads {cfg.n_heads}")
    return cfg


def _device_name(info: RankInfo) -> str:
    if info.device.startswith("cuda"):
        return torch.cuda.get_device_name(info.local_rank)
    return platform.processor() or platform.machine()


def _summary(phase: str, res: dict[str, Any]) -> str:
    if phase == "preflight":
        return f"{len(res['nodes'])} node(s), {len(res['mismatches'])} mismatch(es)"
    if phase == "collectives":
        parts = []
        for name, r in res["results"].items():
            top = max((row["busbw_GBps"] for row in r["rows"]), default=0.0)
            parts.append(f"{name} busbw max {top:.3f} GB/s{'' if r['correct'] else ' WRONG RESULTS'}")
        return "; ".join(parts)
    if phase == "gemm":
        return f"{res['tflops']:.3f} TFLOPS {res['dtype']} (slowest rank {res['slowest']['rank']})"
    if phase == "training":
        mfu = "n/a" if res["mfu"] is None else f"{res['mfu']:.3f}"
        loss = f"loss {res['loss_first']:.3f} -> {res['loss_last']:.3f}"
        return f"{loss}, {res['tokens_per_s']:.0f} tokens/s, MFU {mfu}"
    return ""


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    for _ in range(3):  # the watchdog thread may write while the main thread adds a key
        try:
            text = json.dumps(doc, indent=2, sort_keys=True)
            break
        except RuntimeError:
            time.sleep(0.05)
    else:
        text = json.dumps({"schema_version": SCHEMA_VERSION, "error": doc.get("error")})
    tmp.write_text(text + "\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    """Run the requested phases; returns the process exit status."""
    args = parse_args(argv)
    info = rank_from_env(args.node_name, args.backend)
    out = Path(args.out)
    result: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "backend": info.backend,
        "device": "cuda" if info.device.startswith("cuda") else "cpu",
        "world_size": info.world_size,
        "phases": list(args.phases),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "torch": torch.__version__,
        "ranks": [],
        "durations_s": {},
        "error": None,
    }

    def on_fatal(error: dict[str, Any]) -> None:
        result["error"] = error
        if info.rank == 0:
            _write(out, result)

    hang_rank, _, hang_phase = (args.inject_hang or "").partition(":")
    wd = Watchdog(info, on_fatal)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise Terminated(f"signal {signum}: torchrun is stopping the job (another rank failed or was killed)")

    signal.signal(signal.SIGTERM, on_sigterm)
    wd.start()
    joined = False
    try:
        declared = _declared(args.declared)
        with wd.phase_budget("init", args.timeout_s):
            ctrl = init_process_group(info, args.timeout_s + PG_TIMEOUT_MARGIN_S)
            joined = True
            if info.world_size > 1:
                # short store timeout: a diagnosis must not wait long on a store host that is gone
                wd.attach_store(heartbeat_store(min(args.timeout_s, 30.0)))
            with wd.comm("exchanging rank info"):
                result["ranks"] = gather_objects(
                    {
                        "rank": info.rank,
                        "local_rank": info.local_rank,
                        "node": info.node,
                        "device": info.device,
                        "device_name": _device_name(info),
                    },
                    ctrl,
                )
            wd.set_nodes({int(r["rank"]): str(r["node"]) for r in result["ranks"]})
        for phase in args.phases:
            t0 = time.perf_counter()
            with wd.phase_budget(phase, args.timeout_s):
                if hang_phase == phase and hang_rank == str(info.rank):
                    wd.mark("injected hang (--inject-hang)")
                    while True:
                        time.sleep(3600)
                res: dict[str, Any]
                if phase == "preflight":
                    res = _run_preflight(wd, ctrl, declared)
                elif phase == "collectives":
                    res = coll.sweep(
                        wd,
                        ctrl,
                        collectives=_csv(args.collectives),
                        min_bytes=args.min_bytes,
                        max_bytes=args.max_bytes,
                        warmup_iters=args.warmup_iters,
                        iters=args.iters,
                    )
                elif phase == "gemm":
                    res = _run_gemm(wd, ctrl, args)
                else:
                    res = training.train(
                        wd,
                        ctrl,
                        cfg=_train_config(info, args),
                        steps=args.train_steps,
                        peak_tflops=args.peak_tflops,
                        seed=args.seed,
                    )
                with wd.comm(f"end of {phase}"):
                    dist.barrier(group=ctrl)
            result[phase] = res
            result["durations_s"][phase] = time.perf_counter() - t0
            if info.rank == 0:
                print(f"dcinfra-bench: {phase}: {_summary(phase, res)}", flush=True)
    except (Exception, Terminated) as e:
        # From here on the process ends by itself; a SIGTERM must not cut the diagnosis short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        message = f"{info.who()} failed in phase {wd.phase!r} at {wd.step!r}: {type(e).__name__}: {e}"
        print(f"dcinfra-bench: ERROR: {message}", file=sys.stderr, flush=True)
        wd.publish_error(message)
        error: dict[str, Any] = {
            "kind": "terminated" if isinstance(e, Terminated) else "exception",
            "phase": wd.phase,
            "step": wd.step,
            "rank": info.rank,
            "node": info.node,
            "message": message,
            "culprits": [],
        }
        if info.rank == 0:
            if joined and info.world_size > 1:
                culprits, summary = wd.diagnose_now()
                error["culprits"] = [c.to_dict() for c in culprits]
                error["message"] = f"{message}; diagnosis: {summary}"
            result["error"] = error
            _write(out, result)
        # Do not tear down the process group: a peer may hang in it. End the process at once.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_ERROR)
    wd.stop()
    if info.rank == 0:
        _write(out, result)
    with contextlib.suppress(Exception):
        dist.destroy_process_group()
    return 0
