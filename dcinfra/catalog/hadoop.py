"""Hadoop facts: the property names of a Hadoop release's default configuration files.

The names ship as ``hadoop_<version>_keys.txt`` next to this module (its header gives the source), so
tests can check that every property dcinfra renders is one Hadoop knows: a misspelt name in
core-site.xml or hdfs-site.xml is silently ignored by Hadoop.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from dcinfra.errors import DcinfraError

HERE = Path(__file__).resolve().parent


@cache
def default_keys(version: str) -> dict[str, frozenset[str]]:
    """Default-file name (``core-default.xml``, ``hdfs-default.xml``) -> property names, for ``version``.

    Raises:
        DcinfraError: no key list ships for that version.
    """
    path = HERE / f"hadoop_{version.replace('.', '_')}_keys.txt"
    if not path.exists():
        known = sorted(
            p.stem.removeprefix("hadoop_").removesuffix("_keys") for p in HERE.glob("hadoop_*_keys.txt")
        )
        raise DcinfraError(
            f"no Hadoop key list for version {version!r} (known: {', '.join(known) or 'none'}); "
            f"add dcinfra/catalog/{path.name} from that release's default files"
        )
    out: dict[str, set[str]] = {}
    section: str | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            out.setdefault(section, set())
        elif section is None:
            raise DcinfraError(f"{path}: property {line!r} before any [file] section")
        else:
            out[section].add(line)
    return {name: frozenset(keys) for name, keys in out.items()}
