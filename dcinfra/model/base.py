"""The base class of every model object: immutable, strict about unknown fields, documented."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Spec(BaseModel):
    """Base of the declarative model: frozen (hashable, safe to share) and rejecting unknown fields,
    so a typo such as ``cout=4`` is an error instead of a silently ignored argument."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_default=True, use_attribute_docstrings=True
    )
