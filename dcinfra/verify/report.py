"""Expected vs measured: the verify report, its verdicts, its terminal table and its exit code. Pure.

:func:`build_report` takes the plan's :class:`~dcinfra.plan.types.VerifyPlan` (the thresholds), the
JSON the bench wrote (``dcinfra.verify.bench/1``) and the iperf3 pairs, and returns a
:class:`VerifyReport`. Its JSON form is documented by ``report.schema.json`` next to this module.

Verdicts, per check:

* ``pass`` - measured meets the threshold;
* ``fail`` - a threshold missed, or a declared fact not found (preflight), wrong collective results,
  a loss that did not fall: the cluster does not perform as declared (exit code 3);
* ``error`` - the check could not run: a phase raised, hung or a rank died (exit code 1);
* ``info`` - measured and reported, not gated (no expected value for it);
* ``skipped`` - the phase was not requested in this run (a requested phase without a result, or a
  planned iperf3 pair without one, is an ``error``: a check that could not measure never passes).

Gates:

* all-reduce busbw: the **maximum busbw over the largest** :data:`GATE_SIZES` **message sizes**
  (large messages are bandwidth-bound; small ones measure latency, and an average over sizes would
  gate on latency), against ``expected_busbw_GBps x min_busbw_fraction``;
* link: the slowest iperf3 pair against ``expected_link_GBps x min_busbw_fraction``;
* GEMM (GPUs): the slowest device against ``gemm_peak_tflops x`` :data:`GEMM_MIN_FRACTION`; on CPUs
  the peak is an estimate (cores x a per-core figure), so the GEMM is reported, not gated;
* training: the loss must fall by :data:`LOSS_MIN_DROP` (loss_last <= loss_first x (1 - drop));
* storage (only when the plan has Ceph; :mod:`dcinfra.verify.storage`): Ceph health OK (or only the
  warnings the ceph role accepts on a lab), ``rados bench`` write and read, and a CephFS write and
  read back on every compute host, with the content checked; the JSON gains a ``storage`` section;
* scheduler (only when the benchmark ran as a Slurm job; :mod:`dcinfra.verify.slurm_job`): the job's id,
  state, queue wait and run time in a ``scheduler`` section (null for the direct launch); a job that did
  not end COMPLETED is an ``error`` with the Slurm state.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.table import Table
from rich.text import Text

from dcinfra.errors import EXIT_ERROR, EXIT_OK, EXIT_VERIFY_MISSED
from dcinfra.plan.types import ExpectedBandwidth, VerifyPlan
from dcinfra.verify.check import Check, Verdict
from dcinfra.verify.link import LinkPair
from dcinfra.verify.storage import storage_report

SCHEMA_VERSION = "dcinfra.verify.report/1"
SCHEMA_PATH = Path(__file__).with_name("report.schema.json")  # JSON Schema of VerifyReport.to_json()
COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all")
# The CLI's exit codes (dcinfra.errors): 1 when the verification could not complete (a phase raised,
# hung, a rank died, a measurement is missing), 3 when the cluster was measured and missed a threshold.
EXIT_MISSED = EXIT_VERIFY_MISSED

GATE_SIZES = 3  # busbw gate: the best of the largest three message sizes
# A GPU's bf16 GEMM must reach 60% of the catalog's dense peak. Large cuBLAS GEMMs are math-bound
# and run close to peak ("Matrix Multiplication Background", NVIDIA Deep Learning Performance Guide,
# https://docs.nvidia.com/deeplearning/performance/dl-performance-matrix-multiplication/index.html);
# the datasheet peak assumes boost clocks that power capping lowers under sustained load, so we set
# the floor well below peak: a GPU under it is throttled, misconfigured (power cap, clocks, PCIe) or
# broken, not merely unlucky.
GEMM_MIN_FRACTION = 0.60
GEMM_SOURCE = (
    "https://docs.nvidia.com/deeplearning/performance/dl-performance-matrix-multiplication/index.html"
)
LOSS_MIN_DROP = 0.10  # the training loss must fall by at least 10% between the first and last step


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The verify stage's record: verdicts plus every measurement behind them."""

    stack: str
    created_at: str  # ISO 8601 UTC, supplied by the caller (the report itself reads no clock)
    backend: str  # "nccl" or "gloo"
    world_size: int  # ranks in the run (0 when it never started)
    hosts: tuple[str, ...]  # compute hosts in rank order (from the plan)
    passed: bool  # every check passed or is informational
    exit_code: int  # 0 passed, 3 a threshold missed, 1 an error
    checks: tuple[Check, ...]
    error: dict[str, Any] | None  # the bench's error: phase, step, message, culprits (rank, node, reason)
    attribution: tuple[dict[str, Any], ...]  # {"node", "check", "reason"}: who to look at first
    preflight: dict[str, Any]  # {"checked", "nodes": {node: facts}, "mismatches": [...]}
    link: dict[str, Any]  # {"iperf3_GBps", "expected_GBps", "pairs", "slowest"}
    collectives: dict[str, list[dict[str, Any]]]  # name -> rows (size_bytes, time_us, algbw_GBps, busbw_GBps)
    collective_summary: dict[str, dict[str, Any]]  # name -> factor, large-message busbw, correctness
    gemm: dict[str, Any]  # {"tflops", "peak_tflops", "fraction_of_peak", "dtype", "slowest", "per_rank"}
    training: dict[str, Any]  # {"loss_first", "loss_last", "tokens_per_s", "mfu", ...}
    expected: dict[str, Any]  # thresholds and their sources
    ranks: tuple[dict[str, Any], ...] = field(default=())  # rank -> node, device
    # {"cluster", "probe_host", "health", "rados", "cephfs"}; None (and absent from the JSON) without Ceph
    storage: dict[str, Any] | None = None
    # The batch job the benchmark ran as (dcinfra.verify.slurm_job.scheduler_section): job id, state,
    # queue wait, run time, TRES; None (null in the JSON) for the direct launch of stacks without Slurm
    scheduler: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The documented JSON form (``report.schema.json``); ``storage`` only when the plan has Ceph;
        ``scheduler`` null unless the benchmark ran as a Slurm job."""
        doc = {
            "schema_version": SCHEMA_VERSION,
            "stack": self.stack,
            "created_at": self.created_at,
            "backend": self.backend,
            "world_size": self.world_size,
            "hosts": list(self.hosts),
            "ranks": list(self.ranks),
            "passed": self.passed,
            "exit_code": self.exit_code,
            "checks": [c.to_dict() for c in self.checks],
            "error": self.error,
            "attribution": list(self.attribution),
            "preflight": self.preflight,
            "link": self.link,
            "collectives": self.collectives,
            "collective_summary": self.collective_summary,
            "gemm": self.gemm,
            "training": self.training,
            "expected": self.expected,
            "scheduler": self.scheduler,
        }
        if self.storage is not None:
            doc["storage"] = self.storage
        return doc


def exit_code(report: VerifyReport) -> int:
    """The CLI's exit status: 1 on an error, 3 when a threshold is missed, else 0."""
    return report.exit_code


