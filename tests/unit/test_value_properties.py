"""Every string field of the model, fed adversarial and random values: each value is either rejected with
a problem that names the field (its path, or the value) and says how to fix it, or it is rendered into
files and an inventory that read back as the same inert data: nothing a host or Ansible could take for
a template, a second line, a second list entry or a path outside its directory.

The string fields are found by walking the pydantic models from :class:`~dcinfra.Stack`, so a new string
field is covered (or this test says it has no value in the starting stacks) without editing this file.
Values go into two valid stacks: the lab with every optional section filled in, and a small bare-metal
stack on an InfiniBand fabric (for what a lab cannot have: SSH users, block devices, HCAs, BMCs).
"""

from __future__ import annotations

import re
import typing
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from dcinfra import Slurm, Stack
from dcinfra.errors import Problem
from dcinfra.loader import load_stack, problems_from_pydantic
from dcinfra.model.types import offence, shown
from dcinfra.plan import compile_plan, validate
from dcinfra.plan.types import Plan
from dcinfra.render.hostfiles import render_host_files
from dcinfra.render.inventory import dump_yaml, load_yaml, render_inventory
from tests.conftest import REPO_ROOT
from tests.unit.test_validation import base_stack

# Values every string field is tried with: template and shell syntax, line breaks, separators, path
# escapes, Unicode digits, quotes, the empty string and a very long one, and a few harmless ones.
ADVERSARIAL = [
    "",
    " ",
    "a b",
    "x\ny",
    "mlx5_0\nNCCL_IB_DISABLE=1",
    "\r\n",
    "\t",
    "\x00",
    "{{ lookup('pipe', 'id') }}",
    "{% raw %}x{% endraw %}",
    "${HOME}",
    "$(id)",
    "`id`",
    "/data/1,/etc",
    "a,b",
    "..",
    ".",
    "/dev/../etc/passwd",
    "../../../root/.ssh",
    "/var/lib/../../etc",
    "/etc//x",
    "/x/",
    "٥٥٠",
    "１２.４",
    "'q'",
    '"q"',
    "ünï",
    "a;b",
    "100%",
    "x" * 5000,
    "ok",
    "ok-1",
    "/srv/ok",
    "550",
    "1.31",
    "yes",
]


# --- the two starting stacks ------------------------------------------------------------------------------


