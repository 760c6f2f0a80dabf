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
        waits until every node is in service (idle, mixed, allocated or completing, responding);
        a node DOWN only for one of the resume reasons (slurmd went away and came back) is resumed
        once it responds; a node drained or down for any other reason fails the wait with that reason
        -> {"states": {node: "idle", ...}, "resumed": [...]}
"""

from __future__ import annotations

import argparse
import json
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
    """'ok'; 'resume' (down only because slurmd went away, and it responds again); 'stuck' (drained,
    failed, down for another reason or with an invalid registration: no change without someone acting);
    'wait' (unknown, not responding yet, powering up: may still come)."""
    base = state.rstrip(STATE_FLAGS)
    responding = "*" not in state
    if base in IN_SERVICE and responding:
        return "ok"
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
        if all(v == "ok" for v in verdicts.values()):
            return {"states": {n: states[n][0] for n in names}, "resumed": resumed}
        bad = [n for n, v in verdicts.items() if v != "ok"]
        if any(c >= STUCK_POLLS for c in stuck.values()):
            raise CtlError(
                f"not in service, and will not be without someone acting: {describe(states, bad)}. Once the "
                "cause is fixed: scontrol update nodename=<node> state=resume"
            )
        if time.monotonic() >= deadline:
            raise CtlError(f"not in service after {args.timeout:g} s: {describe(states, bad)}")
        time.sleep(args.delay)


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
    args = ap.parse_args(argv)
    try:
        out = cmd_accounts(args) if args.cmd == "accounts" else cmd_nodes(args)
    except CtlError as e:
        print(f"slurm-ctl {args.cmd}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