def large_message_busbw(
    rows: Sequence[Mapping[str, Any]], gate_sizes: int = GATE_SIZES
) -> tuple[float | None, list[int]]:
    """(max busbw over the largest ``gate_sizes`` sizes, those sizes); (None, []) without rows."""
    if not rows:
        return None, []
    top = sorted(rows, key=lambda r: int(r["size_bytes"]))[-gate_sizes:]
    return max(float(r["busbw_GBps"]) for r in top), [int(r["size_bytes"]) for r in top]


def _phase_state(measured: Mapping[str, Any], phase: str) -> Literal["ok", "error", "skipped"]:
    """ok: measured; error: requested (or the run's phases unknown) but no result; skipped: the run
    did not ask for it."""
    if isinstance(measured.get(phase), Mapping):
        return "ok"
    phases = measured.get("phases") or []
    if phase in phases or not phases:
        return "error"
    return "skipped"


def _error_check(
    name: str, unit: str, measured: Mapping[str, Any], phase: str, expected: float | None = None
) -> Check:
    err = measured.get("error") or {}
    where = err.get("phase")
    if not err:
        detail = "no result: the phase was requested but the benchmark wrote none for it"
    elif where is None or where == phase:
        detail = f"failed: {err.get('message')}"
    else:
        detail = f"not reached: the run stopped in phase {where!r}"
    culprits = err.get("culprits") or []
    node = culprits[0].get("node") if culprits else None
    return Check(name, "error", unit, expected, None, None, "min", node, detail)


