"""gloo all-reduce busbw at the largest message size divided by iperf3 bandwidth, measured in one run.

    python benchmarks/verify_efficiency.py

Brings up its own 3-node lab (stack 'efflab' on 172.31.214-215.0/24, state in a temp dir), runs
`dcinfra verify` (iperf3 ring first, then the collective sweep, in the same run), prints both figures
and the ratio, and tears the lab down. Target: ratio >= 0.6 (gloo's published figure is about 0.57 of
line rate). Needs root.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lab import Quiet, bench_lab

from dcinfra.pipeline import up, verify


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="dcinfra-eff-") as tmp:
        stack, state, lab = bench_lab(Path(tmp), "efflab", 214)
        try:
            up(stack, state, run_verify=False)
            report = verify(stack, state).report.to_json()
        finally:
            lab.teardown(Quiet())
    rows = sorted(report["collectives"]["all_reduce"], key=lambda r: r["size_bytes"])
    largest = rows[-1]
    iperf3 = report["link"]["iperf3_GBps"]
    ratio = largest["busbw_GBps"] / iperf3
    print(f"3 lab nodes, gloo, {report['world_size']} ranks")
    print(f"  iperf3 (slowest ring pair)          : {iperf3:7.3f} GB/s")
    mib = largest["size_bytes"] // 2**20
    verdict = "PASS" if ratio >= 0.6 else "MISS"
    print(f"  all_reduce busbw at {mib} MiB           : {largest['busbw_GBps']:7.3f} GB/s")
    print(f"  ratio busbw / iperf3                : {ratio:7.2f}  (target >= 0.6: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
