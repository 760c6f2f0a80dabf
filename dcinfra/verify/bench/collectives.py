"""The collective sweep: time, algbw and busbw exactly as nccl-tests defines them, with a data check.

Definitions, from https://github.com/NVIDIA/nccl-tests/blob/master/doc/PERFORMANCE.md and the
nccl-tests sources (``src/all_reduce.cu``, ``all_gather.cu``, ``reduce_scatter.cu``, ``alltoall.cu``,
``common.cu``):

* ``algbw = S / t``, in GB/s with GB = 1e9 bytes; ``t`` is the mean time of one operation over the
  timed iterations, averaged over ranks (nccl-tests' ``Allreduce(args, &deltaSec, average)``).
* ``S`` is the size nccl-tests prints in its ``size`` column, ``max(sendBytes, recvBytes)``:

  - all_reduce: the buffer every rank holds (input = output);
  - all_gather: the *output* buffer, ``n x`` the per-rank input ("S is the size in bytes of the total
    array, which for NCCL is equal to sendcount*sizeof(datatype)*n");
  - reduce_scatter: the *input* buffer, ``n x`` the per-rank output ("recvcount*sizeof(datatype)*n");
  - all_to_all: the buffer every rank sends (= the one it receives), ``n`` chunks of ``count/n``.

  As in nccl-tests, the per-rank count is rounded down to a multiple of ``n`` elements, and the row
  reports that exact ``S``.
* ``busbw = algbw x factor``: all_reduce ``2(n-1)/n``; all_gather, reduce_scatter and all_to_all
  ``(n-1)/n``. With one rank every factor is 0, as in nccl-tests.

Buffers are float32 (nccl-tests' default type). After the timed loop every size is checked on fresh,
rank-dependent data against the result computed locally; ``wrong`` counts bad elements over all ranks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from .runtime import Watchdog, mean_over_ranks, sum_over_ranks, synchronize

COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all")
ELEMENT_BYTES = 4  # float32
NCCL_TESTS_PERF = "https://github.com/NVIDIA/nccl-tests/blob/master/doc/PERFORMANCE.md"
_MOD = 65521  # keeps check values small integers, exact in float32 whatever the rank count


def busbw_factor(collective: str, n: int) -> float:
    """The factor that turns algbw into busbw for ``n`` ranks (nccl-tests' PERFORMANCE.md)."""
    if n < 1:
        raise ValueError(f"rank count {n} must be >= 1")
    if collective == "all_reduce":
        return 2 * (n - 1) / n
    if collective in ("all_gather", "reduce_scatter", "all_to_all"):
        return (n - 1) / n
    raise ValueError(f"unknown collective {collective!r}: use one of {', '.join(COLLECTIVES)}")


def message_sizes(min_bytes: int, max_bytes: int) -> list[int]:
    """``min_bytes``, doubling, up to and including ``max_bytes`` (when it is on the ladder)."""
    if min_bytes < 1 or max_bytes < min_bytes:
        raise ValueError(f"need 1 <= min_bytes ({min_bytes}) <= max_bytes ({max_bytes})")
    sizes = []
    s = min_bytes
    while s <= max_bytes:
        sizes.append(s)
        s *= 2
    return sizes


@dataclass(frozen=True, slots=True)
class Layout:
    """Buffer shapes of one operation at one nominal size."""

    in_count: int  # elements of this rank's input
    out_count: int  # elements of this rank's output
    size_bytes: int  # S as nccl-tests defines it for this collective (see the module docstring)
    count: int  # the count nccl-tests prints: elements per rank-chunk (all_reduce: whole buffer)


def layout(collective: str, nominal_bytes: int, n: int, element_bytes: int = ELEMENT_BYTES) -> Layout | None:
    """Shapes for ``collective`` at ``nominal_bytes``; None when a rank would get no element."""
    total = nominal_bytes // element_bytes
    if collective == "all_reduce":
        return Layout(total, total, total * element_bytes, total) if total else None
    per = total // n
    if per == 0:
        return None
    size = per * n * element_bytes
    if collective == "all_gather":
        return Layout(per, per * n, size, per)
    if collective == "reduce_scatter":
        return Layout(per * n, per, size, per)
    if collective == "all_to_all":
        return Layout(per * n, per * n, size, per)
    raise ValueError(f"unknown collective {collective!r}")


def bandwidths(collective: str, size_bytes: int, time_s: float, n: int) -> tuple[float, float]:
    """(algbw, busbw) in GB/s (1e9 bytes) for one operation of ``size_bytes`` taking ``time_s``."""
    algbw = size_bytes / time_s / 1e9
    return algbw, algbw * busbw_factor(collective, n)


def _op(collective: str, out: torch.Tensor, inp: torch.Tensor) -> Callable[[], object]:
    # torch 2.13 renamed the tensor variants (all_gather_single, reduce_scatter_single); nodes may run
    # an older torch, so take whichever exists.
    if collective == "all_reduce":
        return lambda: dist.all_reduce(inp)
    if collective == "all_gather":
        fn = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
        return lambda: fn(out, inp)
    if collective == "reduce_scatter":
        fn = getattr(dist, "reduce_scatter_single", None) or dist.reduce_scatter_tensor
        return lambda: fn(out, inp)
    if collective == "all_to_all":
        return lambda: dist.all_to_all_single(out, inp)
    raise ValueError(f"unknown collective {collective!r}")


def _check_data(
    collective: str, lay: Layout, rank: int, n: int, device: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input, output, expected) for one checked operation on rank-dependent data."""
    f32 = torch.float32
    if collective == "all_reduce":
        w = 1 + torch.arange(lay.in_count, device=device) % 7
        inp = ((rank + 1) * w).to(f32)
        expected = (n * (n + 1) // 2 * w).to(f32)
        return inp, inp, expected
    per = lay.count
    if collective == "all_gather":
        inp = ((rank * per + torch.arange(per, device=device)) % _MOD).to(f32)
        expected = (torch.arange(per * n, device=device) % _MOD).to(f32)
        return inp, torch.zeros(per * n, dtype=f32, device=device), expected
    if collective == "reduce_scatter":
        inp = ((rank + 1) * (1 + torch.arange(per * n, device=device) % 7)).to(f32)
        mine = rank * per + torch.arange(per, device=device)
        expected = (n * (n + 1) // 2 * (1 + mine % 7)).to(f32)
        return inp, torch.zeros(per, dtype=f32, device=device), expected
    if collective == "all_to_all":
        i = torch.arange(per, device=device) % 7
        dst = torch.arange(n, device=device).repeat_interleave(per)
        inp = (((rank * n + dst) * 7 + i.repeat(n)) % _MOD).to(f32)
        src = dst  # chunk k of the output comes from rank k, and was addressed to us
        expected = (((src * n + rank) * 7 + i.repeat(n)) % _MOD).to(f32)
        return inp, torch.zeros(per * n, dtype=f32, device=device), expected
    raise ValueError(f"unknown collective {collective!r}")


def sweep(
    wd: Watchdog,
    ctrl: dist.ProcessGroup | None,
    *,
    collectives: tuple[str, ...],
    min_bytes: int,
    max_bytes: int,
    warmup_iters: int,
    iters: int,
) -> dict[str, Any]:
    """Run the sweep on every rank; every rank returns the same result (rank 0 writes it)."""
    info = wd.info
    n, rank, device = info.world_size, info.rank, info.device
    results: dict[str, Any] = {}
    for name in collectives:
        factor = busbw_factor(name, n)
        rows: list[dict[str, Any]] = []
        for nominal in message_sizes(min_bytes, max_bytes):
            lay = layout(name, nominal, n)
            if lay is None:
                continue  # fewer elements than ranks: nccl-tests prints nothing either
            label = f"{name} {lay.size_bytes} B"
            wd.mark(label)
            inp = torch.zeros(lay.in_count, dtype=torch.float32, device=device)
            out = (
                inp
                if name == "all_reduce"
                else torch.empty(lay.out_count, dtype=torch.float32, device=device)
            )
            op = _op(name, out, inp)
            with wd.comm(f"{label} warm-up"):
                for _ in range(warmup_iters):
                    op()
                synchronize(device)
                dist.barrier(group=ctrl)
            with wd.comm(f"{label} timed"):
                t0 = time.perf_counter()
                for _ in range(iters):
                    op()
                synchronize(device)
                elapsed = (time.perf_counter() - t0) / iters
                t = mean_over_ranks(elapsed, ctrl)
            c_in, c_out, expected = _check_data(name, lay, rank, n, device)
            with wd.comm(f"{label} data check"):
                _op(name, c_out, c_in)()
                synchronize(device)
                if name in ("all_reduce", "reduce_scatter"):
                    # Sums of n small integers are exact in float32 up to 2**24; beyond that allow
                    # the rounding of n additions.
                    ok = torch.isclose(c_out, expected, rtol=n * 2.0**-23, atol=0.0)
                else:
                    ok = c_out == expected  # pure data movement: bit-exact
                bad = int((~ok).sum().item())
                wrong = sum_over_ranks(bad, ctrl)
            algbw, busbw = bandwidths(name, lay.size_bytes, t, n)
            rows.append(
                {
                    "size_bytes": lay.size_bytes,
                    "count": lay.count,
                    "time_us": t * 1e6,
                    "algbw_GBps": algbw,
                    "busbw_GBps": busbw,
                    "wrong": wrong,
                }
            )
        results[name] = {"busbw_factor": factor, "rows": rows, "correct": all(r["wrong"] == 0 for r in rows)}
    return {
        "dtype": "float32",
        "ranks": n,
        "warmup_iters": warmup_iters,
        "iters": iters,
        "definition": NCCL_TESTS_PERF,
        "results": results,
    }