def _skipped(name: str, unit: str, expected: float | None = None) -> Check:
    return Check(name, "skipped", unit, expected, None, None, "min", None, "phase not requested in this run")


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if abs(x) >= 10_000 else f"{x:.{digits}f}"


def _preflight(measured: Mapping[str, Any]) -> tuple[Check, dict[str, Any]]:
    state = _phase_state(measured, "preflight")
    section: dict[str, Any] = {"checked": False, "nodes": {}, "mismatches": []}
    if state == "error":
        return _error_check("preflight", "mismatches", measured, "preflight"), section
    if state == "skipped":
        return _skipped("preflight", "mismatches"), section
    pf = measured["preflight"]
    mismatches = list(pf.get("mismatches") or [])
    section = {
        "checked": bool(pf.get("checked")),
        "nodes": dict(pf.get("nodes") or {}),
        "mismatches": mismatches,
    }
    errors = [m for m in mismatches if m.get("severity") == "error"]
    if not section["checked"]:
        return Check(
            "preflight",
            "info",
            "mismatches",
            0.0,
            float(len(errors)),
            None,
            "max",
            None,
            "no declared facts given",
        ), section
    if errors:
        items = "; ".join(str(m.get("message")) for m in errors[:5])
        more = f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""
        node = str(errors[0].get("node"))
        return Check(
            "preflight", "fail", "mismatches", 0.0, float(len(errors)), 0.0, "max", node, items + more
        ), section
    warn = [m for m in mismatches if m.get("severity") != "error"]
    detail = f"{len(section['nodes'])} node(s) as declared" + (f"; {len(warn)} warning(s)" if warn else "")
    return Check("preflight", "pass", "mismatches", 0.0, 0.0, 0.0, "max", None, detail), section


def _link(
    verify: VerifyPlan, pairs: Sequence[LinkPair], missing: Sequence[tuple[str, str, str]] = ()
) -> tuple[Check, dict[str, Any]]:
    expected = verify.expected_link_GBps
    threshold = expected * verify.min_busbw_fraction if expected is not None else None
    section: dict[str, Any] = {
        "iperf3_GBps": None,
        "expected_GBps": expected,
        "threshold_GBps": threshold,
        "pairs": [p.to_dict() for p in pairs],
        "slowest": None,
    }
    if missing:
        # A planned pair without a result: the link was not measured, so it cannot pass.
        section["missing"] = [{"src": a, "dst": b, "reason": why} for a, b, why in missing]
        src, dst, why = missing[0]
        more = f" (+{len(missing) - 1} more)" if len(missing) > 1 else ""
        detail = f"no iperf3 result for {src} -> {dst}: {why}{more}"
        return Check("link", "error", "GB/s", expected, None, threshold, "min", src, detail), section
    if not pairs:
        if len(verify.hosts) > 1:
            detail = f"no iperf3 pair measured between the {len(verify.hosts)} compute hosts"
            return Check("link", "error", "GB/s", expected, None, threshold, "min", None, detail), section
        detail = "one compute host: there is no link to measure"
        return Check("link", "skipped", "GB/s", expected, None, threshold, "min", None, detail), section
    slowest = min(pairs, key=lambda p: p.GBps)
    # The ring all-reduce is only as fast as its slowest link: that is the fabric's figure.
    section["iperf3_GBps"] = slowest.GBps
    section["slowest"] = slowest.to_dict()
    detail = f"slowest pair {slowest.src} -> {slowest.dst}: {slowest.GBps:.3f} GB/s over {len(pairs)} pair(s)"
    if threshold is None:
        return Check("link", "info", "GB/s", None, slowest.GBps, None, "min", slowest.src, detail), section
    verdict: Verdict = "pass" if slowest.GBps >= threshold else "fail"
    if verdict == "fail":
        ends = f"{slowest.src} and {slowest.dst}"
        detail += f" < {threshold:.3f} GB/s: check the NICs, cables and switch ports of {ends}"
    return Check(
        "link", verdict, "GB/s", expected, slowest.GBps, threshold, "min", slowest.src, detail
    ), section


