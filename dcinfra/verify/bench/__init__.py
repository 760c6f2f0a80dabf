"""The benchmark that runs on the compute nodes under torchrun: preflight, collective sweep, GEMM, DDP.

This directory is self-contained: it imports only the standard library and torch, and its modules
import each other relatively. Two ways to launch it, both supported and tested:

* **Copied to a node** (what the verify playbook does; the node needs torch, not dcinfra)::

      python3 -m torch.distributed.run --nnodes=3 --nproc-per-node=1 --node-rank=0 \\
          --master-addr=172.31.251.10 --master-port=29500 --rdzv-conf=timeout=300 --max-restarts=0 \\
          /opt/dcinfra/verify-bench/main.py --phase preflight,collectives,gemm,training \\
          --out /var/lib/dcinfra/verify/bench.json --node-name node-001 --timeout-s 300 ...

  ``main.py`` loads this directory as a private package (``_dcinfra_bench``), so nothing has to be
  on ``sys.path``.

* **From an installed dcinfra**: ``python -m dcinfra.verify.bench ...`` (one process, world size 1)
  or ``torchrun ... -m dcinfra.verify.bench ...``.

Every phase runs under a wall-clock budget (``--timeout-s``); a watchdog thread names the rank and
node that hangs or dies, rank 0 writes the result (or the error) as JSON to ``--out``, and the
process exits non-zero. ``cli.py`` documents every argument; ``SCHEMA_VERSION`` names the output.
"""

from __future__ import annotations

SCHEMA_VERSION = "dcinfra.verify.bench/1"  # the "schema_version" of the JSON rank 0 writes
