"""Every property dcinfra renders into core-site.xml and hdfs-site.xml is one Hadoop defines.

Hadoop silently ignores an unknown property, so a misspelt name in the planner would ship a cluster
that quietly runs on the default. The names are checked against the default files of the pinned
Hadoop release (dcinfra/catalog/hadoop_<version>_keys.txt, with its source), secure mode included.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dcinfra.catalog.hadoop import default_keys
from dcinfra.config import Config
from dcinfra.errors import DcinfraError
from dcinfra.loader import load_stack
from dcinfra.model.stack import Stack
from dcinfra.model.storage import Kerberos
from dcinfra.plan import compile_plan
from dcinfra.plan.types import HdfsPlan

ROOT = Path(__file__).resolve().parents[2]


def _stack(secure: bool) -> Stack:
    """stacks/h100_su.py (HDFS with rack awareness), optionally in secure mode."""
    stack = load_stack(ROOT / "stacks" / "h100_su.py", Config())
    hdfs = stack.storage.hdfs
    assert hdfs is not None and hdfs.rack_awareness
    update: dict[str, object] = {}
    if secure:
        update |= {
            "secure": True,
            "kerberos": Kerberos(realm="DC.EXAMPLE.COM", kdc="kdc.dc.example.com"),
        }
    storage = stack.storage.model_copy(update={"hdfs": hdfs.model_copy(update=update)})
    return stack.model_copy(update={"storage": storage})


def _hdfs(stack: Stack) -> HdfsPlan:
    plan = compile_plan(stack)
    assert plan.hdfs is not None
    return plan.hdfs


def unknown(props: dict[str, str], known: frozenset[str]) -> list[str]:
    """Rendered property names that the Hadoop default file does not define."""
    return sorted(k for k in props if k not in known)


@pytest.mark.parametrize("secure", [False, True], ids=["simple", "kerberos"])
def test_rendered_properties_exist_in_hadoop_defaults(secure: bool) -> None:
    hdfs = _hdfs(_stack(secure))
    assert "net.topology.script.file.name" in hdfs.core_site  # the rack-awareness key is covered
    keys = default_keys(hdfs.hadoop_version)
    assert unknown(hdfs.core_site, keys["core-default.xml"]) == []
    assert unknown(hdfs.hdfs_site, keys["hdfs-default.xml"]) == []


def test_secure_mode_renders_kerberos_and_data_transfer_protection() -> None:
    hdfs = _hdfs(_stack(secure=True))
    assert hdfs.core_site["hadoop.security.authentication"] == "kerberos"
    assert hdfs.hdfs_site["dfs.data.transfer.protection"] == "privacy"
    assert hdfs.hdfs_site["dfs.block.access.token.enable"] == "true"
    assert hdfs.hdfs_site["dfs.reformat.disabled"] == "true"  # a re-run never reformats a namespace
    keys = default_keys(hdfs.hadoop_version)
    # each file's properties are checked against that file's defaults, not the union
    assert "hadoop.security.authentication" not in keys["hdfs-default.xml"]
    assert "dfs.data.transfer.protection" not in keys["core-default.xml"]


def test_a_misspelt_property_is_caught() -> None:
    keys = default_keys("3.3.6")
    assert unknown({"dfs.replicaton": "3", "dfs.replication": "3"}, keys["hdfs-default.xml"]) == [
        "dfs.replicaton"
    ]
    assert unknown({"fs.defaultFs": "hdfs://x:8020"}, keys["core-default.xml"]) == ["fs.defaultFs"]


def test_key_list_names_its_source_and_covers_both_files() -> None:
    text = (ROOT / "dcinfra" / "catalog" / "hadoop_3_3_6_keys.txt").read_text()
    assert "https://hadoop.apache.org/docs/r3.3.6/hadoop-project-dist/hadoop-hdfs/hdfs-default.xml" in text
    assert "https://hadoop.apache.org/docs/r3.3.6/hadoop-project-dist/hadoop-common/core-default.xml" in text
    keys = default_keys("3.3.6")
    assert set(keys) == {"core-default.xml", "hdfs-default.xml"}
    assert all(len(v) > 50 for v in keys.values())


def test_unknown_version_names_the_file_to_add() -> None:
    with pytest.raises(DcinfraError, match=r"hadoop_9_9_9_keys\.txt"):
        default_keys("9.9.9")
