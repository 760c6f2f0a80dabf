"""The declarative model: immutable, strict about unknown fields, documented, schema-exportable."""

from __future__ import annotations

import json
from collections.abc import Callable

import pydantic
import pytest

import dcinfra
from dcinfra import model
from dcinfra.model.base import Spec
from dcinfra.model.stack import Stack

MODEL_CLASSES = [getattr(model, name) for name in model.__all__]


def test_every_public_class_is_exported_from_the_package() -> None:
    assert MODEL_CLASSES, "dcinfra.model exports no classes"
    for cls in MODEL_CLASSES:
        assert issubclass(cls, Spec), cls
        assert getattr(dcinfra, cls.__name__) is cls, f"dcinfra.{cls.__name__} is not re-exported"


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda c: c.__name__)
def test_model_classes_are_frozen_and_forbid_extra_fields(cls: type[Spec]) -> None:
    assert cls.model_config.get("frozen") is True
    assert cls.model_config.get("extra") == "forbid"


def test_assignment_raises(load: Callable[..., Stack]) -> None:
    stack = load("lab")
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        stack.name = "other"
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        stack.compute.pools[0].count = 99  # type: ignore[misc]
    rack = dcinfra.Rack(name="r01", power_budget_kw=44)
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        rack.power_budget_kw = 1000  # type: ignore[misc]
    assert rack.power_budget_kw == 44


def test_unknown_field_is_rejected_with_its_name() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        dcinfra.NodePool(name="gpu", cout=4, hardware=dcinfra.Hardware(profile="dgx-h100"))  # type: ignore[call-arg]
    errors = info.value.errors()
    kinds = {(e["type"], e["loc"][-1]) for e in errors}
    assert ("extra_forbidden", "cout") in kinds
    assert ("missing", "count") in kinds


def test_nested_unknown_field_is_rejected() -> None:
    with pytest.raises(pydantic.ValidationError, match="mtuu"):
        dcinfra.Fabric(management={"cidr": "10.0.0.0/24", "mtuu": 9000})  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda c: c.__name__)
def test_every_public_class_has_a_docstring_with_an_example(cls: type[Spec]) -> None:
    doc = cls.__doc__ or ""
    assert doc.strip(), f"{cls.__name__} has no docstring"
    assert "Example" in doc, f"{cls.__name__}'s docstring has no 'Example' section"


def test_every_field_has_a_description() -> None:
    missing = [
        f"{cls.__name__}.{name}"
        for cls in MODEL_CLASSES
        for name, field in cls.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert missing == [], f"fields without a description (a docstring under the field): {missing}"


def test_json_schema_is_generated_with_descriptions() -> None:
    schema = dcinfra.Stack.model_json_schema()
    json.dumps(schema)  # plain JSON types only
    assert schema["title"] == "Stack"
    assert "compute" in schema["required"]
    defs = schema["$defs"]
    for cls in MODEL_CLASSES:
        if cls is dcinfra.Stack:
            continue
        assert cls.__name__ in defs, f"{cls.__name__} is not reachable from Stack's schema"
    assert defs["NodePool"]["properties"]["count"]["description"] == "Number of nodes."
    assert defs["NodePool"]["additionalProperties"] is False


def test_model_round_trips_through_json(load: Callable[..., Stack]) -> None:
    stack = load("h100_su")
    again = dcinfra.Stack.model_validate_json(stack.model_dump_json())
    assert again == stack
    assert hash(again) == hash(stack)
