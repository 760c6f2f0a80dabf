"""DDP training smoke: a small GPT on synthetic tokens that carry a learnable rule, so the loss falls.

The data: a fixed random permutation ``P`` of the vocabulary (the same on every rank); each sequence
starts at a random token and continues ``x[t+1] = P[x[t]]``. The first prediction is a guess
(loss ln V), everything after it is learnable, so a working optimizer and a working gradient
all-reduce drive the loss down within a few steps. Each rank draws different sequences (seeded by
seed, rank and step), so DDP really has to average gradients.

The model follows torchtitan's Llama layout closely enough for its FLOPs formula to apply: token
embedding (``tok_embeddings``), pre-norm blocks of causal self-attention and an MLP, final norm, an
untied output projection, and no learned positions (causal attention learns this task without them).

MFU follows torchtitan (``get_num_flop_per_token`` in torchtitan/utils.py,
https://github.com/pytorch/torchtitan/blob/main/torchtitan/utils.py; the parameter count excludes the
token embedding, as torchtitan's ``get_num_params(model, exclude_embedding=True)`` does)::

    flops_per_token = 6 * num_params + 12 * n_layers * n_heads * head_dim * seq_len
    mfu = tokens_per_s_per_device * flops_per_token / peak_flops_per_device
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .runtime import Watchdog, max_over_ranks, mean_over_ranks, synchronize

TORCHTITAN_FLOPS = (
    "https://github.com/pytorch/torchtitan/blob/main/torchtitan/utils.py (get_num_flop_per_token)"
)


@dataclass(frozen=True, slots=True)
class GPTConfig:
    """Shape of the smoke-test model and its batches."""

    vocab: int = 256
    dim: int = 128
    n_layers: int = 2
    n_heads: int = 4
    seq_len: int = 64
    batch: int = 8  # sequences per rank per step
    lr: float = 3e-3

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.dim // self.n_heads


CPU_CONFIG = GPTConfig()
# On a GPU: ~100M parameters, 8k tokens per step, big enough for the tensor cores to matter.
GPU_CONFIG = GPTConfig(vocab=1024, dim=1024, n_layers=8, n_heads=8, seq_len=1024, batch=8, lr=1e-3)


class Block(nn.Module):
    """Pre-norm transformer block: causal self-attention, then a 4x GELU MLP."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.attn_norm = nn.LayerNorm(cfg.dim)
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim, bias=False)
        self.proj = nn.Linear(cfg.dim, cfg.dim, bias=False)
        self.mlp_norm = nn.LayerNorm(cfg.dim)
        self.fc = nn.Linear(cfg.dim, 4 * cfg.dim, bias=False)
        self.out = nn.Linear(4 * cfg.dim, cfg.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One block."""
        b, t, d = x.shape
        h = self.cfg.n_heads
        q, k, v = self.qkv(self.attn_norm(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, h, d // h).transpose(1, 2) for z in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        y: torch.Tensor = x + self.out(F.gelu(self.fc(self.mlp_norm(x))))
        return y


class GPT(nn.Module):
    """A few-layer GPT."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.tok_embeddings = nn.Embedding(cfg.vocab, cfg.dim)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.dim)
        self.output = nn.Linear(cfg.dim, cfg.vocab, bias=False)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.normal_(p, std=0.02)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits for every position."""
        x = self.tok_embeddings(tokens)
        for layer in self.layers:
            x = layer(x)
        return self.output(self.norm(x))  # type: ignore[no-any-return]


def num_params(model: nn.Module, *, exclude_embedding: bool) -> int:
    """Parameter count; ``exclude_embedding`` drops the token embedding, as torchtitan does for MFU."""
    total = sum(p.numel() for p in model.parameters())
    if exclude_embedding and isinstance(model, GPT):
        total -= model.tok_embeddings.weight.numel()
    return total


def flops_per_token(params: int, cfg: GPTConfig) -> int:
    """torchtitan's get_num_flop_per_token: ``6*N + 12*L*H*Q*T`` (forward + backward, dense attention)."""
    return 6 * params + 12 * cfg.n_layers * cfg.n_heads * cfg.head_dim * cfg.seq_len


def power_table(perm: torch.Tensor, seq_len: int) -> torch.Tensor:
    """``table[t, x] = P^t(x)`` for t in 0..seq_len: a whole sequence is then one gather."""
    rows = [torch.arange(perm.numel())]
    for _ in range(seq_len):
        rows.append(perm[rows[-1]])
    return torch.stack(rows)


def batch(
    cfg: GPTConfig, table: torch.Tensor, seed: int, rank: int, step: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) of shape (batch, seq_len) following the permutation rule."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + rank * 10_007 + step)
    start = torch.randint(cfg.vocab, (cfg.batch,), generator=gen).to(table.device)
    tokens = table[:, start].t()  # (batch, seq_len + 1)
    return tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()


def train(
    wd: Watchdog,
    ctrl: dist.ProcessGroup | None,
    *,
    cfg: GPTConfig,
    steps: int,
    peak_tflops: float | None,
    seed: int = 0,
) -> dict[str, Any]:
    """Train for ``steps`` steps with DDP over all ranks; every rank returns the same summary."""
    info = wd.info
    device = info.device
    gpu = device.startswith("cuda")
    torch.manual_seed(seed)  # identical initial weights everywhere (DDP also broadcasts rank 0's)
    model = GPT(cfg).to(device)
    params = num_params(model, exclude_embedding=True)
    fpt = flops_per_token(params, cfg)
    with wd.comm("DDP setup (parameter broadcast)"):
        ddp = DistributedDataParallel(model, device_ids=[info.local_rank] if gpu else None)
    opt = torch.optim.AdamW(ddp.parameters(), lr=cfg.lr, weight_decay=0.0)
    perm = torch.randperm(cfg.vocab, generator=torch.Generator().manual_seed(seed + 1))
    table = power_table(perm, cfg.seq_len).to(device)
    losses: list[torch.Tensor] = []  # kept on the device: no host sync per step
    skip = min(2, steps - 1)  # the first steps pay for allocation and DDP bucket setup: not timed
    t0 = time.perf_counter()
    for step in range(steps):
        if step == skip:
            synchronize(device)
            t0 = time.perf_counter()
        wd.mark(f"step {step} forward")
        x, y = batch(cfg, table, seed, info.rank, step)
        with torch.autocast(device_type="cuda" if gpu else "cpu", dtype=torch.bfloat16, enabled=gpu):
            logits = ddp(x)
            loss = F.cross_entropy(logits.float().view(-1, cfg.vocab), y.view(-1))
        with wd.comm(f"step {step} backward (DDP gradient all-reduce)"):
            opt.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)
            opt.step()
        losses.append(loss.detach())
    synchronize(device)
    elapsed = time.perf_counter() - t0
    with wd.comm("training summary"):
        elapsed = max_over_ranks(elapsed, ctrl)
        loss_first = mean_over_ranks(float(losses[0].item()), ctrl)
        loss_last = mean_over_ranks(float(losses[-1].item()), ctrl)
    timed_steps = steps - skip
    tokens = cfg.batch * cfg.seq_len * info.world_size * timed_steps
    tokens_per_s = tokens / elapsed
    per_device = tokens_per_s / info.world_size
    mfu = per_device * fpt / (peak_tflops * 1e12) if peak_tflops else None
    return {
        "config": asdict(cfg),
        "steps": steps,
        "timed_steps": timed_steps,
        "params": params,  # excludes the token embedding (torchtitan's convention)
        "params_total": num_params(model, exclude_embedding=False),
        "flops_per_token": fpt,
        "flops_formula": TORCHTITAN_FLOPS,
        "loss_first": loss_first,  # mean over ranks, step 0
        "loss_last": loss_last,  # mean over ranks, last step
        "loss_uniform": math.log(cfg.vocab),  # the loss of a uniform guess
        "tokens_per_s": tokens_per_s,  # all ranks together
        "tokens_per_s_per_device": per_device,
        "peak_tflops": peak_tflops,
        "mfu": mfu,
        "precision": "bf16 autocast" if gpu else "fp32",
    }
