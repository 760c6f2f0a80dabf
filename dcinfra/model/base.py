"""The base class of every model object: immutable, strict about unknown fields and value types,
documented.

It also holds the one hook the loader needs to name a bad value by its place in the stack
(:func:`collecting`): a model object built with a bad argument only knows its class, because the
stack it will become part of does not exist yet.
"""

from __future__ import annotations

import inspect
import sys
import types
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Strict, ValidationError

from dcinfra.model.docs import fields_section

_NUMBERS = (int, float, bool)

_MODEL_DIR = str(Path(__file__).resolve().parent)


def _strict_kind(annotation: Any) -> type | None:
    """``int``, ``float`` or ``bool`` when the field holds one of them (or None), else None."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            return None
        annotation = args[0]
    return annotation if annotation in _NUMBERS else None


@dataclass(frozen=True)
class Rejected:
    """A model object whose arguments were rejected while :func:`collecting`: the object (a stand-in
    holding the raw arguments), the error, and where in the caller's code it was built."""

    obj: Spec
    error: ValidationError
    where: tuple[str, int] | None  # (file, line) of the first frame outside dcinfra and pydantic


_rejected: ContextVar[list[Rejected] | None] = ContextVar("dcinfra_rejected", default=None)


@contextmanager
def collecting() -> Iterator[list[Rejected]]:
    """While active, a model object built with bad arguments does not raise: it becomes a stand-in
    holding its raw arguments (so the stack file runs on) and its error is appended to the yielded
    list. Only the loader uses this, to place each error at its path in the finished stack."""
    sink: list[Rejected] = []
    token = _rejected.set(sink)
    try:
        yield sink
    finally:
        _rejected.reset(token)


def _caller() -> tuple[str, int] | None:
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if not (name.startswith(_MODEL_DIR) or "/pydantic/" in name or "/pydantic_core/" in name):
            return name, frame.f_lineno
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _schema_description(schema: dict[str, Any], cls: type) -> None:
    """The JSON Schema describes a class by its own docstring: the generated ``Fields`` section
    repeats what the schema's properties already say."""
    doc = cls.__dict__.get("__dcinfra_doc__")
    if doc:
        schema["description"] = inspect.cleandoc(doc)


class Spec(BaseModel):
    """Base of the declarative model: frozen (hashable, safe to share) and rejecting unknown fields,
    so a typo such as ``cout=4`` is an error instead of a silently ignored argument.

    Numbers and booleans are strict in every model: an ``int`` field takes an ``int`` (not ``True``,
    ``3.0`` or ``"32"``), a ``float`` field an ``int`` or ``float`` (not a bool or a string), a ``bool``
    field ``True`` or ``False`` (not ``1`` or ``"yes"``). A stack computes its numbers in Python, so a
    bool or a string where a number belongs is a bug in the stack, never something to convert. Every
    subclass gets this from :meth:`__pydantic_init_subclass__`; lists given for tuple fields are still
    accepted (only numbers and booleans are strict).

    Every subclass's docstring also ends with a generated ``Fields`` section (each field's type,
    default, what it allows in words, and its attribute docstring), so ``help(NodePool)`` and ``pydoc``
    show per-field text: see :mod:`dcinfra.model.docs`.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_default=True,
        use_attribute_docstrings=True,  # each field's docstring becomes its description (pydantic >= 2.7)
        json_schema_extra=_schema_description,
    )

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        changed = False
        for field in cls.model_fields.values():
            if _strict_kind(field.annotation) is not None and not any(
                isinstance(m, Strict) for m in field.metadata
            ):
                field.metadata.append(Strict())
                changed = True
        if changed:
            cls.model_rebuild(force=True)
        # help() and pydoc show __doc__: end it with the fields, documented (the original is kept for
        # the JSON Schema and `dcinfra explain`).
        own = cls.__dict__.get("__doc__") or ""
        type.__setattr__(cls, "__dcinfra_doc__", own)
        section = fields_section(cls)
        type.__setattr__(cls, "__doc__", f"{inspect.cleandoc(own)}\n\n{section}\n" if own else f"{section}\n")

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as error:
            sink = _rejected.get()
            if sink is None:
                raise
            # A stand-in with the raw arguments, so the stack file goes on and the loader can find
            # where in the finished stack this object was put.
            known = {k: v for k, v in data.items() if k in type(self).model_fields}
            stand_in = type(self).model_construct(**known)
            object.__setattr__(self, "__dict__", stand_in.__dict__)
            object.__setattr__(self, "__pydantic_fields_set__", stand_in.__pydantic_fields_set__)
            object.__setattr__(self, "__pydantic_extra__", None)
            object.__setattr__(self, "__pydantic_private__", None)
            sink.append(Rejected(self, error, _caller()))
