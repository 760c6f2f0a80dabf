"""The ``explain`` command: the documentation of a model class or field, where a stack author looks.

``dcinfra explain NodePool`` shows the class's text, its example and every field (type, default, what
it allows in words, its docstring); ``dcinfra explain NodePool.count`` one field;
``dcinfra explain NodePool.hardware.gpu_count`` follows fields into the classes they hold. The text is
read from the model itself (:mod:`dcinfra.model.docs`), the same text ``help(dcinfra.NodePool)`` shows.

Registered on the ``dcinfra`` app by :mod:`dcinfra.cli`.
"""

from __future__ import annotations

import difflib
import typing
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.text import Text

from dcinfra.cli.args import JsonOpt
from dcinfra.cli.output import emit_json, out, reporting_errors, usage_error
from dcinfra.model import __all__ as PUBLIC
from dcinfra.model.docs import FieldDoc, class_text, field_doc, field_docs
from dcinfra.model.stack import Stack

commands = typer.Typer()


def _held(annotation: Any) -> list[type[BaseModel]]:
    """The model classes a field holds (through ``X | None``, ``tuple[X, ...]``, unions)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [c for a in typing.get_args(annotation) for c in _held(a)]


def classes() -> dict[str, type[BaseModel]]:
    """Every model class a stack author can meet: the public ones and those reachable from Stack."""
    from dcinfra import model

    found: dict[str, type[BaseModel]] = {}
    todo: list[type[BaseModel]] = [getattr(model, name) for name in PUBLIC] + [Stack]
    while todo:
        cls = todo.pop()
        if cls.__name__ in found:
            continue
        found[cls.__name__] = cls
        for f in cls.model_fields.values():
            todo += _held(f.annotation)
    return dict(sorted(found.items()))


def _summary(cls: type[BaseModel]) -> str:
    prose, _ = class_text(cls.__dict__.get("__dcinfra_doc__", cls.__doc__))
    return prose.split("\n\n", 1)[0].replace("\n", " ")


def _suggest(name: str, choices: list[str]) -> str:
    """`` did you mean 'X'?`` (case-insensitive, closest first), or ``""``."""
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)
    if not close:
        return ""
    return " did you mean " + " or ".join(repr(lowered[c]) for c in close) + "?"


class _Unknown(Exception):
    """A name that is no class or field; the argument is the message."""


def resolve(name: str) -> tuple[type[BaseModel], FieldDoc | None, str]:
    """``Class`` or ``Class.field[.field...]`` -> the class holding the last field, its FieldDoc (None
    for a class) and the dotted name as resolved (properly capitalised). Raises :class:`_Unknown`."""
    known = classes()
    head, *fields = name.strip().split(".")
    by_lower = {k.lower(): v for k, v in known.items()}
    cls = known.get(head) or by_lower.get(head.lower())
    if cls is None:
        raise _Unknown(
            f"{head!r} is no dcinfra model class:{_suggest(head, list(known)) or ''} `dcinfra explain` "
            "with no name lists the classes"
        )
    shown = cls.__name__
    doc: FieldDoc | None = None
    for i, field in enumerate(fields):
        if doc is not None:  # the previous field must hold a model class
            holder = cls.model_fields[doc.name].annotation
            inner = [c for c in _held(holder) if field in c.model_fields]
            if not inner:
                held = _held(holder)
                if not held:
                    raise _Unknown(f"{shown} ({doc.type}) has no fields, so no {field!r}")
                names = sorted({n for c in held for n in c.model_fields})
                raise _Unknown(
                    f"{' or '.join(c.__name__ for c in held)} has no field {field!r}:"
                    f"{_suggest(field, names)} its fields: {', '.join(names)}"
                )
            cls = inner[0]
        if field not in cls.model_fields:
            names = list(cls.model_fields)
            hint = _suggest(field, names)
            raise _Unknown(f"{cls.__name__} has no field {field!r}:{hint} its fields: {', '.join(names)}")
        doc = field_doc(field, cls.model_fields[field])
        shown = f"{shown}.{field}" if i else f"{cls.__name__}.{field}"
    return cls, doc, shown


def _field_lines(d: FieldDoc, console: Console, indent: str = "  ") -> None:
    # Continuation lines of a docstring line up under its first line.
    text = (d.doc or "(undocumented)").replace("\n", "\n" + " " * (len(indent) + len("doc: ")))
    console.print(Text(f"{indent}doc: ", style="cyan") + Text(text), soft_wrap=True)
    if d.allowed:
        console.print(Text(f"{indent}allowed: ", style="cyan") + Text(d.allowed), soft_wrap=True)


def _print_class(cls: type[BaseModel], console: Console) -> None:
    prose, example = class_text(cls.__dict__.get("__dcinfra_doc__", cls.__doc__))
    console.print(Text(cls.__name__, style="bold"), soft_wrap=True)
    console.print(Text(prose), soft_wrap=True)
    if example:
        console.print(Text("\nExample:", style="bold"))
        console.print(Text("\n".join(f"    {line}" for line in example.splitlines())), soft_wrap=True)
    console.print(Text("\nFields:", style="bold"))
    for d in field_docs(cls):
        head = Text(f"  {d.name}", style="bold") + Text(f": {d.type}, ")
        head += Text("required", style="yellow") if d.required else Text(f"default {d.default}")
        console.print(head, soft_wrap=True)
        _field_lines(d, console, indent="      ")


def _print_field(name: str, d: FieldDoc, console: Console) -> None:
    console.print(Text(name, style="bold") + Text(f": {d.type}"), soft_wrap=True)
    console.print(
        Text("  default: ", style="cyan") + (Text("none, required") if d.required else Text(d.default)),
        soft_wrap=True,
    )
    _field_lines(d, console)


@commands.command()
def explain(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="[CLASS[.FIELD]]",
            help="A model class (NodePool) or field (NodePool.count, NodePool.hardware.gpu_count); "
            "none: list the classes.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Explain a model class or field: its text, example, type, default and what it allows.

    A class shows its documentation, its example and every field; a field shows its type, its default,
    what it allows (in words) and its documentation. The same text is in help(dcinfra.NodePool).
    Exit 2 (a usage error) when the name is no class or field; the message suggests the closest ones.
    """
    with reporting_errors(as_json=as_json):
        if name is None:
            listing = {n: _summary(c) for n, c in classes().items()}
            if as_json:
                emit_json({"classes": listing})
                return
            console = out()
            for n, summary in listing.items():
                console.print(Text(f"{n:<16}", style="bold") + Text(f" {summary}"), soft_wrap=True)
            return
        try:
            cls, doc, shown = resolve(name)
        except _Unknown as e:
            raise usage_error(str(e.args[0]), as_json=as_json) from None
        if doc is not None:
            if as_json:
                emit_json({"class": cls.__name__, "path": shown, **doc.to_dict()})
                return
            _print_field(shown, doc, out())
            return
        if as_json:
            prose, example = class_text(cls.__dict__.get("__dcinfra_doc__", cls.__doc__))
            emit_json(
                {
                    "class": cls.__name__,
                    "doc": prose,
                    "example": example,
                    "fields": [d.to_dict() for d in field_docs(cls)],
                }
            )
            return
        _print_class(cls, out())


__all__ = ["classes", "commands", "resolve"]
