"""HDFS on the network it is declared on (issue: correct on real servers, item 11): the NameNode's
addresses are its name on the HDFS network, the rack map is keyed by what DataNodes register with, a
SecondaryNameNode checkpoints, failed data dirs are tolerated, and decommissioning matches what
registered. Rendered files and the inventory are checked here; no Hadoop runs on this machine."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from dcinfra import Placement, Stack
from dcinfra.loader import load_stack
from dcinfra.plan import compile_plan
from dcinfra.plan.types import Plan
from dcinfra.render import render

REPO = Path(__file__).resolve().parents[1].parent


def su(**hdfs: object) -> Stack:
    stack = load_stack(REPO / "stacks" / "h100_su.py")
    assert stack.storage.hdfs is not None
    new_hdfs = stack.storage.hdfs.model_copy(update=hdfs)
    return stack.model_copy(update={"storage": stack.storage.model_copy(update={"hdfs": new_hdfs})})


def site_xml(plan: Plan, host: str, name: str) -> str:
    return render(plan)[f"files/{host}/etc/hadoop/{name}"].decode()


def test_the_namenode_is_addressed_on_the_hdfs_network() -> None:
    plan = compile_plan(su())
    hdfs = plan.hdfs
    assert hdfs is not None and hdfs.namenode == "stor-001"
    assert hdfs.core_site["fs.defaultFS"] == "hdfs://stor-001-storage:8020"
    assert hdfs.hdfs_site["dfs.namenode.rpc-address"] == "stor-001-storage:8020"
    assert hdfs.hdfs_site["dfs.namenode.http-address"] == "stor-001-storage:9870"
    # The name resolves to the storage address in the rendered /etc/hosts, where the firewall admits HDFS.
    hosts = render(plan)["files/_all/etc/hosts"].decode()
    assert f"{plan.host('stor-001').addresses['storage']}\tstor-001-storage" in hosts
    flow = next(f for f in plan.security.flows if f.name == "hdfs-namenode")
    assert flow.network == "storage"
    assert "<value>hdfs://stor-001-storage:8020</value>" in site_xml(plan, "stor-002", "core-site.xml")


def test_failed_volumes_default_to_half_the_data_dirs() -> None:
    one = compile_plan(su(data_dirs=("/data/1/dn",))).hdfs
    assert one is not None and one.hdfs_site["dfs.datanode.failed.volumes.tolerated"] == "0"
    two = compile_plan(su()).hdfs  # h100_su: two data dirs
    assert two is not None and two.hdfs_site["dfs.datanode.failed.volumes.tolerated"] == "1"
    four = compile_plan(su(data_dirs=("/data/1/dn", "/data/2/dn", "/data/3/dn", "/data/4/dn"))).hdfs
    assert four is not None and four.hdfs_site["dfs.datanode.failed.volumes.tolerated"] == "2"
    set_ = compile_plan(su(data_dirs=("/data/1/dn", "/data/2/dn"), failed_volumes_tolerated=1)).hdfs
    assert set_ is not None and set_.hdfs_site["dfs.datanode.failed.volumes.tolerated"] == "1"


def test_a_secondary_namenode_checkpoints_on_another_host() -> None:
    plan = compile_plan(su(secondary=Placement(hosts=["stor-004"])))
    hdfs = plan.hdfs
    assert hdfs is not None and hdfs.secondary == "stor-004"
    assert hdfs.hdfs_site["dfs.namenode.secondary.http-address"] == "stor-004-storage:9868"
    assert hdfs.hdfs_site["dfs.namenode.checkpoint.dir"] == "file:///var/lib/hadoop/namesecondary"
    assert "hdfs-secondary" in plan.host("stor-004").roles
    # It gets the configuration, is in its inventory group, and reaches the NameNode's RPC and HTTP.
    files = render(plan)
    assert "stor-004-storage:9868" in files["files/stor-004/etc/hadoop/hdfs-site.xml"].decode()
    inventory = files["inventory/hosts.yml"].decode()
    group = inventory.split("    hdfs_secondary:\n", 1)[1].split("\n    k8s", 1)[0]
    assert "stor-004" in group and "stor-003" not in group, group
    rules = plan.security.rulesets[plan.host("stor-001").firewall]
    nn = next(r for r in rules if r.comment == "flow hdfs-namenode")
    snn = IPv4Address(plan.host("stor-004").addresses["storage"])
    assert any(snn in IPv4Network(c) for c in nn.sources), nn.sources
    # None declared: no checkpoint properties, no group members.
    plain = compile_plan(su())
    assert plain.hdfs is not None and plain.hdfs.secondary is None
    assert "dfs.namenode.secondary.http-address" not in plain.hdfs.hdfs_site


def test_decommissioning_lists_and_matches_what_registered() -> None:
    """The role writes service_names to dfs.exclude and waits on service_addresses in the report."""
    plan = compile_plan(su())
    hdfs = plan.hdfs
    assert hdfs is not None
    for dn in hdfs.datanodes:
        assert hdfs.service_names[dn] == f"{dn}-storage"
        assert hdfs.service_addresses[dn] == plan.host(dn).addresses["storage"]
    role = (REPO / "playbooks/roles/hdfs/tasks/decommission.yml").read_text()
    assert "dcinfra_hdfs.service_names[item]" in role and "dcinfra_hdfs.service_addresses" in role
