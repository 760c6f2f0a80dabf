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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dcinfra.config import Config  # noqa: E402
from dcinfra.loader import load_stack  # noqa: E402
from dcinfra.pipeline import up, verify  # noqa: E402
from dcinfra.plan import compile_plan  # noqa: E402
from dcinfra.sites.lab import Lab  # noqa: E402
from dcinfra.state import StateDir  # noqa: E402


class _Quiet:
    def step(self, message: str) -> None:
        del message


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="dcinfra-eff-") as tmp:
        text = (ROOT / "stacks" / "lab.py").read_text()
        text = text.replace('name="lab"', 'name="efflab"')
        text = text.replace("172.31.250.0/24", "172.31.214.0/24").replace(
            "172.31.251.0/24", "172.31.215.0/24"
        )
        stack_file = Path(tmp) / "efflab.py"
        stack_file.write_text(text)
        stack = load_stack(stack_file, Config())
        state = StateDir(Path(tmp) / "state" / "efflab")
        lab = Lab(compile_plan(stack), state)
        try:
            up(stack, state, run_verify=False)
            report = verify(stack, state).report.to_json()
        finally:
            lab.teardown(_Quiet())
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
