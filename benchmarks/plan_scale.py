"""How plan time grows with the size of the cluster: ``python benchmarks/plan_scale.py``.

Compiles ``stacks/superpod.py`` for 1, 4, 16 and 64 scalable units (32 DGX nodes each; loaded with
``--config su_count=N``), best of three runs each, and prints seconds, seconds per node and the growth
ratio: (time / previous time) / (nodes / previous nodes), so 1.0 means linear growth and 2.0 means
the step cost twice what linear growth would. Also times ``render`` at 4 SUs.

Target (issue 2): the 64-unit plan (2,048 nodes, 16,384 GPUs) in under 2 s on a 2-core machine,
growing linearly. The ratios are measured side by side in one run; nothing here is asserted in tests.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dcinfra.config import Config  # noqa: E402
from dcinfra.loader import load_stack  # noqa: E402
from dcinfra.plan import compile_plan  # noqa: E402
from dcinfra.render import render  # noqa: E402

STACK = REPO / "stacks" / "superpod.py"
SU_COUNTS = (1, 4, 16, 64)
TARGET_SU = 64
TARGET_S = 2.0
LINEAR_TOLERANCE = 1.5  # a growth ratio up to this counts as linear (timer noise, caches, GC)


def best_of(runs: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """The fastest of ``runs`` timed calls of ``fn``, and its last result."""
    best = float("inf")
    result = None
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="timed runs per size; the best counts (default 3)"
    )
    parser.add_argument(
        "--su", type=int, nargs="*", default=list(SU_COUNTS), help="SU counts (default 1 4 16 64)"
    )
    parser.add_argument("--no-render", action="store_true", help="skip timing render at 4 SUs")
    args = parser.parse_args(argv)

    print(f"dcinfra plan scale: {STACK.relative_to(REPO)}, best of {args.runs}, {os.cpu_count()} CPUs")
    header = f"{'SUs':>4} {'nodes':>6} {'GPUs':>7} {'seconds':>8} {'s/node':>9} {'growth':>7}"
    print(header)
    print("-" * len(header))
    rows: list[tuple[int, int, float]] = []
    for su in args.su:
        stack = load_stack(STACK, Config({"su_count": str(su)}))
        seconds, plan = best_of(args.runs, lambda stack=stack: compile_plan(stack))
        nodes = len(plan.hosts)
        gpus = sum(h.gpu_count for h in plan.hosts)
        growth = ""
        if rows:
            prev_nodes, prev_s = rows[-1][1], rows[-1][2]
            growth = f"{(seconds / prev_s) / (nodes / prev_nodes):.2f}"
        rows.append((su, nodes, seconds))
        print(f"{su:>4} {nodes:>6,} {gpus:>7,} {seconds:>8.3f} {seconds / nodes * 1e3:>7.3f}ms {growth:>7}")

    verdicts: list[bool] = []
    at_target = [r for r in rows if r[0] == TARGET_SU]
    if at_target:
        s = at_target[0][2]
        ok = s < TARGET_S
        verdicts.append(ok)
        print(
            f"target: {TARGET_SU} SUs ({at_target[0][1]:,} nodes) under {TARGET_S:g} s: "
            f"{s:.3f} s -> {'PASS' if ok else 'MISS'}"
        )
    # Linear growth: judged on the steps between sizes big enough that fixed costs do not dominate.
    ratios = [
        (rows[i][2] / rows[i - 1][2]) / (rows[i][1] / rows[i - 1][1])
        for i in range(1, len(rows))
        if rows[i - 1][0] >= 4
    ]
    if ratios:
        worst = max(ratios)
        ok = worst <= LINEAR_TOLERANCE
        verdicts.append(ok)
        print(
            f"target: linear growth (growth ratio <= {LINEAR_TOLERANCE:g} from 4 SUs up): "
            f"worst {worst:.2f} -> {'PASS' if ok else 'MISS'}"
        )

    if not args.no_render:
        stack = load_stack(STACK, Config({"su_count": "4"}))
        plan = compile_plan(stack)
        seconds, files = best_of(args.runs, lambda: render(plan))
        size = sum(len(b) for b in files.values())
        print(
            f"render at 4 SUs ({len(plan.hosts)} nodes): {seconds:.3f} s, "
            f"{len(files):,} files, {size:,} bytes"
        )
    # Always 0: wall-clock verdicts are for people reading the output, never a gate.
    print(f"overall: {'PASS' if all(verdicts) else 'MISS'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
