"""Settings of the verification stage (the smoke benchmark run after ``up``)."""

from __future__ import annotations

from pydantic import Field

from dcinfra.model.base import Spec


class VerifySettings(Spec):
    """How hard ``dcinfra verify`` pushes and how long it may take.

    Example::

        VerifySettings(max_message_mb=1024, timeout_s=900, storage_bench_s=10)
    """

    enabled: bool = True
    """Run verification at the end of ``up``."""
    max_message_mb: int = Field(default=256, ge=1, le=16384)
    """Largest collective message, MiB (the sweep starts at 1 KiB and doubles)."""
    warmup_iters: int = Field(default=5, ge=0, le=100)
    """Untimed iterations per size."""
    iters: int = Field(default=20, ge=1, le=1000)
    """Timed iterations per size."""
    training_steps: int = Field(default=30, ge=2, le=10_000)
    """DDP training steps."""
    timeout_s: int = Field(default=600, ge=10, le=86_400)
    """Wall-clock limit per phase; a hung rank fails the phase within it."""
    rendezvous_port: int = Field(default=29500, ge=1024, le=65535)
    """torchrun rendezvous port on the first compute node."""
    min_busbw_fraction: float = Field(default=1.0, gt=0, le=1.5)
    """Pass when large-message busbw >= this fraction of the plan's expected busbw."""
    storage_bench_s: int = Field(default=5, ge=1, le=600)
    """Seconds of each ``rados bench`` run (a write, then a sequential read of what it wrote) when the
    stack has Ceph; the objects are removed afterwards."""
    storage_file_mib: int = Field(default=64, ge=1, le=1024)
    """Size of the file every compute host writes to the CephFS (with fsync) and another compute host
    reads back and checksums, MiB."""