def _collectives(
    verify: VerifyPlan,
    measured: Mapping[str, Any],
    link_GBps: float | None,
    slow_node: str | None,
    gate_sizes: int,
) -> tuple[list[Check], dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]]]:
    rows_by: dict[str, list[dict[str, Any]]] = {name: [] for name in COLLECTIVES}
    summary: dict[str, dict[str, Any]] = {}
    expected = verify.expected_busbw_GBps
    threshold = expected * verify.min_busbw_fraction if expected is not None else None
    checks: list[Check] = []
    state = _phase_state(measured, "collectives")
    if state == "error":
        checks.append(_error_check("correctness", "wrong elements", measured, "collectives"))
        checks.append(_error_check("busbw.all_reduce", "GB/s", measured, "collectives", expected))
        return checks, rows_by, summary
    if state == "skipped":
        checks += [_skipped("correctness", "wrong elements"), _skipped("busbw.all_reduce", "GB/s", expected)]
        return checks, rows_by, summary
    results: Mapping[str, Any] = measured["collectives"].get("results") or {}
    wrong_where: list[str] = []
    for name in COLLECTIVES:
        res = results.get(name)
        if not isinstance(res, Mapping):
            continue
        rows = [dict(r) for r in res.get("rows") or []]
        rows_by[name] = rows
        big, sizes = large_message_busbw(rows, gate_sizes)
        wrong = sum(int(r.get("wrong", 0)) for r in rows)
        if wrong:
            bad = [int(r["size_bytes"]) for r in rows if int(r.get("wrong", 0))]
            wrong_where.append(f"{name} ({wrong} wrong elements at sizes {bad[:4]})")
        summary[name] = {
            "busbw_factor": res.get("busbw_factor"),
            "correct": wrong == 0,
            "large_busbw_GBps": big,
            "gate_sizes_bytes": sizes,
            "expected_busbw_GBps": expected if name == "all_reduce" else None,
            "busbw_vs_iperf3": big / link_GBps if big is not None and link_GBps else None,
        }
    total_wrong = sum(int(r.get("wrong", 0)) for rows in rows_by.values() for r in rows)
    if wrong_where:
        checks.append(
            Check(
                "correctness",
                "fail",
                "wrong elements",
                0.0,
                float(total_wrong),
                0.0,
                "max",
                None,
                "wrong results: " + "; ".join(wrong_where) + " (a rank computes or transfers corrupt data)",
            )
        )
    else:
        checks.append(
            Check(
                "correctness",
                "pass",
                "wrong elements",
                0.0,
                0.0,
                0.0,
                "max",
                None,
                "every size of every collective",
            )
        )
    for name in COLLECTIVES:
        s = summary.get(name)
        if s is None:
            continue
        big = s["large_busbw_GBps"]
        sizes = s["gate_sizes_bytes"]
        where = f"max over the largest {len(sizes)} sizes ({_sizes(sizes)})"
        ratio = s["busbw_vs_iperf3"]
        if ratio is not None:
            where += f"; {ratio:.2f} x iperf3"
        if name == "all_reduce" and threshold is not None and big is not None:
            verdict: Verdict = "pass" if big >= threshold else "fail"
            detail = where
            if verdict == "fail":
                detail += f"; below {threshold:.3f} GB/s"
                if slow_node:
                    detail += f" (slowest link from {slow_node})"
            checks.append(
                Check(
                    f"busbw.{name}",
                    verdict,
                    "GB/s",
                    expected,
                    big,
                    threshold,
                    "min",
                    slow_node if verdict == "fail" else None,
                    detail,
                )
            )
        else:
            checks.append(Check(f"busbw.{name}", "info", "GB/s", None, big, None, "min", None, where))
    return checks, rows_by, summary


def _sizes(sizes: Sequence[int]) -> str:
    return ", ".join(human_bytes(s) for s in sizes)


def human_bytes(n: int) -> str:
    """``1024`` -> ``1K``, ``16777216`` -> ``16M`` (binary units, like nccl-tests' -b/-e)."""
    for unit, div in (("G", 2**30), ("M", 2**20), ("K", 2**10)):
        if n >= div and n % div == 0:
            return f"{n // div}{unit}"
    return f"{n}B"


