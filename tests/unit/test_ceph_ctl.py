"""The Ceph role's helper (``playbooks/roles/ceph/files/ceph-ctl.py``): the parts that need no cluster.

Its cluster-facing subcommands run against a real Ceph cluster in ``tests/integration/test_storage.py``
(a second ``up`` with changed=0 is what proves the keyrings built here match what the nodes hold).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

HELPER = Path(__file__).resolve().parents[2] / "playbooks" / "roles" / "ceph" / "files" / "ceph-ctl.py"


@pytest.fixture(scope="module")
def ctl() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ceph_ctl", HELPER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_keyring_is_what_ceph_auth_get_prints(ctl: ModuleType) -> None:
    # `ceph auth get client.compute` (Ceph 16-18): a tab before each line, caps sorted by kind, quoted.
    key = "AQBUiEhnAAAAABAAm0/l0000000000000000000A=="
    caps = {"osd": "profile rbd pool=rbd", "mon": "profile rbd", "mds": "allow rw fsname=datasets"}
    assert ctl._keyring("client.compute", key, caps) == (
        "[client.compute]\n"
        f"\tkey = {key}\n"
        '\tcaps mds = "allow rw fsname=datasets"\n'
        '\tcaps mon = "profile rbd"\n'
        '\tcaps osd = "profile rbd pool=rbd"\n'
    )


def test_keyring_without_caps(ctl: ModuleType) -> None:
    assert ctl._keyring("client.bare", "AQB=", {}) == "[client.bare]\n\tkey = AQB=\n"
