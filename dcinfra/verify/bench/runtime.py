"""Process-group setup, per-phase budgets, and the watchdog that names a hung or dead rank.

Every rank runs a watchdog thread. It publishes a heartbeat (a counter plus the phase and step the
main thread is in, and whether it is waiting inside a collective) to the rendezvous store twice a
second, and it enforces the phase budget: when a phase overruns, it reads every rank's heartbeat
twice and names the culprits:

* a rank whose counter stopped is dead or frozen (its process is gone or stopped);
* a rank that is alive but *not* inside a collective while others wait in one is hung in its own
  code (the others wait for it);
* if every rank waits inside the same collective, communication itself hangs (network, NCCL/gloo),
  and all nodes are listed.

Rank 0 fires at the deadline and writes the error into the output JSON; other ranks fire a grace
period later (so rank 0 gets to diagnose first), and every firing rank prints the diagnosis to
stderr and exits with :data:`EXIT_TIMEOUT`. Nothing is left running: the exit is ``os._exit``,
which ends the process and its threads at once, and torchrun tears down the rest of its workers.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

# The store classes, imported from where their type stubs live (torch.distributed re-exports them
# without declaring it, which strict mypy rejects).
from torch._C._distributed_c10d import Store, TCPStore

EXIT_ERROR = 1  # a phase raised (wrong results are not an error: they are reported as data)
EXIT_TIMEOUT = 124  # a phase overran its budget (the same code as coreutils' timeout)
HEARTBEAT_S = 0.5  # seconds between heartbeats
STALE_CHECK_S = 1.6  # how long the diagnosis waits to see whether a rank's heartbeat still moves
_KEY = "dcinfra-verify/hb/{}"
_ERR_KEY = "dcinfra-verify/error/{}"


@dataclass(frozen=True, slots=True)
class RankInfo:
    """Who this process is in the job."""

    rank: int  # global rank
    world_size: int
    local_rank: int  # rank on this node
    local_world_size: int  # ranks on this node
    node: str  # node name (the plan's host name, from --node-name, else the hostname)
    backend: str  # "nccl" or "gloo"
    device: str  # "cuda:<local_rank>" or "cpu"

    def who(self) -> str:
        """``rank 1 (node node-002)``: how errors name this rank."""
        return f"rank {self.rank} (node {self.node})"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rank_from_env(node: str | None, backend: str) -> RankInfo:
    """This process's place in the job, from torchrun's environment.

    Without torchrun (no ``RANK`` in the environment) the job is this one process: world size 1 on
    a free local port. ``backend`` is "auto" (NCCL when CUDA is available, else gloo), "nccl" or
    "gloo".
    """
    if "RANK" not in os.environ:
        os.environ.update(
            RANK="0",
            WORLD_SIZE="1",
            LOCAL_RANK="0",
            LOCAL_WORLD_SIZE="1",
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(_free_port()),
        )
    rank = int(os.environ["RANK"])
    world = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if backend == "auto":
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        if not torch.cuda.is_available():
            raise RuntimeError(
                "--backend nccl needs CUDA, and torch.cuda.is_available() is False on this node"
            )
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(local_rank)
    elif backend == "gloo":
        device = "cpu"
    else:
        raise ValueError(f"--backend {backend!r}: use 'auto', 'nccl' or 'gloo'")
    return RankInfo(rank, world, local_rank, local_world, node or socket.gethostname(), backend, device)


def init_process_group(info: RankInfo, timeout_s: float) -> dist.ProcessGroup | None:
    """Join the job (env:// rendezvous) and return the control group for CPU-side coordination.

    The control group is gloo: on NCCL jobs it carries timings, objects and barriers without
    touching the GPUs; on gloo jobs it is the default group (``None``).
    """
    timeout = datetime.timedelta(seconds=timeout_s)
    if info.backend == "nccl":
        dist.init_process_group(
            backend="nccl", timeout=timeout, device_id=torch.device(info.device), init_method="env://"
        )
        group: dist.ProcessGroup = dist.new_group(backend="gloo", timeout=timeout)
        return group
    dist.init_process_group(backend="gloo", timeout=timeout, init_method="env://")
    return None


def heartbeat_store(timeout_s: float) -> Store:
    """A client of the job's rendezvous store (torchrun's, or rank 0's without the agent)."""
    return TCPStore(
        os.environ["MASTER_ADDR"],
        int(os.environ["MASTER_PORT"]),
        is_master=False,
        timeout=datetime.timedelta(seconds=timeout_s),
        wait_for_workers=False,
    )


@dataclass(frozen=True, slots=True)
class Culprit:
    """A rank the diagnosis blames."""

    rank: int
    node: str  # "?" when the rank never reported
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"rank": self.rank, "node": self.node, "reason": self.reason}


