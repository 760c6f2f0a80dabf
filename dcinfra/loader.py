"""Loading a stack file: a Python module that assigns ``stack = Stack(...)``.

The module runs with the ``--config`` values of the invocation in scope (see :mod:`dcinfra.config`).
Model errors raised while the file builds its objects become a :class:`StackInvalid` naming the file
and line, each bad value's path in the stack (``compute.pools[0].hardware.gpu_count``), the value, what
is allowed and the fix.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import ipaddress
import sys
import traceback
from pathlib import Path
from typing import Any

import pydantic

from dcinfra import config as config_mod
from dcinfra.errors import ConfigError, Problem, StackInvalid, StackLoadError
from dcinfra.model.base import Spec, collecting
from dcinfra.model.stack import Stack
from dcinfra.model.types import FORMAT_ERROR, offence, shown


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


def _field(loc: tuple[int | str, ...]) -> str:
    """The field a pydantic error is about (the last name in its location), for hints."""
    names = [p for p in loc if isinstance(p, str)]
    return names[-1] if names else "the value"


def _network_hint(value: object) -> tuple[str, str] | None:
    """A CIDR that is a valid address but not a network: say that its host bits are set."""
    try:
        net = ipaddress.IPv4Network(str(value), strict=False)
    except ValueError:
        return None
    return (
        f"{shown(value)} has host bits set: the network it lies in is {str(net)!r}",
        f"use the network address, {str(net)!r}",
    )


def _describe(e: Any) -> tuple[str, str]:
    """Message and hint for one pydantic error: the value, what is wrong, what is allowed and the fix."""
    kind: str = e["type"]
    ctx: dict[str, Any] = e.get("ctx") or {}
    value = e.get("input")
    field = _field(tuple(e["loc"]))
    got = "{...}" if isinstance(value, dict) else shown(value)
    if kind == FORMAT_ERROR:
        return ctx["reason"], f"use {ctx['allowed']}; e.g. {field}={ctx['example']!r}"
    if kind == "int_type":
        what = "a bool" if isinstance(value, bool) else type(value).__name__
        hint = (
            f"give a whole number, e.g. {field}=3 (True/False, 3.0 and strings such as '32' are not counts)"
        )
        if isinstance(value, str):
            hint += "; a --config value is read as a number with config.get_int(...)"
        return f"{got} is not an integer (it is {what})", hint
    if kind == "float_type":
        what = "a bool" if isinstance(value, bool) else type(value).__name__
        hint = f"give a number, e.g. {field}=1.5 (not a bool or a string)"
        if isinstance(value, str):
            hint += "; a --config value is read as a number with config.get_float(...)"
        return f"{got} is not a number (it is {what})", hint
    if kind == "bool_type":
        hint = f"give True or False, e.g. {field}=True"
        if isinstance(value, str):
            hint += "; a --config value is read as a boolean with config.get_bool(...)"
        return f"{got} is not a boolean (it is {type(value).__name__})", hint
    if kind in ("string_type", "str_type"):
        return f"{got} is not a string (it is {type(value).__name__})", f"give a string for {field}"
    bounds = {
        "greater_than": ("gt", "greater than"),
        "greater_than_equal": ("ge", "at least"),
        "less_than": ("lt", "less than"),
        "less_than_equal": ("le", "at most"),
    }
    if kind in bounds:
        key, words = bounds[kind]
        return (
            f"{field}={got} is out of range: it must be {words} {ctx[key]}",
            f"use a value {words} {ctx[key]}",
        )
    if kind == "literal_error":
        return f"{got} is not one of the allowed values", f"use one of {ctx['expected']}"
    if kind == "too_short":
        n = ctx.get("min_length")
        return f"{field} has {ctx.get('actual_length')} item(s)", f"give at least {n} item(s)"
    if kind == "too_long":
        n = ctx.get("max_length")
        return f"{field} has {ctx.get('actual_length')} item(s)", f"give at most {n} item(s)"
    if kind == "string_pattern_mismatch":
        why = offence(value) if isinstance(value, str) else None
        return (
            f"{got} does not match the pattern {ctx['pattern']}" + (f": {why}" if why else ""),
            f"use a value matching {ctx['pattern']}; `dcinfra schema` documents {field}",
        )
    if kind in ("ip_v4_network", "ip_v4_interface") and (host_bits := _network_hint(value)) is not None:
        return host_bits
    if kind in ("ip_v4_network", "ip_v4_address", "ip_v4_interface", "ip_any_network", "ip_any_address"):
        example = "'10.0.0.11'" if "address" in kind else "'10.0.0.0/24'"
        return f"{got} is not a valid IPv4 {kind.rsplit('_', maxsplit=1)[-1]}", f"use one such as {example}"
    if kind in ("model_type", "model_attributes_type", "dataclass_type", "is_instance_of"):
        cls = ctx.get("class_name") or ctx.get("class") or "the documented class"
        return f"{got} is not a {cls}", f"build it with {cls}(...); `dcinfra schema` documents it"
    if kind in ("tuple_type", "list_type", "iterable_type", "set_type"):
        return f"{got} is not a list", f"give a list, e.g. {field}=[...]"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return f"{got} is not a site", "use LabSite(...) or BareMetalSite(...)"
    return f"{e['msg']} (got {got})", f"see `dcinfra schema` for what {field} accepts"


def problems_from_pydantic(err: pydantic.ValidationError, prefix: str = "") -> list[Problem]:
    """One :class:`Problem` per pydantic error: the stack path (``prefix``, the object's place in the
    stack, joined with the error's location), the value, what is allowed and a fix."""
    problems = []
    errors = err.errors(include_url=False)
    inner = {tuple(e["loc"][:n]) for e in errors for n in range(len(e["loc"]))}
    for e in errors:
        if e["type"] == "too_short" and tuple(e["loc"]) in inner:
            continue  # "0 items after validation": a follow-on of its items' own errors, reported below
        path = _loc(tuple(e["loc"]))
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        if e["type"] == "extra_forbidden":
            msg = f"unknown field {e['loc'][-1]!r}"
            hint = f"remove it or check the spelling; `dcinfra schema` lists the fields of {err.title}"
        elif e["type"] == "missing":
            msg = "required field is missing"
            hint = f"set it; `dcinfra schema` documents {err.title}"
        else:
            msg, hint = _describe(e)
        problems.append(Problem(path=path or err.title, message=msg, hint=hint, rule="model"))
    return problems


def _places(root: object) -> dict[int, str]:
    """``id(obj) -> stack path`` of every model object reachable from ``root`` (the first path of an
    object used twice)."""
    found: dict[int, str] = {}

    def walk(value: object, path: str) -> None:
        if isinstance(value, Spec):
            if id(value) in found:
                return
            found[id(value)] = path
            for name in type(value).model_fields:
                walk(value.__dict__.get(name), f"{path}.{name}" if path else name)
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]")

    walk(root, "")
    return found


