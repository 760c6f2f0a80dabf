"""Writing a rendered file set to a build directory, and removing what an earlier render wrote.

``out/.dcinfra-manifest`` lists every path dcinfra wrote there. On the next write, paths in the old
manifest but not in the new set are deleted; files dcinfra never wrote are never touched. Files whose
content is unchanged are not rewritten, so their modification times stay put (GitOps and ``make``
friendly), and nothing time-dependent is ever written: two writes of one set give identical trees.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from dcinfra.errors import RenderError

MANIFEST = ".dcinfra-manifest"
_MANIFEST_HEADER = "# Files written by dcinfra render; the next render removes those it no longer writes.\n"


def _check(rel: str) -> None:
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or rel != p.as_posix() or rel in {"", ".", MANIFEST}:
        raise RenderError(f"rendered path {rel!r} is not a plain relative path inside the build dir")


def read_manifest(out: Path) -> list[str]:
    """The paths an earlier :func:`write_tree` recorded in ``out`` (empty when there is none)."""
    try:
        text = (out / MANIFEST).read_text()
    except FileNotFoundError:
        return []
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def _write_if_changed(path: Path, content: bytes) -> None:
    try:
        if path.read_bytes() == content:
            return
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.dcinfra-tmp")
    tmp.write_bytes(content)
    # Scripts (a "#!" first line) are executable so the tree can be used as it is, e.g. by GitOps.
    tmp.chmod(0o755 if content.startswith(b"#!") else 0o644)
    tmp.replace(path)


def _prune_empty_dirs(out: Path, start: Path) -> None:
    d = start
    while d != out and out in d.parents:
        try:
            d.rmdir()
        except OSError:
            return  # not empty (or not ours): stop climbing
        d = d.parent


def write_tree(files: Mapping[str, bytes], out: Path) -> list[Path]:
    """Write ``files`` (relative POSIX path -> content) under ``out`` and remove stale dcinfra files.

    Returns the path of every file in the set, sorted. Raises :class:`RenderError` for a path that is
    absolute or climbs out of ``out``.
    """
    for rel in files:
        _check(rel)
    out.mkdir(parents=True, exist_ok=True)
    old = read_manifest(out)
    written = []
    for rel in sorted(files):
        path = out / rel
        _write_if_changed(path, files[rel])
        written.append(path)
    for rel in sorted(set(old) - set(files)):
        try:
            _check(rel)
        except RenderError:
            continue  # a hand-edited manifest must not make us delete outside the build dir
        stale = out / rel
        if stale.is_file() or stale.is_symlink():
            stale.unlink()
            _prune_empty_dirs(out, stale.parent)
    manifest = _MANIFEST_HEADER + "".join(f"{rel}\n" for rel in sorted(files))
    tmp = out / f"{MANIFEST}.tmp"
    tmp.write_text(manifest)
    tmp.replace(out / MANIFEST)
    return written
