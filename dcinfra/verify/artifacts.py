"""Writing a report to disk: the JSON, the table as text, and the busbw plot (the I/O shell).

``load_measured`` and ``load_storage`` read what the verify playbook kept in its results dir;
``save_report(report, directory)`` writes ``report.json``, ``table.txt`` and ``busbw.png`` into
``directory`` (the state dir's ``reports/<time>/``). The plot needs matplotlib (the ``verify`` extra);
without it the other two files are still written and the returned paths say which exist.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dcinfra.errors import DcinfraError
from dcinfra.plan.types import Plan
from dcinfra.verify.link import LinkPair
from dcinfra.verify.report import COLLECTIVES, VerifyReport, build_report, failed_run, human_bytes, table_text

_MARKERS = {"all_reduce": "o", "all_gather": "s", "reduce_scatter": "^", "all_to_all": "D"}


def write_plot(report: VerifyReport, path: Path) -> Path:
    """busbw against message size (log2 x axis) per collective, with the expected and iperf3 lines."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=110)
    sizes: list[int] = []
    for name in COLLECTIVES:
        rows = sorted(report.collectives.get(name) or [], key=lambda r: int(r["size_bytes"]))
        if not rows:
            continue
        xs = [int(r["size_bytes"]) for r in rows]
        sizes += xs
        ys = [float(r["busbw_GBps"]) for r in rows]
        ax.plot(xs, ys, marker=_MARKERS.get(name, "o"), markersize=3, linewidth=1.4, label=name)
    expected = report.expected.get("busbw_GBps")
    if expected:
        ax.axhline(
            expected, color="tab:green", linestyle="--", linewidth=1.2, label=f"expected {expected:.3g} GB/s"
        )
        threshold = expected * float(report.expected.get("min_busbw_fraction") or 1.0)
        if not math.isclose(threshold, expected):
            ax.axhline(
                threshold, color="tab:green", linestyle=":", linewidth=1.0, label=f"threshold {threshold:.3g}"
            )
    iperf = report.link.get("iperf3_GBps")
    if iperf:
        ax.axhline(iperf, color="tab:gray", linestyle="-.", linewidth=1.2, label=f"iperf3 {iperf:.3g} GB/s")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: human_bytes(int(x)) if x >= 1 else ""))
    ax.set_xlabel("message size (S as nccl-tests defines it)")
    ax.set_ylabel("busbw (GB/s)")
    verdict = "PASSED" if report.passed else "FAILED"
    ax.set_title(
        f"{report.stack}: busbw vs message size, {report.backend}, {report.world_size} ranks ({verdict})"
    )
    ax.grid(True, which="both", alpha=0.3)
    if sizes or expected or iperf:
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def save_report(report: VerifyReport, directory: Path) -> dict[str, Path]:
    """Write the report's files into ``directory``; returns {"json", "table", "plot"?: path}."""
    directory.mkdir(parents=True, exist_ok=True)
    out = {"json": directory / "report.json", "table": directory / "table.txt"}
    out["json"].write_text(json.dumps(report.to_json(), indent=2, sort_keys=True) + "\n")
    out["table"].write_text(table_text(report))
    # matplotlib is in the `verify` extra; without it the JSON and table stand on their own.
    with contextlib.suppress(ImportError):
        out["plot"] = write_plot(report, directory / "busbw.png")
    return out


def load_measured(path: Path, *, master: str | None = None) -> dict[str, Any]:
    """The bench JSON at ``path``; a :func:`failed_run` record naming ``master`` when there is none."""
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        msg = f"no benchmark result at {path}: rank 0 on {master or '?'} never wrote it"
        return failed_run(msg, node=master)
    except ValueError as e:
        return failed_run(f"benchmark result {path} is not JSON: {e}", node=master)
    if not isinstance(doc, dict):
        return failed_run(f"benchmark result {path} is not a JSON object", node=master)
    return doc


def _read_doc(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def load_storage(results: Path) -> dict[str, Any]:
    """What the verify_storage role kept in ``results``: {"health": storage-health.json, "rados":
    storage-rados.json, "cephfs": {host: storage-cephfs-<host>.json}}; a missing or unreadable file is
    left out (its checks become errors in the report)."""
    out: dict[str, Any] = {"cephfs": {}}
    for key in ("health", "rados"):
        doc = _read_doc(results / f"storage-{key}.json")
        if doc is not None:
            out[key] = doc
    for path in sorted(results.glob("storage-cephfs-*.json")):
        doc = _read_doc(path)
        if doc is not None:
            out["cephfs"][str(doc.get("host") or path.stem.removeprefix("storage-cephfs-"))] = doc
    return out


def report_for_plan(
    plan: Plan,
    measured: dict[str, Any],
    *,
    created_at: str,
    link: Sequence[LinkPair] = (),
    link_missing: Sequence[tuple[str, str, str]] = (),
    storage: dict[str, Any] | None = None,
    scheduler: dict[str, Any] | None = None,
) -> VerifyReport:
    """:func:`~dcinfra.verify.report.build_report` with the thresholds and sources of ``plan``
    (``scheduler``: the Slurm job's section, None for the direct launch)."""
    if plan.verify is None:
        raise DcinfraError(
            f"stack {plan.stack!r} has no compute hosts, so there is nothing to verify "
            "(add a pool with the 'compute' role)"
        )
    expected = plan.fabric.expected if plan.fabric is not None else None
    return build_report(
        plan.verify,
        measured,
        stack=plan.stack,
        created_at=created_at,
        link=link,
        link_missing=link_missing,
        expected=expected,
        storage=storage,
        scheduler=scheduler,
    )
