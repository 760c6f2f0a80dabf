"""``dcinfra_mitogen_linear``: Mitogen for Ansible's ``mitogen_linear``, without its CPU pinning on small
controllers.

Mitogen pins its connection multiplexer to CPU 0. With 4 CPUs or more it also reserves CPU 1 for the
top-level ansible-playbook process and spreads the task workers over the rest; with 2 or 3 CPUs it puts
the top-level process and *every* task worker on the one CPU left, so they queue behind each other
while CPU 0 idles. Measured on a 2-CPU controller, no-op ``site.yml`` on the 3-node lab: 26.8 s pinned,
20.1 s unpinned; a task that runs only on the controller (assert, debug, a skipped task) took 0.067 s
pinned against 0.036 s unpinned, and Ansible's own linear strategy 0.040 s. Below 4 CPUs this plugin
therefore leaves placement to the kernel; from 4 CPUs up Mitogen's layout is kept.

Loaded by Ansible from this directory (``ANSIBLE_STRATEGY_PLUGINS``), never imported by dcinfra itself.
"""

from __future__ import annotations

import os
from typing import Any

import ansible_mitogen.affinity
import ansible_mitogen.loaders
import ansible_mitogen.strategy

MIN_CPUS_FOR_PINNING = 4  # Mitogen's own threshold for giving the top-level process a CPU of its own

if (os.cpu_count() or 1) < MIN_CPUS_FOR_PINNING:
    # The base Policy's assign_* methods do nothing; Mitogen looks the policy up at each call.
    ansible_mitogen.affinity.policy = ansible_mitogen.affinity.Policy()

_Linear: Any = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, _Linear):  # type: ignore[misc]
    """Ansible's linear strategy with modules run through Mitogen's one connection per host."""
