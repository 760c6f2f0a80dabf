"""The per-object plan diff ``preview`` shows: create / update / delete per object, nested collections,
order, truncation; golden text and JSON for the lab scaled 3 -> 4 (with a Ceph pool changed) and back;
and preview's summary rendering the diff, the removals and the orphans."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rich.console import Console, Group
from rich.text import Text

from dcinfra.cli.summaries import preview_summary
from dcinfra.config import Config
from dcinfra.loader import load_stack
from dcinfra.model.stack import Stack
from dcinfra.pipeline import PreviewRecord
from dcinfra.plan import compile_plan
from dcinfra.plan.diff import ABSENT, FieldChange, ObjectChange, diff_objects, format_changes
from dcinfra.plan.removals import Removal
from dcinfra.plan.types import to_jsonable
from tests.conftest import REPO_ROOT, rewrote, updating_golden

GOLDEN = REPO_ROOT / "tests" / "fixtures" / "plan_diff"


def _host(name: str, storage: str = "172.31.1.5", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "pool": "node",
        "roles": ["compute", "storage"],
        "addresses": {"management": "10.0.0.1", "storage": storage},
        **extra,
    }


def _plan(hosts: list[dict[str, Any]], **sections: Any) -> dict[str, Any]:
    return {
        "stack": "t",
        "hosts": hosts,
        "racks": [{"name": "r1", "hosts": [h["name"] for h in hosts]}],
        **sections,
    }


def _by_key(changes: list[ObjectChange]) -> dict[tuple[str, str], ObjectChange]:
    return {(c.kind, c.name): c for c in changes}


# -- create / update / delete ------------------------------------------------------------------------


def test_identical_plans_have_no_changes() -> None:
    plan = _plan([_host("node-001")], slurm={"cluster_name": "t"})
    assert diff_objects(plan, plan) == []
    assert format_changes([]) == ["No changes."]


def test_update_shows_only_the_changed_fields() -> None:
    old = _plan([_host("node-001"), _host("node-002")])
    new = _plan([_host("node-001"), _host("node-002", storage="172.31.1.6")])
    [change] = diff_objects(old, new)
    assert (change.kind, change.name, change.action) == ("host", "node-002", "update")
    assert change.fields == (FieldChange("addresses.storage", "172.31.1.5", "172.31.1.6"),)
    assert format_changes([change]) == [
        "~ host node-002",
        '    addresses.storage: "172.31.1.5" -> "172.31.1.6"',
        "Plan: 0 to add, 1 to change, 0 to destroy.",
    ]


def test_create_and_delete_show_identity_not_every_field() -> None:
    old = _plan([_host("node-001"), _host("node-004", bmc_address=None, power_kw=0.1)])
    new = _plan([_host("node-001"), _host("node-005")])
    by = _by_key(diff_objects(old, new))
    gone, made = by[("host", "node-004")], by[("host", "node-005")]
    assert gone.action == "delete" and made.action == "create"
    assert [f.path for f in made.fields] == ["pool", "roles", "addresses.management"]  # not bmc, power, ...
    assert all(f.after is ABSENT and f.has_before for f in gone.fields)
    assert all(f.before is ABSENT and f.has_after for f in made.fields)
    assert by[("rack", "r1")].action == "update"
    text = format_changes(diff_objects(old, new))
    assert text[:4] == ["- host node-004", '      pool: "node"', '      roles: ["compute", "storage"]',
                        '      addresses.management: "10.0.0.1"']  # fmt: skip
    assert "+ host node-005" in text
    assert text[-1] == "Plan: 1 to add, 1 to change, 1 to destroy."


def test_fields_added_and_removed_inside_an_update() -> None:
    old = _plan([_host("a", gpu="h100")])
    new = _plan([_host("a", tenant="x")])
    [change] = diff_objects(old, new)
    assert set(change.fields) == {FieldChange("gpu", "h100", ABSENT), FieldChange("tenant", ABSENT, "x")}
    lines = format_changes([change])
    assert '    - gpu: "h100"' in lines and '    + tenant: "x"' in lines
    assert [f.to_dict() for f in change.fields] == [
        {"path": "gpu", "before": "h100"},
        {"path": "tenant", "after": "x"},
    ]


def test_null_and_missing_sections_are_no_object() -> None:
    old = _plan([], storage={"ceph": {"name": "ceph", "release": "reef"}, "hdfs": None}, platform=None)
    new = _plan([], storage={"ceph": None, "hdfs": {"namenode": "n1", "replication": 3}})
    by = _by_key(diff_objects(old, new))
    assert by[("storage.ceph", "")].action == "delete"
    assert by[("storage.hdfs", "")].action == "create"
    assert by[("storage.hdfs", "")].fields == (
        FieldChange("namenode", ABSENT, "n1"),
        FieldChange("replication", ABSENT, 3),
    )
    assert ("platform", "") not in by


def test_top_level_scalars_are_the_plan_object() -> None:
    [change] = diff_objects({"stack": "t", "ssh_user": "root"}, {"stack": "t", "ssh_user": "admin"})
    assert (change.kind, change.name, change.fields) == (
        "plan",
        "",
        (FieldChange("ssh_user", "root", "admin"),),
    )


# -- nesting -----------------------------------------------------------------------------------------


def test_nested_collections_are_objects_of_their_own() -> None:
    def ceph(pg: int, osds: int) -> dict[str, Any]:
        return {
            "name": "ceph",
            "pools": [{"name": "rbd", "pg_num": pg, "size": 3}, {"name": "data", "pg_num": 8, "size": 3}],
            "osds": [{"id": i, "host": f"n{i}", "device": "/dev/sdb"} for i in range(osds)],
            "crush": {
                "type": "root",
                "name": "default",
                "children": [
                    {
                        "type": "host",
                        "name": f"n{i}",
                        "children": [{"type": "osd", "name": f"osd.{i}", "children": []}],
                    }
                    for i in range(osds)
                ],
            },
        }

    old = _plan([], storage={"ceph": ceph(8, 2), "hdfs": None})
    new = _plan([], storage={"ceph": ceph(32, 3), "hdfs": None})
    by = _by_key(diff_objects(old, new))
    assert set(by) == {
        ("storage.ceph.pool", "rbd"),
        ("storage.ceph.osd", "2"),
        ("storage.ceph.crush.child", "n2"),
        ("storage.ceph.crush.child", "n2/osd.2"),
    }  # the singleton storage.ceph itself: nothing of its own changed
    assert by[("storage.ceph.pool", "rbd")].fields == (FieldChange("pg_num", 8, 32),)
    assert by[("storage.ceph.osd", "2")].fields == (
        FieldChange("host", ABSENT, "n2"),
        FieldChange("device", ABSENT, "/dev/sdb"),
    )
    assert by[("storage.ceph.crush.child", "n2/osd.2")].action == "create"


def test_keyed_lists_and_labelled_elements() -> None:
    def rules(*srcs: str) -> list[dict[str, Any]]:
        return [
            {"comment": f"flow {n}", "ports": ["22"], "sources": [s]}
            for n, s in zip(("ssh", "ceph"), srcs, strict=True)
        ]

    old = _plan([], security={"default": "deny", "rulesets": {"a": rules("10.0.0.0/24", "10.0.1.0/24")}})
    new = _plan(
        [], security={"default": "deny", "rulesets": {"a": rules("10.0.0.0/24", "10.0.2.0/24"), "b": []}}
    )
    by = _by_key(diff_objects(old, new))
    assert by[("security.ruleset", "a")].fields == (
        FieldChange("[flow ceph].sources", ["10.0.1.0/24"], ["10.0.2.0/24"]),
    )
    assert by[("security.ruleset", "b")].action == "create"
    assert by[("security.ruleset", "b")].fields == (FieldChange("entries", ABSENT, 0),)


def test_unlabelled_lists_of_dicts_compare_element_wise() -> None:
    rails = [{"rail": 0, "address": "10.1.0.1"}, {"rail": 1, "address": "10.1.1.1"}]
    moved = [rails[0], {"rail": 1, "address": "10.1.1.9"}]
    [change] = diff_objects(_plan([_host("a", rails=rails)]), _plan([_host("a", rails=moved)]))
    assert change.fields == (FieldChange("rails[1].address", "10.1.1.1", "10.1.1.9"),)


def test_a_collection_appearing_from_empty_is_created_per_element() -> None:
    old = _plan([], slurm={"cluster_name": "t", "accounts": []})
    new = _plan([], slurm={"cluster_name": "t", "accounts": [{"name": "ml", "fairshare": 10}]})
    [change] = diff_objects(old, new)
    assert (change.kind, change.name, change.action) == ("slurm.account", "ml", "create")


# -- order and truncation ----------------------------------------------------------------------------


def test_order_is_hosts_networks_racks_storage_scheduler_security_then_the_rest() -> None:
    def plan(v: int) -> dict[str, Any]:
        return {
            "stack": "t",
            "versions": {"cuda": str(v)},
            "security": {"default": str(v)},
            "slurm": {"cluster_name": str(v)},
            "storage": {"ceph": {"release": str(v)}, "hdfs": None},
            "racks": [{"name": "r", "power_kw": v}],
            "networks": [{"name": "mgmt", "mtu": v}],
            "hosts": [_host(f"node-{n}", storage=str(v)) for n in (10, 9, 2)],
            "fabric": {"mtu": v},
        }

    labels = [c.label for c in diff_objects(plan(1), plan(2))]
    assert labels == [
        "host node-2",
        "host node-9",
        "host node-10",
        "network mgmt",
        "rack r",
        "storage.ceph",
        "slurm",
        "security",
        "fabric",
        "versions",
    ]
    assert diff_objects(plan(1), plan(2)) == diff_objects(plan(1), plan(2))


def test_long_values_are_cut() -> None:
    long = "x" * 200
    hosts = [f"node-{i:03d}" for i in range(40)]
    change = ObjectChange(
        "rack",
        "r",
        "update",
        (FieldChange("note", "short", long), FieldChange("hosts", hosts, [*hosts, "node-999"])),
    )
    note, members = format_changes([change], limit=60)[1:3]
    assert note.startswith('    note: "short" -> "xxx') and note.endswith("...") and len(note) < 90
    assert members == '    hosts: 40 -> 41 items (+ "node-999")'
    created = ObjectChange("rack", "r", "create", (FieldChange("hosts", ABSENT, hosts),))
    line = format_changes([created], limit=60)[1]
    assert (
        line.startswith('      hosts: ["node-000", "node-001"')
        and line.endswith("more]")
        and len(line) < 140  # identity lines: twice the limit
    )
    many = ObjectChange("site", "", "update", tuple(FieldChange(f"f{i}", 0, 1) for i in range(30)))
    lines = format_changes([many], max_fields=5)
    assert lines[-2] == "    ... and 25 more fields" and len(lines) == 1 + 5 + 1 + 1


# -- golden: the lab stack ---------------------------------------------------------------------------


def _lab(nodes: int, pg_num: int | None = None) -> dict[str, Any]:
    stack = load_stack(REPO_ROOT / "stacks" / "lab.py", Config({"nodes": str(nodes)}))
    if pg_num is not None:
        stack = _with_pg_num(stack, pg_num)
    return to_jsonable(compile_plan(stack))


def _with_pg_num(stack: Stack, pg_num: int) -> Stack:
    storage = stack.storage
    assert storage is not None and storage.ceph is not None
    pools = [p.model_copy(update={"pg_num": pg_num}) if p.name == "rbd" else p for p in storage.ceph.pools]
    ceph = storage.ceph.model_copy(update={"pools": pools})
    return stack.model_copy(update={"storage": storage.model_copy(update={"ceph": ceph})})


def _check_golden(got: dict[str, str]) -> None:
    """Compare each fixture; with ``DCINFRA_UPDATE_GOLDEN=1`` rewrite them all, then fail once."""
    if updating_golden():
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for name, text in got.items():
            (GOLDEN / name).write_text(text)
        rewrote(GOLDEN.relative_to(REPO_ROOT))
    for name, text in got.items():
        want = (GOLDEN / name).read_text()
        assert text == want, f"plan diff {name} changed; review and rerun with DCINFRA_UPDATE_GOLDEN=1"


@pytest.mark.parametrize(
    ("case", "old", "new"),
    [
        ("scale_out", {"nodes": 3}, {"nodes": 4, "pg_num": 32}),  # + node-004 and its OSD, ~ pool rbd
        ("scale_in", {"nodes": 4}, {"nodes": 3}),  # - node-004
    ],
)
def test_golden_lab_diff(case: str, old: dict[str, int], new: dict[str, int]) -> None:
    changes = diff_objects(_lab(**old), _lab(**new))
    _check_golden(
        {
            f"{case}.txt": "\n".join(format_changes(changes)) + "\n",
            f"{case}.json": json.dumps([c.to_dict() for c in changes], indent=2) + "\n",
        }
    )


def test_golden_lab_diff_names_what_matters() -> None:
    """Independent of the fixtures: the scale-out shows the new host, its OSD and the pool change."""
    by = _by_key(diff_objects(_lab(3), _lab(4, pg_num=32)))
    assert by[("host", "node-004")].action == "create"
    assert by[("storage.ceph.osd", "3")].action == "create"
    assert by[("slurm.node", "node-004")].action == "create"
    pool = by[("storage.ceph.pool", "rbd")]
    assert set(pool.fields) == {FieldChange("pg_num", 8, 32), FieldChange("autoscale", True, False)}
    assert ("host", "node-001") not in by
    removed = _by_key(diff_objects(_lab(4), _lab(3)))
    assert removed[("host", "node-004")].action == "delete"


# -- preview's summary -------------------------------------------------------------------------------


def _render(record: PreviewRecord) -> str:
    console = Console(width=200, record=True)
    console.print(preview_summary(record))
    return console.export_text()


def test_preview_summary_renders_the_object_diff_removals_and_orphans() -> None:
    changes = diff_objects(_lab(4), _lab(3))
    record = PreviewRecord(
        stack="lab",
        plan_changes=changes,
        files=[],
        hosts_missing=[],
        check=None,
        first_up=False,
        removals=[
            Removal(host="node-004", osds=(3,), slurm_node=True),
            Removal(host="node-001", mon=True, blockers=("it runs the Slurm controller; move it first",)),
        ],
        orphans=["node-007"],
    )
    text = _render(record)
    lines = text.splitlines()
    assert "- host node-004" in text and "~ rack lab" in text
    assert "Plan: 0 to add, " in text and " to destroy." in text
    removals_at = lines.index("hosts the plan removes (2):")
    assert lines.index("  Plan: 0 to add, 10 to change, 6 to destroy.") < removals_at
    assert "  - host node-004" in lines[removals_at:]
    assert any("osd.3" in line and "holds" in line for line in lines[removals_at:])
    assert any("slurm compute node" in line.lower() for line in lines[removals_at:])
    assert "      blocked: it runs the Slurm controller; move it first" in lines
    assert "  up refuses without --allow-remove" in lines
    assert "lab nodes of this stack that are in no plan: node-007 (`dcinfra destroy` removes them)" in lines
    assert lines[-1] == "✗ changes pending"


def test_preview_summary_colours_the_diff() -> None:
    changes = [
        ObjectChange("host", "a", "create", (FieldChange("pool", ABSENT, "node"),)),
        ObjectChange("host", "b", "update", (FieldChange("mtu", 1500, 9000),)),
        ObjectChange("host", "c", "delete", (FieldChange("pool", "node", ABSENT),)),
    ]
    record = PreviewRecord("lab", changes, [], [], None, False)
    group = preview_summary(record)
    assert isinstance(group, Group)
    styled = {str(t).strip(): str(t.style) for t in group.renderables if isinstance(t, Text)}
    assert "green" in str(styled["+ host a"]) and "yellow" in str(styled["~ host b"])
    assert "red" in str(styled["- host c"])
    assert PreviewRecord("lab", [], [], [], None, False).to_dict()["plan_changes"] == []
    assert record.to_dict()["plan_changes"][1] == {
        "kind": "host",
        "name": "b",
        "action": "update",
        "fields": [{"path": "mtu", "before": 1500, "after": 9000}],
    }
