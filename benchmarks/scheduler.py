"""Slurm on the lab: submit-to-start latency of 1-node and 3-node jobs, and the cold-up time the Slurm
layer adds, measured in one run.

    python benchmarks/scheduler.py [--samples 10] [--skip-cold-up]

1. **Cold up without Slurm**: `up` (no verify) of stacks/lab.py with ``scheduler`` removed (stack
   'noschedlab', 172.31.226-227.0/24, its own state in a temp dir), timed, then torn down.
2. **Cold up with Slurm**: the same for stacks/lab.py as it is (stack 'schedlab', 172.31.224-225.0/24).
   The difference is what the Slurm layer adds (munge, MariaDB, slurmdbd, slurmctld, slurmd, the
   accounts); target: at most +20 s.
3. **Submit-to-start latency** on that idle Slurm lab: ``--samples`` jobs of 1 node and of 3 nodes,
   one at a time, each submitted with ``sbatch --parsable`` on the controller node by a shell loop that
   then polls ``squeue`` every 50 ms until the job has left PENDING/CONFIGURING. Two figures per job,
   both on this machine's clock (the lab nodes share it): *observed* (sbatch called -> squeue shows it
   started) and *in job* (sbatch called -> the batch script's first command). Medians; target: under 2 s.

Prints both sets of figures side by side with their ratios to the targets, and tears the labs down, also
on failure. Needs root. Exit 0 when both targets are met, 3 when one is missed. Wall-clock figures on a
shared 2-core machine vary from run to run: the numbers are printed, never asserted by tests.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lab import Quiet, bench_lab

from dcinfra.pipeline import up
from dcinfra.sites.lab import Lab

LATENCY_TARGET_S = 2.0
COLD_UP_TARGET_S = 20.0
CONTROLLER = "node-001"

# Runs on the controller node: submit, poll until started, wait for the end and for idle nodes, print
# one JSON line. $1: node count. The job's first command stamps its start (date +%s.%N) in its output.
PROBE = r"""
set -euo pipefail
nodes="$1"
out="/tmp/dcinfra-sched-probe-$$.out"
t0=$(date +%s.%N)
id=$(sbatch --parsable --job-name=sched-probe --nodes="$nodes" --ntasks-per-node=1 \
  --output="$out" --wrap='date +%s.%N; srun --ntasks-per-node=1 true')
id="${id%%;*}"
t1=""
for _ in $(seq 1 1200); do
  st=$(squeue --noheader --jobs "$id" --format=%T 2>/dev/null || true)
  case "$st" in
    PENDING|CONFIGURING) sleep 0.05 ;;
    *) t1=$(date +%s.%N); break ;;
  esac
done
# Wait for the job to end and every node to be idle again, so the next sample starts from an idle lab.
for _ in $(seq 1 600); do
  [ -z "$(squeue --noheader --jobs "$id" 2>/dev/null || true)" ] && \
    [ -z "$(sinfo --noheader --states=alloc,comp,mix --format=%N)" ] && break
  sleep 0.1
done
# slurmdbd gets the record from slurmctld asynchronously: give it a moment.
for _ in $(seq 1 50); do
  state=$(sacct -X -n -P -o State -j "$id" 2>/dev/null | tail -n 1 || true)
  case "$state" in ""|PENDING|RUNNING|COMPLETING) sleep 0.1 ;; *) break ;; esac
done
# The output file is on the batch host: for 1-node and 3-node jobs alike the lowest-numbered node it got.
batch=$(sacct -n -P -o NodeList -j "$id.batch" 2>/dev/null | tail -n 1 || true)
printf '{"id": "%s", "t0": %s, "t1": %s, "state": "%s", "batch": "%s", "out": "%s"}\n' \
  "$id" "$t0" "${t1:-null}" "$state" "$batch" "$out"
