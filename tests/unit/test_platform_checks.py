"""Validation checks a Kubernetes platform without planning it, and finds what planning it finds.

:func:`dcinfra.plan.validate` reports the platform's problems with
:func:`~dcinfra.plan.platform.check_platform` on :class:`~dcinfra.plan.platform.PlatformInputs`
counted on the planner's drafts; :func:`dcinfra.plan.compile_plan` plans the platform on the
compiled plan. Here the two agree: the same problems, in the same order, for every platform rule and
for stacks broken several ways at once; and the inputs validation counts are those of the compiled
plan.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dcinfra.errors import Problem, StackInvalid
from dcinfra.model.stack import Stack
from dcinfra.plan import _validate_plan, compile_plan, validate
from dcinfra.plan.platform import PlatformInputs
from tests.fixtures.platform.stacks import BENCH_IMAGE, with_platform


def _edited(stack: Stack, edit: Callable[[dict[str, Any]], None]) -> Stack:
    """``stack`` with its data changed by ``edit``, validated as a stack file's would be."""
    data = stack.model_dump()
    edit(data)
    return Stack.model_validate(data)


def _small_rails(data: dict[str, Any]) -> None:
    data["fabric"]["compute"]["cidr"] = "10.200.0.0/22"  # 8 rails of /25: 32 hosts fit, their pods not


def _no_ceph(data: dict[str, Any]) -> None:
    data["storage"]["ceph"] = None


def _no_compute(data: dict[str, Any]) -> None:
    data["compute"]["pools"][0]["roles"] = ["storage"]
    data["fabric"]["compute"] = None
    data["scheduler"] = None


TENANTS = [
    {"name": "a", "namespaces": ["training", "nope"], "gpus": 200},
    {"name": "a", "namespaces": ["training"], "gpus": 100},
]

# (id, stack, the rules validation reports, in order)
BROKEN: list[tuple[str, Callable[[], Stack], list[str]]] = [
    (
        "reserved-namespace",
        lambda: with_platform("h100_su", namespaces=["training", "kube-system"]),
        ["platform.namespaces"],
    ),
    (
        "old-gpu-operator",
        lambda: with_platform("h100_su", gpu_operator_version="v24.9.2"),
        ["platform.toolkit"],
    ),
    ("old-toolkit", lambda: with_platform("h100_su", toolkit_version="v1.16.0"), ["platform.toolkit"]),
    (
        "rail-pod-addresses",
        lambda: _edited(with_platform("h100_su"), _small_rails),
        ["platform.rail-addresses"],
    ),
    ("rook-old-ceph", lambda: with_platform("h100_su", storage="rook"), ["platform.storage"]),
    (
        "rook-without-ceph",
        lambda: _edited(with_platform("h100_su", storage="rook"), _no_ceph),
        ["platform.storage"],
    ),
    ("rook-on-files", lambda: with_platform("lab", storage="rook"), ["platform.storage"] * 2),
    (
        "tenants",
        lambda: with_platform("h100_su", tenants=TENANTS),
        [
            *["platform.tenants"] * 3,
            "platform.quota",
        ],
    ),
    (
        "bench-without-compute",
        lambda: _edited(with_platform("lab", bench_image=BENCH_IMAGE), _no_compute),
        ["platform.bench"],
    ),
    (
        "all-at-once",
        lambda: with_platform(
            "h100_su",
            namespaces=["training", "kube-system"],
            toolkit_version="v1.16.0",
            storage="rook",
            tenants=TENANTS,
            bench_image=BENCH_IMAGE,
        ),
        [
            "platform.namespaces",
            "platform.toolkit",
            "platform.storage",
            *["platform.tenants"] * 3,
            "platform.quota",
        ],
    ),
]


def _compile_problems(stack: Stack) -> list[Problem]:
    with pytest.raises(StackInvalid) as info:
        compile_plan(stack)
    return info.value.problems


@pytest.mark.parametrize(("make", "rules"), [(m, r) for _, m, r in BROKEN], ids=[n for n, _, _ in BROKEN])
def test_validation_finds_what_planning_the_platform_finds(
    make: Callable[[], Stack], rules: list[str]
) -> None:
    stack = make()
    problems = validate(stack)
    assert [p.rule for p in problems] == rules, "\n".join(p.render() for p in problems)
    assert problems == _compile_problems(stack)


CLEAN: list[tuple[str, Callable[[], Stack]]] = [
    ("h100_su", lambda: with_platform("h100_su")),
    (
        "h100_su-everything",
        lambda: with_platform(
            "h100_su",
            bench_image=BENCH_IMAGE,
            tenants=[{"name": "research", "namespaces": ["training"], "gpus": 192}],
        ),
    ),
    ("lab", lambda: with_platform("lab", bench_image=BENCH_IMAGE)),
]


@pytest.mark.parametrize("make", [m for _, m in CLEAN], ids=[n for n, _ in CLEAN])
def test_validation_counts_the_inputs_of_the_compiled_plan(make: Callable[[], Stack]) -> None:
    stack = make()
    assert validate(stack) == []
    problems: list[Problem] = []
    inputs = _validate_plan(stack, problems)  # what validate checks the platform on
    assert problems == []
    assert inputs == PlatformInputs.of(compile_plan(stack))
    assert inputs is not None and inputs.compute > 0 and inputs.networks


def test_no_platform_no_inputs() -> None:
    stack = with_platform("lab").model_copy(update={"platform": None})
    assert _validate_plan(stack, []) is None
