"""Field documentation read from the model itself: each field's type, default, what it allows (in words,
never a regular expression) and its attribute docstring.

Two places show it: the ``Fields`` section every model class's ``__doc__`` ends with (so ``help()`` and
``pydoc`` show per-field text, see :class:`dcinfra.model.base.Spec`) and ``dcinfra explain``.
"""

from __future__ import annotations

import inspect
import textwrap
import types
import typing
from dataclasses import dataclass
from typing import Any

import annotated_types
from pydantic import BaseModel, Strict
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from dcinfra.model.types import described, format_of, shown

EXAMPLE_MARK = "Example::"


@dataclass(frozen=True)
class FieldDoc:
    """One field, as help() and ``dcinfra explain`` show it."""

    name: str
    type: str  # as a stack author writes it: ``int``, ``list[str]``, ``Hardware``, ``'air' | 'liquid'``
    required: bool
    default: str  # the default as Python source (``'550'``, ``[]``, ``Storage()``); "" when required
    allowed: (
        str  # what fits, in words ("at least 1"; "a valid name: 2-32 lower-case ..."); "" if only the type
    )
    doc: str  # the attribute docstring under the field

    def to_dict(self) -> dict[str, Any]:
        """The ``dcinfra explain --json`` form."""
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "default": None if self.required else self.default,
            "allowed": self.allowed,
            "doc": self.doc,
        }


def _is_none(a: Any) -> bool:
    return a is type(None) or a is None


def type_text(annotation: Any) -> str:
    """The annotation as a stack author writes its value: tuples are given as lists, strict string
    types are ``str`` (their rule is in :func:`allowed_text`)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_text(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_text(a) for a in args)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"list[{type_text(args[0])}]"
        return f"tuple[{', '.join(type_text(a) for a in args)}]"
    if origin in (list, set, frozenset):
        return f"list[{type_text(args[0])}]" if args else "list"
    if origin is dict:
        return f"dict[{', '.join(type_text(a) for a in args)}]" if args else "dict"
    if _is_none(annotation):
        return "None"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _bounds(metadata: list[Any] | tuple[Any, ...], items: bool = False) -> list[str]:
    """Numeric and length constraints in words: ``at least 1``, ``at most 16``, ``at least 1 item``."""
    words: list[str] = []
    for m in metadata:
        if isinstance(m, annotated_types.Gt):
            words.append(f"greater than {m.gt}")
        elif isinstance(m, annotated_types.Ge):
            words.append(f"at least {m.ge}")
        elif isinstance(m, annotated_types.Lt):
            words.append(f"less than {m.lt}")
        elif isinstance(m, annotated_types.Le):
            words.append(f"at most {m.le}")
        elif isinstance(m, annotated_types.MultipleOf):
            words.append(f"a multiple of {m.multiple_of}")
        elif isinstance(m, annotated_types.MinLen) and m.min_length:
            words.append(f"at least {m.min_length} item{'s' if m.min_length != 1 else ''}")
        elif isinstance(m, annotated_types.MaxLen) and m.max_length is not None:
            words.append(f"at most {m.max_length} item{'s' if m.max_length != 1 else ''}")
        elif getattr(m, "pattern", None):
            words.append("a value of the form `dcinfra schema` shows")
    return words


def _inner_rules(annotation: Any, each: bool = False) -> list[str]:
    """The rules of the types inside an annotation: a strict string type's words, a Literal's values."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    prefix = "each item: " if each else ""
    if origin is typing.Annotated:
        fmt = format_of(args[1:])
        rules = [prefix + described(fmt)] if fmt else []
        bounds = _bounds(args[1:])
        return rules + ([prefix + ", ".join(bounds)] if bounds else [])
    if origin in (typing.Union, types.UnionType):
        return [r for a in args if not _is_none(a) for r in _inner_rules(a, each)]
    if origin is typing.Literal:
        return [prefix + "one of " + ", ".join(repr(a) for a in args)]
    if origin in (tuple, list, set, frozenset):
        return [r for a in args if a is not Ellipsis for r in _inner_rules(a, each=True)]
    return []


def _number_kind(annotation: Any) -> type | None:
    """``int``, ``float`` or ``bool`` when the field holds one of them (or None)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if not _is_none(a)]
        annotation = rest[0] if len(rest) == 1 else None
    return annotation if annotation in (int, float, bool) else None


def allowed_text(field: FieldInfo) -> str:
    """What ``field`` accepts beyond its type, in words (``""`` when the type says it all)."""
    parts: list[str] = []
    fmt = format_of(field.metadata)
    if fmt is not None:
        parts.append(described(fmt))
    bounds = _bounds(field.metadata)
    if bounds:
        parts.append(", ".join(bounds))
    parts += _inner_rules(field.annotation)
    if any(isinstance(m, Strict) for m in field.metadata):
        kind = _number_kind(field.annotation)
        if kind is int:
            parts.append("a whole number (not True/False, 3.0 or '3')")
        elif kind is float:
            parts.append("a number (not True/False or a string)")
        elif kind is bool:
            parts.append("True or False")
    seen: list[str] = []
    for p in parts:
        if p not in seen:
            seen.append(p)
    return "; ".join(seen)


def _source(value: Any) -> str:
    """A default as the Python a stack author would write."""
    if isinstance(value, BaseModel):
        cls = type(value)
        try:
            if value == cls():
                return f"{cls.__name__}()"
        except Exception:  # a class with required fields: show its set fields
            pass
        args = ", ".join(f"{k}={_source(getattr(value, k))}" for k in sorted(value.model_fields_set))
        return f"{cls.__name__}({args})"
    if isinstance(value, tuple):
        return "[" + ", ".join(_source(v) for v in value) + "]"
    return shown(value)


def default_text(field: FieldInfo) -> str:
    """The default of ``field`` as Python source, or ``""`` when it is required."""
    if field.default_factory is not None:
        try:
            return _source(field.default_factory())  # type: ignore[call-arg]
        except Exception:
            return "(computed)"
    if field.default is PydanticUndefined:
        return ""
    return _source(field.default)


def field_doc(name: str, field: FieldInfo) -> FieldDoc:
    """The documentation of one field."""
    return FieldDoc(
        name=name,
        type=type_text(field.annotation),
        required=field.is_required(),
        default=default_text(field),
        allowed=allowed_text(field),
        doc=inspect.cleandoc(field.description or ""),
    )


def field_docs(cls: type[BaseModel]) -> list[FieldDoc]:
    """Every field of ``cls``, in declaration order."""
    return [field_doc(name, f) for name, f in cls.model_fields.items()]


def class_text(doc: str | None) -> tuple[str, str]:
    """A class docstring split into its prose and its ``Example::`` block (dedented)."""
    text = inspect.cleandoc(doc or "")
    if EXAMPLE_MARK not in text:
        return text, ""
    prose, _, example = text.partition(EXAMPLE_MARK)
    return prose.rstrip(), textwrap.dedent(example.strip("\n")).rstrip()


def fields_section(cls: type[BaseModel]) -> str:
    """The ``Fields`` section appended to a model class's docstring, numpydoc style::

    count : int, required
        Number of nodes.
        Allowed: at least 1, at most 100000; a whole number (not True/False, 3.0 or '3')
    """
    lines = ["Fields", "------"]
    for d in field_docs(cls):
        head = f"{d.name} : {d.type}, " + ("required" if d.required else f"default {d.default}")
        lines.append(head)
        body = d.doc or "(undocumented)"
        if d.allowed:
            body += f"\nAllowed: {d.allowed}"
        lines += [f"    {line}" if line else "" for line in body.splitlines()]
    return "\n".join(lines)
