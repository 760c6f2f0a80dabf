"""One verdict of the verify report: expected vs measured (shared by the report and its storage part)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Verdict = Literal["pass", "fail", "error", "info", "skipped"]


@dataclass(frozen=True, slots=True)
class Check:
    """One verdict: expected vs measured."""

    name: str  # "preflight", "link", "correctness", "busbw.all_reduce", "gemm", "training.loss", ...
    verdict: Verdict
    unit: str  # "GB/s", "TFLOPS", "loss", "tokens/s", "ratio", "mismatches"
    expected: float | None  # what the plan says the hardware should deliver
    measured: float | None  # what the run measured (the gated figure)
    threshold: float | None  # the value measured is compared with (expected x fraction)
    direction: Literal["min", "max"]  # "min": measured must be >= threshold; "max": <= threshold
    node: str | None  # the node to blame (slowest pair's source, slowest rank's node, mismatching node)
    detail: str  # one line a person can act on

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "name": self.name,
            "verdict": self.verdict,
            "unit": self.unit,
            "expected": self.expected,
            "measured": self.measured,
            "threshold": self.threshold,
            "direction": self.direction,
            "node": self.node,
            "detail": self.detail,
        }
