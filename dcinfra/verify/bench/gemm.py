"""GEMM peak: the best matmul throughput one device reaches, in TFLOPS = 2*M*N*K / t / 1e12.

bf16 on GPUs (the tensor-core path the catalog peak quotes), fp32 on CPUs. Square sizes grow until
the time budget is spent; each size is warmed up, then repeated until it has run ``min_time_s``.
The best size's figure is the device's peak.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from .runtime import synchronize

GPU_SIZES = (2048, 4096, 8192, 16384)  # bf16: 16384^3 is ~9 TFLOP, ~10 ms on an H100
CPU_SIZES = (128, 256, 512, 1024)  # fp32: 1024^3 is 2 GFLOP, tens of ms on one core


def gemm_flops(m: int, n: int, k: int) -> int:
    """Floating-point operations of one (m x k) @ (k x n) matmul: a multiply and an add per term."""
    return 2 * m * n * k


def measure(
    device: str, *, sizes: tuple[int, ...] | None = None, budget_s: float = 10.0, min_time_s: float = 0.2
) -> dict[str, Any]:
    """Time square matmuls on ``device``; stops early when ``budget_s`` is spent."""
    gpu = device.startswith("cuda")
    dtype = torch.bfloat16 if gpu else torch.float32
    sizes = sizes or (GPU_SIZES if gpu else CPU_SIZES)
    gen = torch.Generator(device=device).manual_seed(0)
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    for n in sizes:
        if rows and time.perf_counter() - start > budget_s / 2:
            break  # the next (8x larger) size would not fit the budget
        a = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
        b = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
        c = torch.matmul(a, b)  # warm-up (kernel selection, allocator)
        synchronize(device)
        t0 = time.perf_counter()
        torch.matmul(a, b, out=c)
        synchronize(device)
        one = max(time.perf_counter() - t0, 1e-9)
        iters = max(1, min(1000, int(min_time_s / one)))
        t0 = time.perf_counter()
        for _ in range(iters):
            torch.matmul(a, b, out=c)
        synchronize(device)
        t = (time.perf_counter() - t0) / iters
        rows.append({"n": n, "iters": iters, "time_us": t * 1e6, "tflops": gemm_flops(n, n, n) / t / 1e12})
        del a, b, c
    best = max(rows, key=lambda r: float(r["tflops"]))
    return {
        "dtype": str(dtype).removeprefix("torch."),
        "tflops": best["tflops"],
        "best_n": best["n"],
        "rows": rows,
    }
