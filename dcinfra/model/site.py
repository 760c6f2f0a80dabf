"""Where hosts come from: the lab (namespaced nodes on this machine) or existing bare-metal hosts."""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Literal

from pydantic import Field

from dcinfra.catalog.sites import SiteCapabilities, capabilities_for
from dcinfra.model.base import Spec
from dcinfra.model.types import BridgePrefix, ControllerPath, HostLabel, UserName


class LabSite(Spec):
    """The embedded default: dcinfra creates every node on this Linux machine as a set of namespaces
    (network, mount with an overlayfs root, UTS, PID) with its own sshd.

    Example::

        LabSite()                      # nodes named after their pools, state under .dcinfra/<stack>/lab
        LabSite(bridge_prefix="dcx")   # host-side bridges dcx-management, dcx-compute, ...
    """

    kind: Literal["lab"] = "lab"
    """Site kind (the discriminator); leave the default."""
    bridge_prefix: BridgePrefix = "dci"
    """Prefix of the host-side bridge and veth names (Linux limits interface names to 15 bytes)."""
    osd_size_gb: int = Field(default=4, ge=1, le=64)
    """Size of each file-backed Ceph OSD on a lab node, in GB (sparse files in the node's state dir)."""
    shape_compute: bool = True
    """Shape every compute-fabric veth to the fabric's declared line rate (``tc`` token bucket, both
    directions), so the lab's compute links behave like the declared hardware: bound by the link, not
    by this machine's CPU. False leaves them at memory-copy speed (what the CPU allows)."""

    def capabilities(self) -> SiteCapabilities:
        """What lab nodes can do (:data:`dcinfra.catalog.sites.LAB`) with this stack's settings."""
        return capabilities_for(
            self.kind,
            osd_file_gb=self.osd_size_gb,
            link_shaping=self.shape_compute,
            bridge_prefix=self.bridge_prefix,
        )


class BareMetalHost(Spec):
    """One existing server: its name and how to reach it.

    Example::

        BareMetalHost(name="gpu-001", management_ip="10.0.0.11", bmc_ip="10.1.0.11")
    """

    name: HostLabel
    """Hostname; must match a host the stack plans: ``<pool>-<nnn>``, or ``<prefix>-<nnn>`` when the
    pool sets ``hostname_prefix``."""
    management_ip: IPv4Address
    """Address on the management network that dcinfra reaches over SSH."""
    bmc_ip: IPv4Address | None = None
    """Out-of-band controller (IPMI/Redfish) address, if any."""


class BareMetalSite(Spec):
    """Existing hosts: dcinfra does not create machines, it checks they are reachable and configures them.

    Example::

        BareMetalSite(ssh_user="ops", hosts=[
            BareMetalHost(name="gpu-001", management_ip="10.0.0.11"),
            BareMetalHost(name="gpu-002", management_ip="10.0.0.12"),
        ])
    """

    kind: Literal["baremetal"] = "baremetal"
    """Site kind (the discriminator); leave the default."""
    hosts: tuple[BareMetalHost, ...] = Field(min_length=1)
    """Every host the stack places, by name."""
    ssh_user: UserName = "root"
    """The user Ansible connects as (with sudo where it is not root)."""
    ssh_key_file: ControllerPath | None = None
    """Private key file for SSH (``$DCINFRA_SSH_KEY``, when set, takes precedence: a CI runner's secret
    file); None uses the SSH agent. Only the path is recorded; the key never enters dcinfra's files."""
    ssh_port: int = Field(default=22, ge=1, le=65535)
    """The port the hosts' sshd already listens on (``ssh_port=2222``): dcinfra connects there, probes
    it, and the host firewall admits SSH on it; it never moves sshd to another port."""

    def capabilities(self) -> SiteCapabilities:
        """What existing servers can do (:data:`dcinfra.catalog.sites.BAREMETAL`)."""
        # The key file is the provider's business alone (its settings); its path, never the key.
        key = {"ssh_key_file": self.ssh_key_file} if self.ssh_key_file else {}
        return capabilities_for(self.kind, ssh_port=self.ssh_port, **key)


Site = LabSite | BareMetalSite
