"""The link baseline: which node pairs iperf3 measures, and how its JSON becomes GB/s.

Pairs form a ring over the compute hosts in plan order (``h0->h1, h1->h2, ..., hN-1->h0``): every
node sends once and receives once, which is the path a ring all-reduce uses, in ``N`` runs (two
nodes: one pair). Runs go one at a time so each link is measured alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class LinkPair:
    """One iperf3 measurement."""

    src: str  # client host (sends)
    dst: str  # server host (receives)
    GBps: float  # goodput seen by the receiver, GB/s (1e9 bytes)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"src": self.src, "dst": self.dst, "GBps": self.GBps}


def ring_pairs(hosts: Sequence[str]) -> list[tuple[str, str]]:
    """(client, server) pairs in ring order; none for fewer than two hosts."""
    if len(hosts) < 2:
        return []
    if len(hosts) == 2:
        return [(hosts[0], hosts[1])]
    return [(hosts[i], hosts[(i + 1) % len(hosts)]) for i in range(len(hosts))]


def parse_iperf3(doc: str | Mapping[str, Any]) -> float:
    """GB/s from ``iperf3 -J`` output: the receiver's ``end.sum_received.bits_per_second`` / 8e9.

    Raises ValueError naming what is missing (iperf3 writes ``{"error": ...}`` when a run fails).
    """
    data: Any = json.loads(doc) if isinstance(doc, str) else doc
    if not isinstance(data, Mapping):
        raise ValueError("iperf3 JSON is not an object")
    if data.get("error"):
        raise ValueError(f"iperf3 failed: {data['error']}")
    try:
        bps = float(data["end"]["sum_received"]["bits_per_second"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"iperf3 JSON lacks end.sum_received.bits_per_second ({e!r})") from e
    return bps / 8e9


def iperf3_command(server_address: str, *, port: int = 5201, seconds: int = 5, streams: int = 4) -> list[str]:
    """The client command line for one pair (the server runs ``iperf3 -s -1 -B <address> -p <port>``).

    Several parallel streams, because one TCP stream is bound by one core's copy rate well below a
    fast link's line rate; ``-J`` for JSON; ``--connect-timeout`` (ms) so a blocked port fails fast.
    """
    return [
        "iperf3",
        "-c",
        server_address,
        "-p",
        str(port),
        "-t",
        str(seconds),
        "-P",
        str(streams),
        "-J",
        "--connect-timeout",
        "3000",
    ]