def _thaw(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _thaw(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_thaw(v) for v in obj]
    return obj


def _lab_full() -> dict[str, Any]:
    """The lab with every optional string field given a value."""
    d: dict[str, Any] = _thaw(load_stack(REPO_ROOT / "stacks" / "lab.py").model_dump())
    pool = d["compute"]["pools"][0]
    pool.update(hostname_prefix="node", racks=["lab"], tenant="team-a")
    ceph = d["storage"]["ceph"]
    ceph["mgrs"] = {"pools": ["node"], "count": 1}
    ceph["clients"] = {"hosts": ["node-001", "node-002", "node-003"]}
    ceph["cephfs"]["mds"] = {"hosts": ["node-001"]}
    d["storage"]["hdfs"] = {
        "namenode": {"hosts": ["node-001"]},
        "datanodes": {"pools": ["node"]},
        "network": "management",
        "data_dirs": ["/data/1/hdfs", "/data/2/hdfs"],
        "secure": True,
        "kerberos": {"realm": "DC.EXAMPLE.COM", "kdc": "kdc.dc.example.com"},
        "artifact": "/srv/mirror/hadoop-3.3.6.tar.gz",
        "artifact_sha512": "ab" * 64,
    }
    d["compute"]["pools"][0]["addresses"] = {"hosts": [{"host": "node-001"}]}  # a pin naming its host
    sec = d["security"]
    sec["zones"].append({"name": "mon", "roles": ["ceph-mon"]})
    sec["rules"] = [
        {
            "name": "exporter",
            "src": "nodes",
            "dst": "any",
            "ports": [9100, "9200-9201"],
            "network": "management",
        }
    ]
    sec["tenants"] = [{"name": "team-a", "pools": ["node"]}]
    d["scheduler"].update(
        partitions=[{"name": "batch", "pools": ["node"], "default": True, "max_time": "2-00:00:00"}],
        tenants=[{"name": "team-a", "fairshare": 10}],
        prolog="/etc/slurm/prolog.sh",
        epilog="/etc/slurm/epilog.sh",
        cluster_name="lab_cluster",
    )
    d["platform"] = {
        "kubernetes": {
            "control_plane": {"hosts": ["node-001"]},
            "kubeconfig": "~/.kube/lab.yaml",
            "context": "lab-admin",
            "toolkit_version": "v1.18.1",
            "tenants": [{"name": "team-a", "namespaces": ["training"], "gpus": 0}],  # the pools' tenant
            "bench_image": "registry.example.com/ml/bench:1",
        }
    }
    return d


def _baremetal_full() -> dict[str, Any]:
    """A bare-metal stack on InfiniBand: SSH user and key, devices, HCAs, interfaces, BMCs, GPU GRES."""
    d: dict[str, Any] = _thaw(base_stack().model_dump())
    d["site"].update(ssh_user="ops", ssh_key_file="~/.ssh/dc_ed25519")
    d["site"]["hosts"][0]["bmc_ip"] = "10.1.0.11"
    d["fabric"]["compute"].update(hcas=[f"mlx5_{i}" for i in range(8)], interface_prefix="ib")
    d["fabric"]["management"]["interface"] = "eno1"
    d["fabric"]["storage"]["interface"] = "ens2f0"
    d["scheduler"] = Slurm(controller={"hosts": ["svc-001"]}, gres_pools=["gpu-a"]).model_dump()
    return d


@cache
def bases() -> dict[str, dict[str, Any]]:
    out = {}
    for name, data in (("lab", _lab_full()), ("baremetal", _baremetal_full())):
        stack = Stack.model_validate(data)
        problems = validate(stack)
        assert not problems, f"{name}: " + "; ".join(p.render() for p in problems)
        out[name] = _thaw(stack.model_dump())  # every field present, defaults included
    return out


# --- the string fields --------------------------------------------------------------------------------------


def _holds_str(annotation: Any) -> bool:
    if annotation is str:
        return True
    return any(_holds_str(a) for a in typing.get_args(annotation) if a is not Ellipsis)


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for a in typing.get_args(annotation):
        yield from _models(a)


def string_fields() -> set[tuple[str, str]]:
    """``(class, field)`` of every field reachable from Stack that holds a string."""
    found: set[tuple[str, str]] = set()
    seen: set[type[BaseModel]] = set()

    def walk(cls: type[BaseModel]) -> None:
        if cls in seen:
            return
        seen.add(cls)
        for name, field in cls.model_fields.items():
            if _holds_str(field.annotation):  # Literal["a", ...] holds values, not the str type
                found.add((cls.__name__, name))
            for sub in _models(field.annotation):
                walk(sub)

    walk(Stack)
    return found


def slots() -> dict[tuple[str, str], tuple[str, str]]:
    """``(class, field) -> (base, path)``: where each string field can be set in a starting stack (the
    first place that holds a value, else the first place at all; a list field's first item, or the
    whole list when it is empty)."""
    wanted = string_fields()
    given: dict[tuple[str, str], tuple[str, str]] = {}
    unset: dict[tuple[str, str], tuple[str, str]] = {}
    for base, data in bases().items():

        def walk(obj: Any, path: str, base: str = base) -> None:
            if isinstance(obj, BaseModel):
                for name in type(obj).model_fields:
                    value = getattr(obj, name)
                    here = f"{path}.{name}" if path else name
                    key = (type(obj).__name__, name)
                    if key in wanted:
                        if isinstance(value, tuple) and value and isinstance(value[0], str | int):
                            given.setdefault(key, (base, f"{here}[0]"))
                        elif isinstance(value, str):
                            given.setdefault(key, (base, here))
                        else:
                            unset.setdefault(key, (base, here))
                    walk(value, here)
            elif isinstance(obj, tuple):
                for i, item in enumerate(obj):
                    walk(item, f"{path}[{i}]")

        walk(Stack.model_validate(data), "")
    return {**unset, **given}


SLOTS = slots()


def test_every_string_field_has_a_slot() -> None:
    missing = string_fields() - set(SLOTS)
    assert not missing, f"string fields without a value in the starting stacks: {sorted(missing)}"
    assert len(SLOTS) > 60


# --- one value, judged ------------------------------------------------------------------------------------


def _set(data: dict[str, Any], path: str, value: str) -> tuple[dict[str, Any], Any]:
    """A copy of ``data`` with ``path`` set to ``value`` (a whole-list path gets ``[value]``), and the
    value it replaced."""
    data = _thaw(data)
    keys: list[str | int] = [
        m.group(1) if m.group(1) is not None else int(m.group(2))
        for m in re.finditer(r"([^.\[\]]+)|\[(\d+)\]", path)
    ]
    target: Any = data
    for key in keys[:-1]:
        target = target[key]
    old = target[keys[-1]]
    target[keys[-1]] = [value] if isinstance(old, list) else value
    return data, old


def _names_it(problems: list[Problem], path: str, value: str, old: Any) -> bool:
    """A problem at the field (or inside it), or one quoting the value, or (a name changed) one naming
    what the old name left dangling."""
    olds = [o for o in (old if isinstance(old, list) else [old]) if isinstance(o, str) and o]
    return any(
        p.path.startswith(path) or shown(value) in p.message or any(o in p.message for o in olds)
        for p in problems
    )


def _ansible_view(text: bytes) -> Any:
    """The file as Ansible's own loader reads it, and whether any string in it would be templated."""
    from ansible.parsing.yaml.loader import AnsibleLoader

    return AnsibleLoader(text.decode()).get_single_data()


def _templatable(data: Any) -> list[str]:
    """Strings Ansible would template: trusted as templates (ansible-core 2.19) or not wrapped unsafe."""
    try:
        from ansible.template import is_trusted_as_template

        trusted: Callable[[str], bool] = is_trusted_as_template
    except ImportError:  # ansible-core < 2.19: unsafe values are AnsibleUnsafe instances
        from ansible.utils.unsafe_proxy import AnsibleUnsafe

        def trusted(value: str) -> bool:
            return not isinstance(value, AnsibleUnsafe)

    out: list[str] = []
    if isinstance(data, dict):
        for v in data.values():
            out += _templatable(v)
    elif isinstance(data, list):
        for v in data:
            out += _templatable(v)
    elif isinstance(data, str) and trusted(data) and ("{" in data or "%" in data):
        out.append(data)
    return out


def _plain(data: Any) -> Any:
    """Ansible's tagged values as plain Python (for equality with the safe loader's view)."""
    if isinstance(data, dict):
        return {str(k): _plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_plain(v) for v in data]
    for kind in (bool, int, float, str):
        if isinstance(data, kind):
            return kind(data)
    return data


def check_rendered(plan: Plan, value: str, ansible: bool) -> None:
    """An accepted value is inert everywhere, and the inventory reads back as the data it was written
    from, with the same types, under both a YAML safe loader and Ansible's loader."""
    assert offence(value) is None, f"accepted {value!r}, which is unsafe in a rendered file"
    inventory = render_inventory(plan)
    for path, text in inventory.items():
        data = load_yaml(text)
        assert dump_yaml(data, plan.stack) == text, (
            f"{path} does not read back as the data it was written from"
        )
    if ansible:
        for path in ("inventory/group_vars/all.yml", f"inventory/host_vars/{plan.hosts[0].name}.yml"):
            seen = _ansible_view(inventory[path])
            assert _plain(seen) == load_yaml(inventory[path]), path
            assert _templatable(seen) == [], path
    for path, content in render_host_files(plan).items():
        if path.endswith(".xml"):
            ET.fromstring(content)
        if path.endswith("/etc/nccl.conf"):
            for line in content.decode().splitlines():
                assert not line or line.startswith("#") or ("=" in line and " " not in line), (path, line)


def judge(field: tuple[str, str], value: str, ansible: bool = False) -> str:
    """Put ``value`` in ``field`` of its starting stack; assert the outcome is a clear rejection or an
    inert render. Returns which it was."""
    base, path = SLOTS[field]
    data, old = _set(bases()[base], path, value)
    try:
        stack = Stack.model_validate(data)
    except ValidationError as e:
        problems = problems_from_pydantic(e)
        where = f"{field}={value!r}"
        at = [p for p in problems if p.path == path or p.path.startswith(f"{path}[")]
        assert at, f"{where}: {[p.render() for p in problems]}"
        for p in problems:
            assert p.hint and shown(value) in p.message, f"{where}: {p.render()}"
        return "model"
    problems = validate(stack)
    if problems:
        assert all(p.hint for p in problems), [p.render() for p in problems]
        assert _names_it(problems, path, value, old), f"{field}={value!r}: {[p.render() for p in problems]}"
        return "plan"
    check_rendered(compile_plan(stack), value, ansible)
    return "rendered"


FIELDS = sorted(SLOTS)


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f"{f[0]}.{f[1]}")
def test_adversarial_values_are_rejected_or_inert(field: tuple[str, str]) -> None:
    outcomes: list[str] = []
    for value in ADVERSARIAL:  # Ansible's loader reads the first two renders of each field too
        outcomes.append(judge(field, value, ansible=outcomes.count("rendered") < 2))
    # Template syntax, line breaks and Unicode digits never get through, whatever the field.
    for value, outcome in zip(ADVERSARIAL, outcomes, strict=True):
        if offence(value) is not None:
            assert outcome != "rendered", (field, value)