def diagnose(
    beats_before: dict[int, dict[str, Any]],
    beats_after: dict[int, dict[str, Any]],
    world: int,
    errors: dict[int, dict[str, Any]] | None = None,
    nodes: dict[int, str] | None = None,
) -> tuple[list[Culprit], str]:
    """Who is to blame, from two heartbeat snapshots taken :data:`STALE_CHECK_S` apart and the
    errors ranks published before exiting.

    ``nodes`` (rank -> node, as exchanged at start-up) names ranks that never sent a heartbeat.
    Pure: returns the culprits and a one-line summary of what the ranks were doing.
    """
    culprits: list[Culprit] = []
    alive: dict[int, dict[str, Any]] = {}
    errors = errors or {}
    nodes = nodes or {}
    for r in range(world):
        after = beats_after.get(r)
        before = beats_before.get(r)
        if r in errors:
            node = str(errors[r].get("node") or (after or {}).get("node") or nodes.get(r, "?"))
            culprits.append(Culprit(r, node, f"raised: {errors[r].get('message')}"))
        elif after is None:
            culprits.append(
                Culprit(r, nodes.get(r, "?"), "never reported a heartbeat: it did not start or died at once")
            )
        elif before is not None and before.get("beat") == after.get("beat"):
            culprits.append(
                Culprit(
                    r,
                    str(after.get("node", "?")),
                    f"heartbeat stopped in {after.get('phase')!r} at {after.get('step')!r}: "
                    "the process is dead or frozen",
                )
            )
        else:
            alive[r] = after
    waiting = {r: b for r, b in alive.items() if b.get("in_comm")}
    phases = {str(b.get("phase")) for b in alive.values()}
    if waiting:
        where = sorted({str(b.get("step")) for b in waiting.values()})
        for r, b in sorted(alive.items()):
            if not b.get("in_comm"):
                culprits.append(
                    Culprit(
                        r,
                        str(b.get("node", "?")),
                        f"hung in {b.get('phase')!r} at {b.get('step')!r}, outside any collective, while "
                        f"{len(waiting)} rank(s) wait for it in {', '.join(where)}",
                    )
                )
    if len(phases) > 1 and not culprits:
        # Everyone is alive and in a collective, but not all in the same phase: the laggards.
        order = ["init", "preflight", "collectives", "gemm", "training", "finish"]
        earliest = min(phases, key=lambda p: order.index(p) if p in order else len(order))
        for r, b in sorted(alive.items()):
            if str(b.get("phase")) == earliest:
                culprits.append(
                    Culprit(r, str(b.get("node", "?")), f"still in {earliest!r} while others moved on")
                )
    alive_nodes = sorted({str(b.get("node", "?")) for b in alive.values()})
    if not culprits and alive and len(waiting) == len(alive):
        steps = sorted({str(b.get("step")) for b in waiting.values()})
        summary = (
            f"all {len(alive)} rank(s) wait inside {', '.join(steps)}: communication itself hangs "
            f"(network, NCCL or gloo) between nodes {', '.join(alive_nodes)}"
        )
    elif culprits:
        summary = "; ".join(f"rank {c.rank} (node {c.node}) {c.reason}" for c in culprits)
    else:
        summary = (
            "no rank stands out: every rank is alive and computing (the budget is too small for this phase)"
        )
    return culprits, summary