"""


def _node_exec(lab: Lab, node: str, script: str, *args: str, timeout: float = 180) -> str:
    res = lab.exec(node, ["bash", "-c", script, "probe", *args], timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"on {node}: exit {res.returncode}: {res.stderr.strip() or res.stdout.strip()}")
    return res.stdout


def _sample(lab: Lab, nodes: int) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(_node_exec(lab, CONTROLLER, PROBE, str(nodes)).strip().splitlines()[-1])
    doc["observed_s"] = doc["t1"] - doc["t0"] if doc["t1"] is not None else None
    # The job's own stamp: the first line of its output, on its batch host.
    host = doc.get("batch") or CONTROLLER
    try:
        first = _node_exec(lab, host, 'head -n 1 "$1"; rm -f "$1"', doc["out"]).strip()
        doc["in_job_s"] = float(first) - doc["t0"]
    except (RuntimeError, ValueError):
        doc["in_job_s"] = None
    return doc


def _wait_idle(lab: Lab, nodes: int, timeout_s: float = 120) -> None:
    """Until sinfo shows ``nodes`` idle nodes (slurmd registers a little after `up` returns)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        res = lab.exec(CONTROLLER, ["sinfo", "--noheader", "--states=idle", "--format=%D"], timeout=30)
        if res.returncode == 0 and sum(int(x) for x in res.stdout.split() if x.isdigit()) >= nodes:
            return
        time.sleep(1)
    raise RuntimeError(f"the lab's {nodes} Slurm nodes are not idle after {timeout_s:.0f} s")


def _fmt(x: float | None) -> str:
    return "    -" if x is None else f"{x:5.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=10, help="jobs of each size (median reported)")
    parser.add_argument("--skip-cold-up", action="store_true", help="only the latency (one up, untimed)")
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="dcinfra-bench-") as tmp:
        cold: dict[str, float] = {}
        if not args.skip_cold_up:
            stack, state, lab = bench_lab(Path(tmp), "noschedlab", 226)
            stack = stack.model_copy(update={"scheduler": None})
            try:
                t0 = time.perf_counter()
                up(stack, state, run_verify=False)
                cold["without"] = time.perf_counter() - t0
                print(f"cold up without Slurm: {cold['without']:.1f} s", flush=True)
            finally:
                lab.teardown(Quiet())
        stack, state, lab = bench_lab(Path(tmp), "schedlab", 224)
        try:
            t0 = time.perf_counter()
            up(stack, state, run_verify=False)
            cold["with"] = time.perf_counter() - t0
            print(f"cold up with Slurm:    {cold['with']:.1f} s", flush=True)
            _wait_idle(lab, len(lab.plan.hosts))
            results: dict[int, list[dict[str, Any]]] = {1: [], 3: []}
            for _ in range(args.samples):
                for n, docs in results.items():
                    docs.append(_sample(lab, n))
        finally:
            lab.teardown(Quiet())

    print(f"\nsubmit-to-start latency, idle 3-node lab, {args.samples} jobs each (median; target < 2 s):")
    print("  job      observed s  in job s   min-max observed   states            observed/target")
    for n, docs in results.items():
        obs = [d["observed_s"] for d in docs if d["observed_s"] is not None]
        inj = [d["in_job_s"] for d in docs if d["in_job_s"] is not None]
        states = sorted({d["state"] for d in docs})
        med_obs = statistics.median(obs) if obs else None
        med_inj = statistics.median(inj) if inj else None
        span = f"{min(obs):.2f}-{max(obs):.2f}" if obs else "-"
        ratio = f"{med_obs / LATENCY_TARGET_S:.2f}" if med_obs is not None else "-"
        print(
            f"  {n}-node   {_fmt(med_obs)}       {_fmt(med_inj)}     {span:17}  "
            f"{','.join(states):16}  {ratio}"
        )
        ok &= med_obs is not None and med_obs < LATENCY_TARGET_S and len(obs) == len(docs)
        ok &= states == ["COMPLETED"]
    if "without" in cold:
        added = cold["with"] - cold["without"]
        print("\ncold up of the lab stack (no verify), one run each:")
        print(f"  without scheduler=   {cold['without']:7.1f} s")
        print(f"  with Slurm           {cold['with']:7.1f} s")
        print(
            f"  Slurm adds           {added:+7.1f} s  (ratio {cold['with'] / cold['without']:.2f}; "
            f"target <= +{COLD_UP_TARGET_S:.0f} s: {'PASS' if added <= COLD_UP_TARGET_S else 'MISS'})"
        )
        ok &= added <= COLD_UP_TARGET_S
    print(f"\n{'PASS' if ok else 'MISS'}")
    return 0 if ok else 3


if __name__ == "__main__":
    sys.exit(main())
