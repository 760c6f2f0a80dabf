"""A few steps of data-parallel training with torch.distributed: the payload of train.sbatch.

torchrun starts it (one process per GPU, or one per node on CPU-only nodes) and sets RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR and MASTER_PORT. Every rank trains the same small model on its own shard of a
synthetic regression problem; DistributedDataParallel averages the gradients, so the loss rank 0 prints
falls step by step only if every rank takes part. The backend is NCCL when the process has a GPU and
gloo otherwise (the lab's nodes, whose GPUs are scheduling-only stand-ins).

    torchrun --standalone --nproc-per-node=2 examples/slurm/train.py --steps 5   # on one machine
"""

from __future__ import annotations

import argparse
import os
import socket
import time
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def main() -> int:
    parser = argparse.ArgumentParser(description="A few DDP steps; rank 0 prints the loss per step.")
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps (default 20)")
    parser.add_argument("--batch", type=int, default=256, help="samples per rank and step (default 256)")
    parser.add_argument("--width", type=int, default=256, help="hidden width of the model (default 256)")
    parser.add_argument("--lr", type=float, default=0.05, help="SGD learning rate (default 0.05)")
    parser.add_argument("--timeout-s", type=int, default=300, help="bound on every collective (default 300)")
    args = parser.parse_args()

    gpu = torch.cuda.is_available()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if gpu:
        torch.cuda.set_device(local_rank)
    device = torch.device("cuda", local_rank) if gpu else torch.device("cpu")
    dist.init_process_group("nccl" if gpu else "gloo", timeout=timedelta(seconds=args.timeout_s))
    rank, world = dist.get_rank(), dist.get_world_size()

    hosts: list[str | None] = [None] * world
    dist.all_gather_object(hosts, socket.gethostname())
    if rank == 0:
        nodes = sorted({h for h in hosts if h})
        print(
            f"world size {world} on {len(nodes)} node(s): {', '.join(nodes)}; "
            f"backend {dist.get_backend()}, device {device.type}",
            flush=True,
        )

    # The target: a fixed random linear map plus noise, the same for every rank (seed 0); each rank
    # draws its own inputs (seed 1 + rank), so the ranks' gradients differ and DDP has work to do.
    torch.manual_seed(0)
    features = 64
    target = torch.randn(features, 1) / features**0.5  # unit-variance targets
    model = torch.nn.Sequential(
        torch.nn.Linear(features, args.width), torch.nn.ReLU(), torch.nn.Linear(args.width, 1)
    ).to(device)
    ddp = DistributedDataParallel(model, device_ids=[local_rank] if gpu else None)
    opt = torch.optim.SGD(ddp.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(1 + rank)

    start = time.perf_counter()
    first = last = float("nan")
    for step in range(1, args.steps + 1):
        x = torch.randn(args.batch, features, generator=gen)
        y = x @ target + 0.01 * torch.randn(args.batch, 1, generator=gen)
        x, y = x.to(device), y.to(device)
        loss = torch.nn.functional.mse_loss(ddp(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # DDP all-reduces (averages) the gradients here
        opt.step()
        # The mean loss over all ranks, so the printed figure is the whole job's.
        mean = loss.detach().clone()
        dist.all_reduce(mean)
        mean /= world
        value = float(mean)
        first = value if step == 1 else first
        last = value
        if rank == 0:
            print(f"step {step:3d}  loss {value:.4f}", flush=True)

    elapsed = time.perf_counter() - start
    if rank == 0:
        samples = args.steps * args.batch * world
        print(
            f"done: {args.steps} steps in {elapsed:.2f} s ({samples / elapsed:,.0f} samples/s), "
            f"loss {first:.4f} -> {last:.4f}",
            flush=True,
        )
    dist.destroy_process_group()
    # A loss that did not fall means the gradients were not averaged: fail the job.
    return 0 if last < first else 1


if __name__ == "__main__":
    raise SystemExit(main())