def _gemm(verify: VerifyPlan, measured: Mapping[str, Any]) -> tuple[Check, dict[str, Any]]:
    peak = verify.gemm_peak_tflops
    gpu = verify.backend == "nccl"
    threshold = peak * GEMM_MIN_FRACTION if gpu else None
    section: dict[str, Any] = {
        "tflops": None,
        "peak_tflops": peak,
        "fraction_of_peak": None,
        "min_fraction": GEMM_MIN_FRACTION if gpu else None,
        "dtype": None,
        "slowest": None,
        "per_rank": [],
    }
    state = _phase_state(measured, "gemm")
    if state == "error":
        return _error_check("gemm", "TFLOPS", measured, "gemm", peak), section
    if state == "skipped":
        return _skipped("gemm", "TFLOPS", peak), section
    g = measured["gemm"]
    tflops = float(g["tflops"])
    slowest = dict(g.get("slowest") or {})
    section.update(
        tflops=tflops,
        fraction_of_peak=tflops / peak if peak else None,
        dtype=g.get("dtype"),
        slowest=slowest or None,
        per_rank=list(g.get("per_rank") or []),
    )
    node = slowest.get("node")
    detail = f"slowest device: rank {slowest.get('rank')} on {node}, {tflops:.3f} TFLOPS {g.get('dtype')}"
    if threshold is None:
        detail += f"; {tflops / peak:.2f} of the estimated CPU peak (not gated: the CPU peak is an estimate)"
        return Check("gemm", "info", "TFLOPS", peak, tflops, None, "min", node, detail), section
    verdict: Verdict = "pass" if tflops >= threshold else "fail"
    detail += f"; {tflops / peak:.2f} of peak (floor {GEMM_MIN_FRACTION:.2f})"
    if verdict == "fail":
        detail += f": check clocks, power cap and thermals of {node} (nvidia-smi -q -d CLOCK,POWER)"
    return Check("gemm", verdict, "TFLOPS", peak, tflops, threshold, "min", node, detail), section


def _training(measured: Mapping[str, Any]) -> tuple[list[Check], dict[str, Any]]:
    section: dict[str, Any] = {"loss_first": None, "loss_last": None, "tokens_per_s": None, "mfu": None}
    state = _phase_state(measured, "training")
    if state == "error":
        return [_error_check("training.loss", "loss", measured, "training")], section
    if state == "skipped":
        return [_skipped("training.loss", "loss")], section
    t = measured["training"]
    section = {k: t.get(k) for k in sorted(t)}
    first, last = float(t["loss_first"]), float(t["loss_last"])
    limit = first * (1 - LOSS_MIN_DROP)
    verdict: Verdict = "pass" if last <= limit else "fail"
    detail = f"loss {first:.4f} -> {last:.4f} over {t.get('steps')} steps (must reach <= {limit:.4f})"
    if verdict == "fail":
        detail += ": gradients are not averaged correctly, or the optimizer/data path is broken"
    checks = [Check("training.loss", verdict, "loss", first, last, limit, "max", None, detail)]
    tps = t.get("tokens_per_s")
    checks.append(
        Check(
            "training.tokens_per_s",
            "info",
            "tokens/s",
            None,
            float(tps) if tps is not None else None,
            None,
            "min",
            None,
            f"{t.get('timed_steps')} timed steps, all ranks together",
        )
    )
    mfu = t.get("mfu")
    note = "torchtitan FLOPs/token vs the catalog peak per device"
    if mfu is not None and mfu > 1:
        note += "; above 1: the catalog peak for this device is too low"
    checks.append(
        Check(
            "training.mfu",
            "info",
            "ratio",
            None,
            float(mfu) if mfu is not None else None,
            None,
            "min",
            None,
            note,
        )
    )
    return checks, section


def failed_run(message: str, *, node: str | None = None, phase: str | None = None) -> dict[str, Any]:
    """A bench result for a run that produced no JSON (torchrun failed to start, rank 0's node died).

    Feed it to :func:`build_report` like a real result: every check becomes ``error`` and the
    report names ``node``.
    """
    culprits = [{"rank": 0, "node": node, "reason": message}] if node else []
    return {
        "phases": [],
        "error": {"kind": "launch", "phase": phase, "message": message, "node": node, "culprits": culprits},
    }


