"""Strict value types: every value that reaches a host is checked where the stack declares it.

One broken stack file per class of value the issue found flowing verbatim to hosts (a templated SSH
user, a newline in an HCA list, a comma in an HDFS data dir, a device path escaping /dev, a keytab dir
escaping its root, a driver branch in Arabic-Indic digits), and for the strict numbers (``True`` as a
replication, ``"32"`` as a count, a ``--config`` string given for a count): ``dcinfra validate`` fails
with the value's path in the stack, the value, what is allowed and a ``fix:`` line, and creates nothing.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Strict, TypeAdapter, ValidationError
from typer.testing import CliRunner

from dcinfra import CephPool, Hardware, HdfsCluster, Network, NodePool, Placement, Rack, Stack, VerifySettings
from dcinfra.cli import app
from dcinfra.errors import StackInvalid
from dcinfra.loader import load_stack, problems_from_pydantic
from dcinfra.model import types as T
from dcinfra.model.base import _strict_kind
from dcinfra.model.types import Format

REPO = Path(__file__).resolve().parents[2]
# The lab stack, importing what the broken variants add.
LAB = (
    (REPO / "stacks" / "lab.py")
    .read_text()
    .replace(
        "from dcinfra import (\n",
        "from dcinfra import (\n    HdfsCluster,\n    Kerberos,\n    Versions,\n",
        1,
    )
)

BAREMETAL = """
from dcinfra import *
stack = Stack(
    name="bm",
    site=BareMetalSite(ssh_user=SSH_USER, hosts=[BareMetalHost(name="nd-001", management_ip="10.0.0.11")]),
    compute=Compute(pools=[NodePool(name="nd", count=1, hardware=Hardware(profile="lab-cpu", rails=0))]),
    fabric=Fabric(management=Network(cidr="10.0.0.0/24")),
)
"""


def _lab(old: str, new: str) -> str:
    assert LAB.count(old) == 1, old
    return LAB.replace(old, new)


_HDFS = (
    "    storage=Storage(\n",
    "    storage=Storage(\n        hdfs=HdfsCluster(namenode=Placement(hosts=['node-001']), "
    "datanodes=Placement(pools=['node']), network='management', {}),\n",
)


def _hdfs(arguments: str) -> str:
    return _lab(_HDFS[0], _HDFS[1].format(arguments))


# (id, stack text, the value's path in the stack, text the message must quote, text the fix must give)
BROKEN = [
    (
        "ssh-user-template",
        BAREMETAL.replace("SSH_USER", repr("{{ lookup('pipe', 'id') }}")),
        "site.ssh_user",
        "\"{{ lookup('pipe', 'id') }}\" is not a POSIX user name: it contains '{{'",
        "a portable user name",
    ),
    (
        "hca-newline",
        _lab("mtu=1500)", 'mtu=1500, hcas=["mlx5_0\\nNCCL_IB_DISABLE=1"])'),
        "fabric.compute.hcas[0]",
        "'mlx5_0\\nNCCL_IB_DISABLE=1' is not an RDMA device name: it contains a newline",
        "lower-case letters, digits and '_'",
    ),
    (
        "hdfs-data-dir-comma",
        _hdfs("data_dirs=['/data/1,/etc']"),
        "storage.hdfs.data_dirs[0]",
        "'/data/1,/etc' is not an absolute, normalized path: it contains ','",
        "no spaces, commas",
    ),
    (
        "osd-device-escape",
        _lab(
            'osds=Placement(pools=["node"]),',
            "osds=Placement(pools=[\"node\"]), devices=['/dev/../etc/passwd'],",
        ),
        "storage.ceph.devices[0]",
        "'/dev/../etc/passwd' is not a block device path under /dev: a path may not contain '..'",
        "a normalized path under /dev/",
    ),
    (
        "keytab-dir-escape",
        _hdfs(
            "secure=True, kerberos=Kerberos(realm='DC.EXAMPLE.COM', kdc='kdc', "
            "keytab_dir='../../../root/.ssh')"
        ),
        "storage.hdfs.kerberos.keytab_dir",
        "'../../../root/.ssh' is not an absolute, normalized path: it is not absolute",
        "an absolute, normalized path",
    ),
    (
        "driver-branch-arabic-indic",
        _lab(
            "    verify=VerifySettings(",
            "    versions=Versions(driver_branch='٥٥٠'),\n    verify=VerifySettings(",
        ),
        "versions.driver_branch",
        "'٥٥٠' is not a driver branch: it contains the non-ASCII character '٥' (U+0665)",
        "three ASCII digits",
    ),
    (
        "replication-true",
        _hdfs("replication=True"),
        "storage.hdfs.replication",
        "True is not an integer (it is a bool)",
        "give a whole number",
    ),
    (
        "count-string",
        _lab("count=nodes,", 'count="32",'),
        "compute.pools[0].count",
        "'32' is not an integer (it is str)",
        "config.get_int",
    ),
    (
        "count-from-config-string",
        _lab('nodes = config.get_int("nodes", 3)', 'nodes = config.get_str("nodes", "3")'),
        "compute.pools[0].count",
        "'3' is not an integer (it is str)",
        "a --config value is read as a number with config.get_int(...)",
    ),
]


def _validate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, *args: str) -> Any:
    """``dcinfra validate`` on ``text`` from an empty working dir with an empty state root: returns the
    result after checking that neither got anything."""
    stack = tmp_path / "stack" / "broken.py"
    stack.parent.mkdir()
    stack.write_text(text)
    cwd, state = tmp_path / "cwd", tmp_path / "state"
    cwd.mkdir()
    state.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("DCINFRA_STATE_DIR", str(state))
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.delenv("DCINFRA_DEBUG", raising=False)
    result = CliRunner().invoke(app, ["validate", str(stack), *args], catch_exceptions=False)
    assert list(cwd.iterdir()) == [] and list(state.iterdir()) == [], "validate created files"
    assert sorted(p.name for p in stack.parent.iterdir()) == ["broken.py"]
    return result


@pytest.mark.parametrize(
    ("text", "path", "message", "fix"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
def test_a_bad_value_is_named_at_its_path_and_nothing_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, path: str, message: str, fix: str
) -> None:
    result = _validate(tmp_path, monkeypatch, text)
    assert result.exit_code == 1, result.output
    out = result.output
    lines = out.splitlines()
    at = [i for i, line in enumerate(lines) if f"{path}: " in line]
    assert at, out
    assert message in lines[at[0]], out
    assert lines[at[0] + 1].strip().startswith("fix: ") and fix in lines[at[0] + 1], out
    assert "broken.py:" in out  # the file and line it was built at


def test_a_bad_config_value_for_a_count_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _validate(tmp_path, monkeypatch, LAB, "--config", "nodes=true")
    assert result.exit_code == 1
    assert "--config nodes='true': expected an integer, e.g. nodes=3" in result.output


def test_json_output_carries_the_path_value_and_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    result = _validate(tmp_path, monkeypatch, BROKEN[1][1], "--json")
    doc = json.loads(result.stdout)
    assert doc["valid"] is False
    [p] = doc["problems"]
    assert p["path"] == "fabric.compute.hcas[0]" and "'mlx5_0\\nNCCL_IB_DISABLE=1'" in p["message"]
    assert p["hint"] and p["rule"] == "model"


# --- where a model error is: the stack path, recovered -------------------------------------------------


def _load_text(tmp_path: Path, text: str) -> StackInvalid:
    path = tmp_path / "s.py"
    path.write_text(text)
    with pytest.raises(StackInvalid) as info:
        load_stack(path)
    return info.value


def test_errors_of_objects_built_apart_are_placed_in_the_stack(tmp_path: Path) -> None:
    text = _lab(
        "stack = Stack(",
        "hw = Hardware(profile='lab-cpu', gpu_count=True)\n"
        "placement = Placement(pools=['node'], count='3')\n"
        "stray = Rack(name='Bad Rack')\n"
        "stack = Stack(",
    )
    text = text.replace('hardware=Hardware(profile="lab-cpu")', "hardware=hw")
    text = text.replace('mons=Placement(pools=["node"], count=3)', "mons=placement")
    err = _load_text(tmp_path, text)
    found = {p.path: p for p in err.problems}
    assert set(found) == {"compute.pools[0].hardware.gpu_count", "storage.ceph.mons.count", "Rack.name"}
    assert "True is not an integer" in found["compute.pools[0].hardware.gpu_count"].message
    # an object the stack never uses: its class, and where it was built
    assert re.search(r"\(built at .*s\.py:\d+\)$", found["Rack.name"].message)
    assert all(p.hint for p in err.problems)
    assert re.fullmatch(r".*s\.py:\d+", err.source)


def test_a_stack_that_trips_over_its_bad_object_is_reported_by_class(tmp_path: Path) -> None:
    text = _lab(
        "stack = Stack(",
        "n = NodePool(name='xx', count='4', hardware=Hardware(profile='lab-cpu'))\n"
        "doubled = n.count * 2 + 1\nstack = Stack(",
    )
    err = _load_text(tmp_path, text)
    assert [p.path for p in err.problems] == ["NodePool.count"]
    assert "'4' is not an integer" in err.problems[0].message and err.problems[0].hint


def test_the_placing_run_is_quiet(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    text = _lab("stack = Stack(", "print('hello from the stack')\nstack = Stack(").replace(
        "count=nodes,", "count=0,"
    )
    err = _load_text(tmp_path, text)
    assert [p.path for p in err.problems] == ["compute.pools[0].count"]
    assert capfd.readouterr().err.count("hello from the stack") == 1


def test_collecting_leaves_ordinary_construction_strict() -> None:
    with pytest.raises(ValidationError):
        NodePool(name="gpu", count=True, hardware=Hardware(profile="lab-cpu"))


# --- strict numbers -----------------------------------------------------------------------------------


def _numeric_fields() -> list[tuple[type[BaseModel], str]]:
    out: list[tuple[type[BaseModel], str]] = []
    seen: set[type[BaseModel]] = set()

    def walk(cls: type[BaseModel]) -> None:
        if cls in seen:
            return
        seen.add(cls)
        for name, field in cls.model_fields.items():
            if _strict_kind(field.annotation) is not None:
                out.append((cls, name))
            stack = [field.annotation]
            while stack:
                a = stack.pop()
                if isinstance(a, type) and issubclass(a, BaseModel):
                    walk(a)
                stack.extend(typing.get_args(a))

    walk(Stack)
    return out


def test_every_number_and_boolean_of_the_model_is_strict() -> None:
    fields = _numeric_fields()
    assert len(fields) > 50
    loose = [
        f"{c.__name__}.{n}"
        for c, n in fields
        if not any(isinstance(m, Strict) for m in c.model_fields[n].metadata)
    ]
    assert loose == []


@pytest.mark.parametrize(
    ("build", "loc"),
    [
        (lambda: HdfsCluster(namenode=Placement(), datanodes=Placement(), replication=True), "replication"),
        (lambda: NodePool(name="gpu", count="32", hardware=Hardware()), "count"),
        (lambda: NodePool(name="gpu", count=32.0, hardware=Hardware()), "count"),
        (lambda: CephPool(name="rbd", size=True), "size"),
        (lambda: Rack(name="r1", power_budget_kw=True), "power_budget_kw"),
        (lambda: Rack(name="r1", power_budget_kw="44"), "power_budget_kw"),
        (lambda: Network(cidr="10.0.0.0/24", gateway="yes"), "gateway"),
        (lambda: Network(cidr="10.0.0.0/24", gateway=1), "gateway"),
        (lambda: VerifySettings(min_busbw_fraction="0.5"), "min_busbw_fraction"),
    ],
    ids=[
        "bool-count",
        "str-count",
        "float-count",
        "bool-size",
        "bool-float",
        "str-float",
        "str-bool",
        "int-bool",
        "str-fraction",
    ],
)
def test_numbers_and_booleans_are_not_converted(build: Any, loc: str) -> None:
    with pytest.raises(ValidationError) as info:
        build()
    [problem] = [p for p in problems_from_pydantic(info.value) if p.path == loc]
    assert problem.hint


def test_floats_take_integers() -> None:
    assert Rack(name="r1", power_budget_kw=44).power_budget_kw == 44.0
    assert Hardware(power_kw=3).power_kw == 3.0


# --- the types themselves ------------------------------------------------------------------------------

ACCEPT_REJECT: list[tuple[Any, list[str], list[str]]] = [
    (
        T.AbsPath,
        ["/", "/mnt/datasets", "/data/1/hdfs", "/opt/x+y@z=1"],
        [
            "",
            "rel/x",
            "/a//b",
            "/a/./b",
            "/a/../b",
            "/a/",
            "/a b",
            "/a,b",
            "/a:b",
            "/$x",
            "/a\n",
            "/{{x}}",
            "/٥",
        ],
    ),
    (
        T.DevicePath,
        ["/dev/nvme1n1", "/dev/disk/by-path/pci-0000:3b:00.0-nvme-1"],
        ["/dev", "/dev/", "/dev/../etc/passwd", "/dev/./sda", "/etc/passwd", "nvme1n1", "/dev/sd a"],
    ),
    (
        T.UserName,
        ["root", "ops", "_svc", "svc-01"],
        ["Root", "1ops", "a b", "op$", "x" * 33, "{{ x }}", "ops\n"],
    ),
    (
        T.HostName,
        ["kdc", "kdc.dc.example.com", "KDC-1.Example.com"],
        ["", "-kdc", "kdc-", "kdc..x", "kdc.", "k_dc", "kdc:88", "x" * 64, "é.com"],
    ),
    (T.HostLabel, ["gpu-001", "a"], ["Gpu-001", "gpu_001", "gpu-", "-gpu", "gpu.001"]),
    (
        T.InterfaceName,
        ["eth0", "ens2f0", "bond0.100", "ib_0"],
        ["", ".", "..", "a b", "eth0:1", "x" * 16, "eth/0"],
    ),
    (
        T.HcaName,
        ["mlx5_0", "ibp12s0"],
        ["mlx5-0", "MLX5_0", "mlx5_0\nNCCL_IB_DISABLE=1", "mlx5_0,mlx5_1", "0mlx"],
    ),
    (T.DriverBranch, ["550", "535"], ["55", "5500", "٥٥٠", "５５０", "55a"]),
    (T.MinorVersion, ["12.4", "1.31"], ["12", "12.4.1", "١٢.٤", "12.x", "v12.4"]),
    (T.PatchVersion, ["2.21.5", "3.3.6"], ["2.21", "2.21.5.1", "٢.21.5", "2.21.5\n"]),
    (T.VPatchVersion, ["v25.10.1"], ["25.10.1", "v25.10", "v٢5.10.1"]),
    (
        T.TorchVersion,
        ["2.13.0", "2.5.1+cu124", "2.4"],
        ["2", "2.13.0; os.system('x')", "2.13.0+CU", "٢.13.0"],
    ),
    (T.SlurmSeries, ["22.05"], ["22.5", "٢٢.05"]),
    (T.CephRelease, ["pacific", "squid"], ["Pacific", "16.2", "pa"]),
    (
        T.ArtifactSource,
        [
            "https://downloads.apache.org/hadoop/common/hadoop-3.3.6/hadoop-3.3.6.tar.gz",
            "https://mirror:8443/h.tgz?x=1&y=2",
            "/srv/mirror/hadoop-3.3.6.tar.gz",
        ],
        [
            "hadoop.tar.gz",
            "ftp://x/h.tgz",
            "https://x/a b",
            "/srv/../h.tgz",
            "https://x/$(id)",
            "https://x/{{y}}",
        ],
    ),
    (T.KerberosRealm, ["DC.EXAMPLE.COM"], ["dc.example.com", "DC EXAMPLE", ".DC"]),
    (T.ImageRef, ["nvcr.io/nvidia/pytorch:25.01-py3", "repo@sha256:" + "a" * 64], ["Repo", "x y", "x;y"]),
    (
        T.ControllerPath,
        ["~/.kube/config", "/home/me/.ssh/id_ed25519", "keys/ci"],
        ["-oProxyCommand=x", "a b", "$HOME/x", "{{ x }}", "x\n"],
    ),
]


@pytest.mark.parametrize(
    ("kind", "good", "bad"), ACCEPT_REJECT, ids=lambda x: "" if isinstance(x, list) else None
)
def test_each_type_accepts_and_rejects(kind: Any, good: list[str], bad: list[str]) -> None:
    adapter = TypeAdapter(kind)
    for value in good:
        assert adapter.validate_python(value) == value
    for value in bad:
        with pytest.raises(ValidationError) as info:
            adapter.validate_python(value)
        [error] = info.value.errors()
        assert error["type"] == T.FORMAT_ERROR, (value, error)
        assert error["ctx"]["allowed"] and error["ctx"]["example"]


def _formats() -> list[Format]:
    return [
        m
        for v in vars(T).values()
        if typing.get_origin(v) is typing.Annotated
        for m in v.__metadata__
        if isinstance(m, Format)
    ]


def test_no_model_pattern_uses_unicode_classes() -> None:
    """``\\d``, ``\\w`` and ``\\s`` match non-ASCII characters in Python's and pydantic-core's regex engines:
    every pattern of the model spells out ASCII ranges instead."""
    patterns = [f.regex for f in _formats()]
    seen: set[type[BaseModel]] = set()

    def walk(cls: type[BaseModel]) -> None:
        if cls in seen:
            return
        seen.add(cls)
        for field in cls.model_fields.values():
            patterns.extend(str(getattr(m, "pattern", "")) for m in field.metadata)
            stack = [field.annotation]
            while stack:
                a = stack.pop()
                if isinstance(a, type) and issubclass(a, BaseModel):
                    walk(a)
                stack.extend(typing.get_args(a))

    walk(Stack)
    assert len(patterns) > 20
    assert [p for p in patterns if re.search(r"\\[dwsDWS]", p)] == []


def test_every_example_fits_its_type() -> None:
    for f in _formats():
        assert f.problem(f.example) is None, f.what


def test_long_values_are_shortened_in_messages() -> None:
    with pytest.raises(ValidationError) as info:
        TypeAdapter(T.AbsPath).validate_python("/" + "x" * 100_000 + " ")
    [problem] = problems_from_pydantic(info.value)
    assert len(problem.message) < 300 and "(100002 characters)" in problem.message


def test_a_cidr_with_host_bits_says_so() -> None:
    with pytest.raises(ValidationError) as info:
        Network(cidr="10.0.0.1/24")
    [problem] = problems_from_pydantic(info.value)
    assert "host bits set" in problem.message and "'10.0.0.0/24'" in problem.hint


def test_an_empty_list_after_bad_items_is_not_reported_twice() -> None:
    from dcinfra import GpuQuota

    with pytest.raises(ValidationError) as info:
        GpuQuota(name="a", namespaces=["Bad"], gpus=0)
    assert [p.path for p in problems_from_pydantic(info.value)] == ["namespaces[0]"]


def test_every_pydantic_error_kind_gets_a_fix() -> None:
    cases = [
        lambda: Stack.model_validate(
            {"name": "x", "compute": {"pools": []}, "fabric": {"management": {"cidr": "x"}}, "cout": 1}
        ),
        lambda: Rack(name="r1", cooling="water"),
        lambda: Rack(name="r1", max_nodes=0),
        lambda: NodePool(name="gpu", count=1, hardware="dgx"),
        lambda: NodePool(name="gpu", count=1, hardware=Hardware(), racks="r1"),
        lambda: Stack.model_validate({"name": "x", "site": {"kind": "cloud"}}),
    ]
    for build in cases:
        with pytest.raises(ValidationError) as info:
            build()
        for p in problems_from_pydantic(info.value):
            assert p.hint and p.message, p
            assert "Input should" not in p.hint, p


@pytest.mark.parametrize(
    "path", ["/etc//prolog", "/etc/./prolog", "/etc/slurm/", "//etc/prolog", "//", "/a/../dev/x", "prolog.sh"]
)
def test_slurm_script_paths_that_are_not_normalized_are_refused_by_the_model(path: str) -> None:
    from dcinfra import Slurm

    with pytest.raises(ValidationError) as info:
        Slurm(controller=Placement(hosts=["node-001"]), prolog=path)
    [problem] = problems_from_pydantic(info.value)
    assert problem.path == "prolog" and repr(path) in problem.message and problem.hint


def test_a_capitalised_catalog_name_is_refused_with_the_lower_case_suggestion() -> None:
    from pydantic import ValidationError

    from dcinfra import Hardware

    with pytest.raises(ValidationError) as exc:
        Hardware(gpu="H200-SXM")
    assert "did you mean 'h200-sxm'?" in str(exc.value)