class Watchdog:
    """Heartbeats, phase budgets, and the exit that names the culprit.

    ``on_fatal(error)`` runs in the watchdog thread just before the process exits on a timeout
    (rank 0 writes the output JSON there); it must not block on the process group.
    """

    def __init__(self, info: RankInfo, on_fatal: Callable[[dict[str, Any]], None]) -> None:
        self.info = info
        self._on_fatal = on_fatal
        self._lock = threading.Lock()  # guards the store (shared by the thread and diagnose_now)
        self._store: Store | None = None
        self.phase = "init"
        self.step = "starting"
        self.in_comm = False
        self._beat = 0
        self._deadline: float | None = None
        self._budget_s = 0.0
        self._nodes: dict[int, str] = {}  # rank -> node, once the ranks have exchanged it
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dcinfra-watchdog", daemon=True)

    def start(self) -> None:
        """Start the watchdog thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the watchdog thread (at a normal end)."""
        self._stop.set()
        self._thread.join(timeout=2 * HEARTBEAT_S)

    def attach_store(self, store: Store) -> None:
        """Start publishing heartbeats to ``store`` (the first one at once)."""
        with self._lock:
            self._store = store
        self._publish()

    def set_nodes(self, nodes: dict[int, str]) -> None:
        """Rank -> node for every rank, so the diagnosis can name ranks that never sent a heartbeat."""
        self._nodes = dict(nodes)

    def grace_s(self, budget_s: float) -> float:
        """How much later than rank 0 the other ranks fire (rank 0 diagnoses and writes first)."""
        return 0.0 if self.info.rank == 0 else min(max(2.0, 0.1 * budget_s), 30.0) + STALE_CHECK_S + 1.0

    @contextlib.contextmanager
    def phase_budget(self, name: str, budget_s: float) -> Iterator[None]:
        """Run the body as phase ``name``; overrunning ``budget_s`` seconds ends the process."""
        self.phase, self.step, self.in_comm = name, "start", False
        self._budget_s = budget_s
        self._deadline = time.monotonic() + budget_s + self.grace_s(budget_s)
        try:
            yield
        finally:
            self._deadline = None

    def mark(self, step: str, *, in_comm: bool = False) -> None:
        """Record what the main thread is doing (cheap: two attribute stores)."""
        self.step = step
        self.in_comm = in_comm

    @contextlib.contextmanager
    def comm(self, step: str) -> Iterator[None]:
        """The body waits on other ranks (collectives, barriers, DDP's gradient all-reduce)."""
        self.mark(step, in_comm=True)
        try:
            yield
        finally:
            self.mark(step, in_comm=False)

    def _publish(self) -> None:
        self._beat += 1
        beat = {
            "rank": self.info.rank,
            "node": self.info.node,
            "phase": self.phase,
            "step": self.step,
            "in_comm": self.in_comm,
            "beat": self._beat,
        }
        with self._lock:
            if self._store is not None:
                with contextlib.suppress(Exception):  # the store's host may be gone; keep watching
                    self._store.set(_KEY.format(self.info.rank), json.dumps(beat))

    def publish_error(self, message: str) -> None:
        """Tell the other ranks (rank 0's diagnosis) why this rank is about to exit."""
        with self._lock:
            if self._store is not None:
                with contextlib.suppress(Exception):
                    doc = {"rank": self.info.rank, "node": self.info.node, "message": message}
                    self._store.set(_ERR_KEY.format(self.info.rank), json.dumps(doc))

    def _read_beats(self, template: str = _KEY) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        with self._lock:
            store = self._store
            if store is None:
                return out
            for r in range(self.info.world_size):
                key = template.format(r)
                with contextlib.suppress(Exception):
                    if store.check([key]):
                        out[r] = json.loads(store.get(key))
        return out

    def diagnose_now(self) -> tuple[list[Culprit], str]:
        """Read every rank's heartbeat twice and name the culprits (blocks ~:data:`STALE_CHECK_S`)."""
        if self.info.world_size == 1:
            return [Culprit(0, self.info.node, f"hung in {self.phase!r} at {self.step!r}")], (
                f"rank 0 (node {self.info.node}) hung in {self.phase!r} at {self.step!r}"
            )
        if self._store is None:
            return [], f"{self.info.who()} could not reach the rendezvous store: no heartbeats to compare"
        before = self._read_beats()
        time.sleep(STALE_CHECK_S)
        self._publish()  # this thread may be the one that beats: we are alive
        after = self._read_beats()
        errors = self._read_beats(_ERR_KEY)
        errors.pop(self.info.rank, None)  # our own error is the message itself
        return diagnose(before, after, self.info.world_size, errors, self._nodes)

    def _run(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            self._publish()
            deadline = self._deadline
            if deadline is not None and time.monotonic() > deadline:
                self._fire()

    def _fire(self) -> None:
        phase, step, budget = self.phase, self.step, self._budget_s
        culprits, summary = self.diagnose_now()
        seen = f"seen by {self.info.who()}, at {step!r}"
        message = f"phase {phase!r} exceeded its {budget:g} s budget ({seen}): {summary}"
        error = {
            "kind": "timeout",
            "phase": phase,
            "step": step,
            "budget_s": budget,
            "rank": self.info.rank,
            "node": self.info.node,
            "message": message,
            "culprits": [c.to_dict() for c in culprits],
        }
        print(f"dcinfra-bench: ERROR: {message}", file=sys.stderr, flush=True)
        with contextlib.suppress(Exception):
            self._on_fatal(error)
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(EXIT_TIMEOUT)


def synchronize(device: str) -> None:
    """Wait for queued device work (CUDA kernels) to finish; a no-op on CPU."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def mean_over_ranks(value: float, group: dist.ProcessGroup | None) -> float:
    """The mean of ``value`` over all ranks (on the CPU control group)."""
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t, group=group)
    return float(t.item()) / dist.get_world_size()


def max_over_ranks(value: float, group: dist.ProcessGroup | None) -> float:
    """The maximum of ``value`` over all ranks (on the CPU control group)."""
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=group)
    return float(t.item())


def sum_over_ranks(value: int, group: dist.ProcessGroup | None) -> int:
    """The sum of an integer over all ranks (on the CPU control group)."""
    t = torch.tensor([value], dtype=torch.int64)
    dist.all_reduce(t, group=group)
    return int(t.item())


def gather_objects(obj: Any, group: dist.ProcessGroup | None) -> list[Any]:
    """Every rank's ``obj`` (JSON-like), in rank order, on every rank."""
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj, group=group)
    return out
