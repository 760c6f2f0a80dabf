"""Model errors are reported with the rest: every value a model class rejects while the stack file runs,
each at its stack path with its line and a hint in words (never a regular expression), and the
stack-wide rules' problems in the same run (issue 18, section 3)."""

from __future__ import annotations

import json
import textwrap
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner, Result

import dcinfra
from dcinfra.cli import app
from dcinfra.errors import Problem, StackInvalid
from dcinfra.loader import ModelProblems, load_stack
from dcinfra.model.stack import Stack

# Three independent model errors (lines 6, 8 and 16) and one stack-wide error (line 15).
FOUR = textwrap.dedent(
    """\
    from dcinfra import *

    stack = Stack(
        name="lab",
        site=LabSite(),
        racks=[Rack(name="lab", power_budget_kw=-1)],
        compute=Compute(pools=[
            NodePool(name="node", count=3, hardware=Hardware(profile="lab-cpu", gpu_count=True),
                     roles=["compute", "storage"]),
        ]),
        fabric=Fabric(
            management=Network(cidr="172.31.250.0/24"),
            compute=ComputeFabric(kind="ethernet", switch="lab-bridge", cidr="172.31.251.0/24"),
        ),
        security=Security(default="deny", zones=[Zone(name="nodes", pools=["nodez"])]),
        versions=Versions(nccl="2.27"),
    )
    """
)


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("DCINFRA_DEBUG", raising=False)
    monkeypatch.setenv("COLUMNS", "250")
    return CliRunner()


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.py"
    path.write_text(text)
    return path


def _validate(runner: CliRunner, path: Path, *extra: str) -> Result:
    return runner.invoke(app, ["validate", str(path), *extra], catch_exceptions=False)


def test_three_model_errors_and_one_stack_wide_error_in_one_run(runner: CliRunner, tmp_path: Path) -> None:
    path = _write(tmp_path, FOUR)
    result = _validate(runner, path)
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert f"{path}:6: 4 problems found" in out
    assert (
        "racks[0].power_budget_kw: power_budget_kw=-1 is out of range: it must be greater than 0.0 (line 6)"
        in out
    )
    assert "fix: use a value greater than 0.0" in out
    assert "compute.pools[0].hardware.gpu_count: True is not an integer (it is a bool) (line 8)" in out
    assert "fix: give a whole number, e.g. gpu_count=3" in out
    assert "versions.nccl: '2.27' is not a major.minor.patch version (line 16)" in out
    assert "fix: use major.minor.patch in ASCII digits; e.g. nccl='2.21.5'" in out
    assert "security.zones[0].pools[0]: zone 'nodes' names unknown pool 'nodez'  [refs.pool]" in out
    assert "fix: did you mean 'node'?" in out
    assert "(the stack-wide checks ran too, with the 3 rejected values above left at their defaults)" in out
    assert "^" not in out and "[0-9]" not in out  # no regular expression anywhere


