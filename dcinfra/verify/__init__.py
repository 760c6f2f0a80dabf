"""The verify stage: prove the cluster performs as its declared hardware should.

Two halves:

* ``bench/`` runs on the compute nodes under torchrun (stdlib + torch only; copied to the nodes by
  the verify playbook): preflight, collective sweep (algbw/busbw as nccl-tests defines them), GEMM
  peak, DDP training smoke; every phase bounded, a hung or dead rank named.
* The rest is pure and runs where dcinfra runs: :func:`declared_facts` (what preflight compares
  with), :func:`bench_launches` (the torchrun command and environment per host), :func:`slurm_job`
  (the same launch as one Slurm batch job, when the plan has Slurm),
  :func:`ring_pairs` / :func:`parse_iperf3` (the link baseline), :func:`build_report` (expected vs
  measured, verdicts, exit code), :func:`storage_report` (the Ceph and CephFS checks, when the plan
  has Ceph; the ``verify_storage`` role runs them), and :func:`save_report` (JSON, table, PNG into
  ``reports/<time>/``).

``gpu_check.py`` is a one-command GPU smoke for developers (``python -m dcinfra.verify.gpu_check``).
"""

from __future__ import annotations

from dcinfra.errors import EXIT_ERROR, EXIT_OK
from dcinfra.verify.artifacts import load_measured, load_storage, report_for_plan, save_report, write_plot
from dcinfra.verify.check import Check
from dcinfra.verify.declared import declared_facts
from dcinfra.verify.launch import BenchLaunch, bench_launches, job_timeout_s
from dcinfra.verify.link import LinkPair, iperf3_command, parse_iperf3, ring_pairs
from dcinfra.verify.report import (
    EXIT_MISSED,
    VerifyReport,
    build_report,
    exit_code,
    render_storage_table,
    render_table,
    table_text,
)
from dcinfra.verify.slurm_job import SlurmJob, parse_sacct, scheduler_section, slurm_job
from dcinfra.verify.storage import (
    parse_ceph_status,
    parse_rados_bench,
    storage_bounds_s,
    storage_budget_s,
    storage_report,
)

__all__ = [
    "EXIT_ERROR",
    "EXIT_MISSED",
    "EXIT_OK",
    "BenchLaunch",
    "Check",
    "LinkPair",
    "SlurmJob",
    "VerifyReport",
    "bench_launches",
    "build_report",
    "declared_facts",
    "exit_code",
    "iperf3_command",
    "job_timeout_s",
    "load_measured",
    "load_storage",
    "parse_ceph_status",
    "parse_iperf3",
    "parse_rados_bench",
    "parse_sacct",
    "render_storage_table",
    "render_table",
    "report_for_plan",
    "ring_pairs",
    "save_report",
    "scheduler_section",
    "slurm_job",
    "storage_bounds_s",
    "storage_budget_s",
    "storage_report",
    "table_text",
    "write_plot",
]
