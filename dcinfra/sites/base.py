"""The records and the interface every site provider shares (:class:`SiteProvider`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from dcinfra.errors import Problem


@dataclass(frozen=True, slots=True)
class HostStatus:
    """One host as the site sees it."""

    name: str
    state: str  # "running", "stopped", "missing", "unreachable", "reachable"
    management: str  # management address
    detail: str = ""  # pid, error, ...


@dataclass(frozen=True, slots=True)
class HostsRecord:
    """What provision returns: every host exists and answers SSH."""

    site: str  # the provider that made or reached the hosts ("lab", "baremetal")
    hosts: tuple[HostStatus, ...]
    created: tuple[str, ...] = ()  # hosts created by this run
    repaired: tuple[str, ...] = ()  # hosts restarted or rewired by this run
    ssh_key: str = ""  # path of the private key Ansible uses ("" : the SSH agent)
    ssh_user: str = "root"

    @property
    def ok(self) -> bool:
        """Every host is usable."""
        return all(h.state in ("running", "reachable") for h in self.hosts)


@dataclass(frozen=True, slots=True)
class TeardownRecord:
    """What destroy removed."""

    removed: tuple[str, ...] = ()  # human-readable items: "netns dci-lab-node-001", "bridge dci1a2bm"
    kept: tuple[str, ...] = field(default=())  # what was deliberately left (with why)


class Progress(Protocol):
    """Where a site reports long work."""

    def step(self, message: str) -> None:
        """A step started."""


class SiteProvider(Protocol):
    """The interface every site implements."""

    def prerequisites(self) -> list[str]:
        """What this machine lacks to run the site (empty: ready), each with the command that fixes it."""

    def provision(self, progress: Progress) -> HostsRecord:
        """Make every planned host exist and answer SSH; idempotent."""

    def status(self) -> list[HostStatus]:
        """The hosts as they are now."""

    def teardown(self, progress: Progress) -> TeardownRecord:
        """Remove what provision created (a bare-metal site removes nothing)."""

    def orphans(self) -> list[str]:
        """Hosts this site made for the stack that no plan host accounts for (empty: none)."""

    def remove(self, hosts: list[str], progress: Progress) -> TeardownRecord:
        """Deprovision ``hosts``, which the plan no longer has and scale-in has drained."""

    def site_problems(self) -> list[Problem]:
        """Problems only this machine can show (validate reports them with the stack's): e.g. lab
        networks that shadow this machine's routes. Reads only; empty when there are none. A provider
        class that never has any says ``checks_this_machine = False``, and validate does not compile
        the plan a second time to ask it (:func:`dcinfra.sites.site_problems`)."""

    def ssh_identity(self) -> str:
        """The private key Ansible connects with ("" : the SSH agent), without provisioning anything."""
