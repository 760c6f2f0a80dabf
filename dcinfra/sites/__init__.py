"""Where hosts come from. Every site implements :class:`SiteProvider`; the pipeline does not branch
on which one it has, and nothing outside a provider asks what kind of site it is: checks, render and
roles read the site's capabilities (``Plan.site``, :mod:`dcinfra.catalog.sites`).

Providers come from a registry keyed by ``SiteCapabilities.provider``:

- :mod:`dcinfra.sites.lab`: namespaced nodes created on this Linux machine;
- :mod:`dcinfra.sites.baremetal`: existing hosts, checked for SSH reachability.

A new site type is an entry in :data:`dcinfra.catalog.sites.SITE_TYPES`, a site model in
:mod:`dcinfra.model.site` and a provider registered in :func:`_registry`.
"""

from __future__ import annotations

from collections.abc import Callable

from dcinfra.errors import Problem
from dcinfra.model.stack import Stack
from dcinfra.plan import compile_plan
from dcinfra.plan.types import Plan
from dcinfra.sites.base import HostsRecord, HostStatus, Progress, SiteProvider, TeardownRecord
from dcinfra.state import StateDir

ProviderFactory = Callable[[Plan, StateDir], SiteProvider]


def _registry() -> dict[str, ProviderFactory]:
    # Imported here: the provider modules import this one for the records.
    from dcinfra.sites.baremetal import BareMetal
    from dcinfra.sites.lab import Lab

    return {"lab": Lab, "baremetal": BareMetal}


def provider_for(plan: Plan, state: StateDir) -> SiteProvider:
    """The site provider a plan needs (by ``plan.site.provider``)."""
    return _registry()[plan.site.provider](plan, state)


def site_problems(stack: Stack, state: StateDir) -> list[Problem]:
    """What only this machine can show about ``stack``, a stack validation found nothing wrong with
    (:meth:`SiteProvider.site_problems`). The stack is compiled for it only when its provider has such
    checks (a provider class says ``checks_this_machine = False`` when it has none): a bare-metal stack
    of 100,000 hosts is not planned a second time to learn that there is nothing to check."""
    factory = _registry()[stack.site.capabilities().provider]
    if not getattr(factory, "checks_this_machine", True):
        return []
    return factory(compile_plan(stack), state).site_problems()


__all__ = [
    "HostStatus",
    "HostsRecord",
    "Progress",
    "SiteProvider",
    "TeardownRecord",
    "provider_for",
    "site_problems",
]
