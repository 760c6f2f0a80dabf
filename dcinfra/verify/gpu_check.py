"""GPU smoke check for a developer with one CUDA GPU: one command, world size 1.

    python -m dcinfra.verify.gpu_check                      # peak looked up from the catalog
    python -m dcinfra.verify.gpu_check --peak-tflops 989.5  # or given

It runs the node benchmark in this process on the NCCL backend (init, the four collectives with their
data checks, the bf16 GEMM, the DDP training smoke at the GPU model size), then prints what matters
on one GPU: NCCL came up and computed correct results, the GEMM as a fraction of the catalog's dense
bf16 peak, and the training MFU. With one rank, busbw is 0 by nccl-tests' definition (factors
``2(n-1)/n`` and ``(n-1)/n``); algbw is shown instead. Exit status 0 when everything ran, the results
were correct and the loss fell; 1 otherwise. Not used by the tests (CI has no GPU).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any


def catalog_peak(device_name: str) -> tuple[str, float] | None:
    """(catalog key, dense bf16 TFLOPS) of the GPU whose model token the device name contains."""
    from dcinfra.catalog import GPUS
    from dcinfra.verify.declared import gpu_model

    for key, gpu in GPUS.items():
        if gpu_model(key).lower() in device_name.lower():
            return key, gpu.bf16_dense_tflops
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the check; print a summary and the JSON path."""
    import torch

    p = argparse.ArgumentParser(
        prog="python -m dcinfra.verify.gpu_check", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "--peak-tflops", type=float, default=None, help="dense bf16 peak of this GPU (default: catalog)"
    )
    p.add_argument("--out", default=None, help="where to write the bench JSON (default: a temp file)")
    p.add_argument("--max-bytes", type=int, default=1 << 30, help="largest collective message, bytes")
    p.add_argument("--train-steps", type=int, default=30)
    p.add_argument("--timeout-s", type=float, default=300.0, help="budget of each phase, seconds")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device visible (torch.cuda.is_available() is False)", file=sys.stderr)
        return 1
    name = torch.cuda.get_device_name(0)
    peak = args.peak_tflops
    key = "given"
    if peak is None:
        found = catalog_peak(name)
        if found is None:
            print(f"gpu_check: {name!r} is not in the catalog; pass --peak-tflops", file=sys.stderr)
            return 1
        key, peak = found
    out = Path(args.out or tempfile.mkstemp(prefix="dcinfra-gpu-check-", suffix=".json")[1])
    from dcinfra.verify.bench.cli import main as bench_main

    code = bench_main(
        [
            "--phase=collectives,gemm,training",
            "--backend=nccl",
            f"--out={out}",
            f"--max-bytes={args.max_bytes}",
            f"--timeout-s={args.timeout_s}",
            f"--train-steps={args.train_steps}",
            f"--peak-tflops={peak}",
        ]
    )
    doc: dict[str, Any] = json.loads(out.read_text())
    print(f"GPU: {name} (catalog {key}: {peak} TFLOPS dense bf16); torch {doc.get('torch')}")
    if code != 0 or doc.get("error"):
        print(f"FAILED: {(doc.get('error') or {}).get('message')}")
        return 1
    ok = True
    print("NCCL: initialised, world size 1")
    for coll, res in doc["collectives"]["results"].items():
        rows = res["rows"]
        top = max(rows, key=lambda r: r["algbw_GBps"]) if rows else None
        status = "correct" if res["correct"] else "WRONG RESULTS"
        ok &= bool(res["correct"])
        if top:
            print(f"  {coll:15s} {status}; best algbw {top['algbw_GBps']:.1f} GB/s at {top['size_bytes']} B")
    g = doc["gemm"]
    best_n = max(g["rows"], key=lambda r: r["tflops"])["n"]
    print(f"GEMM: {g['tflops']:.1f} TFLOPS {g['dtype']} = {g['fraction_of_peak']:.2f} of peak (n={best_n})")
    t = doc["training"]
    fell = t["loss_last"] < t["loss_first"]
    ok &= fell
    print(
        f"Training: {t['params'] / 1e6:.1f}M params, loss {t['loss_first']:.3f} -> {t['loss_last']:.3f}"
        f" ({'falls' if fell else 'DOES NOT FALL'}), {t['tokens_per_s']:.0f} tokens/s, MFU {t['mfu']:.3f}"
    )
    print(f"JSON: {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
