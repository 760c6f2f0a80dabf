"""Stack configuration, like Pulumi's: ``dcinfra plan STACK --config su_count=8``.

A stack file reads typed values with defaults::

    from dcinfra import config
    su_count = config.get_int("su_count", 4)

Values given on the command line but never read by the stack are an error (a typo such as
``sucount=8`` must not silently plan the default).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from dcinfra.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class Config:
    """The ``--config`` values of one invocation; records which keys the stack read."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values = dict(values or {})
        self.read: dict[str, str] = {}  # key -> the type it was read as

    @staticmethod
    def parse(pairs: list[str]) -> Config:
        """Build from ``key=value`` strings; a malformed pair is a :class:`ConfigError`."""
        values: dict[str, str] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            key = key.strip()
            if not sep or not key:
                raise ConfigError(f"--config {pair!r}: expected key=value, e.g. --config su_count=8")
            values[key] = value.strip()
        return Config(values)

    def _raw(self, key: str, kind: str) -> str | None:
        self.read[key] = kind
        return self._values.get(key)

    def get_str(self, key: str, default: str) -> str:
        """The string value of ``key``, or ``default``."""
        raw = self._raw(key, "str")
        return default if raw is None else raw

    def get_int(self, key: str, default: int) -> int:
        """The integer value of ``key``, or ``default``."""
        raw = self._raw(key, "int")
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"--config {key}={raw!r}: expected an integer, e.g. {key}={default}") from None

    def get_float(self, key: str, default: float) -> float:
        """The float value of ``key``, or ``default``."""
        raw = self._raw(key, "float")
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"--config {key}={raw!r}: expected a number, e.g. {key}={default}") from None

    def get_bool(self, key: str, default: bool) -> bool:
        """The boolean value of ``key`` (true/false, yes/no, 1/0, on/off), or ``default``."""
        raw = self._raw(key, "bool")
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ConfigError(f"--config {key}={raw!r}: expected true or false")

    def unused(self) -> list[str]:
        """Keys given but never read by the stack."""
        return sorted(k for k in self._values if k not in self.read)

    def items(self) -> Iterator[tuple[str, str]]:
        """The given values."""
        yield from sorted(self._values.items())


_default = Config()
_current: contextvars.ContextVar[Config] = contextvars.ContextVar("dcinfra_config")


def _get() -> Config:
    return _current.get(_default)


@contextmanager
def use(cfg: Config) -> Iterator[Config]:
    """Make ``cfg`` the configuration stack files see while loading."""
    token = _current.set(cfg)
    try:
        yield cfg
    finally:
        _current.reset(token)


def get_str(key: str, default: str) -> str:
    """The ``--config`` string ``key``, or ``default``."""
    return _get().get_str(key, default)


def get_int(key: str, default: int) -> int:
    """The ``--config`` integer ``key``, or ``default``."""
    return _get().get_int(key, default)


def get_float(key: str, default: float) -> float:
    """The ``--config`` number ``key``, or ``default``."""
    return _get().get_float(key, default)


def get_bool(key: str, default: bool) -> bool:
    """The ``--config`` boolean ``key``, or ``default``."""
    return _get().get_bool(key, default)
