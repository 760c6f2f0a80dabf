"""The bare-metal site: hosts exist; provision checks each answers SSH and names the ones that do not."""

from __future__ import annotations

import os
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar

from dcinfra.errors import DcinfraError, Problem
from dcinfra.plan.types import HostPlan, Plan
from dcinfra.sites.base import HostsRecord, HostStatus, Progress, TeardownRecord
from dcinfra.state import StateDir

CONNECT_TIMEOUT_S = 5.0


class UnreachableHosts(DcinfraError):
    """Some bare-metal hosts do not answer SSH."""


class BareMetal:
    """Existing hosts reached over SSH on their management addresses."""

    # Existing servers: nothing on this machine to check (site_problems is empty), so validate does
    # not compile the plan a second time for it.
    checks_this_machine: ClassVar[bool] = False

    def __init__(self, plan: Plan, state: StateDir, ssh_key: str | None = None) -> None:
        self.plan = plan
        self.state = state
        # The key Ansible uses, first found: given here, $DCINFRA_SSH_KEY (a CI runner's secret file),
        # the stack's BareMetalSite(ssh_key_file=...); none: the SSH agent.
        self.ssh_key = (
            ssh_key
            or os.environ.get("DCINFRA_SSH_KEY", "")
            or str(plan.site.settings.get("ssh_key_file") or "")
        )

    def prerequisites(self) -> list[str]:
        """Nothing to install on the controller beyond dcinfra itself (ssh comes with openssh-client)."""
        return []

    def _probe(self, h: HostPlan) -> HostStatus:
        addr, port = h.addresses["management"], self.plan.site.ssh_port
        try:
            with socket.create_connection((addr, port), timeout=CONNECT_TIMEOUT_S) as s:
                s.settimeout(CONNECT_TIMEOUT_S)
                banner = s.recv(64)
        except OSError as e:
            return HostStatus(h.name, "unreachable", addr, f"{addr}:{port}: {e.strerror or e}")
        if not banner.startswith(b"SSH-"):
            return HostStatus(
                h.name, "unreachable", addr, f"{addr}:{port} answers but not with an SSH banner"
            )
        return HostStatus(h.name, "reachable", addr, banner.decode(errors="replace").strip())

    def status(self) -> list[HostStatus]:
        """Every host probed in parallel (TCP connect + SSH banner on the site's SSH port)."""
        with ThreadPoolExecutor(max_workers=min(64, max(1, len(self.plan.hosts)))) as pool:
            return list(pool.map(self._probe, self.plan.hosts))

    def provision(self, progress: Progress) -> HostsRecord:
        """Check every host answers SSH; raise naming each one that does not."""
        progress.step(f"checking SSH on {len(self.plan.hosts)} hosts")
        hosts = self.status()
        bad = [h for h in hosts if h.state != "reachable"]
        if bad:
            lines = "\n".join(f"  - {h.name} ({h.management}): {h.detail}" for h in bad)
            raise UnreachableHosts(
                f"{len(bad)} of {len(hosts)} hosts do not answer SSH:\n{lines}\n"
                "check power, cabling and the management addresses in the stack's BareMetalSite"
            )
        return HostsRecord(
            self.plan.site.provider, tuple(hosts), ssh_key=self.ssh_key, ssh_user=self.plan.ssh_user
        )

    def site_problems(self) -> list[Problem]:
        """Existing servers: nothing on this machine to check."""
        return []

    def ssh_identity(self) -> str:
        """The key given in ``DCINFRA_SSH_KEY`` ("" : the SSH agent)."""
        return self.ssh_key

    def teardown(self, progress: Progress) -> TeardownRecord:
        """Bare-metal hosts are not removed; configuration is undone by the destroy playbook."""
        progress.step("bare-metal hosts stay; nothing to remove at the site level")
        return TeardownRecord(kept=tuple(f"{h.name} (existing host)" for h in self.plan.hosts))

    def orphans(self) -> list[str]:
        """Bare-metal hosts are never made by dcinfra: none is an orphan of it."""
        return []

    def remove(self, hosts: list[str], progress: Progress) -> TeardownRecord:
        """Bare-metal hosts stay (drained and with their storage daemons removed by scale-in); the
        operator powers them off or reuses them."""
        progress.step("bare-metal hosts stay; scale-in removed their daemons")
        return TeardownRecord(kept=tuple(f"{h} (existing host, no longer in the plan)" for h in hosts))
