"""Help where users look: ``help(dcinfra.NodePool)`` shows every field's text, and ``dcinfra explain
CLASS[.FIELD]`` shows a class or a field from the command line (issue 18, section 3)."""

from __future__ import annotations

import json
import pydoc

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner, Result

import dcinfra
from dcinfra.cli import app
from dcinfra.cli.explain import classes
from dcinfra.errors import EXIT_USAGE

NCCL = dcinfra.Versions.model_fields["nccl"].default  # the pinned default, whatever it is today


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("DCINFRA_DEBUG", raising=False)
    monkeypatch.setenv("COLUMNS", "250")
    return CliRunner()


def _explain(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(app, ["explain", *args], catch_exceptions=False)


# --- help() -------------------------------------------------------------------------------------------


def test_help_shows_per_field_text() -> None:
    text = pydoc.render_doc(dcinfra.NodePool, renderer=pydoc.plaintext)
    assert "A set of identical nodes." in text
    assert "Fields\n |  ------" in text
    assert " |  count : int, required\n |      Number of nodes.\n" in text
    assert (
        " |      Allowed: at least 1, at most 100000; a whole number (not True/False, 3.0 or '3')\n" in text
    )
    assert " |  roles : list['compute' | 'storage' | 'service'], default ['compute']\n" in text
    assert (
        " |  hostname_prefix : str | None, default None\n |      Hostname prefix; defaults to the pool name."
        in text
    )
    assert "Format object at 0x" not in text  # the signature line names the strict types, not addresses


def test_help_of_a_strict_string_says_what_it_allows_with_an_example() -> None:
    doc = dcinfra.Versions.__doc__ or ""
    assert (
        f"nccl : str, default {NCCL!r}\n    NCCL release.\n"
        "    Allowed: a major.minor.patch version: major.minor.patch in ASCII digits; e.g. '2.21.5'"
    ) in doc


@pytest.mark.parametrize(
    "cls", sorted(classes().values(), key=lambda c: c.__name__), ids=lambda c: c.__name__
)
def test_every_model_class_documents_every_field_in_its_docstring(cls: type[BaseModel]) -> None:
    doc = cls.__doc__ or ""
    assert "\nFields\n------\n" in doc
    section = doc.split("\nFields\n------\n", 1)[1]
    for name, field in cls.model_fields.items():
        assert f"\n{name} : " in f"\n{section}", f"{cls.__name__}.{name} is not in its Fields section"
        assert field.description, f"{cls.__name__}.{name} has no docstring under it"
    assert "(undocumented)" not in section


def test_the_json_schema_keeps_the_class_text_without_the_fields_section() -> None:
    schema = dcinfra.Stack.model_json_schema()
    assert "Fields\n------" not in json.dumps(schema)
    assert schema["$defs"]["NodePool"]["description"].startswith("A set of identical nodes.")
    assert schema["$defs"]["NodePool"]["properties"]["count"]["description"] == "Number of nodes."


# --- dcinfra explain ------------------------------------------------------------------------------------


def test_explain_a_class(runner: CliRunner) -> None:
    result = _explain(runner, "Rack")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("Rack\nA rack: a power budget and a cooling type.")
    assert '\nExample:\n    Rack(name="r01", power_budget_kw=44, cooling="air")\n' in out
    assert "\nFields:\n  name: str, required\n      doc: Rack name, unique in the stack" in out
    assert (
        "  power_budget_kw: float | None, default None\n"
        "      doc: Power the rack can deliver and cool, kW. None: unlimited (the lab).\n"
        "      allowed: greater than 0; a number (not True/False or a string)\n"
    ) in out
    assert "  cooling: 'air' | 'liquid', default 'air'\n" in out
    assert "      allowed: one of 'air', 'liquid'\n" in out


def test_explain_a_field(runner: CliRunner) -> None:
    result = _explain(runner, "Versions.nccl")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Versions.nccl: str\n"
        f"  default: {NCCL!r}\n"
        "  doc: NCCL release.\n"
        "  allowed: a major.minor.patch version: major.minor.patch in ASCII digits; e.g. '2.21.5'\n"
    )


