"""How the cost of cold up, no-op up and preview grows with the lab: ``python3 benchmarks/scale.py``.

    flock /tmp/dcinfra-lab.lock python3 benchmarks/scale.py [--sizes 3 8 16] [--rounds 1]
        [--no-storage] [--json]

For each size N (default 3, 8 and 16 hosts) it brings up its own lab from ``stacks/lab.py`` (stack
'scalelab' on 172.31.240-241.0/24, its state in a temp dir): the 3 full nodes plus N - 3 light nodes
(``-c light_nodes=N-3``: compute only, no Ceph daemon, CephFS mount or slurmd; see stacks/lab.py),
and times, through the CLI as a user runs it:

1. **cold up**: ``dcinfra up --skip-verify`` on no nodes (creates the N nodes, deploys everything);
2. **no-op up**: the same command again, nothing to change (best of ``--rounds``);
3. **preview**: ``dcinfra preview`` (plan diff, render diff, Ansible check mode; best of ``--rounds``);

then destroys the lab (``destroy --destroy-data``) before the next size, also on failure. For every
timing it also records the controller's CPU time (dcinfra, ansible-playbook, its forks and their ssh:
every process it waits for) and the whole machine's busy CPU time, and, for no-op up, where the time
goes per play (from ansible-runner's job events in the run's artifacts dir).

It prints per N the seconds, the marginal cost per extra host (the slope between consecutive sizes),
the growth ratio time(N)/time(N0) beside N/N0 (N0: the smallest size), and whether the no-op up target
holds: it grows at most linearly with N (growth ratio <= N/N0) and by at most 1 s per extra host.
``--no-storage`` runs the lab with ``storage=0`` (no Ceph at all), which removes the fixed cost of the
Ceph plays from every size. Wall-clock figures on a shared 2-core machine vary from run to run: they
are printed, never asserted by tests. Needs root. Exit 0 when the target holds, 3 when it is missed,
1 when a command failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lab import Quiet, lab_stack_file

ROOT = Path(__file__).resolve().parents[1]
NAME = "scalelab"
OCTET = 240  # 172.31.240.0/24 (management) and 172.31.241.0/24 (compute)
FULL_NODES = 3  # stacks/lab.py's default: the Ceph nodes; every other host is a light node
TARGET_SLOPE_S = 1.0  # no-op up: at most this many seconds per extra host
LINEAR_TOLERANCE = 1.0  # growth ratio / host ratio above this is worse than linear


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def machine_busy_s() -> float:
    """CPU seconds every process on this machine has spent so far (all cores, from /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


class Failed(Exception):
    """A dcinfra command failed."""


def run_cli(argv: Sequence[str], *, timeout_s: float, ok_codes: tuple[int, ...] = (0,)) -> dict[str, Any]:
    """Run ``python3 -m dcinfra ARGV --json``; returns wall, controller CPU, machine CPU and the JSON."""
    cmd = [sys.executable, "-m", "dcinfra", *argv, "--json"]
    cpu0, busy0, t0 = children_cpu_s(), machine_busy_s(), time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=ROOT, check=False)
    wall = time.perf_counter() - t0
    cpu, busy = children_cpu_s() - cpu0, machine_busy_s() - busy0
    if res.returncode not in ok_codes:
        tail = (res.stderr.strip() or res.stdout.strip())[-2000:]
        raise Failed(f"`dcinfra {' '.join(argv)}` exited {res.returncode}:\n{tail}")
    try:
        doc = json.loads(res.stdout)
    except json.JSONDecodeError:
        doc = {}
    return {"wall_s": wall, "controller_cpu_s": cpu, "machine_cpu_s": busy, "rc": res.returncode, "doc": doc}


def _ts(value: str) -> float:
    return dt.datetime.fromisoformat(value).timestamp()


