"""What the messages tell people to type exists: every ``--flag`` an error message names is an option
of the commands that can print it, and every `dcinfra COMMAND` the messages and the README name is a
command. (A killed ``verify`` once told its user to rerun with ``--force-unlock``, which verify did not
have; another message sent users to ``dcinfra lab check``, which never existed.)
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from dcinfra.cli import app

REPO = Path(__file__).resolve().parents[2]
DCINFRA = REPO / "dcinfra"
LAB = str(REPO / "stacks" / "lab.py")

FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]*[a-z]")
COMMAND = re.compile(r"`dcinfra ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?")

# The benchmark under dcinfra/verify/bench is a program of its own, run on the nodes
# (python -m dcinfra.verify.bench): its messages name its own argparse flags.
OWN_PROGRAMS = (DCINFRA / "verify" / "bench",)


def _commands() -> dict[str, Any]:
    """Every command (click's, as typer builds them) by its path: ``validate``, ..., ``lab status``."""
    root: Any = typer.main.get_command(app)
    found: dict[str, Any] = {}
    for name, command in root.commands.items():
        found[name] = command
        for sub, c in getattr(command, "commands", {}).items():  # a group: `lab`
            found[f"{name} {sub}"] = c
    return found


COMMANDS = _commands()


def options(command: str) -> set[str]:
    """The option names (long and short) of a command."""
    return {
        o
        for p in COMMANDS[command].params
        if p.param_type_name == "option"
        for o in (*p.opts, *p.secondary_opts)
    }


def _text(node: ast.AST) -> str:
    return " ".join(
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    )


def _sources() -> list[Path]:
    return [p for p in sorted(DCINFRA.rglob("*.py")) if not any(p.is_relative_to(o) for o in OWN_PROGRAMS)]


def message_flags() -> dict[str, set[str]]:
    """Each flag that an error message names -> the modules whose messages name it. Messages: what is
    raised, a validation Problem, a CLI usage error, a module-level ``*_HINT`` text."""
    found: dict[str, set[str]] = {}
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Raise) and node.exc is not None:
                text = _text(node.exc)
            elif isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("Problem", "usage_error"):
                text = _text(node)
            elif isinstance(node, ast.Assign) and any(
                getattr(t, "id", "").endswith("_HINT") for t in node.targets
            ):
                text = _text(node.value)
            else:
                continue
            for flag in FLAG.findall(text):
                found.setdefault(flag, set()).add(str(path.relative_to(REPO)))
    return found


def lock_commands() -> set[str]:
    """The commands that take the stack lock: ``state.lock("up", ...)`` anywhere in dcinfra."""
    found = set()
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "lock"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.add(node.args[0].value)
    return found


def printed_by(flag: str) -> set[str]:
    """Which commands can print a message naming ``flag``. A new flag in a message needs a line here."""
    stack_commands = {name for name, c in COMMANDS.items() if any(p.name == "stack_file" for p in c.params)}
    return {
        "--config": stack_commands,  # every command that loads a stack reads --config
        "--force-unlock": lock_commands(),  # the stale-lock message of every command that locks the stack
        "--yes": {"up", "destroy"},  # the commands that ask for confirmation
        "--destroy-data": {"destroy"},
        "--install-pulumi": {"up", "preview", "destroy"},  # every command that runs the Pulumi engine
        "--out": {"render"},
        "--gitops": {"render"},
        "--helm-as": {"render"},
        "--allow-remove": {"up"},  # the refused scale-in
        "--allow-address-change": {"up"},  # the refused address move (plan and preview name up's flag)
        "--limit": {"up", "preview"},
    }.get(flag, set())


KNOWN_FLAGS = [
    "--config",
    "--force-unlock",
    "--yes",
    "--destroy-data",
    "--install-pulumi",
    "--out",
    "--gitops",
    "--helm-as",
    "--allow-remove",
    "--allow-address-change",
    "--limit",
]


def test_the_scan_finds_the_lock_message() -> None:
    assert "dcinfra/state.py" in message_flags()["--force-unlock"]
    assert {"up", "destroy", "verify"} <= lock_commands()


def test_every_flag_in_a_message_says_who_prints_it() -> None:
    unknown = {flag: sorted(where) for flag, where in message_flags().items() if not printed_by(flag)}
    assert not unknown, f"add these flags to printed_by (the commands that print them): {unknown}"


@pytest.mark.parametrize("flag", KNOWN_FLAGS)
def test_every_flag_in_a_message_exists_on_the_commands_that_print_it(flag: str) -> None:
    commands = printed_by(flag)
    assert commands
    missing = sorted(c for c in commands if flag not in options(c))
    assert not missing, f"messages name {flag}, which these commands lack: {missing}"


# The messages as the commands print them, in the situations that print them.
def _stale_lock(state: Path, command: str) -> None:
    lock = state / "lab" / "lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"pid": 999_999_999, "host": "gone", "command": command, "since": "then"}))


@pytest.mark.parametrize(
    ("argv", "stale_lock"),
    [
        (["up", LAB, "--yes"], True),
        (["destroy", LAB, "--yes"], True),
        (["verify", LAB], True),
        (["up", LAB], False),  # no --yes without a terminal
        (["destroy", LAB], False),
        (["plan", LAB, "-c", "node=5"], False),  # a --config key the stack does not read
        (["render", LAB], False),  # nothing to write
    ],
)
def test_flags_in_printed_messages_exist(
    argv: list[str], stale_lock: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DCINFRA_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("DCINFRA_DEBUG", raising=False)
    if stale_lock:
        _stale_lock(tmp_path, argv[0])
    result = CliRunner().invoke(app, argv, catch_exceptions=False)
    assert result.exit_code in (1, 2), result.output
    named = set(FLAG.findall(result.stderr))
    assert named, result.stderr
    assert named <= options(argv[0]), f"{argv[0]} prints {sorted(named - options(argv[0]))}: {result.stderr}"


def _named_commands() -> dict[str, set[str]]:
    """`dcinfra COMMAND [SUB]` as the sources, templates and docs name it -> where."""
    files = [p for p in DCINFRA.rglob("*") if p.suffix in (".py", ".j2", ".yml", ".json", ".txt")]
    files += [REPO / "README.md", REPO / "CONTRIBUTING.md"]
    found: dict[str, set[str]] = {}
    for path in files:
        if not path.is_file():
            continue
        for first, second in COMMAND.findall(path.read_text(errors="replace")):
            group = COMMANDS.get(first)
            name = f"{first} {second}" if hasattr(group, "commands") and second else first
            found.setdefault(name, set()).add(str(path.relative_to(REPO)))
    return found


def test_every_dcinfra_command_a_message_or_doc_names_exists() -> None:
    named = _named_commands()
    assert {"up", "verify", "lab status"} <= set(named)
    unknown = {name: sorted(where) for name, where in named.items() if name not in COMMANDS}
    assert not unknown, f"these name dcinfra commands that do not exist: {unknown}"
