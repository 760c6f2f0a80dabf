"""Adapters to the real engines dcinfra drives; each turns an engine run into a typed record.

- :mod:`dcinfra.engines.ansible`: playbooks through ansible-runner, returning a
  :class:`~dcinfra.engines.ansible.RunRecord` (per-host counts, failures, would-be changes with
  diffs; secrets scrubbed; run dirs 0700 and rotated).
- :mod:`dcinfra.engines.pulumi`: the platform program through the Pulumi Automation API
  (preview / up / destroy), returning a :class:`~dcinfra.engines.pulumi.PlatformRecord`; state in
  the stack's state dir unless ``PULUMI_BACKEND_URL`` says otherwise.

Engines are the only places (with the lab and the CLI) that have side effects. Import the submodule
you need: this package imports nothing on its own, so ``dcinfra --help`` stays fast.
"""
