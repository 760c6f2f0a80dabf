"""The root of the declarative model: one :class:`Stack` describes a whole AI datacenter."""

from __future__ import annotations

from pydantic import Field

from dcinfra.model.base import Spec
from dcinfra.model.compute import Compute, Rack
from dcinfra.model.fabric import Fabric
from dcinfra.model.platform import Platform
from dcinfra.model.rollout import Rollout
from dcinfra.model.scheduler import Slurm
from dcinfra.model.security import Security
from dcinfra.model.site import BareMetalSite, LabSite
from dcinfra.model.storage import Storage
from dcinfra.model.types import StackName
from dcinfra.model.verify import VerifySettings
from dcinfra.model.versions import Versions


class Stack(Spec):
    """A whole AI datacenter: where hosts come from, racks, compute, networks, storage, security,
    an optional platform, verification settings, how changes roll out and pinned versions.

    A stack file is a Python module that assigns ``stack``.

    Example::

        from dcinfra import *

        stack = Stack(
            name="lab",
            site=LabSite(),
            compute=Compute(pools=[NodePool(name="node", count=3, hardware=Hardware(profile="lab-cpu"),
                                            roles=["compute", "storage"])]),
            fabric=Fabric(
                management=Network(cidr="172.31.250.0/24"),
                compute=ComputeFabric(kind="ethernet", switch="lab-bridge", cidr="172.31.251.0/24"),
            ),
        )
    """

    name: StackName
    """Stack name: names the state dir (``.dcinfra/<name>``), the Pulumi stack and the Ceph fsid seed."""
    site: LabSite | BareMetalSite = Field(default_factory=LabSite, discriminator="kind")
    """Where hosts come from."""
    racks: tuple[Rack, ...] = ()
    """Racks; empty: one implicit rack ``rack-1`` without a power budget."""
    compute: Compute
    """Node pools."""
    fabric: Fabric
    """Networks."""
    storage: Storage = Storage()
    """Storage clusters."""
    security: Security = Security()
    """Security policy."""
    platform: Platform | None = None
    """Optional Kubernetes platform."""
    scheduler: Slurm | None = None
    """Optional Slurm cluster on the compute hosts."""
    verify: VerifySettings = VerifySettings()
    """Verification settings."""
    rollout: Rollout = Rollout()
    """How changes that restart services or reboot roll: batch size, failure tolerance, drain timeout."""
    versions: Versions = Versions()
    """Pinned versions."""
