"""The Jinja2 environment every template renders through, built once per process.

Templates live in ``dcinfra/templates/<layer>/`` and are named by their path below
``dcinfra/templates/`` (``"firewall/nftables.conf.j2"``). A variable a template uses but the context
lacks is an error (``StrictUndefined``), raised as :class:`~dcinfra.errors.RenderError` naming the
template and the variable: a config file with an empty value where an address should be is worse than
no file.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import jinja2

from dcinfra.errors import RenderError

MANAGED_BY = "Managed by dcinfra (stack {stack}) — do not edit; change the stack and re-render."


def managed_by(stack: str, prefix: str = "# ") -> str:
    """The header line every rendered config file starts with, in the file's comment syntax."""
    return prefix + MANAGED_BY.format(stack=stack)


def _xml_comment(text: str) -> str:
    # "--" may not appear inside an XML comment; a stack name like "a--b" would make the file invalid.
    while "--" in text:
        text = text.replace("--", "- -")
    return "<!-- " + text + " -->"


def _xml_escape(value: object) -> str:
    return (
        str(value)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )


@functools.cache
def environment() -> jinja2.Environment:
    """The shared environment (cached: building it and compiling templates is the slow part)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("dcinfra", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # config files, not HTML; XML templates escape with the xml filter
    )
    env.filters["xml"] = _xml_escape
    env.globals["managed_by"] = managed_by
    env.globals["xml_comment"] = _xml_comment
    return env


def render_template(name: str, context: Mapping[str, Any]) -> str:
    """Render template ``name`` with ``context``; any failure is a :class:`RenderError`."""
    try:
        template = environment().get_template(name)
    except jinja2.TemplateNotFound:
        raise RenderError(f"template {name!r} not found in dcinfra/templates/") from None
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(f"template {name!r} line {exc.lineno}: {exc.message}") from None
    try:
        return template.render(context)
    except jinja2.UndefinedError as exc:
        raise RenderError(
            f"template {name!r}: {exc.message}; the renderer must pass this variable "
            "(a missing value is never rendered as an empty string)"
        ) from None