def play_times(artifacts_dir: str) -> list[dict[str, Any]]:
    """Per play of a run, from its job events: wall seconds (play start to the next play's start),
    tasks started, host results, and the sum of the per-host task durations."""
    events_dir = Path(artifacts_dir) / "job_events"
    if not events_dir.is_dir():
        return []
    events = []
    for f in events_dir.glob("*.json"):
        try:
            events.append(json.loads(f.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    events.sort(key=lambda e: e.get("counter", 0))
    plays: list[dict[str, Any]] = []
    end = None
    for e in events:
        kind, data = e.get("event", ""), e.get("event_data") or {}
        created = e.get("created")
        if kind == "playbook_on_play_start" and created:
            if plays:
                plays[-1]["end"] = _ts(created)
            plays.append({"play": data.get("play", "?"), "start": _ts(created), "tasks": 0, "results": 0})
            plays[-1]["task_s"] = 0.0
        elif kind == "playbook_on_task_start" and plays:
            plays[-1]["tasks"] += 1
        elif kind.startswith("runner_on_") and plays and "duration" in data:
            plays[-1]["results"] += 1
            plays[-1]["task_s"] += float(data.get("duration") or 0.0)
        if created:
            end = _ts(created)
    if plays and end is not None:
        plays[-1].setdefault("end", end)
    out = []
    for p in plays:
        out.append(
            {
                "play": p["play"],
                "wall_s": round(p.get("end", p["start"]) - p["start"], 3),
                "tasks": p["tasks"],
                "results": p["results"],
                "task_s": round(p["task_s"], 3),
            }
        )
    return out


def measure(stack: Path, state: Path, size: int, rounds: int, storage: bool) -> dict[str, Any]:
    """Cold up, no-op up and preview of one lab of ``size`` hosts; the lab is destroyed afterwards."""
    config = ["-c", f"light_nodes={size - FULL_NODES}"]
    if not storage:
        config += ["-c", "storage=0"]
    common = [str(stack), *config, "--state-dir", str(state)]
    timeout = 1800 + 60 * size
    out: dict[str, Any] = {"hosts": size}
    try:
        log(f"[{size} hosts] cold up ...")
        cold = run_cli(["up", *common, "--yes", "--skip-verify"], timeout_s=timeout)
        created = len(cold["doc"].get("created", []))
        out["cold_up"] = {k: v for k, v in cold.items() if k != "doc"} | {"created": created}
        log(f"[{size} hosts] cold up {cold['wall_s']:.1f} s ({created} nodes created)")
        noops = []
        for i in range(rounds):
            r = run_cli(["up", *common, "--yes", "--skip-verify"], timeout_s=timeout)
            conf = r["doc"].get("configure") or {}
            changed = sum(int(h.get("changed", 0)) for h in (conf.get("hosts") or {}).values())
            r["changed"] = changed
            r["ansible_s"] = conf.get("duration_s")
            r["plays"] = play_times(conf.get("artifacts_dir", ""))
            del r["doc"]
            noops.append(r)
            log(f"[{size} hosts] no-op up {i + 1}/{rounds}: {r['wall_s']:.1f} s (changed={changed})")
        out["noop_up"] = min(noops, key=lambda r: r["wall_s"])
        out["noop_up"]["runs_s"] = [round(r["wall_s"], 2) for r in noops]
        previews = []
        for i in range(rounds):
            # preview exits 0 (nothing to change) or 2 only with --expect-no-changes; 0 is expected here.
            r = run_cli(["preview", *common], timeout_s=timeout)
            del r["doc"]
            previews.append(r)
            log(f"[{size} hosts] preview {i + 1}/{rounds}: {r['wall_s']:.1f} s")
        out["preview"] = min(previews, key=lambda r: r["wall_s"])
        out["preview"]["runs_s"] = [round(r["wall_s"], 2) for r in previews]
    finally:
        log(f"[{size} hosts] destroy ...")
        t0 = time.perf_counter()
        try:
            run_cli(["destroy", *common, "--yes", "--destroy-data"], timeout_s=900)
        except (Failed, subprocess.TimeoutExpired) as e:
            log(f"[{size} hosts] destroy failed ({e}); tearing the lab down in-process")
            try:
                teardown(stack, state, config)
            except Exception as e2:  # the lab may be left behind: say where its state is
                out["destroy_error"] = f"{e}; in-process teardown: {e2!r}"
                log(f"[{size} hosts] teardown failed too: {e2!r}; state kept in {state}")
        out["destroy_s"] = time.perf_counter() - t0
    return out


def teardown(stack: Path, state: Path, config: list[str]) -> None:
    """Remove the lab through the site API when the CLI cannot (every namespace, veth, process, dir)."""
    from dcinfra.config import Config
    from dcinfra.loader import load_stack
    from dcinfra.plan import compile_plan
    from dcinfra.sites.lab import Lab
    from dcinfra.state import StateDir

    values = dict(kv.split("=", 1) for kv in config[1::2])
    plan = compile_plan(load_stack(stack, Config(values)))
    Lab(plan, StateDir(state / NAME)).teardown(Quiet())


def growth(results: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Per size: seconds, slope from the previous size (s per extra host), ratio to the smallest."""
    base = results[0]
    rows = []
    prev = None
    for r in results:
        t = r[key]["wall_s"]
        row = {"hosts": r["hosts"], "wall_s": round(t, 2)}
        if prev is not None:
            row["slope_s_per_host"] = round((t - prev[key]["wall_s"]) / (r["hosts"] - prev["hosts"]), 3)
        row["time_ratio"] = round(t / base[key]["wall_s"], 3)
        row["host_ratio"] = round(r["hosts"] / base["hosts"], 3)
        rows.append(row)
        prev = r
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 8, 16], help="hosts per lab (>= 3)")
    parser.add_argument("--rounds", type=int, default=1, help="no-op ups and previews per size (best counts)")
    parser.add_argument("--no-storage", action="store_true", help="labs without Ceph (-c storage=0)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    args = parser.parse_args(argv)
    sizes = sorted(set(args.sizes))
    if sizes[0] < FULL_NODES:
        parser.error(f"--sizes: every size is at least {FULL_NODES} (the lab's full nodes)")
    if os.geteuid() != 0:
        parser.error("needs root (the lab creates namespaces)")
    results: list[dict[str, Any]] = []
    error = ""
    tmp = Path(tempfile.mkdtemp(prefix="dcinfra-scale-"))
    stack = lab_stack_file(tmp, NAME, OCTET)
    state = tmp / "state"
    for size in sizes:
        try:
            results.append(measure(stack, state, size, args.rounds, not args.no_storage))
        except (Failed, subprocess.TimeoutExpired) as e:
            error = f"{size} hosts: {e}"
            log(error)
            break
    if any("destroy_error" in r for r in results) or error:
        log(f"state kept in {tmp} (check for a lab left behind: ip netns list | grep {NAME})")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    doc: dict[str, Any] = {"storage": not args.no_storage, "rounds": args.rounds, "results": results}
    ok = True
    if results:
        doc["growth"] = {k: growth(results, k) for k in ("cold_up", "noop_up", "preview")}
        noop = doc["growth"]["noop_up"]
        slopes = [r["slope_s_per_host"] for r in noop if "slope_s_per_host" in r]
        linear = all(r["time_ratio"] <= r["host_ratio"] * LINEAR_TOLERANCE for r in noop)
        gentle = all(s <= TARGET_SLOPE_S for s in slopes)
        clean = all(r["noop_up"]["changed"] == 0 for r in results)
        ok = linear and gentle and clean and len(results) > 1
        doc["target"] = {"linear": linear, "slope_ok": gentle, "noop_clean": clean, "pass": ok}
    if error:
        doc["error"] = error
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        report(doc)
    if error:
        return 1
    return 0 if ok else 3


def report(doc: dict[str, Any]) -> None:
    results = doc["results"]
    if not results:
        print(f"no size completed: {doc.get('error', '')}")
        return
    storage = "3 full nodes with Ceph" if doc["storage"] else "3 full nodes, no Ceph (storage=0)"
    print(f"cost as the lab grows ({storage} + light nodes; best of {doc['rounds']}; seconds):")
    print("  hosts  cold up  no-op up  preview   no-op: ctl CPU  machine CPU  ansible")
    for r in results:
        n = r["noop_up"]
        print(
            f"  {r['hosts']:5}  {r['cold_up']['wall_s']:7.1f}  {n['wall_s']:8.1f}"
            f"  {r['preview']['wall_s']:7.1f}   {n['controller_cpu_s']:13.1f}"
            f"  {n['machine_cpu_s']:11.1f}  {n['ansible_s'] or 0:7.1f}"
        )
    print("\n  marginal cost per extra host (slope from the previous size), s/host:")
    print("  hosts  cold up  no-op up  preview")
    g = doc["growth"]
    for i, r in enumerate(results[1:], start=1):
        c, n, p = (g[k][i]["slope_s_per_host"] for k in ("cold_up", "noop_up", "preview"))
        print(f"  {r['hosts']:5}  {c:7.2f}  {n:8.2f}  {p:7.2f}")
    print(f"\n  growth ratio time(N)/time({results[0]['hosts']}) beside N/{results[0]['hosts']}:")
    print("  hosts  N ratio  cold up  no-op up  preview")
    for i, r in enumerate(results):
        c, n, p = (g[k][i]["time_ratio"] for k in ("cold_up", "noop_up", "preview"))
        print(f"  {r['hosts']:5}  {g['noop_up'][i]['host_ratio']:7.2f}  {c:7.2f}  {n:8.2f}  {p:7.2f}")
    big = results[-1]
    print(f"\n  where no-op up's Ansible time goes at {big['hosts']} hosts (per play, from the job events):")
    print("    wall s  tasks  results  sum task s  play")
    for p in big["noop_up"]["plays"]:
        print(f"    {p['wall_s']:6.1f}  {p['tasks']:5}  {p['results']:7}  {p['task_s']:10.1f}  {p['play']}")
    if "target" in doc:
        t = doc["target"]
        verdict = "PASS" if t["pass"] else "MISS"
        print(
            f"\n  no-op up target (grows at most linearly; <= {TARGET_SLOPE_S:.0f} s per extra host; "
            f"changed=0): linear {t['linear']}, slope {t['slope_ok']}, no-op {t['noop_clean']}: {verdict}"
        )
    if "error" in doc:
        print(f"\n  stopped early: {doc['error']}")


if __name__ == "__main__":
    sys.exit(main())