def _placed_problems(path: Path, cfg: config_mod.Config, source: str) -> list[Problem] | None:
    """Every model error of the stack file, each at its path in the stack (``compute.pools[0].count``).

    A model object rejects its arguments when it is built, before the stack that will hold it exists,
    so its error knows only the class. The file is run once more with model errors collected instead of
    raised (:func:`dcinfra.model.base.collecting`): each rejected object stands in with its raw
    arguments, the file finishes, and the finished stack says where each one went. None when that run
    does not get as far (the stack's own code trips over a stand-in): the caller reports by class.
    """
    spec = importlib.util.spec_from_file_location(f"dcinfra_stack_placing_{abs(hash(str(path)))}", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    quiet = io.StringIO()
    try:
        with (
            config_mod.use(cfg),
            collecting() as rejected,
            contextlib.redirect_stdout(quiet),
            contextlib.redirect_stderr(quiet),
        ):
            spec.loader.exec_module(module)
    except BaseException:  # a diagnosis run: anything it trips over means "report by class"
        return None
    finally:
        sys.modules.pop(spec.name, None)
    if not rejected:
        return None
    places = _places(getattr(module, "stack", None))
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for r in rejected:
        place = places.get(id(r.obj))
        where = f"{r.where[0]}:{r.where[1]}" if r.where else ""
        if r.where and Path(r.where[0]).resolve() == path.resolve():
            where = f"{path}:{r.where[1]}"
        for found in problems_from_pydantic(r.error, prefix=type(r.obj).__name__ if place is None else place):
            p = found
            if place is None and where and where != source:
                p = Problem(p.path, f"{p.message} (built at {where})", p.hint, p.rule)
            if (p.path, p.message) not in seen:
                seen.add((p.path, p.message))
                problems.append(p)
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
            problems = _placed_problems(path, cfg, where) or problems_from_pydantic(e, prefix=e.title)
            raise StackInvalid(problems, source=where) from None
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
