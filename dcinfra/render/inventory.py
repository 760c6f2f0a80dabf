"""The Ansible inventory: ``inventory/hosts.yml``, ``group_vars/all.yml`` and one ``host_vars`` file per
host, all plain YAML data taken from the Plan (roles read these and never recompute topology).

Variables are role-prefixed (``dcinfra_*``). Groups: one per role (``ceph-mon`` -> ``ceph_mon``), per
pool (``pool_<name>``) and per rack (``rack_<name>``), with ``-`` turned into ``_`` because Ansible
group names must be valid identifiers.
"""

from __future__ import annotations

from typing import Any

# No stubs ship with PyYAML (types-PyYAML is not a dependency yet); the second code keeps this line
# valid once the stubs are installed.
import yaml

from dcinfra.plan.types import HostPlan, Plan, to_jsonable
from dcinfra.render.engine import managed_by

# Always present, even when empty, so playbooks can target them on every stack without warnings.
STANDARD_GROUPS = (
    "compute",
    "storage",
    "service",
    "ceph_mon",
    "ceph_mgr",
    "ceph_osd",
    "ceph_mds",
    "ceph_client",
    "hdfs_namenode",
    "hdfs_datanode",
    "slurm_controller",
    "slurm_compute",
    "slurm_dbd",
    # Empty in the inventory: the ceph role adds the hosts whose ceph.conf differs from the rendered one
    # at run time (group_by), and the serial roll-out play of storage.yml targets only them.
    "ceph_conf_rollout",
)

# libyaml's emitter is ~10x faster than the pure-Python one, which matters at 2,048 host_vars files;
# both emit the same text for the plain data written here.
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def group_name(name: str) -> str:
    """An Ansible-safe group name: ``-`` and ``.`` become ``_``."""
    return name.replace("-", "_").replace(".", "_")


def dump_yaml(data: Any, stack: str) -> bytes:
    """YAML text with the managed-by header, sorted keys and block style (yamllint-clean)."""
    body: str = yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=True,
        default_flow_style=False,
        explicit_start=True,
        allow_unicode=True,
        width=1 << 16,  # never fold long values: a folded CIDR list is harder to review
    )
    return (managed_by(stack) + "\n" + body).encode()


def _groups(plan: Plan) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {g: [] for g in STANDARD_GROUPS}
    # Rook runs the Ceph daemons: the ceph_* groups (what the host plays deploy) stay empty.
    rook = plan.ceph is not None and plan.ceph.deployed_by == "rook"
    for host in plan.hosts:
        names = [group_name(r) for r in host.roles if not (rook and r.startswith("ceph-"))]
        names.append("pool_" + group_name(host.pool))
        names.append("rack_" + group_name(host.rack))
        for g in names:
            groups.setdefault(g, []).append(host.name)
    return groups


def hosts_yml(plan: Plan) -> bytes:
    """``inventory/hosts.yml``: every host in ``all`` with its management address, and the groups."""
    groups = _groups(plan)
    data = {
        "all": {
            "hosts": {h.name: {"ansible_host": h.addresses["management"]} for h in plan.hosts},
            "children": {g: {"hosts": dict.fromkeys(members)} for g, members in groups.items()},
        }
    }
    return dump_yaml(data, plan.stack)


def _ceph_summary(plan: Plan) -> dict[str, Any] | None:
    if plan.ceph is None:
        return None
    data: dict[str, Any] = to_jsonable(plan.ceph)
    # Per-host OSDs go to host_vars; the CRUSH tree stays in plan.json (roles do not need it).
    del data["osds"]
    del data["crush"]
    data["osd_count"] = len(plan.ceph.osds)
    data["conf_path"] = f"/etc/ceph/{plan.ceph.name}.conf"
    return data


def all_yml(plan: Plan) -> bytes:
    """``inventory/group_vars/all.yml``: stack-wide variables."""
    sec = plan.security
    data: dict[str, Any] = {
        "ansible_user": plan.ssh_user,
        # A site whose hosts have a known Python says so (the lab: its image's Debian Python, where
        # interpreter discovery could pick a controller-side pyenv shim that does not work over SSH).
        **(
            {"ansible_python_interpreter": plan.site.python_interpreter}
            if plan.site.python_interpreter
            else {}
        ),
        **({"ansible_port": plan.site.ssh_port} if plan.site.ssh_port != 22 else {}),
        "dcinfra_stack": plan.stack,
        # What the site's hosts can do; roles branch on these, never on the site's kind. The
        # provider's own settings stay out.
        "dcinfra_site": {k: v for k, v in to_jsonable(plan.site).items() if k != "settings"},
        "dcinfra_versions": dict(plan.versions),
        "dcinfra_networks": {n.name: to_jsonable(n) for n in plan.networks},
        "dcinfra_ssh": {
            "user": plan.ssh_user,
            "sources": list(sec.ssh_sources),
            "keys_only": sec.ssh_keys_only,
            "permit_root_login": sec.ssh_permit_root_login,
            "max_auth_tries": sec.ssh_max_auth_tries,
        },
        "dcinfra_firewall_default": sec.default,
        "dcinfra_fabric": to_jsonable(plan.fabric),
        "dcinfra_ceph": _ceph_summary(plan),
        "dcinfra_hdfs": to_jsonable(plan.hdfs),
        "dcinfra_verify": to_jsonable(plan.verify),
        "dcinfra_slurm": to_jsonable(plan.slurm),
    }
    return dump_yaml(data, plan.stack)


def host_vars(plan: Plan, host: HostPlan, osds: list[dict[str, Any]]) -> bytes:
    """``inventory/host_vars/<host>.yml``: this host's plan."""
    data: dict[str, Any] = {
        "dcinfra_hostname": host.name,
        "dcinfra_pool": host.pool,
        "dcinfra_index": host.index,
        "dcinfra_roles": list(host.roles),
        "dcinfra_rack": host.rack,
        "dcinfra_su": host.su,
        "dcinfra_addresses": dict(host.addresses),
        "dcinfra_interfaces": dict(host.interfaces),
        "dcinfra_rails": [to_jsonable(r) for r in host.rails],
        "dcinfra_gpu": host.gpu,
        "dcinfra_gpu_count": host.gpu_count,
        "dcinfra_cpu_cores": host.cpu_cores,
        "dcinfra_memory_gb": host.memory_gb,
        "dcinfra_power_kw": host.power_kw,
        "dcinfra_tenant": host.tenant,
        "dcinfra_bmc_address": host.bmc_address,
        "dcinfra_cooling": host.cooling,
        "dcinfra_nccl_env": dict(host.nccl_env),
        "dcinfra_firewall": host.firewall,
        "dcinfra_ceph_osds": osds,
    }
    return dump_yaml(data, plan.stack)


def render_inventory(plan: Plan) -> dict[str, bytes]:
    """Every inventory file, keyed by its path in the build dir."""
    osds: dict[str, list[dict[str, Any]]] = {}
    if plan.ceph is not None:
        for osd in plan.ceph.osds:
            osds.setdefault(osd.host, []).append({"id": osd.id, "device": osd.device})
    files = {
        "inventory/hosts.yml": hosts_yml(plan),
        "inventory/group_vars/all.yml": all_yml(plan),
    }
    for host in plan.hosts:
        files[f"inventory/host_vars/{host.name}.yml"] = host_vars(plan, host, osds.get(host.name, []))
    return files