def test_explain_a_required_field_and_a_field_of_a_field(runner: CliRunner) -> None:
    assert _explain(runner, "NodePool.count").stdout == (
        "NodePool.count: int\n"
        "  default: none, required\n"
        "  doc: Number of nodes.\n"
        "  allowed: at least 1, at most 100000; a whole number (not True/False, 3.0 or '3')\n"
    )
    nested = _explain(runner, "NodePool.hardware.gpu_count")
    assert nested.exit_code == 0
    assert nested.stdout.startswith(
        "NodePool.hardware.gpu_count: int | None\n  default: None\n  doc: GPUs per node."
    )
    assert "allowed: at least 0, at most 16" in nested.stdout
    # names are matched without regard to case, and shown as the model spells them
    assert _explain(runner, "nodepool.count").stdout.startswith("NodePool.count: int\n")


def test_explain_json(runner: CliRunner) -> None:
    field = json.loads(_explain(runner, "Versions.nccl", "--json").stdout)
    assert field == {
        "class": "Versions",
        "path": "Versions.nccl",
        "name": "nccl",
        "type": "str",
        "required": False,
        "default": repr(NCCL),
        "allowed": "a major.minor.patch version: major.minor.patch in ASCII digits; e.g. '2.21.5'",
        "doc": "NCCL release.",
    }
    cls = json.loads(_explain(runner, "NodePool", "--json").stdout)
    assert cls["class"] == "NodePool" and cls["doc"].startswith("A set of identical nodes.")
    assert cls["example"].startswith('NodePool(name="gpu", count=32')
    count = next(f for f in cls["fields"] if f["name"] == "count")
    assert count == {
        "name": "count",
        "type": "int",
        "required": True,
        "default": None,
        "allowed": "at least 1, at most 100000; a whole number (not True/False, 3.0 or '3')",
        "doc": "Number of nodes.",
    }
    listing = json.loads(_explain(runner, "--json").stdout)["classes"]
    assert listing["NodePool"] == "A set of identical nodes."
    assert set(dcinfra.model.__all__) <= set(listing)


def test_explain_without_a_name_lists_the_classes(runner: CliRunner) -> None:
    result = _explain(runner)
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert "NodePool         A set of identical nodes." in lines
    assert any(line.startswith("Stack ") for line in lines)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "NodePol",
            "'NodePol' is no dcinfra model class: did you mean 'NodePool'? `dcinfra explain` with no name "
            "lists the classes",
        ),
        ("Nothing", "'Nothing' is no dcinfra model class: `dcinfra explain` with no name lists the classes"),
        (
            "Rack.power_kw",
            "Rack has no field 'power_kw': did you mean 'power_budget_kw'? its fields: name, "
            "power_budget_kw, cooling, max_nodes",
        ),
        ("NodePool.count.max", "NodePool.count (int) has no fields, so no 'max'"),
    ],
)
def test_an_unknown_name_is_a_usage_error_with_a_suggestion(
    runner: CliRunner, name: str, message: str
) -> None:
    result = _explain(runner, name)
    assert result.exit_code == EXIT_USAGE == 2
    assert " ".join(result.stderr.split()) == f"usage error: {message}"
    assert result.stdout == ""


def test_an_unknown_name_with_json_is_an_error_document(runner: CliRunner) -> None:
    result = _explain(runner, "NodePool.cout", "--json")
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["exit_code"] == 2
    assert "did you mean 'count'?" in error["message"]


def test_explain_is_in_the_help_and_the_readme(runner: CliRunner) -> None:
    assert "explain" in runner.invoke(app, ["--help"]).stdout
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "| `dcinfra explain [CLASS[.FIELD]] [--json]` |" in readme
