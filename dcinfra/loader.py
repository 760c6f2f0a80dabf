"""Loading a stack file: a Python module that assigns ``stack = Stack(...)``.

The module runs with the ``--config`` values of the invocation in scope (see :mod:`dcinfra.config`).
Model errors raised while the file builds its objects become a :class:`StackInvalid` naming the file
and line, each bad value's path in the stack (``compute.pools[0].hardware.gpu_count``), the value, what
is allowed (in words, never a regular expression) and the fix. Every model error of the file is
reported at once, and, when the caller passes the stack-wide ``rules`` (validation), they run too, on
the stack with each rejected value left at its default, so one run reports both kinds
(:class:`ModelProblems`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import ipaddress
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic

from dcinfra import config as config_mod
from dcinfra.errors import ConfigError, Problem, StackInvalid, StackLoadError
from dcinfra.model.base import Rejected, Spec, collecting
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


def _describe(e: Any, title: str = "") -> tuple[str, str]:
    """Message and hint for one pydantic error: the value, what is wrong, what is allowed and the fix.
    ``title`` is the class the error is about (for ``dcinfra explain CLASS.FIELD``)."""
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
        # Every model string has a strict type that says what it allows in words (dcinfra.model.types);
        # a bare pattern is a gap there, so say where the field is documented rather than the regex.
        why = offence(value) if isinstance(value, str) else None
        names = ".".join(str(part) for part in e["loc"] if isinstance(part, str))
        where = f"{title}.{names}" if title and names else title or field
        return (
            f"{got} is not a valid {field}" + (f": {why}" if why else ""),
            f"`dcinfra explain {where}` says what {field} accepts",
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
            msg, hint = _describe(e, err.title)
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


class ModelProblems(StackInvalid):
    """The stack file's model errors, and the stack-wide rules' problems when they could run.

    ``note`` says how far the stack-wide rules got: ``""`` when they were not asked for, else one line
    (they ran with the rejected values at their defaults, or why they could not run)."""

    def __init__(self, problems: list[Problem], source: str = "", note: str = "") -> None:
        super().__init__(problems, source=source)
        self.note = note
        if note:
            self.args = (f"{self.args[0]}\n  ({note})",)


Rules = Callable[[Stack], list[Problem]]


class _Unrepairable(Exception):
    """A rejected object that no valid object can stand in for (a required field without a valid
    value); the argument is its path."""


def _bad_fields(error: pydantic.ValidationError) -> set[str] | None:
    """The fields a rejected object's errors are about, or None when one is about the whole object."""
    names: set[str] = set()
    for e in error.errors(include_url=False):
        loc = tuple(e["loc"])
        if not loc or not isinstance(loc[0], str):
            return None
        names.add(loc[0])
    return names


def _repaired(root: object, rejected: dict[int, Rejected], places: dict[int, str]) -> Any:
    """``root`` with every rejected stand-in rebuilt, validated, without its rejected fields (they take
    their defaults). Raises :class:`_Unrepairable` when one cannot be."""
    memo: dict[int, object] = {}

    def fix(value: object) -> object:
        if isinstance(value, Spec):
            if id(value) in memo:
                return memo[id(value)]
            changed = {}
            for name in type(value).model_fields:
                old = value.__dict__.get(name)
                new = fix(old)
                if new is not old:
                    changed[name] = new
            r = rejected.get(id(value))
            if r is None:
                out: object = value.model_copy(update=changed) if changed else value
            else:
                bad = _bad_fields(r.error)
                where = places.get(id(value), type(value).__name__)
                if bad is None:
                    raise _Unrepairable(where)
                data = {k: changed.get(k, value.__dict__[k]) for k in value.model_fields_set if k not in bad}
                try:
                    out = type(value)(**data)
                except pydantic.ValidationError:
                    required = sorted(
                        k
                        for k in bad
                        if k in type(value).model_fields and type(value).model_fields[k].is_required()
                    )
                    raise _Unrepairable(f"{where}.{required[0]}" if required else where) from None
            memo[id(value)] = out
            return out
        if isinstance(value, list | tuple):
            items = [fix(v) for v in value]
            if all(a is b for a, b in zip(items, value, strict=True)):
                return value
            return type(value)(items)
        return value

    return fix(root)