_ALPHABET = st.characters(codec="utf-8", exclude_categories=("Cs",))
VALUES = st.one_of(
    st.text(_ALPHABET, max_size=24),
    st.from_regex(r"[a-z0-9./_:@+=,{}$%' -]{1,24}", fullmatch=True),
    st.from_regex(r"/[a-z0-9._/-]{0,20}", fullmatch=True),
)


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f"{f[0]}.{f[1]}")
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(value=VALUES)
def test_random_values_are_rejected_or_inert(field: tuple[str, str], value: str) -> None:
    judge(field, value)


def test_a_template_in_a_plan_value_reaches_ansible_as_data() -> None:
    """Even a value that got past the model (the renderer's last line of defence): Ansible's loader
    reads it as untrusted data, the same characters."""
    from dataclasses import replace

    plan = compile_plan(Stack.model_validate(bases()["lab"]))
    evil = "{{ lookup('pipe', 'id') }}"
    plan = replace(plan, ssh_user=evil, versions={**dict(plan.versions), "torch": "{% raw %}1{% endraw %}"})
    all_yml = render_inventory(plan)["inventory/group_vars/all.yml"]
    assert b"ansible_user: !unsafe '{{ lookup(''pipe'', ''id'') }}'" in all_yml
    seen = _ansible_view(all_yml)
    assert seen["ansible_user"] == evil and seen["dcinfra_versions"]["torch"] == "{% raw %}1{% endraw %}"
    assert _templatable(seen) == []
    # Strings that look like other YAML types stay strings under Ansible's loader too.
    assert seen["dcinfra_versions"]["cuda"] == "13.0" and isinstance(seen["dcinfra_versions"]["cuda"], str)


def test_safe_yaml_without_the_unsafe_tag_is_refused() -> None:
    """The inventory needs the ``!unsafe`` constructor: a plain safe loader refuses it rather than
    misreading it (so a tool that reads it must use :func:`load_yaml` or Ansible)."""
    plan = compile_plan(Stack.model_validate(bases()["lab"]))
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.safe_load(render_inventory(plan)["inventory/group_vars/all.yml"])