def build_report(
    verify: VerifyPlan,
    measured: Mapping[str, Any],
    *,
    stack: str,
    created_at: str,
    link: Sequence[LinkPair] = (),
    link_missing: Sequence[tuple[str, str, str]] = (),
    expected: ExpectedBandwidth | None = None,
    gate_sizes: int = GATE_SIZES,
    storage: Mapping[str, Any] | None = None,
    scheduler: Mapping[str, Any] | None = None,
) -> VerifyReport:
    """The report for one run: ``measured`` is the bench JSON, ``link`` the iperf3 pairs (and
    ``link_missing`` the planned pairs without a readable result: (src, dst, why)), ``storage``
    what the storage checks kept (:func:`~dcinfra.verify.artifacts.load_storage`; used only when
    ``verify.storage`` is set, where a missing result is an error), ``scheduler`` the Slurm job the
    benchmark ran as (:func:`~dcinfra.verify.slurm_job.scheduler_section`; None: the direct launch;
    a job that did not complete is already an error in ``measured``)."""
    pf_check, pf = _preflight(measured)
    link_check, link_section = _link(verify, link, link_missing)
    slow_node = link_section["slowest"]["src"] if link_section["slowest"] else None
    coll_checks, rows_by, summary = _collectives(
        verify, measured, link_section["iperf3_GBps"], slow_node, gate_sizes
    )
    gemm_check, gemm_section = _gemm(verify, measured)
    train_checks, train_section = _training(measured)
    checks = (pf_check, link_check, *coll_checks, gemm_check, *train_checks)
    error = measured.get("error")
    if error and not any(c.verdict == "error" for c in checks):
        checks = (*checks, _error_check("run", "-", measured, str(error.get("phase"))))
    storage_checks: list[Check] = []
    storage_section = None
    if verify.storage is not None:
        storage_checks, storage_section = storage_report(verify.storage, storage or {})
        checks = (*checks, *storage_checks)
    verdicts = {c.verdict for c in checks}
    code = EXIT_ERROR if "error" in verdicts else EXIT_MISSED if "fail" in verdicts else EXIT_OK
    attribution: list[dict[str, Any]] = []
    err_phase = (error or {}).get("phase")
    for c in (error or {}).get("culprits") or []:
        attribution.append({"node": c.get("node"), "check": f"run:{err_phase}", "reason": c.get("reason")})
    for m in pf["mismatches"]:
        if m.get("severity") == "error":
            attribution.append({"node": m.get("node"), "check": "preflight", "reason": m.get("message")})
    for c in checks:
        if c.verdict == "fail" and c.node and c.name != "preflight":
            attribution.append({"node": c.node, "check": c.name, "reason": c.detail})
    # A storage command that failed on a node is that node's to look at (the bench's errors name theirs).
    for c in storage_checks:
        if c.verdict == "error" and c.node:
            attribution.append({"node": c.node, "check": c.name, "reason": c.detail})
    sources: dict[str, str] = {
        "busbw": "https://github.com/NVIDIA/nccl-tests/blob/master/doc/PERFORMANCE.md",
        "gemm_min_fraction": GEMM_SOURCE,
        "mfu": "https://github.com/pytorch/torchtitan/blob/main/torchtitan/utils.py (get_num_flop_per_token)",
    }
    if expected is not None:
        sources.update({f"fabric.{k}": v for k, v in expected.sources.items()})
    expected_section: dict[str, Any] = {
        "busbw_GBps": verify.expected_busbw_GBps,
        "link_GBps": verify.expected_link_GBps,
        "min_busbw_fraction": verify.min_busbw_fraction,
        "gemm_peak_tflops": verify.gemm_peak_tflops,
        "gemm_min_fraction": GEMM_MIN_FRACTION,
        "loss_min_drop": LOSS_MIN_DROP,
        "gate_sizes": gate_sizes,
        "efficiency": dict(sorted(expected.efficiency.items())) if expected is not None else {},
        "sources": dict(sorted(sources.items())),
    }
    return VerifyReport(
        stack=stack,
        created_at=created_at,
        backend=str(measured.get("backend") or verify.backend),
        world_size=int(measured.get("world_size") or 0),
        hosts=verify.hosts,
        passed=code == EXIT_OK,
        exit_code=code,
        checks=checks,
        error=dict(error) if error else None,
        attribution=tuple(attribution),
        preflight=pf,
        link=link_section,
        collectives=rows_by,
        collective_summary=summary,
        gemm=gemm_section,
        training=train_section,
        expected=expected_section,
        ranks=tuple(dict(r) for r in measured.get("ranks") or []),
        storage=storage_section,
        scheduler=dict(scheduler) if scheduler is not None else None,
    )


