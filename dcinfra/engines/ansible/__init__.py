"""Run an Ansible playbook through ansible-runner and return a typed :class:`RunRecord`.

One function, :func:`run_playbook`, is the whole adapter. What it guarantees:

- **Private data dir per run** at ``runs_dir/<id>/`` (id: UTC time + random suffix, sortable), 0700,
  every file in it 0600; the last ``keep_runs`` dirs are kept, older ones removed.
- **No environment leaks.** ansible-runner seeds the child's environment with the *whole* parent
  environment and writes it to ``artifacts/<id>/command`` (``suppress_env_files`` only stops the
  ``env/*`` input files). We pass ``suppress_env_files=True`` and then replace the prepared environment
  with an explicit minimal one (``hygiene._ansible_env``): PATH, HOME, a UTF-8 locale and the
  ``ANSIBLE_*`` settings chosen here, plus the few keys ansible-runner's own callback needs.
- **No secrets in records or artifacts.** ``no_log`` results are never copied (they read
  ``(hidden: no_log)``); private-key blocks and Ceph keys are :func:`scrub`-bed from messages, diffs
  and, after the run, from every file of the run dir. The SSH private key is passed by path only.
- **SSH host keys are checked**: ``StrictHostKeyChecking=accept-new`` with a ``known_hosts`` file in the
  state dir (``runs_dir/../known_hosts``), never ``host_key_checking=False``.
- **Tuned or stock Ansible** (``tuned``): Mitogen for Ansible's ``mitogen_linear`` strategy (one SSH
  connection and one remote Python per host for the whole run; new hosts' keys are learned first,
  trust on first use, because Mitogen enforces host keys; run as :data:`MITOGEN_STRATEGY`, which drops
  Mitogen's CPU pinning on controllers with fewer than 4 CPUs), or, without Mitogen, pipelining and a short
  ``%C`` ControlPath that persists 60 s; ``forks >= hosts``, smart gathering with a jsonfile fact cache
  in ``runs_dir/../facts``. Or Ansible's defaults, for the benchmark that compares both.
- **No orphans**: ansible-playbook runs in a session of its own, so a kill -9 of dcinfra does not
  reach it; :func:`kill_orphaned_runs` (called under the stack lock) stops what is left.
- **Failures are data**: a host that fails returns a record with status ``failed`` and the failures
  listed; only setup problems (no playbook, no ``ansible-playbook``, a playbook Ansible cannot parse)
  raise :class:`AnsibleEngineError`.

Live progress goes to a :class:`ProgressSink` (:class:`RichProgress` for the CLI); the run's own
output is never printed (``quiet=True``), :func:`format_summary` renders the record for people and
:meth:`RunRecord.to_dict` for ``--json``.

Where each concern lives (each module imports only the ones above it):

- :mod:`~dcinfra.engines.ansible.results`: the records, :func:`scrub`, and the event collector that
  turns ansible-runner's events into failures, changes and diffs;
- :mod:`~dcinfra.engines.ansible.progress`: :class:`ProgressSink`, :class:`NullProgress`,
  :class:`RichProgress` and :func:`format_summary`;
- :mod:`~dcinfra.engines.ansible.hygiene`: the minimal environment, private run dirs (sealing and
  rotation), killing a run's processes, SSH control sockets and host keys;
- :mod:`~dcinfra.engines.ansible.runner`: :func:`run_playbook` (prepare, run, collect the record).

This package re-exports the public names; import private helpers from their module.
"""

from dcinfra.engines.ansible.hygiene import (
    MITOGEN_STRATEGY,
    close_ssh_masters,
    kill_orphaned_runs,
    learn_host_keys,
)
from dcinfra.engines.ansible.progress import NullProgress, ProgressSink, RichProgress, format_summary
from dcinfra.engines.ansible.results import (
    HIDDEN,
    AnsibleEngineError,
    HostResult,
    RunRecord,
    TaskChange,
    TaskFailure,
    scrub,
)
from dcinfra.engines.ansible.runner import run_playbook

__all__ = [
    "HIDDEN",
    "MITOGEN_STRATEGY",
    "AnsibleEngineError",
    "HostResult",
    "NullProgress",
    "ProgressSink",
    "RichProgress",
    "RunRecord",
    "TaskChange",
    "TaskFailure",
    "close_ssh_masters",
    "format_summary",
    "kill_orphaned_runs",
    "learn_host_keys",
    "run_playbook",
    "scrub",
]