def test_the_four_problems_as_json(runner: CliRunner, tmp_path: Path) -> None:
    result = _validate(runner, _write(tmp_path, FOUR), "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["valid"] is False
    found = {p["path"]: p for p in doc["problems"]}
    assert set(found) == {
        "racks[0].power_budget_kw",
        "compute.pools[0].hardware.gpu_count",
        "versions.nccl",
        "security.zones[0].pools[0]",
    }
    assert found["versions.nccl"]["rule"] == "model"
    assert found["versions.nccl"]["hint"] == "use major.minor.patch in ASCII digits; e.g. nccl='2.21.5'"
    assert found["security.zones[0].pools[0]"]["rule"] == "refs.pool"


def test_plan_reports_them_all_too(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["plan", str(_write(tmp_path, FOUR))], catch_exceptions=False)
    assert result.exit_code == 1
    text = result.stdout + result.stderr
    assert "versions.nccl" in text and "security.zones[0].pools[0]" in text


def test_a_required_value_without_a_valid_one_skips_the_stack_wide_checks_and_says_so(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = _write(tmp_path, FOUR.replace("count=3,", "count=0,"))
    result = _validate(runner, path)
    assert result.exit_code == 1
    out = result.stdout
    assert "4 problems found" in out  # the four model errors; no stack-wide problem
    assert "compute.pools[0].count: count=0 is out of range: it must be at least 1 (line 8)" in out
    assert "security.zones" not in out
    assert (
        "(the stack-wide checks (references, addresses, capacity ...) did not run: compute.pools[0].count "
        "has no valid value to run them with; fix the model problems above and validate again)"
    ) in out


def _load(path: Path, rules: typing.Callable[[Stack], list[Problem]]) -> ModelProblems:
    with pytest.raises(ModelProblems) as info:
        load_stack(path, rules=rules)
    return info.value


def test_the_rules_see_a_valid_stack_with_the_rejected_values_at_their_defaults(tmp_path: Path) -> None:
    seen: list[Stack] = []

    def rules(stack: Stack) -> list[Problem]:
        seen.append(stack)
        return [
            Problem("versions.nccl", "about the default", rule="x"),  # under a rejected value: left out
            Problem("racks[0].power_budget_kw", "about the default too", rule="x"),
            Problem("security.zones[0].pools[0]", "kept", rule="x"),
        ]

    err = _load(_write(tmp_path, FOUR.replace('pools=["nodez"]', 'pools=["node"]')), rules)
    [stack] = seen
    assert stack.versions.nccl == dcinfra.Versions.model_fields["nccl"].default
    assert stack.racks[0].power_budget_kw is None
    assert stack.compute.pools[0].hardware.gpu_count is None
    assert stack.compute.pools[0].hardware.profile == "lab-cpu"  # the valid values are kept
    # a valid object again: built by the model, so it validates like any other
    assert type(stack.compute.pools[0].hardware).model_validate(stack.compute.pools[0].hardware.model_dump())
    assert [p.message for p in err.problems if p.rule == "x"] == ["kept"]
    assert err.note.endswith("(2 of their problems, about those values, left out)")
    assert "(the stack-wide checks ran too" in str(err)


def test_rules_that_stop_do_not_hide_the_model_errors(tmp_path: Path) -> None:
    def rules(stack: Stack) -> list[Problem]:
        raise ValueError("no")

    err = _load(_write(tmp_path, FOUR), rules)
    assert len(err.problems) == 3
    assert err.note == "the stack-wide checks stopped (ValueError: no); fix the problems above first"


def test_without_rules_only_the_model_errors(tmp_path: Path) -> None:
    with pytest.raises(StackInvalid) as info:
        load_stack(_write(tmp_path, FOUR))
    assert len(info.value.problems) == 3
    assert getattr(info.value, "note", "") == ""


def test_a_stack_that_cannot_finish_says_the_stack_wide_checks_did_not_run(tmp_path: Path) -> None:
    text = FOUR.replace(
        "stack = Stack(",
        "pool = NodePool(name='xx', count='4', hardware=Hardware())\n"
        "doubled = pool.count * 2 + 1\nstack = Stack(",
    )
    err = _load(_write(tmp_path, text), lambda s: [])
    assert [p.path for p in err.problems] == ["NodePool.count"]
    assert err.note == "the stack-wide checks did not run: the stack file could not finish"


# --- hints in words ---------------------------------------------------------------------------------


def _model_classes() -> list[type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {}
    todo: list[object] = [getattr(dcinfra, n) for n in dcinfra.model.__all__]
    while todo:
        a = todo.pop()
        if isinstance(a, type) and issubclass(a, BaseModel):
            if a.__name__ in seen:
                continue
            seen[a.__name__] = a
            todo += [f.annotation for f in a.model_fields.values()]
        todo += list(typing.get_args(a))
    return list(seen.values())


def test_no_model_field_is_a_bare_regular_expression() -> None:
    """A bare ``Field(pattern=...)`` is rejected with its regex; the strict types say it in words."""
    bare = [
        f"{cls.__name__}.{name}"
        for cls in _model_classes()
        for name, field in cls.model_fields.items()
        if any(getattr(m, "pattern", None) for m in field.metadata)
    ]
    assert not bare, f"use a strict type from dcinfra/model/types.py instead of pattern=: {bare}"


@pytest.mark.parametrize(
    ("call", "path", "message", "hint"),
    [
        (
            "SlurmPartition(name='gpu', pools=['gpu'], max_time='2 days')",
            "SlurmPartition.max_time",
            "'2 days' is not a Slurm time limit: it contains a space",
            "use 'UNLIMITED', minutes ('90') or [days-]hours:minutes:seconds ('12:00:00', '2-00:00:00'), in "
            "ASCII digits; e.g. max_time='2-00:00:00'",
        ),
        (
            "SlurmPartition(name='GPU', pools=['gpu'])",
            "SlurmPartition.name",
            "'GPU' is not a valid name: it is lower case: did you mean 'gpu'?",
            "use 2-32 lower-case letters, digits and '-', starting with a letter and not ending with '-'; "
            "e.g. name='gpu-a'",
        ),
        (
            "SlurmTenant(name='Team-A')",
            "SlurmTenant.name",
            "'Team-A' is not a valid name: it is lower case: did you mean 'team-a'?",
            "use 1-63 lower-case letters, digits and '-', starting with a letter; e.g. name='team-a'",
        ),
        (
            "Slurm(controller=Placement(hosts=['n-001']), cluster_name='my-cluster')",
            "Slurm.cluster_name",
            "'my-cluster' is not a Slurm cluster name",
            "use 1-40 lower-case letters, digits and '_', starting with a letter (Slurm names its accounting "
            "tables after it); e.g. cluster_name='h100_su'",
        ),
    ],
)
def test_formerly_raw_patterns_now_say_what_is_allowed(
    tmp_path: Path, call: str, path: str, message: str, hint: str
) -> None:
    text = f"from dcinfra import *\n\nx = {call}\n"
    with pytest.raises(StackInvalid) as info:
        load_stack(_write(tmp_path, text))
    [problem] = [p for p in info.value.problems if p.path == path]
    assert problem.message == message
    assert problem.hint == hint


def test_a_bare_pattern_error_names_where_the_field_is_explained_not_the_regex() -> None:
    from pydantic import Field, ValidationError

    from dcinfra.loader import problems_from_pydantic
    from dcinfra.model.base import Spec

    class Thing(Spec):
        code: str = Field(pattern=r"^[a-z]{3}$")
        """A code."""

    with pytest.raises(ValidationError) as info:
        Thing(code="ABCD")
    [problem] = problems_from_pydantic(info.value)
    assert problem.message == "'ABCD' is not a valid code"
    assert problem.hint == "`dcinfra explain Thing.code` says what code accepts"
