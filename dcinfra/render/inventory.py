"""The Ansible inventory: ``inventory/hosts.yml``, ``group_vars/all.yml`` and one ``host_vars`` file per
host, all plain YAML data taken from the Plan (roles read these and never recompute topology).

Values are data, never expressions: every string value is written with Ansible's ``!unsafe`` tag, so
Ansible never templates it, whatever a stack put in it (a ``{{ lookup('pipe', ...) }}`` arrives on the
host as those characters). Roles still build strings from these values (``"{{ dcinfra_x }}/y"``): the
result stays data. Strings that YAML would read as another type when plain (``'1.31'``, ``'yes'``) are
written quoted and untagged instead: ansible-core 2.19 re-resolves a tagged scalar as if it were plain
(``!unsafe '1.31'`` loads as a float), and such strings hold no template syntax anyway. Keys (variable,
host, group and network names) are not tagged: Ansible does not template keys.

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
from dcinfra.render.gpu_stack import gpu_stack

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
    "hdfs_secondary",
    "slurm_controller",
    "slurm_compute",
    "slurm_dbd",
    # Empty in the inventory: the ceph role adds the hosts whose ceph.conf differs from the rendered one
    # at run time (group_by), and the serial roll-out play of storage.yml targets only them.
    "ceph_conf_rollout",
    # Empty in the inventory too: the Slurm compute hosts whose slurmd must restart (or that a rollout
    # left drained), added by the slurm role at run time; the rolling play of slurm.yml targets them.
    "slurm_rollout",
    # Empty too: the Slurm compute hosts whose GPU driver would change (site.yml), prepared in batches.
    "nvidia_driver_rollout",
)

# libyaml's emitter is ~10x faster than the pure-Python one, which matters at 2,048 host_vars files;
# both emit the same text for the plain data written here.
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def group_name(name: str) -> str:
    """An Ansible-safe group name: ``-`` and ``.`` become ``_``."""
    return name.replace("-", "_").replace(".", "_")


_STR = "tag:yaml.org,2002:str"


class _Unsafe(str):
    """A string value to write as ``!unsafe`` (data Ansible must never template)."""

    __slots__ = ()


class _InventoryDumper(_Dumper):  # type: ignore[misc]
    """The dumper with ``!unsafe`` string values."""


def _represent_unsafe(dumper: Any, value: _Unsafe) -> Any:
    text = str(value)
    if dumper.resolve(yaml.ScalarNode, text, (True, False)) == _STR:
        return dumper.represent_scalar("!unsafe", text)
    return dumper.represent_str(text)  # '1.31', 'yes', '': quoted, and never a template


_InventoryDumper.add_representer(_Unsafe, _represent_unsafe)


def unsafe_values(data: Any) -> Any:
    """``data`` with every string value (not key) marked to be written as ``!unsafe``."""
    if isinstance(data, str):
        return _Unsafe(data)
    if isinstance(data, dict):
        return {k: unsafe_values(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [unsafe_values(v) for v in data]
    return data


class _InventoryLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A safe loader that reads ``!unsafe`` values as the plain data they are."""


def _construct_unsafe(loader: Any, node: Any) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


_InventoryLoader.add_constructor("!unsafe", _construct_unsafe)


def load_yaml(text: str | bytes) -> Any:
    """An inventory file read back as plain data (``!unsafe`` strings as ``str``): for tools and tests
    that read what :func:`dump_yaml` wrote without Ansible."""
    return yaml.load(text, Loader=_InventoryLoader)


def dump_yaml(data: Any, stack: str) -> bytes:
    """YAML text with the managed-by header, sorted keys and block style (yamllint-clean), every string
    value tagged ``!unsafe``."""
    body: str = yaml.dump(
        unsafe_values(data),
        Dumper=_InventoryDumper,
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


def group_names(plan: Plan) -> set[str]:
    """The inventory's group names (``all`` included): what ``--limit`` may name besides hosts."""
    return {"all", *_groups(plan)}


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
        # Batches, failure tolerance and drain of the plays that restart slurmd or change the driver.
        # Those plays read it through vars_files too: play keywords (serial) see no inventory vars.
        "dcinfra_rollout": to_jsonable(plan.rollout),
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
    # GPU hosts only (NVSwitch, NVLSM: what the nvidia_driver role installs); absent elsewhere.
    gpu = gpu_stack(host)
    if gpu is not None:
        data["dcinfra_gpu_stack"] = gpu
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
