"""Where host files go in the build dir: ``files/_all/<path>`` or ``files/<host>/<path>``.

Shared by every layer's render module (:mod:`dcinfra.render.hostfiles` lists them), so the layers agree
on the layout without importing the registry that imports them.
"""

from __future__ import annotations

ALL = "_all"  # files/_all/<path>: deployed to every host; files/<host>/<path> overrides it
FILES = "files"  # the build-dir folder the roles copy onto each host's /


def all_path(path: str) -> str:
    """Build-dir path of ``path`` (relative to the host's ``/``) deployed to every host."""
    return f"{FILES}/{ALL}/{path}"


def host_path(host: str, path: str) -> str:
    """Build-dir path of ``path`` (relative to the host's ``/``) deployed to ``host`` only."""
    return f"{FILES}/{host}/{path}"
