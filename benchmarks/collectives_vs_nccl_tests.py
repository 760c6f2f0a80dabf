"""Does our sweep measure what a bare loop (and nccl-tests) measures?

    python benchmarks/collectives_vs_nccl_tests.py [--nproc 2] [--max-bytes 16777216]


Launches ``torchrun --standalone --nproc-per-node=N`` on this machine (gloo on CPU, NCCL with GPUs)
and, inside the same job, times all-reduce at each message size twice, side by side:

* with the verify bench's sweep (``dcinfra.verify.bench.collectives.sweep``: watchdog marks, barriers,
  data check after the timed loop), and
* with a bare loop of ``dist.all_reduce`` timed exactly the same way (warm-up, ``iters`` calls, one
  synchronize).

It prints busbw from both and the ratio bench/bare per size; 1.0 means our instrumentation costs
nothing. When nccl-tests' ``all_reduce_perf`` is on PATH and GPUs are present it also runs it with
the same sizes and prints the ratio of our busbw to its out-of-place busbw (the reference definition).
Nothing here is asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def worker(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(REPO))
    import torch
    import torch.distributed as dist

    from dcinfra.verify.bench.collectives import bandwidths, message_sizes, sweep
    from dcinfra.verify.bench.runtime import (
        Watchdog,
        init_process_group,
        mean_over_ranks,
        rank_from_env,
        synchronize,
    )

    info = rank_from_env(None, "auto")
    ctrl = init_process_group(info, 300)
    wd = Watchdog(info, lambda _e: None)  # no store, no budget: only the marks the sweep makes
    n = info.world_size
    bare: dict[int, float] = {}
    bench: dict[int, float] = {}
    for size in message_sizes(args.min_bytes, args.max_bytes):  # side by side, size by size
        t = torch.zeros(size // 4, dtype=torch.float32, device=info.device)
        for _ in range(args.warmup):
            dist.all_reduce(t)
        synchronize(info.device)
        dist.barrier(group=ctrl)
        t0 = time.perf_counter()
        for _ in range(args.iters):
            dist.all_reduce(t)
        synchronize(info.device)
        bare[size] = mean_over_ranks((time.perf_counter() - t0) / args.iters, ctrl)
        res = sweep(
            wd,
            ctrl,
            collectives=("all_reduce",),
            min_bytes=size,
            max_bytes=size,
            warmup_iters=args.warmup,
            iters=args.iters,
        )
        bench[size] = res["results"]["all_reduce"]["rows"][0]["busbw_GBps"]
    if info.rank == 0:
        rows = []
        for size, busbw in bench.items():
            _alg, bare_bus = bandwidths("all_reduce", size, bare[size], n)
            rows.append({"size_bytes": size, "bench": busbw, "bare": bare_bus})
        Path(args.out).write_text(json.dumps({"ranks": n, "backend": info.backend, "rows": rows}))
    dist.destroy_process_group()


def nccl_tests(min_bytes: int, max_bytes: int, iters: int, warmup: int, gpus: int) -> dict[int, float]:
    """all_reduce_perf's out-of-place busbw per size (GB/s), when the binary and GPUs exist."""
    exe = shutil.which("all_reduce_perf")
    if exe is None or gpus < 1:
        return {}
    argv = [exe, "-b", str(min_bytes), "-e", str(max_bytes), "-f", "2", "-n", str(iters), "-w", str(warmup)]
    out = subprocess.run(
        [*argv, "-g", str(gpus)], capture_output=True, text=True, timeout=600, check=False
    ).stdout
    found: dict[int, float] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[0].isdigit():
            found[int(parts[0])] = float(parts[7])  # size count type redop root time algbw busbw ...
    return found


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--min-bytes", type=int, default=1024)
    p.add_argument("--max-bytes", type=int, default=16 * 2**20)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return 0
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"dcinfra-coll-bench-{os.getpid()}.json"
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={args.nproc}"]
    argv += [__file__, "--worker", f"--out={out}", f"--min-bytes={args.min_bytes}"]
    argv += [f"--max-bytes={args.max_bytes}", f"--iters={args.iters}", f"--warmup={args.warmup}"]
    subprocess.run(argv, check=True, capture_output=True, text=True)
    doc = json.loads(out.read_text())
    out.unlink()
    import torch

    gpus = torch.cuda.device_count() if doc["backend"] == "nccl" else 0
    ref = nccl_tests(args.min_bytes, args.max_bytes, args.iters, args.warmup, gpus)
    print(f"all_reduce busbw, {doc['ranks']} ranks, {doc['backend']} (GB/s; ratio = bench / reference)")
    print(
        f"{'size':>10} {'bench':>10} {'bare':>10} {'ratio':>7}"
        + (f" {'nccl-tests':>11} {'ratio':>7}" if ref else "")
    )
    for r in doc["rows"]:
        line = f"{r['size_bytes']:>10} {r['bench']:>10.4f} {r['bare']:>10.4f} {r['bench'] / r['bare']:>7.2f}"
        if r["size_bytes"] in ref:
            line += f" {ref[r['size_bytes']]:>11.3f} {r['bench'] / ref[r['size_bytes']]:>7.2f}"
        print(line)
    large = doc["rows"][-3:]
    mean_ratio = sum(r["bench"] / r["bare"] for r in large) / len(large)
    print(f"largest three sizes: bench/bare = {mean_ratio:.2f} (1.0: the harness costs nothing)")
    if not ref:
        print("nccl-tests: all_reduce_perf not on PATH or no GPU; only the bare-loop comparison ran")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
