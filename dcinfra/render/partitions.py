"""``opensm/partitions.conf``: the compute fabric's InfiniBand partitions, one per tenant.

Written only for an InfiniBand fabric with tenant isolation (``SecurityPlan.partitions``), as a review
artifact for the subnet manager (OpenSM, or UFM's ``partitions.conf.user_ext``), which runs on the
fabric, not on dcinfra's hosts. Syntax, from OpenSM's ``doc/partition-config.txt``
(https://github.com/linux-rdma/opensm/blob/master/doc/partition-config.txt)::

    PartitionName[=PKey][,flag][,defmember=full|limited] : PortGUID[=full|limited], ... ;

With a partitions file and a ``Default`` rule of ``ALL=limited``, ports of different tenants are only
limited members of the default partition, and two limited members cannot talk: only the subnet
manager's port (``SELF``) and the switches stay full members there.

The plan knows each member port by host and HCA, not by port GUID (a property of the adapter, read on
the host with ``ibstat <hca>``: "Port GUID"). Each member is written as ``@GUID:<host>:<hca>@``, which
OpenSM does not parse: the file is refused until every one is replaced by the port's GUID, rather than
loaded with a partition missing ports.
"""

from __future__ import annotations

from dcinfra.plan.types import Plan
from dcinfra.render.engine import managed_by

PATH = "opensm/partitions.conf"


def partitions_conf(plan: Plan) -> bytes | None:
    """The OpenSM partitions file; None without InfiniBand partitions in the plan."""
    parts = plan.security.partitions
    if not parts:
        return None
    lines = [
        managed_by(plan.stack),
        "# OpenSM partitions: one per tenant (security.tenant_isolation). Replace every",
        '# @GUID:<host>:<hca>@ by that port\'s GUID (`ibstat <hca>`, "Port GUID") before loading it.',
        "# Default partition: only the subnet manager and the switches are full members, so ports of",
        "# different tenants cannot reach each other through it.",
        "Default=0x7fff, ipoib : ALL=limited, ALL_SWITCHES=full, SELF=full ;",
    ]
    for p in parts:
        lines.append("")
        lines.append(f"# tenant {p.tenant}: {len(p.members)} ports")
        lines.append(f"{p.tenant}={p.pkey}, ipoib, defmember=full :")
        members = [f"    @GUID:{host}:{hca}@" for host, hca in p.members]
        lines.append(",\n".join(members) + " ;")
    return ("\n".join(lines) + "\n").encode()
