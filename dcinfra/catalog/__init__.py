"""Hardware and version facts, each with the public source it was taken from.

Lookups by name are case-insensitive; an unknown name raises :class:`UnknownCatalogName`, whose
message lists the closest known names so that ``h100-sxn`` suggests ``h100-sxm``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import TypeVar

from dcinfra.catalog.hardware import GPUS, NICS, NODE_PROFILES, SWITCHES, Gpu, Nic, NodeProfile, Switch
from dcinfra.catalog.versions import (
    CEPH_RELEASES,
    CUDA_MIN_DRIVER,
    KUBERNETES_SUPPORTED,
    NCCL_CUDA_MAJORS,
    CephRelease,
)
from dcinfra.errors import DcinfraError

__all__ = [
    "CEPH_RELEASES",
    "CUDA_MIN_DRIVER",
    "GPUS",
    "KUBERNETES_SUPPORTED",
    "NCCL_CUDA_MAJORS",
    "NICS",
    "NODE_PROFILES",
    "SWITCHES",
    "CephRelease",
    "Gpu",
    "Nic",
    "NodeProfile",
    "Switch",
    "UnknownCatalogName",
    "closest",
    "lookup",
]

T = TypeVar("T")


class UnknownCatalogName(DcinfraError):
    """A name that is not in the catalog; ``suggestions`` holds the closest known names."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = known
        self.suggestions = closest(name, known)
        hint = f"did you mean {' or '.join(repr(s) for s in self.suggestions)}? " if self.suggestions else ""
        super().__init__(f"unknown {kind} {name!r}; {hint}known: {', '.join(known)}")


def closest(name: str, known: list[str]) -> list[str]:
    """Up to three known names closest to ``name`` (by difflib's ratio), best first."""
    return difflib.get_close_matches(name.lower(), known, n=3, cutoff=0.5)


def lookup(table: Mapping[str, T], kind: str, name: str) -> T:
    """The catalog entry called ``name`` (case-insensitive) or :class:`UnknownCatalogName`."""
    try:
        return table[name.lower()]
    except KeyError:
        raise UnknownCatalogName(kind, name, sorted(table)) from None
