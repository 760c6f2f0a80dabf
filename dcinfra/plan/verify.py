"""The verify layer's plan: what the smoke benchmark runs, its thresholds, and the flows it needs.

Expected values come from the fabric plan (catalog line rates times cited efficiency factors) and the
catalog's GPU peaks; the benchmark's rendezvous, iperf3 link baseline and collectives are flows in the
registry (:mod:`dcinfra.plan.flows`), so a policy that would block them is a validation problem.
"""

from __future__ import annotations

from collections.abc import Sequence

from dcinfra.catalog import GPUS
from dcinfra.model.stack import Stack
from dcinfra.plan.flows import Need
from dcinfra.plan.hosts import Draft, pool_owners
from dcinfra.plan.types import CephPlan, FabricPlan, HostPlan, StorageVerifyPlan, VerifyPlan

# A CPU core's FP32 peak for the GEMM check on CPU-only nodes: 2 FMA units x 8 FP32 lanes (AVX2)
# x 2 FLOP x ~2.0 GHz = 64 GFLOPS. Source: Intel 64 and IA-32 Optimization Reference Manual, FMA
# throughput, https://www.intel.com/content/www/us/en/developer/articles/technical/intel-sdm.html
CPU_FP32_TFLOPS_PER_CORE = 0.064

IPERF3_PORT = "5201"  # iperf3's default server port (the verify stage's link baseline)


def bench_groups(stack: Stack, drafts: Sequence[Draft]) -> list[tuple[str | None, frozenset[str]]]:
    """The compute hosts the benchmark's traffic runs between, as (tenant, hosts) groups: one group of
    every compute host, or with ``security.tenant_isolation`` one group per tenant (hosts of no tenant
    form their own group), since isolation drops traffic between tenants."""
    compute = [d for d in drafts if "compute" in d.roles]
    if not stack.security.tenant_isolation:
        return [(None, frozenset(d.name for d in compute))]
    owner = pool_owners(stack)
    groups: dict[str | None, set[str]] = {}
    for d in compute:
        groups.setdefault(owner.get(d.pool.name), set()).add(d.name)
    # In plan order of each group's first host; the benchmark's own group (plan_verify) is the first.
    return [(t, frozenset(hosts)) for t, hosts in groups.items()]


def flows(stack: Stack, drafts: Sequence[Draft]) -> list[Need]:
    """Between compute hosts: the benchmark's rendezvous, the iperf3 link baseline and the collectives.

    None when verify is disabled (``VerifySettings(enabled=False)``: ``up`` runs no benchmark). With
    tenant isolation, within each tenant only (``bench-rendezvous-<tenant>``, ...): the benchmark's
    traffic never needs to cross tenants."""
    if not stack.verify.enabled:
        return []
    net = "compute" if stack.fabric.compute is not None else "management"
    port = str(stack.verify.rendezvous_port)
    out: list[Need] = []
    for tenant, hosts in bench_groups(stack, drafts):
        if len(hosts) < 2:
            continue
        suffix = f"-{tenant}" if tenant else ""
        desc = f"compute of tenant {tenant}" if tenant else "compute"
        # NCCL's socket transport and gloo connect on ephemeral ports chosen at run time: all ports.
        for name, ports in (
            ("bench-rendezvous", (port,)),
            ("bench-link", (IPERF3_PORT,)),
            ("bench-collectives", ()),
        ):
            out.append(Need(name + suffix, hosts, hosts, "tcp", ports, net, desc, desc, scope="workload"))
    return out


