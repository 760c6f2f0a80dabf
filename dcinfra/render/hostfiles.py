"""The registry of host-file producers: every file under ``files/`` comes from one layer's module.

Each layer's render module (:mod:`~dcinfra.render.access`, :mod:`~dcinfra.render.firewall`,
:mod:`~dcinfra.render.compute`, :mod:`~dcinfra.render.ceph`, :mod:`~dcinfra.render.hdfs`,
:mod:`~dcinfra.render.slurm`) exposes
``files(plan) -> dict[str, bytes]`` keyed by build-dir path (``files/_all/...`` or
``files/<host>/...``, see :mod:`dcinfra.render.layout`) and renders its templates from
``dcinfra/templates/<layer>/``. A new layer adds its module and one entry to :data:`HOST_FILES`.

Which of the two places a file goes to follows from the Plan's semantics, not from comparing bytes: a
file whose content the Plan defines once for the whole stack (``/etc/hosts``, the sshd drop-in) is
written once under ``_all``; a file the Plan defines per host, per ruleset or per cluster membership is
written per host, and identical contents share one ``bytes`` object so large plans stay cheap to render.
"""

from __future__ import annotations

from collections.abc import Callable

from dcinfra.plan.types import Plan
from dcinfra.render import access, ceph, compute, firewall, hdfs, slurm
from dcinfra.render.layout import ALL, FILES

__all__ = ["ALL", "HOST_FILES", "HostFiles", "render_host_files"]

HostFiles = Callable[[Plan], dict[str, bytes]]  # a layer's producer: plan -> {build-dir path: content}

# (layer name, producer), in a fixed order; a path may come from one layer only.
HOST_FILES: tuple[tuple[str, HostFiles], ...] = (
    ("access", access.files),
    ("firewall", firewall.files),
    ("compute", compute.files),
    ("ceph", ceph.files),
    ("hdfs", hdfs.files),
    ("slurm", slurm.files),
)


def render_host_files(plan: Plan) -> dict[str, bytes]:
    """Every file under ``files/``, keyed by its path in the build dir: the union of :data:`HOST_FILES`.

    Raises ValueError when a layer writes outside ``files/`` or a path another layer already wrote
    (two layers owning one file would make the result depend on the registry's order).
    """
    out: dict[str, bytes] = {}
    owner: dict[str, str] = {}  # path -> layer, to name both sides of a clash
    for layer, produce in HOST_FILES:
        produced = produce(plan)
        for path in produced:
            if not path.startswith(f"{FILES}/"):
                raise ValueError(f"render layer {layer!r} wrote {path!r}, which is not under {FILES}/")
            if path in owner:
                raise ValueError(f"render layers {owner[path]!r} and {layer!r} both write {path!r}")
            owner[path] = layer
        out.update(produced)
    return out
