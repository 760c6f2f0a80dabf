#!/usr/bin/python3
"""slurm-ctl: the slurm role's reconciler over sacctmgr, sinfo and scontrol (installed by the role).

Every subcommand reads Slurm, compares it with what the plan asks for, changes only what differs
(nothing with --check) and prints ONE JSON object on stdout, so each Ansible task reports `changed`
truthfully. Errors go to stderr with a non-zero exit. Python stdlib only.

    slurm-ctl accounts --cluster C --accounts JSON [--tres-timeout S] [--check]
        one QOS per tenant (GrpTRES as planned), one account per tenant under root (fairshare, that
        QOS as its only and default QOS), user root in each account
        -> {"changed": ["qos team-a added", ...]}
    slurm-ctl nodes --nodes a,b,c [--timeout S] [--delay S] [--resume-reason R ...] [--check]
        waits until every node is in service or held (idle, mixed, allocated or completing, responding);
        a node DOWN only for one of the resume reasons (slurmd went away and came back) is resumed
        once it responds; a node drained or down for any other reason fails the wait with that reason
        -> {"states": {node: "idle", ...}, "resumed": [...], "held": {node: reason}}
        a node an operator drained (a Reason not starting with "dcinfra") is held, not a failure: it
        stays out of service until its operator resumes it
    slurm-ctl drain --nodes a,b --reason R [--timeout S] [--delay S] [--check]
        drains each node that is not drained yet with Reason R (a node already drained, by an operator
        or by an earlier run, keeps its Reason) and waits until none of them runs a job (DRAINED, not
        DRAINING); fails after S seconds naming the nodes still busy and their jobs
        -> {"drained": [set now], "kept": {node: its other Reason}, "states": {node: "IDLE+DRAIN"}}
    slurm-ctl resume --nodes a,b --reason R [--timeout S] [--delay S] [--check]
        waits until each node responds (its slurmd registered again), then resumes the nodes drained
        with a Reason starting with R; a node drained for another reason stays drained
        -> {"resumed": [...], "kept": {node: reason}}
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from typing import Any

CMD_TIMEOUT_S = 30
SLURMD_LOG = "/var/log/slurm/slurmd.log"  # SlurmdLogFile= of the rendered slurm.conf
IN_SERVICE = {"idle", "mixed", "allocated", "completing"}
# Flags sinfo appends to a state (man sinfo, NODE STATE CODES): not responding, power saving, ...
STATE_FLAGS = "*~#!%$@^-"
# States that stay until someone acts (a drain, an invalid registration): after STUCK_POLLS polls in a
# row the wait fails at once instead of running out its time.
STUCK = {"drained", "draining", "drain", "inval", "fail", "failing"}
STUCK_POLLS = 3
DRAINS = {"drained", "draining", "drain"}
# Reasons dcinfra sets ("dcinfra-health: ...", "dcinfra: rolling ..."): any other Reason is an operator's.
OURS = "dcinfra"


class CtlError(Exception):
    """A Slurm command failed, or the cluster did not converge in time; the message says which."""


def run(argv: list[str]) -> str:
    try:
        res = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=CMD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise CtlError(f"`{' '.join(argv)}` did not answer within {CMD_TIMEOUT_S} s") from None
    if res.returncode != 0:
        why = res.stderr.strip() or res.stdout.strip()
        raise CtlError(f"`{' '.join(argv)}` failed ({res.returncode}): {why}")
    return res.stdout


def rows(text: str) -> list[list[str]]:
    """Parsable (-P) output: one row per line, fields split on '|'."""
    return [line.split("|") for line in text.splitlines() if line.strip()]


def tres_set(text: str) -> set[str]:
    """'node=8,gres/gpu=64' -> {'gres/gpu=64', 'node=8'} (sacctmgr prints TRES in its own order)."""
    return {t.strip() for t in text.split(",") if t.strip()}


# --- accounts ----------------------------------------------------------------------------------------


def plan_accounts(
    cluster: str,
    accounts: list[dict[str, Any]],
    qos_rows: list[list[str]],
    assoc_rows: list[list[str]],
) -> list[tuple[str, list[str]]]:
    """(what, sacctmgr arguments) for every difference between Slurm's state and the planned accounts.

    qos_rows: `show qos format=name,grptres`; assoc_rows: `show assoc cluster=C
    format=account,user,fairshare,qos,defaultqos`.
    """
    qos = {r[0]: tres_set(r[1]) for r in qos_rows if len(r) >= 2}
    assoc = {(r[0], r[1]): r for r in assoc_rows if len(r) >= 5}
    out: list[tuple[str, list[str]]] = []
    for a in accounts:
        name, want = a["name"], tres_set(a.get("grp_tres", ""))
        if name not in qos:
            args = ["add", "qos", name] + ([f"GrpTRES={','.join(sorted(want))}"] if want else [])
            out.append((f"qos {name} added", args))
        elif qos[name] != want:
            # A limit no longer planned is removed by setting it to -1.
            gone = {t.split("=", 1)[0] for t in qos[name]} - {t.split("=", 1)[0] for t in want}
            setting = ",".join(sorted(want | {f"{k}=-1" for k in gone}))
            out.append(
                (
                    f"qos {name} GrpTRES {','.join(sorted(want)) or 'none'}",
                    ["modify", "qos", "where", f"name={name}", "set", f"GrpTRES={setting}"],
                )
            )
        share = str(a["fairshare"])
        row = assoc.get((name, ""))
        settings = [f"fairshare={share}", f"qos={name}", f"defaultqos={name}"]
        if row is None:
            out.append(
                (
                    f"account {name} added",
                    [
                        "add",
                        "account",
                        name,
                        f"cluster={cluster}",
                        "parent=root",
                        f"description=tenant {name}",
                        "organization=dcinfra",
                        *settings,
                    ],
                )
            )
        elif row[2] != share or set(row[3].split(",")) != {name} or row[4] != name:
            out.append(
                (
                    f"account {name} fairshare={share} qos={name}",
                    ["modify", "account", "where", f"name={name}", f"cluster={cluster}", "set", *settings],
                )
            )
        if (name, "root") not in assoc:
            out.append(
                (
                    f"user root added to account {name}",
                    ["add", "user", "root", f"account={name}", f"cluster={cluster}"],
                )
            )
    return out


def wait_tres(needed: set[str], timeout_s: float) -> None:
    """slurmctld registers the TRES of AccountingStorageTRES (gres/gpu) in the database when it starts:
    a QOS limit on one needs it there first."""
    deadline = time.monotonic() + timeout_s
    while True:
        have = {
            f"{r[0]}/{r[1]}" if r[1] else r[0]
            for r in rows(run(["sacctmgr", "-nP", "show", "tres", "format=type,name"]))
            if len(r) >= 2
        }
        missing = needed - have
        if not missing:
            return
        if time.monotonic() >= deadline:
            raise CtlError(
                f"TRES {', '.join(sorted(missing))} not in the accounting database after {timeout_s:g} s "
                "(slurmctld adds those of AccountingStorageTRES when it registers with slurmdbd: is it "
                "running, and does slurm.conf list them?)"
            )
        time.sleep(2)


def cmd_accounts(args: argparse.Namespace) -> dict[str, Any]:
    accounts = json.loads(args.accounts)
    needed = {t.split("=", 1)[0] for a in accounts for t in tres_set(a.get("grp_tres", ""))}
    if not args.check:
        wait_tres({t for t in needed if "/" in t}, args.tres_timeout)
    qos_rows = rows(run(["sacctmgr", "-nP", "show", "qos", "format=name,grptres"]))
    assoc_rows = rows(
        run(
            [
                "sacctmgr",
                "-nP",
                "show",
                "assoc",
                f"cluster={args.cluster}",
                "format=account,user,fairshare,qos,defaultqos",
            ]
        )
    )
    changes = plan_accounts(args.cluster, accounts, qos_rows, assoc_rows)
    if not args.check:
        for _what, argv in changes:
            run(["sacctmgr", "-i", *argv])
    return {"changed": [what for what, _ in changes]}


# --- nodes -------------------------------------------------------------------------------------------


def node_states(text: str) -> dict[str, tuple[str, str]]:
    """`sinfo -h -N -o '%N|%T|%E'` -> {node: (state, reason)}; a node in several partitions once."""
    out: dict[str, tuple[str, str]] = {}
    for r in rows(text):
        if len(r) >= 3:
            out.setdefault(r[0], (r[1], "|".join(r[2:]).strip()))
    return out


def verdict(state: str, reason: str, resume_reasons: set[str]) -> str:
    """'ok'; 'held' (drained by an operator: a Reason not starting with "dcinfra", kept as it is);
    'resume' (down only because slurmd went away, and it responds again); 'stuck' (drained by dcinfra,
    failed, down for another reason or with an invalid registration: no change without someone acting);
    'wait' (unknown, not responding yet, powering up: may still come)."""
    base = state.rstrip(STATE_FLAGS)
    responding = "*" not in state
    if base in IN_SERVICE and responding:
        return "ok"
    if base in DRAINS and responding and reason and not reason.startswith(OURS):
        return "held"
    if base == "down" and responding and reason in resume_reasons:
        return "resume"
    if responding and (base in STUCK or base == "down"):
        return "stuck"
    return "wait"


def describe(states: dict[str, tuple[str, str]], names: list[str]) -> str:
    parts = []
    for n in names:
        if n not in states:
            parts.append(f"{n}: unknown to slurmctld (is it in slurm.conf, and does slurmctld run?)")
        elif states[n][0].startswith("unknown") or "*" in states[n][0]:
            state, reason = states[n]
            why = f", {reason}" if reason and reason != "none" else ""
            parts.append(f"{n}: {state} (slurmd not answering{why}: is it running there? see {SLURMD_LOG})")
        else:
            state, reason = states[n]
            why = f" ({reason})" if reason and reason != "none" else ""
            parts.append(f"{n}: {state}{why}")
    return "; ".join(parts)


def cmd_nodes(args: argparse.Namespace) -> dict[str, Any]:
    names = [n for n in args.nodes.split(",") if n]
    resume_reasons = set(args.resume_reason or [])
    deadline = time.monotonic() + args.timeout
    resumed: list[str] = []
    stuck: dict[str, int] = {}
    while True:
        try:
            states = node_states(run(["sinfo", "-h", "-N", "-n", ",".join(names), "-o", "%N|%T|%E"]))
        except CtlError as e:
            if args.check:
                return {"states": {}, "resumed": [], "error": str(e)}
            if time.monotonic() >= deadline:
                raise
            time.sleep(args.delay)
            continue
        verdicts = {n: verdict(*states[n], resume_reasons) if n in states else "wait" for n in names}
        if args.check:
            return {
                "states": {n: states.get(n, ("unknown", ""))[0] for n in names},
                "resumed": [],
                "would_resume": [n for n, v in verdicts.items() if v == "resume"],
            }
        for n, v in verdicts.items():
            if v == "resume" and n not in resumed:
                run(["scontrol", "update", f"nodename={n}", "state=resume"])
                resumed.append(n)
            stuck[n] = stuck.get(n, 0) + 1 if v == "stuck" else 0
        if all(v in ("ok", "held") for v in verdicts.values()):
            return {
                "states": {n: states[n][0] for n in names},
                "resumed": resumed,
                "held": {n: states[n][1] for n, v in verdicts.items() if v == "held"},
            }
        bad = [n for n, v in verdicts.items() if v not in ("ok", "held")]
        if any(c >= STUCK_POLLS for c in stuck.values()):
            raise CtlError(
                f"not in service, and will not be without someone acting: {describe(states, bad)}. Once the "
                "cause is fixed: scontrol update nodename=<node> state=resume"
            )
        if time.monotonic() >= deadline:
            raise CtlError(f"not in service after {args.timeout:g} s: {describe(states, bad)}")
        time.sleep(args.delay)


# --- drain and resume (rolling changes, scale-in) -----------------------------------------------------

BUSY = {"ALLOCATED", "MIXED", "COMPLETING"}  # flags of a node that still runs (or cleans up) a job


def parse_node(text: str) -> tuple[set[str], bool, str]:
    """(state flags, responding, reason) from `scontrol -o show node NAME`: `State=MIXED+DRAIN` ->
    {MIXED, DRAIN}; `IDLE*+DRAIN` is not responding. Reason is the last field, free text followed by
    `[<user>@<time>]` (the same parsing as dcinfra-slurm-health)."""
    state = re.search(r"(?:^|\s)State=(\S+)", text)
    word = state.group(1).upper() if state else ""
    flags = set(word.replace("*", "").split("+")) - {""}
    reason = re.search(r"(?:^|\s)Reason=(.*)$", text.strip())
    why = re.sub(r"\s*\[[^\]]*@[^\]]*\]$", "", reason.group(1)).strip() if reason else ""
    return flags, "*" not in word, why


def show_node(name: str) -> tuple[set[str], bool, str]:
    return parse_node(run(["scontrol", "-o", "show", "node", name]))


def drained(flags: set[str]) -> bool:
    """Drained and idle (or down): no job runs there any more (DRAINED in sinfo's words). UNKNOWN (a
    slurmctld just restarted, before the node registers again) is not known to be idle: wait."""
    return "DRAIN" in flags and bool(flags & {"IDLE", "DOWN"}) and not flags & BUSY


def cmd_drain(args: argparse.Namespace) -> dict[str, Any]:
    names = [n for n in args.nodes.split(",") if n]
    out: dict[str, Any] = {"drained": [], "kept": {}, "states": {}}
    for n in names:
        flags, _responding, reason = show_node(n)
        if "DRAIN" in flags:
            if not reason.startswith(args.reason):
                out["kept"][n] = reason  # an operator's (or the health check's) drain: theirs to lift
            continue
        if not args.check:
            run(["scontrol", "update", f"nodename={n}", "state=drain", f"reason={args.reason}"])
        out["drained"].append(n)
    if args.check:
        out["would_drain"] = out.pop("drained")
        return out
    deadline = time.monotonic() + args.timeout
    while True:
        flags_of = {n: show_node(n)[0] for n in names}
        out["states"] = {n: "+".join(sorted(f)) for n, f in flags_of.items()}
        busy = [n for n, f in flags_of.items() if not drained(f)]
        if not busy:
            return out
        if time.monotonic() >= deadline:
            jobs = run(["squeue", "-h", "-w", ",".join(busy), "-t", "RUNNING,COMPLETING", "-o", "%i@%N"])
            raise CtlError(
                f"still running jobs after {args.timeout:g} s of draining: "
                + "; ".join(f"{n} ({out['states'][n]})" for n in busy)
                + (f"; jobs: {' '.join(jobs.split())}" if jobs.strip() else "")
                + ". They stay drained (no new jobs); the next run waits again, or cancel the jobs, or "
                "raise Stack.rollout.drain_timeout_s"
            )
        time.sleep(args.delay)


def cmd_resume(args: argparse.Namespace) -> dict[str, Any]:
    names = [n for n in args.nodes.split(",") if n]
    out: dict[str, Any] = {"resumed": [], "kept": {}}
    deadline = time.monotonic() + args.timeout
    for n in names:
        while True:
            flags, responding, reason = show_node(n)
            if responding or args.check or time.monotonic() >= deadline:
                break
            time.sleep(args.delay)
        if "DRAIN" not in flags:
            continue
        if not reason.startswith(args.reason):
            out["kept"][n] = reason
            continue
        if not responding and not args.check:
            raise CtlError(
                f"{n} does not respond after {args.timeout:g} s (is its slurmd running? see {SLURMD_LOG}); "
                "left drained"
            )
        if not args.check:
            run(["scontrol", "update", f"nodename={n}", "state=resume"])
        out["resumed"].append(n)
    if args.check:
        out["would_resume"] = out.pop("resumed")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="slurm-ctl")
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("accounts")
    a.add_argument("--cluster", required=True)
    a.add_argument("--accounts", required=True, help="JSON list of the plan's accounts")
    a.add_argument("--tres-timeout", type=float, default=60)
    a.add_argument("--check", action="store_true")
    n = sub.add_parser("nodes")
    n.add_argument("--nodes", required=True, help="comma-separated node names")
    n.add_argument("--timeout", type=float, default=120)
    n.add_argument("--delay", type=float, default=2)
    n.add_argument("--resume-reason", action="append")
    n.add_argument("--check", action="store_true")
    for name in ("drain", "resume"):
        d = sub.add_parser(name)
        d.add_argument("--nodes", required=True, help="comma-separated node names")
        d.add_argument("--reason", required=True, help="the Reason dcinfra drains with (resume: its prefix)")
        d.add_argument("--timeout", type=float, default=600)
        d.add_argument("--delay", type=float, default=2)
        d.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    commands = {"accounts": cmd_accounts, "nodes": cmd_nodes, "drain": cmd_drain, "resume": cmd_resume}
    try:
        out = commands[args.cmd](args)
    except CtlError as e:
        print(f"slurm-ctl {args.cmd}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