def plan_verify(
    stack: Stack, hosts: tuple[HostPlan, ...], fabric: FabricPlan | None, ceph: CephPlan | None
) -> VerifyPlan | None:
    """What the verify stage runs on the compute hosts and the thresholds it gates on (None without
    compute hosts): backend, rank order, rendezvous, sweep sizes, expected busbw and link bandwidth
    from the fabric's expected figures, the GEMM peak, and the storage checks."""
    every = [h for h in hosts if "compute" in h.roles]
    if not every:
        return None
    # With tenant isolation the benchmark's traffic may not cross tenants, and the verify stage runs one
    # torchrun group: it runs on the compute hosts of the first compute host's tenant (the first group
    # of bench_groups) and the plan names the hosts it leaves out.
    tenant: str | None = None
    compute = every
    if stack.security.tenant_isolation:
        tenant = every[0].tenant
        compute = [h for h in every if h.tenant == tenant]
    v = stack.verify
    gpu_nodes = all(h.gpu for h in compute)
    first = compute[0]
    if gpu_nodes and first.gpu:
        peak = GPUS[first.gpu].bf16_dense_tflops
    else:
        peak = round(first.cpu_cores * CPU_FP32_TFLOPS_PER_CORE, 3)
    expected = fabric.expected if fabric is not None else None
    busbw = None
    if expected is not None:
        busbw = expected.inter_node_busbw_GBps if len(compute) > 1 else expected.intra_node_busbw_GBps
    return VerifyPlan(
        enabled=v.enabled,
        backend="nccl" if gpu_nodes else "gloo",
        hosts=tuple(h.name for h in compute),
        master=first.name,
        master_address=first.addresses.get("compute", first.addresses["management"]),
        rendezvous_port=v.rendezvous_port,
        max_message_bytes=v.max_message_mb * 1024 * 1024,
        warmup_iters=v.warmup_iters,
        iters=v.iters,
        training_steps=v.training_steps,
        timeout_s=v.timeout_s,
        expected_busbw_GBps=busbw,
        expected_link_GBps=expected.link_GBps if expected else None,
        gemm_peak_tflops=peak,
        min_busbw_fraction=v.min_busbw_fraction,
        storage=plan_verify_storage(stack, ceph, [h.name for h in every]),
        tenant=tenant,
        unverified=tuple(h.name for h in every if h not in compute),
    )


def plan_verify_storage(stack: Stack, ceph: CephPlan | None, compute: list[str]) -> StorageVerifyPlan | None:
    """What the verify stage measures on the Ceph cluster (None without one, or when Rook runs it).

    The probe (``ceph status``, ``rados bench``) runs as the compute hosts' client on the first compute
    host that has its key, on the first pool that key may write: an RBD pool, else the CephFS data
    pool. Only when no host has the client key, or its caps cover no pool, does it run as client.admin
    on the first monitor. Each compute host that mounts the CephFS writes one file there and reads back
    the file of the next one (a ring), so no host reads what it wrote itself (its own cache).
    """
    if ceph is None or ceph.deployed_by != "hosts":
        return None  # Rook's cluster: the hosts hold no key to probe it with
    v = stack.verify
    client_pools = [p.name for p in ceph.pools if p.application == "rbd"]
    if ceph.cephfs_data_pool is not None:
        client_pools.append(ceph.cephfs_data_pool)
    has_key = set(ceph.clients)  # a set: membership in the tuple was quadratic in hosts
    clients = [h for h in compute if h in has_key] or list(ceph.clients)
    pool: str | None
    if clients and client_pools:
        probe, admin, pool = clients[0], False, client_pools[0]
    else:
        probe, admin, pool = ceph.mons[0], True, ceph.pools[0].name if ceph.pools else None
    mount = ceph.cephfs_mount if ceph.cephfs_name is not None else None
    fs_hosts = tuple(h for h in compute if h in has_key) if mount else ()
    return StorageVerifyPlan(
        cluster=ceph.name,
        probe_host=probe,
        probe_admin=admin,
        bench_pool=pool,
        bench_s=v.storage_bench_s,
        cephfs_mount=mount if fs_hosts else None,
        cephfs_hosts=fs_hosts,
        cephfs_read_from={h: fs_hosts[(i + 1) % len(fs_hosts)] for i, h in enumerate(fs_hosts)},
        file_bytes=v.storage_file_mib * 1024 * 1024,
        timeout_s=v.timeout_s,
    )