def _under(path: str, roots: set[str]) -> bool:
    return any(path == r or path.startswith((f"{r}.", f"{r}[")) for r in roots)


def _placed_problems(
    path: Path, cfg: config_mod.Config, source: str, rules: Rules | None = None
) -> tuple[list[Problem], str] | None:
    """Every model error of the stack file, each at its path in the stack (``compute.pools[0].count``)
    and with the line that built it; then, with ``rules``, the stack-wide problems too, and a note on
    how far those got.

    A model object rejects its arguments when it is built, before the stack that will hold it exists,
    so its error knows only the class. The file is run once more with model errors collected instead of
    raised (:func:`dcinfra.model.base.collecting`): each rejected object stands in with its raw
    arguments, the file finishes, and the finished stack says where each one went. For ``rules``, each
    stand-in is rebuilt without its rejected values (they take their defaults), and the problems the
    rules find under a rejected value are dropped (they would be about the default, not the stack).
    None when that run does not get as far (the stack's own code trips over a stand-in): the caller
    reports by class.
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
    root = getattr(module, "stack", None)
    places = _places(root)
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    bad_paths: set[str] = set()
    for r in rejected:
        place = places.get(id(r.obj))
        if r.where and Path(r.where[0]).resolve() == path.resolve():
            line = f"line {r.where[1]}"
            where = f"{path}:{r.where[1]}"
        else:
            where = line = f"built at {r.where[0]}:{r.where[1]}" if r.where else ""
        for found in problems_from_pydantic(r.error, prefix=type(r.obj).__name__ if place is None else place):
            p = found
            if place is None and where and where != source:
                p = Problem(p.path, f"{p.message} (built at {where})", p.hint, p.rule)
            elif place is not None and line:
                p = Problem(p.path, f"{p.message} ({line})", p.hint, p.rule)
            if (p.path, p.message) not in seen:
                seen.add((p.path, p.message))
                problems.append(p)
        if place is not None:
            bad_paths |= {f"{place}.{f}" if place else f for f in (_bad_fields(r.error) or {""})}
    if rules is None:
        return problems, ""
    if not isinstance(root, Stack):
        return problems, "the stack-wide checks did not run: the file defines no `stack = Stack(...)`"
    n = len(problems)
    try:
        stack = _repaired(root, {id(r.obj): r for r in rejected}, places)
    except _Unrepairable as e:
        return problems, (
            f"the stack-wide checks (references, addresses, capacity ...) did not run: {e.args[0]} has "
            f"no valid value to run them with; fix the model problem{'s' if n != 1 else ''} above and "
            "validate again"
        )
    try:
        semantic = rules(stack)
    except Exception as e:  # the rules on a repaired stack: never hide the model problems behind a crash
        return (
            problems,
            f"the stack-wide checks stopped ({type(e).__name__}: {e}); fix the problems above first",
        )
    kept = [p for p in semantic if not _under(p.path, bad_paths)]
    note = (
        f"the stack-wide checks ran too, with the {n} rejected value{'s' if n != 1 else ''} above left at "
        "their defaults"
    )
    if len(kept) < len(semantic):
        note += f" ({len(semantic) - len(kept)} of their problems, about those values, left out)"
    return problems + kept, note


def _caller_line(path: Path, exc: BaseException) -> str:
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if Path(frame.filename).resolve() == path.resolve():
            return f"{path}:{frame.lineno}"
    return str(path)


def load_stack(path: str | Path, cfg: config_mod.Config | None = None, rules: Rules | None = None) -> Stack:
    """Run the stack file at ``path`` and return its ``stack``.

    Raises :class:`StackLoadError` when the file is missing, fails to run or defines no Stack,
    :class:`StackInvalid` (a :class:`ModelProblems`) listing every model error of the file when a
    model object rejects its arguments, and :class:`ConfigError` for bad or unused ``--config`` values.
    ``rules`` (the stack-wide validation, passed in by the caller: the loader sits below the planner)
    then runs too, so that its problems are reported in the same list.
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
            placed = _placed_problems(path, cfg, where, rules)
            if placed is None:
                note = "the stack-wide checks did not run: the stack file could not finish" if rules else ""
                raise ModelProblems(problems_from_pydantic(e, prefix=e.title), where, note) from None
            raise ModelProblems(placed[0], source=where, note=placed[1]) from None
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
