"""Where the playbooks are: ``playbooks/`` of the source tree dcinfra runs from (an editable install)."""

from __future__ import annotations

from pathlib import Path

from dcinfra.errors import DcinfraError

PLAYBOOKS = Path(__file__).resolve().parent.parent.parent / "playbooks"


def playbook(name: str) -> Path:
    """The path of playbook ``name`` (``site.yml``, ``verify.yml``, ...); an error naming the fix when
    dcinfra was installed without its source tree."""
    path = PLAYBOOKS / name
    if not path.exists():
        raise DcinfraError(
            f"playbook {path} not found; dcinfra must run from its source tree (pip install -e .)"
        )
    return path
