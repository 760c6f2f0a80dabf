"""No-op re-converge of a 3-node lab: dcinfra's Ansible settings vs Ansible's defaults, side by side.

    python benchmarks/converge.py [--rounds 3]

Brings up its own lab (stack 'benchlab' on 172.31.210-211.0/24, state under a temp dir), converges it
once, then alternates no-op runs of the same playbooks with `tuned=True` (pipelining, ControlPersist,
forks >= hosts, fact cache) and `tuned=False` (Ansible's defaults), and prints the best time of each and
the ratio. Target: ratio <= 0.5. Tears the lab down at the end, also on failure. Needs root.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lab import Quiet, bench_lab

from dcinfra.engines.ansible import run_playbook
from dcinfra.pipeline import PLAYBOOKS, up


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="runs of each mode (best is reported)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dcinfra-bench-") as tmp:
        stack, state, lab = bench_lab(Path(tmp), "benchlab", 210)
        try:
            t0 = time.perf_counter()
            up(stack, state, run_verify=False)
            print(f"first converge (creates 3 nodes): {time.perf_counter() - t0:.1f} s")
            times: dict[bool, list[float]] = {True: [], False: []}
            inventory = state.build / "inventory" / "hosts.yml"
            extravars = {"dcinfra_build_dir": str(state.build), "dcinfra_bench_python": sys.executable}
            for _ in range(args.rounds):
                for tuned in (False, True):
                    rec = run_playbook(
                        PLAYBOOKS / "site.yml",
                        inventory,
                        runs_dir=state.runs,
                        ssh_key=lab.ssh_key(),
                        extravars=extravars,
                        tuned=tuned,
                    )
                    if not rec.ok or rec.changed_total:
                        print(
                            f"run not a clean no-op (tuned={tuned}): ok={rec.ok} changed={rec.changed_total}"
                        )
                        return 1
                    times[tuned].append(rec.duration_s)
            best_tuned, best_default = min(times[True]), min(times[False])
            ratio = best_tuned / best_default
            print(f"no-op re-converge, 3 hosts, best of {args.rounds}:")
            for label, tuned in (("Ansible defaults", False), ("dcinfra settings", True)):
                runs = ", ".join(f"{t:.2f}" for t in times[tuned])
                print(f"  {label} : {min(times[tuned]):6.2f} s  (runs: {runs})")
            print(f"  ratio            : {ratio:.2f}  (target <= 0.5: {'PASS' if ratio <= 0.5 else 'MISS'})")
        finally:
            lab.teardown(Quiet())
    return 0


if __name__ == "__main__":
    sys.exit(main())
