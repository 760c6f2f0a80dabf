"""``python -m dcinfra.verify.bench`` (or ``torchrun ... -m dcinfra.verify.bench``): run the benchmark."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