_STYLE = {"pass": "green", "fail": "bold red", "error": "bold red", "info": "cyan", "skipped": "dim"}


def render_table(report: VerifyReport) -> Table:
    """A rich table: one row per check, expected vs measured with the verdict."""
    title = f"dcinfra verify {report.stack}: {'PASSED' if report.passed else 'FAILED'} ({report.created_at})"
    # The Slurm job (when the benchmark ran as one) under the table, where the terminal shows it too.
    line = scheduler_line(report)
    table = Table(title=title, caption=Text(line) if line else None, show_lines=False)
    for col, justify in (
        ("check", "left"),
        ("expected", "right"),
        ("threshold", "right"),
        ("measured", "right"),
        ("unit", "left"),
        ("verdict", "left"),
        ("node", "left"),
        ("detail", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for c in report.checks:
        table.add_row(
            Text(c.name),
            _fmt(c.expected),
            ("<= " if c.direction == "max" else ">= ") + _fmt(c.threshold)
            if c.threshold is not None
            else "-",
            _fmt(c.measured),
            c.unit,
            Text(c.verdict.upper(), style=_STYLE[c.verdict]),
            Text(c.node or ""),
            Text(c.detail),  # plain text: details quote values like [8192] that are not markup
        )
    return table


def render_storage_table(report: VerifyReport) -> Table | None:
    """Per compute host: CephFS write and read MB/s, whose file it read, content; None without CephFS."""
    cephfs = (report.storage or {}).get("cephfs")
    if not cephfs:
        return None
    size = f"{cephfs['file_bytes'] / 2**20:g} MiB"
    table = Table(title=f"CephFS on {cephfs['mount']}: {size} per host", show_lines=False)
    for col, justify in (
        ("node", "left"),
        ("write MB/s", "right"),
        ("read MB/s", "right"),
        ("read from", "left"),
        ("content", "left"),
        ("error", "left"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    slow = {(cephfs.get("slowest_write") or {}).get("node"), (cephfs.get("slowest_read") or {}).get("node")}
    for row in cephfs["nodes"]:
        content = {None: Text("-"), True: Text("ok", style=_STYLE["pass"])}.get(
            row.get("content_ok"), Text("MISMATCH", style=_STYLE["fail"])
        )
        table.add_row(
            Text(row["node"], style="bold" if row["node"] in slow and len(cephfs["nodes"]) > 1 else ""),
            _fmt(row["write_MBps"], 1),
            _fmt(row["read_MBps"], 1),
            Text(row["read_from"]),
            content,
            Text(row["error"] or ""),
        )
    return table


def _seconds(x: Any) -> str:
    return "-" if x is None else f"{float(x):.0f} s"


def scheduler_line(report: VerifyReport) -> str | None:
    """The Slurm job the benchmark ran as, in one line: job id, state, queue wait, run time, TRES;
    None for the direct launch."""
    s = report.scheduler
    if not s:
        return None
    return (
        f"Slurm job {s.get('job_id') or '-'} on partition {s.get('partition')}: "
        f"{s.get('state') or 'no record'} (exit code {s.get('exit_code') or '-'}),"
        f" queue wait {_seconds(s.get('queue_wait_s'))},"
        f" run time {_seconds(s.get('run_s'))}, TRES {s.get('alloc_tres') or '-'}"
    )


def table_text(report: VerifyReport, width: int = 160) -> str:
    """The table as plain text (for ``reports/<time>/table.txt`` and logs)."""
    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None, force_terminal=False)
    console.print(render_table(report))
    storage = render_storage_table(report)
    if storage is not None:
        console.print(storage)
    if report.error:
        console.print(f"error: {report.error.get('message')}", markup=False)
    for a in report.attribution:
        console.print(f"look at {a['node']}: [{a['check']}] {a['reason']}", markup=False)
    return buf.getvalue()
