"""Loading stack files: every way a stack file can fail names the file, the line and the fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dcinfra.config import Config
from dcinfra.errors import ConfigError, StackInvalid, StackLoadError
from dcinfra.loader import load_stack


def write(tmp_path: Path, body: str, name: str = "stack.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body).lstrip())
    return path


def test_reference_stacks_load(repo_root: Path) -> None:
    for name, expected in (("lab", "lab"), ("h100_su", "h100-su"), ("superpod", "superpod")):
        assert load_stack(repo_root / "stacks" / f"{name}.py").name == expected


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.py"
    with pytest.raises(StackLoadError, match="not found") as info:
        load_stack(missing)
    assert str(missing) in str(info.value)
    assert info.value.exit_code == 1


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        from dcinfra import Stack

        stack = Stack(name="x",
        """,
    )
    with pytest.raises(StackLoadError, match="SyntaxError") as info:
        load_stack(path)
    assert f"{path}:3" in str(info.value)


def test_runtime_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        def racks():
            return 1 / 0

        stack = racks()
        """,
    )
    with pytest.raises(StackLoadError, match="ZeroDivisionError") as info:
        load_stack(path)
    assert f"{path}:2" in str(info.value)


def test_file_without_stack(tmp_path: Path) -> None:
    path = write(tmp_path, "from dcinfra import Rack\n\nrack = Rack(name='r01')\n")
    with pytest.raises(StackLoadError, match=r"stack = Stack\(\.\.\.\)") as info:
        load_stack(path)
    assert "found nothing" in str(info.value)


def test_stack_of_the_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path, "from dcinfra import Rack\n\nstack = Rack(name='r01')\n")
    with pytest.raises(StackLoadError, match="found Rack"):
        load_stack(path)


def test_model_error_names_file_line_class_field_and_value(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        from dcinfra import Hardware, NodePool

        pools = [
            NodePool(name="gpu", count=-4, hardware=Hardware(profile="dgx-h100")),
        ]
        """,
    )
    with pytest.raises(StackInvalid) as info:
        load_stack(path)
    err = info.value
    assert err.source == f"{path}:4"
    [problem] = err.problems
    assert problem.path == "NodePool.count"
    assert "-4" in problem.message
    assert "must be at least 1" in problem.message
    assert problem.hint == "use a value at least 1"
    text = str(err)
    assert f"{path}:4" in text and "NodePool.count" in text and "-4" in text


def test_model_error_unknown_field_has_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "from dcinfra import Rack\n\nr = Rack(name='r01', power_kw=44)\n")
    with pytest.raises(StackInvalid) as info:
        load_stack(path)
    [problem] = info.value.problems
    assert problem.path == "Rack.power_kw"
    assert "unknown field 'power_kw'" in problem.message
    assert "dcinfra schema" in problem.hint


def test_every_model_error_of_one_call_is_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path, "from dcinfra import Rack\n\nr = Rack(name='R 1', power_budget_kw=0, cooling='water')\n"
    )
    with pytest.raises(StackInvalid) as info:
        load_stack(path)
    assert {p.path for p in info.value.problems} == {"Rack.name", "Rack.power_budget_kw", "Rack.cooling"}


def test_config_values_reach_the_stack(repo_root: Path) -> None:
    stack = load_stack(repo_root / "stacks" / "lab.py", Config({"nodes": "5"}))
    assert stack.compute.pools[0].count == 5


def test_config_typo_is_rejected(repo_root: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_stack(repo_root / "stacks" / "lab.py", Config({"node": "5"}))
    message = str(info.value)
    assert "--config node" in message
    assert "it reads: light_nodes, nodes, storage" in message
    assert "spelling" in message


def test_config_bad_int(repo_root: Path) -> None:
    with pytest.raises(ConfigError, match=r"nodes='three'.*expected an integer"):
        load_stack(repo_root / "stacks" / "lab.py", Config({"nodes": "three"}))


def test_config_parse_rejects_a_pair_without_equals() -> None:
    with pytest.raises(ConfigError, match="expected key=value"):
        Config.parse(["su_count"])
    assert dict(Config.parse(["su_count=8", " nodes = 3 "]).items()) == {"nodes": "3", "su_count": "8"}


def test_config_bool_and_float() -> None:
    cfg = Config({"fast": "yes", "ratio": "1.5", "bad": "maybe"})
    assert cfg.get_bool("fast", False) is True
    assert cfg.get_float("ratio", 1.0) == 1.5
    assert cfg.get_str("missing", "dflt") == "dflt"
    with pytest.raises(ConfigError, match="expected true or false"):
        cfg.get_bool("bad", False)
    assert cfg.unused() == []


def test_loading_leaves_no_module_behind(repo_root: Path) -> None:
    import sys

    before = set(sys.modules)
    load_stack(repo_root / "stacks" / "lab.py")
    assert {m for m in set(sys.modules) - before if m.startswith("dcinfra_stack_")} == set()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("import sys\nsys.exit(0)\n", r"called sys.exit\(0\)"),
        ("raise SystemExit('bye')\n", r"called sys.exit\('bye'\)"),
        ("raise KeyboardInterrupt\n", r"interrupted \(KeyboardInterrupt\)"),
        ("class Odd(BaseException):\n    pass\n\nraise Odd('x')\n", r"Odd escaped the stack file"),
    ],
)
def test_a_stack_that_exits_or_raises_a_base_exception_is_a_load_error(
    tmp_path: Path, body: str, expected: str
) -> None:
    path = write(tmp_path, body)
    with pytest.raises(StackLoadError, match=expected) as info:
        load_stack(path)
    assert str(path) in str(info.value) and info.value.exit_code == 1


def test_what_a_stack_prints_goes_to_stderr(
    repo_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lab = (repo_root / "stacks" / "lab.py").read_text()
    path = write(tmp_path, "print('hello from the stack')\n" + lab)
    assert load_stack(path).name == "lab"
    out, err = capsys.readouterr()
    assert out == "" and "hello from the stack" in err
