"""Site types as capabilities: what a kind of site can do, so nothing outside its provider asks its name.

Checks, the planner, render, the pipeline and the roles read :class:`SiteCapabilities` (``Plan.site``,
``dcinfra_site`` in the inventory). Only the site provider registered under ``provider``
(:mod:`dcinfra.sites`) knows what kind of site it is. A new site type is one entry in
:data:`SITE_TYPES` plus a provider.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

InitSystem = Literal["systemd", "none"]
PackagesFrom = Literal["repositories", "host-image"]
SysctlScope = Literal["host", "network-namespace"]
OsdBacking = Literal["devices", "files"]
BenchPython = Literal["controller", "venv"]


@dataclass(frozen=True, slots=True)
class SiteCapabilities:
    """What the hosts of a site can do, as the Plan records it."""

    provider: str  # the key of the site provider that makes or reaches the hosts ("lab", "baremetal")
    init_system: InitSystem  # "systemd", or "none": daemons run through dcinfra-service without an init
    kernel_modules: bool  # hosts can load kernel modules (ceph/rbd kernel clients, nvidia, ib_ipoib)
    downloads: bool  # hosts reach package repositories and artifact URLs
    packages_from: PackagesFrom  # "repositories", or "host-image": preinstalled where the hosts run
    sysctl_scope: SysctlScope  # "host": every key; "network-namespace": only net.* keys take effect
    osd_backing: OsdBacking  # Ceph OSDs on the declared block "devices", or sparse "files" per host
    osd_file_gb: int | None  # size of each file-backed OSD, GB; None with devices
    bench_python: BenchPython  # the controller's own interpreter (hosts share its root), or a bench venv
    link_shaping: bool  # the provider shapes compute links to the fabric's declared line rate (tc)
    emulated_network: bool  # the fabric is Linux bridges and veths: only 'lab-bridge'/'lab-veth' fit it
    shared_machine: bool  # every host is on one physical machine: fault-tolerance minimums do not apply
    gpus: bool  # hosts can have GPUs
    cgroups: bool  # daemons may create and constrain cgroups (Slurm's cgroup.conf, task/cgroup)
    hardware_detectable: bool  # a host reports its own declared CPUs and memory (lab nodes see the machine)
    max_hosts: int | None  # most hosts the site can hold; None: no limit of its own
    max_mtu: int | None  # largest MTU the site's links carry; None: what the declared hardware allows
    ceph_releases: tuple[str, ...]  # Ceph releases the hosts can run (from their image); (): any
    python_interpreter: str | None  # Python Ansible uses on the hosts; None: Ansible's discovery
    ssh_port: int  # the port sshd already listens on, on every host (dcinfra connects there, never moves it)
    description: str  # one line for people: where the hosts are
    settings: dict[str, Any] = field(default_factory=dict)  # read only by the provider (bridge prefix, ...)


# The lab's facts were checked on our build machines (see DESIGN.md, "The lab"): no loadable kernel
# modules, no route outside the lab, Debian 12's packages (Ceph 16.2 pacific) shared from the host's
# root, network-namespace sysctls only, no systemd in a node. 9000 is standard jumbo frames, the most
# a veth on a Linux bridge is set to here.
LAB = SiteCapabilities(
    provider="lab",
    init_system="none",
    kernel_modules=False,
    downloads=False,
    packages_from="host-image",
    sysctl_scope="network-namespace",
    osd_backing="files",
    osd_file_gb=4,
    bench_python="controller",
    link_shaping=True,
    emulated_network=True,
    shared_machine=True,
    gpus=False,
    # Lab nodes share the machine's cgroup tree (no delegation into a node) and see all of its CPUs and
    # memory, not the declared profile's.
    cgroups=False,
    hardware_detectable=False,
    # 2 cores here; every lab node runs sshd, Ceph daemons and torch.
    max_hosts=16,
    max_mtu=9000,
    ceph_releases=("pacific",),
    # The host image's Debian Python: discovery could pick a user-level shim (pyenv) of the controller
    # that does not work over SSH.
    python_interpreter="/usr/bin/python3",
    ssh_port=22,
    description="namespaced nodes on this machine",
)

BAREMETAL = SiteCapabilities(
    provider="baremetal",
    init_system="systemd",
    kernel_modules=True,
    downloads=True,
    packages_from="repositories",
    sysctl_scope="host",
    osd_backing="devices",
    osd_file_gb=None,
    bench_python="venv",
    link_shaping=False,
    emulated_network=False,
    shared_machine=False,
    gpus=True,
    cgroups=True,
    hardware_detectable=True,
    max_hosts=None,
    max_mtu=None,
    ceph_releases=(),
    python_interpreter=None,
    ssh_port=22,
    description="existing servers reached over SSH",
)

SITE_TYPES: dict[str, SiteCapabilities] = {c.provider: c for c in (LAB, BAREMETAL)}


def capabilities_for(kind: str, **settings: Any) -> SiteCapabilities:
    """The capabilities of a site of ``kind`` with the stack's per-site settings applied.

    ``settings`` may override any capability field (``link_shaping``, ``osd_file_gb``); the rest are
    provider-only settings kept in ``settings``.
    """
    base = SITE_TYPES[kind]
    fields = set(SiteCapabilities.__dataclass_fields__)
    overrides = {k: v for k, v in settings.items() if k in fields}
    extra = {k: v for k, v in sorted(settings.items()) if k not in fields}
    return replace(base, **overrides, settings=extra)
