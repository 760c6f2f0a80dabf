"""The one exception hierarchy of dcinfra, rooted at :class:`DcinfraError`.

Every error a user can see says what is wrong, where (a field path such as ``compute.pools[1].gpu``),
what is allowed, and how to fix it. Validation collects :class:`Problem` records and raises them all
at once as a :class:`StackInvalid`.

The exit codes of the ``dcinfra`` command line live here too, next to :attr:`DcinfraError.exit_code`
(the code an error exits with), so that the CLI, its help text and the README say the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

EXIT_OK = 0  # success (`validate`: the stack is valid; warnings alone do not change this)
EXIT_ERROR = 1  # the stack is invalid, or dcinfra stopped with an error (the message says why)
EXIT_USAGE = 2  # usage error: an unknown command or option, a missing argument (click's own code)
EXIT_CHANGES = 2  # `preview --expect-no-changes`: something would change
EXIT_VERIFY_MISSED = 3  # `verify` (or the verification at the end of `up`) ran but missed a threshold

EXIT_CODES_HELP = (
    "Exit codes: 0 success; 1 invalid stack or error (message on stderr); 2 usage error, or "
    "`preview --expect-no-changes` found changes; 3 `verify` (or the verification at the end of `up`) "
    "ran but missed a threshold. Warnings (such as every Ceph monitor in one rack) are printed and alone "
    "still exit 0. Set DCINFRA_DEBUG=1 to see tracebacks."
)


class DcinfraError(Exception):
    """Base of every error dcinfra raises on purpose. The CLI prints these without a traceback and
    exits with :attr:`exit_code`."""

    exit_code: int = EXIT_ERROR


Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a stack, as validation reports it.

    An ``error`` makes the stack invalid: ``validate`` exits 1 and ``plan``/``up`` refuse it. A
    ``warning`` is a design a careful engineer would not choose but that builds (every Ceph monitor in
    one rack): it is reported after the errors, and ``validate``, ``plan`` and ``up`` go on.
    """

    path: str  # where: a field path in the stack, e.g. "compute.pools[1].gpu"
    message: str  # what is wrong, naming the offending value with !r
    hint: str = ""  # what is allowed and how to fix it
    rule: str = ""  # the id of the rule that found it, e.g. "network.overlap"
    severity: Severity = "error"  # "error" (the stack is invalid) or "warning" (it builds; reported)

    @property
    def is_warning(self) -> bool:
        """Whether this is a warning (the stack still builds), not an error."""
        return self.severity == "warning"

    def render(self) -> str:
        """One human-readable block: path, message (``warning:`` first for a warning) and hint."""
        mark = "warning: " if self.is_warning else ""
        text = f"{self.path}: {mark}{self.message}"
        if self.hint:
            text += f"\n    fix: {self.hint}"
        return text

    def to_dict(self) -> dict[str, str]:
        """A JSON-friendly form for ``--json`` output."""
        return {
            "rule": self.rule,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
            "severity": self.severity,
        }


def errors_of(problems: Iterable[Problem]) -> list[Problem]:
    """The errors among ``problems`` (what makes a stack invalid), in order."""
    return [p for p in problems if not p.is_warning]


def warnings_of(problems: Iterable[Problem]) -> list[Problem]:
    """The warnings among ``problems`` (reported; the stack still builds), in order."""
    return [p for p in problems if p.is_warning]


class StackInvalid(DcinfraError):
    """The stack has one or more problems (errors); all of them are listed.

    ``problems`` may carry warnings too: they are listed after the errors and not counted, and they
    never make a stack invalid on their own (raise this only when :func:`errors_of` is not empty).
    """

    def __init__(self, problems: list[Problem], source: str = "") -> None:
        self.problems = errors_of(problems) + warnings_of(problems)  # errors first
        self.source = source
        n = len(errors_of(problems))
        head = f"{source}: " if source else ""
        body = "\n".join(f"  - {p.render()}" for p in self.problems)
        super().__init__(f"{head}{n} problem{'s' if n != 1 else ''} found:\n{body}")


class StackLoadError(DcinfraError):
    """The stack file could not be loaded (missing, a Python error, no ``stack`` defined)."""


class ConfigError(DcinfraError):
    """A ``--config key=value`` is malformed, of the wrong type, or not read by the stack."""


class RenderError(DcinfraError):
    """A template could not be rendered (a missing variable is an error, never an empty string)."""
