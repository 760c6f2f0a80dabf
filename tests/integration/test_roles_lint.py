"""The Ansible code is lint-clean: ansible-lint (profile production, empty skip list, offline; config in
``.ansible-lint``) and yamllint (``.yamllint``) on ``playbooks/``. Any finding fails, with the output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 600


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    if shutil.which(argv[0]) is None:
        pytest.fail(f"{argv[0]} is not installed: pip install -e '.[dev]'")
    env = {**os.environ, "NO_COLOR": "1", "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )


def test_ansible_lint_production_profile_is_clean() -> None:
    config = (ROOT / ".ansible-lint").read_text()
    assert "profile: production" in config
    assert "skip_list: []" in config
    res = _run(["ansible-lint", "--offline", "--strict", "-c", str(ROOT / ".ansible-lint"), "playbooks/"])
    assert res.returncode == 0, f"ansible-lint found problems:\n{res.stdout}\n{res.stderr}"
    assert "Profile 'production' was required, and it passed" in res.stdout + res.stderr


def test_yamllint_is_clean() -> None:
    res = _run(["yamllint", "-s", "-f", "parsable", "playbooks", ".ansible-lint", ".yamllint"])
    assert res.returncode == 0, f"yamllint found problems:\n{res.stdout}\n{res.stderr}"
