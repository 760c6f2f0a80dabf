"""Where the command line's output goes, and how an error becomes a message and an exit code.

Results for people go to stdout (:func:`out`), errors, warnings and spinners to stderr (:func:`err`).
With ``--json`` stdout carries exactly one JSON document, on success and on failure: a command writes
its result with :func:`emit_json`, and :func:`reporting_errors` writes the error document
(:func:`error_document`) when a command stops before it wrote one. Errors are printed without a
traceback; ``DCINFRA_DEBUG=1`` re-raises them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any

import typer
from rich.console import Console
from rich.text import Text

from dcinfra.errors import EXIT_ERROR, EXIT_USAGE, DcinfraError, Problem, StackInvalid, errors_of, warnings_of

PIPE_WIDTH = 120  # output width when stdout is not a terminal (logs, files) and COLUMNS is unset
SPINNER_MIN_HOSTS = 256  # compile and render show a spinner on stderr from this many hosts (terminal only)

# Whether the running command has written its JSON document (so an error after it adds none).
_json_written: ContextVar[bool] = ContextVar("dcinfra_json_written", default=False)


def out() -> Console:
    """Results for people, on stdout; wider than rich's 80 columns when piped into a log or file."""
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, width=PIPE_WIDTH if piped else None)


def err() -> Console:
    """Errors, warnings, progress and spinners, on stderr."""
    return Console(stderr=True, highlight=False)


def debug() -> bool:
    """``DCINFRA_DEBUG`` is set: errors keep their traceback."""
    return os.environ.get("DCINFRA_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}


def spinner(message: str, hosts: int) -> AbstractContextManager[Any]:
    """A spinner on stderr for long steps (big stacks); rich shows nothing when stderr is not a terminal."""
    if hosts >= SPINNER_MIN_HOSTS:
        return err().status(message, spinner="dots")
    return nullcontext()


# --------------------------------------------------------------------------------------------------
# JSON


def emit_json(data: Any) -> None:
    """Pure JSON on stdout: sorted keys, two-space indent, a final newline. One per command."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()
    _json_written.set(True)


def error_document(exc: BaseException, exit_code: int) -> dict[str, Any]:
    """The ``--json`` document of a command that failed: ``{"ok": false, "error": {...}}``.

    ``error.type`` is the exception's class (``StackLoadError``, ``LockHeld``, ``UsageError``, or
    ``InternalError`` for a bug), ``error.message`` what stderr says, ``error.exit_code`` the process's
    exit code; an invalid stack adds ``error.problems`` (each ``{"rule", "path", "message", "hint",
    "severity"}``: the errors, then any warnings).
    """
    error: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc), "exit_code": exit_code}
    if isinstance(exc, StackInvalid):
        error["problems"] = [p.to_dict() for p in exc.problems]
    elif not isinstance(exc, DcinfraError):
        error["type"] = "InternalError"
        error["message"] = f"{type(exc).__name__}: {exc}"
    return {"ok": False, "error": error}


class UsageError(DcinfraError):
    """Options that parse but do not fit together (click reports the ones that do not parse)."""

    exit_code = EXIT_USAGE


def usage_error(message: str, *, as_json: bool = False) -> typer.Exit:
    """Print a usage error (and its JSON document with ``as_json``); the caller raises what it returns."""
    err().print(Text("usage error: ", style="bold red") + Text(message))
    if as_json:
        emit_json(error_document(UsageError(message), EXIT_USAGE))
    return typer.Exit(EXIT_USAGE)


# --------------------------------------------------------------------------------------------------
# errors


def _problem_group(problem: Problem) -> str:
    """The top-level section of a problem's path: ``compute.pools[1].gpu`` -> ``compute``."""
    head = problem.path.split(".", 1)[0]
    return head.split("[", 1)[0] or "stack"


def print_problems(problems: Sequence[Problem], console: Console) -> None:
    """Every error, grouped by the stack section it is in (in order of first appearance), then every
    warning (:func:`warning_lines`)."""
    groups: dict[str, list[Problem]] = {}
    for p in errors_of(problems):
        groups.setdefault(_problem_group(p), []).append(p)
    for name, items in groups.items():
        console.print(Text(f"{name} ({len(items)})", style="bold"))
        for p in items:
            line = Text("  ✗ ", style="red")
            line.append(p.path, style="bold")
            line.append(f": {p.message}")
            if p.rule:
                line.append(f"  [{p.rule}]", style="dim")
            console.print(line, soft_wrap=True)
            if p.hint:
                console.print(Text("      fix: ", style="cyan") + Text(p.hint), soft_wrap=True)
    for text in warning_lines(problems):
        console.print(text, soft_wrap=True)


def warning_lines(problems: Sequence[Problem]) -> list[Text]:
    """The warnings among ``problems``, after a ``warnings (n)`` heading: ``! <path>: warning: <message>``
    and the fix. Empty when there are none."""
    found = warnings_of(problems)
    if not found:
        return []
    lines = [Text(f"warnings ({len(found)})", style="bold yellow")]
    for p in found:
        line = Text("  ! ", style="yellow")
        line.append(p.path, style="bold")
        line.append(": ")
        line.append("warning: ", style="yellow")
        line.append(p.message)
        if p.rule:
            line.append(f"  [{p.rule}]", style="dim")
        lines.append(line)
        if p.hint:
            lines.append(Text("      fix: ", style="cyan") + Text(p.hint))
    return lines


def print_error(exc: DcinfraError) -> None:
    """The error on stderr: ``error: <message>``, or every problem of an invalid stack."""
    if isinstance(exc, StackInvalid):
        n = len(errors_of(exc.problems))
        where = f"{exc.source}: " if exc.source else ""
        err().print(
            Text("error: ", style="bold red") + Text(f"{where}{n} problem{'s' if n != 1 else ''} found"),
            soft_wrap=True,
        )
        print_problems(exc.problems, err())
    else:
        err().print(Text("error: ", style="bold red") + Text(str(exc)), soft_wrap=True)


@contextmanager
def reporting_errors(*, as_json: bool = False) -> Iterator[None]:
    """Turn errors into a message on stderr and an exit code; keep tracebacks for DCINFRA_DEBUG.

    With ``as_json``, a command that fails before writing its JSON document writes the error document
    instead, so stdout always carries exactly one.
    """
    token = _json_written.set(False)
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except DcinfraError as exc:
        if debug():
            raise
        print_error(exc)
        if as_json and not _json_written.get():
            emit_json(error_document(exc, exc.exit_code))
        raise typer.Exit(exc.exit_code) from None
    except Exception as exc:
        if debug():
            raise
        err().print(Text("internal error: ", style="bold red") + Text(f"{type(exc).__name__}: {exc}"))
        err().print(
            "This is a bug in dcinfra. Rerun with DCINFRA_DEBUG=1 to see the traceback and report it."
        )
        if as_json and not _json_written.get():
            emit_json(error_document(exc, EXIT_ERROR))
        raise typer.Exit(EXIT_ERROR) from None
    finally:
        _json_written.reset(token)
