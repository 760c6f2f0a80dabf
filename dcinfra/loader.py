"""Loading a stack file: a Python module that assigns ``stack = Stack(...)``.

The module runs with the ``--config`` values of the invocation in scope (see :mod:`dcinfra.config`).
Model errors raised while the file builds its objects become a :class:`StackInvalid` naming the file
and line, the class and field, the value and what is allowed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import traceback
from pathlib import Path

import pydantic

from dcinfra import config as config_mod
from dcinfra.errors import ConfigError, Problem, StackInvalid, StackLoadError
from dcinfra.model.stack import Stack


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in {"lab", "baremetal"} and out.endswith("site"):
            continue  # the discriminator tag pydantic adds to the path
        else:
            out += f".{part}" if out else str(part)
    return out


def problems_from_pydantic(err: pydantic.ValidationError, prefix: str = "") -> list[Problem]:
    """One :class:`Problem` per pydantic error, with dcinfra-style paths and hints."""
    problems = []
    for e in err.errors(include_url=False):
        path = _loc(tuple(e["loc"]))
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        value = e.get("input")
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = f"unknown field {e['loc'][-1]!r}"
            hint = f"remove it or check the spelling; `dcinfra schema` lists the fields of {err.title}"
        elif e["type"] == "missing":
            msg = "required field is missing"
            hint = f"set it; `dcinfra schema` documents {err.title}"
        else:
            shown = repr(value) if not isinstance(value, dict) else "{...}"
            msg = f"{msg} (got {shown})"
            hint = ""
        problems.append(Problem(path=path or err.title, message=msg, hint=hint, rule="model"))
    return problems


def _caller_line(path: Path, exc: BaseException) -> str:
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if Path(frame.filename).resolve() == path.resolve():
            return f"{path}:{frame.lineno}"
    return str(path)


def load_stack(path: str | Path, cfg: config_mod.Config | None = None) -> Stack:
    """Run the stack file at ``path`` and return its ``stack``.

    Raises :class:`StackLoadError` when the file is missing, fails to run or defines no Stack,
    :class:`StackInvalid` when a model object rejects its arguments, and :class:`ConfigError` for
    bad or unused ``--config`` values.
    """
    path = Path(path)
    cfg = cfg or config_mod.Config()
    if not path.is_file():
        raise StackLoadError(f"stack file {str(path)!r} not found; pass a Python file such as stacks/lab.py")
    module_name = f"dcinfra_stack_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise StackLoadError(f"{path}: not a Python file dcinfra can load")
    module = importlib.util.module_from_spec(spec)
    # What the stack prints goes to stderr: with --json, stdout carries one JSON document and nothing else.
    with config_mod.use(cfg), contextlib.redirect_stdout(sys.stderr):
        try:
            spec.loader.exec_module(module)
        except pydantic.ValidationError as e:
            where = _caller_line(path, e)
            raise StackInvalid(problems_from_pydantic(e, prefix=e.title), source=where) from None
        except ConfigError:
            raise
        except SyntaxError as e:
            raise StackLoadError(f"{path}:{e.lineno}: SyntaxError: {e.msg}") from e
        except Exception as e:
            where = _caller_line(path, e)
            raise StackLoadError(f"{where}: {type(e).__name__}: {e}") from e
        except SystemExit as e:
            # A stack that exits has not defined a stack: never mistake that for a valid one.
            where = _caller_line(path, e)
            raise StackLoadError(
                f"{where}: the stack file called sys.exit({e.code!r}) while it was being loaded; a stack "
                "file must assign `stack = Stack(...)` and return, not exit"
            ) from None
        except KeyboardInterrupt as e:
            where = _caller_line(path, e)
            raise StackLoadError(
                f"{where}: interrupted (KeyboardInterrupt) while the stack file ran"
            ) from None
        except BaseException as e:
            where = _caller_line(path, e)
            raise StackLoadError(
                f"{where}: {type(e).__name__} escaped the stack file: {e}; a stack file must assign "
                "`stack = Stack(...)` and return"
            ) from None
        finally:
            sys.modules.pop(module_name, None)
    stack = getattr(module, "stack", None)
    if not isinstance(stack, Stack):
        got = "nothing" if stack is None else type(stack).__name__
        raise StackLoadError(f"{path}: expected a module-level `stack = Stack(...)`, found {got}")
    unused = cfg.unused()
    if unused:
        read = ", ".join(sorted(cfg.read)) or "none"
        raise ConfigError(
            f"--config {', '.join(unused)}: not read by {path} (it reads: {read}); check the spelling"
        )
    return stack
