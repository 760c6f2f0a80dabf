"""PlatformPlan -> Kubernetes objects: plain manifests and Helm charts, deterministic and sorted.

:func:`build_objects` makes no decisions of its own (they are in :mod:`dcinfra.platform.plan`); it
writes the records as the APIs spell them. Every object carries the standard labels
(``app.kubernetes.io/name``, ``component``, ``part-of``, ``managed-by``) and ``dcinfra.io/stack``,
the keys of the objects it must follow (``depends_on``: a custom resource after the chart that installs
its CRD, a namespaced object after its namespace) and whether it bears data (``protect`` in Pulumi).

The same tuple feeds the Pulumi program (:mod:`dcinfra.platform.program`) and the GitOps render
(:mod:`dcinfra.platform.gitops`), so both deploy exactly the same objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dcinfra.platform import charts
from dcinfra.platform.plan import (
    IPAM_BLOCK_PER_NODE,
    NS_CEPH_CSI_CEPHFS,
    NS_CEPH_CSI_RBD,
    NS_GPU_OPERATOR,
    NS_KUEUE,
    NS_NETWORK_OPERATOR,
    NS_ROOK,
    NS_VERIFY,
    POOL_LABEL,
    RDMA_HCA_MAX,
    RDMA_RESOURCE,
    BenchPlan,
    KueuePlan,
    NamespacePlan,
    PlatformPlan,
    PolicyRule,
)

PART_OF = "dcinfra-platform"
MANAGED_BY = "dcinfra"
STACK_LABEL = "dcinfra.io/stack"
BENCH_NAME = "dcinfra-bench"
# The verify stage's bench entry point, run by torchrun in each pod (see dcinfra/verify/bench).
BENCH_MODULE = "dcinfra.verify.bench"
RESULTS = "/results"  # where rank 0 writes bench.json (the pod's log has the run too)
LOCAL_QUEUE = "default"  # one LocalQueue per namespace; jobs set kueue.x-k8s.io/queue-name: default


@dataclass(frozen=True, slots=True)
class K8sObject:
    """One Kubernetes object."""

    manifest: dict[str, Any]  # apiVersion, kind, metadata, spec/data/...
    depends_on: tuple[str, ...]  # keys of objects that must exist first
    data_bearing: bool  # deleting or replacing it can lose data: Pulumi protects it
    # A patch of an object dcinfra does not own (a Node's pool label): Pulumi applies only these fields
    # (server-side apply) and removes only them on destroy; the object must exist. Not GitOps output.
    patch: bool = False

    @property
    def kind(self) -> str:
        """The object's kind."""
        return str(self.manifest["kind"])

    @property
    def name(self) -> str:
        """metadata.name."""
        return str(self.manifest["metadata"]["name"])

    @property
    def namespace(self) -> str | None:
        """metadata.namespace; None for cluster-scoped objects."""
        ns = self.manifest["metadata"].get("namespace")
        return None if ns is None else str(ns)

    @property
    def key(self) -> str:
        """``Kind/namespace/name`` (``_`` for cluster-scoped): unique in one platform."""
        return f"{self.kind}/{self.namespace or '_'}/{self.name}"


@dataclass(frozen=True, slots=True)
class HelmChart:
    """One Helm chart installed as a release."""

    name: str  # release name
    namespace: str
    chart: str  # chart name
    repo: str  # https:// repository or oci:// registry path
    version: str
    values: dict[str, Any]
    labels: dict[str, str]  # the standard labels (on the Application / HelmRelease object)
    depends_on: tuple[str, ...]
    data_bearing: bool

    @property
    def key(self) -> str:
        """``HelmChart/namespace/name``."""
        return f"HelmChart/{self.namespace}/{self.name}"

    @property
    def oci(self) -> bool:
        """Whether the chart comes from an OCI registry."""
        return self.repo.startswith("oci://")


Item = K8sObject | HelmChart


def labels(pp: PlatformPlan, name: str, component: str) -> dict[str, str]:
    """The standard labels of one object."""
    return {
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": PART_OF,
        STACK_LABEL: pp.stack,
    }


def _meta(
    pp: PlatformPlan,
    name: str,
    component: str,
    namespace: str | None = None,
    *,
    app: str | None = None,
    extra_labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "labels": {**labels(pp, app or name, component), **(extra_labels or {})},
    }
    if namespace is not None:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def _ns_key(ns: str) -> str:
    return f"Namespace/_/{ns}"


def build_objects(pp: PlatformPlan) -> tuple[Item, ...]:
    """Every object of the platform, sorted by dependency depth, then key."""
    items: list[Item] = []
    items += _node_labels(pp)
    items += _namespaces(pp)
    items += _policies(pp)
    items += _priorities(pp)
    items += _gpu_operator(pp)
    items += _network(pp)
    items += _ceph_csi(pp)
    items += _rook(pp)
    items += _kueue(pp)
    items += _bench(pp)
    return order(items)


def _node_labels(pp: PlatformPlan) -> list[Item]:
    """The pool label of each compute host's Node, which the Kueue flavors and IP pools select on."""
    return [
        K8sObject(
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node, "labels": {POOL_LABEL: pool}}},
            (),
            False,
            patch=True,
        )
        for node, pool in pp.node_pools
    ]


def order(items: Iterable[Item]) -> tuple[Item, ...]:
    """Items sorted by dependency depth (:func:`waves`), then key; unknown dependencies are dropped."""
    items = list(items)
    keys = {i.key for i in items}
    if len(keys) != len(items):
        dup = sorted(k for k in keys if sum(1 for i in items if i.key == k) > 1)
        raise ValueError(f"duplicate platform objects: {dup}")
    wave = waves(items)
    return tuple(sorted(items, key=lambda i: (wave[i.key], i.key)))


def waves(items: Iterable[Item]) -> dict[str, int]:
    """Dependency depth of each item: 0 without dependencies, else 1 + the deepest dependency."""
    by_key = {i.key: i for i in items}
    memo: dict[str, int] = {}

    def depth(key: str, stack: tuple[str, ...]) -> int:
        if key in memo:
            return memo[key]
        if key in stack:
            raise ValueError(f"dependency cycle: {' -> '.join((*stack, key))}")
        deps = [d for d in by_key[key].depends_on if d in by_key]
        memo[key] = 1 + max((depth(d, (*stack, key)) for d in deps), default=-1)
        return memo[key]

    return {k: depth(k, ()) for k in sorted(by_key)}


# --- namespaces and policies ----------------------------------------------------------------------------


def _pss_labels(ns: NamespacePlan, version: str) -> dict[str, str]:
    v = f"v{version}"
    return {
        "pod-security.kubernetes.io/audit": ns.warn,
        "pod-security.kubernetes.io/audit-version": v,
        "pod-security.kubernetes.io/enforce": ns.enforce,
        "pod-security.kubernetes.io/enforce-version": v,
        "pod-security.kubernetes.io/warn": ns.warn,
        "pod-security.kubernetes.io/warn-version": v,
    }


def _namespaces(pp: PlatformPlan) -> list[Item]:
    return [
        K8sObject(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": _meta(
                    pp,
                    ns.name,
                    "namespace",
                    extra_labels=_pss_labels(ns, pp.kubernetes_version),
                    annotations={"dcinfra.io/pod-security-reason": ns.reason},
                ),
            },
            (),
            ns.data_bearing,
        )
        for ns in pp.namespaces
    ]


def _port_entries(rule: PolicyRule) -> list[dict[str, Any]]:
    protocols = ["TCP", "UDP"] if rule.protocol == "any" else [rule.protocol.upper()]
    if not rule.ports:
        return [] if rule.protocol == "any" else [{"protocol": p} for p in protocols]
    out: list[dict[str, Any]] = []
    for proto in protocols:
        for port in rule.ports:
            first, _, last = port.partition("-")
            entry: dict[str, Any] = {"port": int(first), "protocol": proto}
            if last:
                entry["endPort"] = int(last)
            out.append(entry)
    return out


def _peer_entries(rule: PolicyRule) -> list[dict[str, Any]]:
    if rule.same_namespace:
        return [{"podSelector": {}}]
    if rule.dns:
        return [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ]
    out = []
    for p in rule.peers:
        block: dict[str, Any] = {"cidr": p.cidr}
        if p.excepts:
            block["except"] = list(p.excepts)
        out.append({"ipBlock": block})
    return out


def _policies(pp: PlatformPlan) -> list[Item]:
    out: list[Item] = []
    for ns in pp.workload_namespaces:
        deps = (_ns_key(ns),)
        out.append(
            K8sObject(
                {
                    "apiVersion": "networking.k8s.io/v1",
                    "kind": "NetworkPolicy",
                    "metadata": _meta(pp, "default-deny", "network-policy", ns),
                    "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
                },
                deps,
                False,
            )
        )
        for rule in pp.policies:
            section: dict[str, Any] = {}
            peers = _peer_entries(rule)
            if peers:
                section["from" if rule.direction == "ingress" else "to"] = peers
            ports = _port_entries(rule)
            if ports:
                section["ports"] = ports
            out.append(
                K8sObject(
                    {
                        "apiVersion": "networking.k8s.io/v1",
                        "kind": "NetworkPolicy",
                        "metadata": _meta(
                            pp,
                            rule.name,
                            "network-policy",
                            ns,
                            annotations={"dcinfra.io/source": rule.source},
                        ),
                        "spec": {
                            "podSelector": {},
                            "policyTypes": [rule.direction.capitalize()],
                            rule.direction: [section],
                        },
                    },
                    deps,
                    False,
                )
            )
    return out


def _priorities(pp: PlatformPlan) -> list[Item]:
    return [
        K8sObject(
            {
                "apiVersion": "scheduling.k8s.io/v1",
                "kind": "PriorityClass",
                "metadata": _meta(pp, p.name, "priority"),
                "value": p.value,
                "globalDefault": False,
                "preemptionPolicy": "PreemptLowerPriority" if p.preempts else "Never",
                "description": p.description,
            },
            (),
            False,
        )
        for p in pp.priorities
    ]


# --- operators ------------------------------------------------------------------------------------------


def _chart(
    pp: PlatformPlan,
    source: charts.ChartSource,
    namespace: str,
    version: str,
    values: dict[str, Any],
    component: str,
    *,
    depends_on: tuple[str, ...] = (),
    data_bearing: bool = False,
) -> HelmChart:
    return HelmChart(
        name=source.chart,
        namespace=namespace,
        chart=source.chart,
        repo=source.repo,
        version=version,
        values=values,
        labels=labels(pp, source.chart, component),
        depends_on=(_ns_key(namespace), *depends_on),
        data_bearing=data_bearing,
    )


def _gpu_operator(pp: PlatformPlan) -> list[Item]:
    g = pp.gpu_operator
    if g is None:
        return []
    toolkit: dict[str, Any] = {"enabled": True}
    if g.toolkit_version is not None:
        toolkit["version"] = g.toolkit_version
    values: dict[str, Any] = {
        # dcinfra's nvidia_driver role installs and holds the host driver (and nvidia-peermem for
        # GPUDirect RDMA): the operator must not install a second one.
        "driver": {"enabled": g.driver_enabled},
        "toolkit": toolkit,
        "nfd": {"enabled": True},
        "dcgmExporter": {"enabled": True},
    }
    return [_chart(pp, charts.GPU_OPERATOR, NS_GPU_OPERATOR, g.version, values, "gpu")]


def _network(pp: PlatformPlan) -> list[Item]:
    n = pp.network
    if n is None:
        return []
    chart = _chart(
        pp, charts.NETWORK_OPERATOR, NS_NETWORK_OPERATOR, n.version, {"nfd": {"enabled": n.nfd}}, "network"
    )
    tag = f"network-operator-v{n.version}"
    repo = charts.NETWORK_OPERATOR_REPOSITORY
    spec: dict[str, Any] = {
        "nvIpam": {"image": "nvidia-k8s-ipam", "repository": repo, "version": tag, "enableWebhook": False},
        "secondaryNetwork": {
            "cniPlugins": {"image": "plugins", "repository": repo, "version": tag},
            "multus": {"image": "multus-cni", "repository": repo, "version": tag},
        },
    }
    if n.fabric == "infiniband":
        spec["secondaryNetwork"]["ipoib"] = {"image": "ipoib-cni", "repository": repo, "version": tag}
    if n.rdma:
        config = {
            "configList": [
                {
                    "resourceName": RDMA_RESOURCE.split("/", 1)[1],
                    "rdmaHcaMax": RDMA_HCA_MAX,
                    "selectors": {"ifNames": [r.master for r in n.rails]},
                }
            ]
        }
        spec["rdmaSharedDevicePlugin"] = {
            "image": "k8s-rdma-shared-dev-plugin",
            "repository": repo,
            "version": tag,
            "config": json.dumps(config, sort_keys=True),
        }
    policy = K8sObject(
        {
            "apiVersion": "mellanox.com/v1alpha1",
            "kind": "NicClusterPolicy",
            "metadata": _meta(pp, "nic-cluster-policy", "network"),
            "spec": spec,
        },
        (chart.key,),
        False,
    )
    out: list[Item] = [chart, policy]
    node_selector = {
        "nodeSelectorTerms": [
            {"matchExpressions": [{"key": POOL_LABEL, "operator": "In", "values": list(n.pools)}]}
        ]
    }
    for r in n.rails:
        pool = K8sObject(
            {
                "apiVersion": "nv-ipam.nvidia.com/v1alpha1",
                "kind": "IPPool",
                "metadata": _meta(pp, r.name, "network", NS_NETWORK_OPERATOR),
                "spec": {
                    "subnet": r.subnet,
                    "perNodeBlockSize": IPAM_BLOCK_PER_NODE,
                    "exclusions": [{"startIP": a, "endIP": b} for a, b in r.exclusions],
                    "nodeSelector": node_selector,
                },
            },
            (_ns_key(NS_NETWORK_OPERATOR), policy.key),
            False,
        )
        cni: dict[str, Any] = {
            "cniVersion": "0.3.1",
            "name": r.name,
            "type": r.cni,
            "master": r.master,
            "ipam": {"type": "nv-ipam", "poolName": r.name},
        }
        if r.cni == "macvlan":
            cni["mode"] = "bridge"
            cni["mtu"] = r.mtu
        annotations = {"k8s.v1.cni.cncf.io/resourceName": RDMA_RESOURCE} if n.rdma else {}
        nad = K8sObject(
            {
                "apiVersion": "k8s.cni.cncf.io/v1",
                "kind": "NetworkAttachmentDefinition",
                # In "default": Multus resolves "default/<name>" from every namespace, even with
                # namespace isolation on.
                "metadata": _meta(pp, r.name, "network", "default", annotations=annotations),
                "spec": {"config": json.dumps(cni, sort_keys=True)},
            },
            (chart.key, pool.key),
            False,
        )
        out += [pool, nad]
    return out


def _ceph_csi(pp: PlatformPlan) -> list[Item]:
    c = pp.ceph_csi
    if c is None:
        return []
    out: list[Item] = []
    cluster = {"clusterID": c.cluster_id, "monitors": list(c.monitors)}
    if c.rbd_pool is not None:
        chart = _chart(
            pp,
            charts.CEPH_CSI_RBD,
            NS_CEPH_CSI_RBD,
            c.version,
            # Classes and the key Secret are managed here and outside dcinfra, never by the chart.
            {"csiConfig": [cluster], "secret": {"create": False}, "storageClass": {"create": False}},
            "storage",
            data_bearing=True,
        )
        out.append(chart)
        out.append(
            _storage_class(
                pp,
                "ceph-rbd",
                "rbd.csi.ceph.com",
                {
                    "clusterID": c.cluster_id,
                    "pool": c.rbd_pool,
                    "imageFeatures": "layering",
                    "csi.storage.k8s.io/fstype": "ext4",
                    **_secret_params(c.rbd_secret, NS_CEPH_CSI_RBD),
                },
                (chart.key,),
            )
        )
    if c.cephfs is not None:
        chart = _chart(
            pp,
            charts.CEPH_CSI_CEPHFS,
            NS_CEPH_CSI_CEPHFS,
            c.version,
            {
                "csiConfig": [{**cluster, "cephFS": {"subvolumeGroup": "csi"}}],
                "secret": {"create": False},
                "storageClass": {"create": False},
            },
            "storage",
            data_bearing=True,
        )
        out.append(chart)
        out.append(
            _storage_class(
                pp,
                "ceph-cephfs",
                "cephfs.csi.ceph.com",
                {
                    "clusterID": c.cluster_id,
                    "fsName": c.cephfs,
                    **_secret_params(c.cephfs_secret, NS_CEPH_CSI_CEPHFS),
                },
                (chart.key,),
            )
        )
    return out


def _secret_params(name: str, namespace: str, node: str | None = None) -> dict[str, str]:
    """The CSI secret parameters of a StorageClass: Secrets by name only, never their contents."""
    out = {}
    for role in ("provisioner", "controller-expand", "node-stage"):
        secret = node if (node is not None and role == "node-stage") else name
        out[f"csi.storage.k8s.io/{role}-secret-name"] = secret
        out[f"csi.storage.k8s.io/{role}-secret-namespace"] = namespace
    return out


def _storage_class(
    pp: PlatformPlan, name: str, provisioner: str, parameters: dict[str, str], deps: tuple[str, ...]
) -> K8sObject:
    return K8sObject(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": _meta(pp, name, "storage"),
            "provisioner": provisioner,
            "parameters": dict(sorted(parameters.items())),
            # Retain: deleting a claim (or its namespace) never deletes the RBD image or subvolume.
            "reclaimPolicy": "Retain",
            "allowVolumeExpansion": True,
            "volumeBindingMode": "Immediate",
        },
        deps,
        True,
    )


def _rook(pp: PlatformPlan) -> list[Item]:
    r = pp.rook
    if r is None:
        return []
    chart = _chart(
        pp, charts.ROOK, NS_ROOK, r.version, {"crds": {"enabled": True}}, "storage", data_bearing=True
    )
    cluster = K8sObject(
        {
            "apiVersion": "ceph.rook.io/v1",
            "kind": "CephCluster",
            "metadata": _meta(pp, "ceph", "storage", NS_ROOK),
            "spec": {
                "cephVersion": {"image": r.image},
                "dataDirHostPath": "/var/lib/rook",
                "mon": {"count": r.mons, "allowMultiplePerNode": False},
                "mgr": {"count": 2},
                "dashboard": {"enabled": True},
                "storage": {
                    "useAllNodes": False,
                    "useAllDevices": False,
                    "nodes": [{"name": h, "devices": [{"name": d} for d in devs]} for h, devs in r.nodes],
                },
            },
        },
        (chart.key,),
        True,
    )
    out: list[Item] = [chart, cluster]
    secrets = {"provisioner": "rook-csi-{}-provisioner", "node": "rook-csi-{}-node"}
    if r.rbd_pool is not None:
        pool = K8sObject(
            {
                "apiVersion": "ceph.rook.io/v1",
                "kind": "CephBlockPool",
                "metadata": _meta(pp, r.rbd_pool, "storage", NS_ROOK),
                "spec": {"failureDomain": r.failure_domain, "replicated": {"size": r.replicas}},
            },
            (cluster.key,),
            True,
        )
        params = {
            "clusterID": NS_ROOK,
            "pool": r.rbd_pool,
            "imageFormat": "2",
            "imageFeatures": "layering",
            "csi.storage.k8s.io/fstype": "ext4",
            **_secret_params(secrets["provisioner"].format("rbd"), NS_ROOK, secrets["node"].format("rbd")),
        }
        out += [pool, _storage_class(pp, "ceph-rbd", f"{NS_ROOK}.rbd.csi.ceph.com", params, (pool.key,))]
    if r.cephfs is not None:
        fs = K8sObject(
            {
                "apiVersion": "ceph.rook.io/v1",
                "kind": "CephFilesystem",
                "metadata": _meta(pp, r.cephfs, "storage", NS_ROOK),
                "spec": {
                    "metadataPool": {"failureDomain": r.failure_domain, "replicated": {"size": r.replicas}},
                    "dataPools": [
                        {
                            "name": "data",
                            "failureDomain": r.failure_domain,
                            "replicated": {"size": r.replicas},
                        }
                    ],
                    "metadataServer": {"activeCount": 1, "activeStandby": True},
                },
            },
            (cluster.key,),
            True,
        )
        params = {
            "clusterID": NS_ROOK,
            "fsName": r.cephfs,
            "pool": f"{r.cephfs}-data",
            **_secret_params(
                secrets["provisioner"].format("cephfs"), NS_ROOK, secrets["node"].format("cephfs")
            ),
        }
        out += [fs, _storage_class(pp, "ceph-cephfs", f"{NS_ROOK}.cephfs.csi.ceph.com", params, (fs.key,))]
    return out


# --- Kueue ----------------------------------------------------------------------------------------------


def _quota(resource: str, q: Any) -> int | str:
    if resource == "cpu":
        return int(q.cpu)
    if resource == "memory":
        return f"{q.memory_gi}Gi"
    if resource == "nvidia.com/gpu":
        return int(q.gpus)
    return int(q.rdma)


def _cluster_queue(
    pp: PlatformPlan,
    k: KueuePlan,
    name: str,
    namespaces: tuple[str, ...],
    quotas: Mapping[str, Any] | None,
    borrowing_limit: int | None,
) -> K8sObject:
    flavors = []
    for f in k.flavors:
        q = quotas[f.name] if quotas is not None else None
        resources = []
        for res in k.resources:
            entry: dict[str, Any] = {"name": res, "nominalQuota": _quota(res, q) if q is not None else 0}
            if res == "nvidia.com/gpu" and borrowing_limit is not None:
                entry["borrowingLimit"] = borrowing_limit
            resources.append(entry)
        flavors.append({"name": f.name, "resources": resources})
    return K8sObject(
        {
            "apiVersion": "kueue.x-k8s.io/v1beta1",
            "kind": "ClusterQueue",
            "metadata": _meta(pp, name, "queue"),
            "spec": {
                "cohort": k.cohort,
                "namespaceSelector": {
                    "matchExpressions": [
                        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": list(namespaces)}
                    ]
                },
                "queueingStrategy": "BestEffortFIFO",
                "preemption": {
                    "reclaimWithinCohort": "Any",
                    "borrowWithinCohort": {"policy": "LowerPriority"},
                    "withinClusterQueue": "LowerPriority",
                },
                "resourceGroups": [{"coveredResources": list(k.resources), "flavors": flavors}],
            },
        },
        (f"HelmChart/{NS_KUEUE}/{charts.KUEUE.chart}", *(f"ResourceFlavor/_/{f.name}" for f in k.flavors)),
        False,
    )


def _local_queue(pp: PlatformPlan, ns: str, cluster_queue: str) -> K8sObject:
    return K8sObject(
        {
            "apiVersion": "kueue.x-k8s.io/v1beta1",
            "kind": "LocalQueue",
            "metadata": _meta(pp, LOCAL_QUEUE, "queue", ns),
            "spec": {"clusterQueue": cluster_queue},
        },
        (_ns_key(ns), f"ClusterQueue/_/{cluster_queue}"),
        False,
    )


def _kueue(pp: PlatformPlan) -> list[Item]:
    k = pp.kueue
    if k is None:
        return []
    chart = _chart(pp, charts.KUEUE, NS_KUEUE, k.version, {}, "queue")
    out: list[Item] = [chart]
    for f in k.flavors:
        out.append(
            K8sObject(
                {
                    "apiVersion": "kueue.x-k8s.io/v1beta1",
                    "kind": "ResourceFlavor",
                    "metadata": _meta(pp, f.name, "queue"),
                    "spec": {"nodeLabels": {POOL_LABEL: f.pool}},
                },
                (chart.key,),
                False,
            )
        )
    for q in k.queues:
        quotas = {fq.flavor: fq for fq in q.quotas}
        out.append(_cluster_queue(pp, k, q.name, q.namespaces, quotas, q.borrowing_limit))
        out += [_local_queue(pp, ns, q.name) for ns in q.namespaces]
    if pp.bench is not None:
        # The benchmark owns no quota: it borrows whatever the tenants leave idle (no borrowing limit).
        out.append(_cluster_queue(pp, k, NS_VERIFY, (NS_VERIFY,), None, None))
        out.append(_local_queue(pp, NS_VERIFY, NS_VERIFY))
    return out


# --- benchmark ------------------------------------------------------------------------------------------


def _bench(pp: PlatformPlan) -> list[Item]:
    b = pp.bench
    if b is None:
        return []
    app = {"app.kubernetes.io/name": BENCH_NAME}
    service = K8sObject(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(pp, BENCH_NAME, "benchmark", NS_VERIFY),
            "spec": {
                "clusterIP": "None",
                # Ranks resolve each other before they are ready: the rendezvous is what makes them ready.
                "publishNotReadyAddresses": True,
                "selector": app,
                "ports": [{"name": "rendezvous", "port": b.port, "protocol": "TCP"}],
            },
        },
        (_ns_key(NS_VERIFY),),
        False,
    )
    return [service, _bench_job(pp, b, service.key)]


def _bench_job(pp: PlatformPlan, b: BenchPlan, service_key: str) -> K8sObject:
    kueue = pp.kueue is not None
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(b.env.items())]
    # The plan's host name of the node the pod runs on (node names are the hostnames).
    env.append({"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}})
    limits: dict[str, Any] = {}
    if b.gpus_per_node:
        limits["nvidia.com/gpu"] = b.gpus_per_node
    if b.rdma:
        limits[RDMA_RESOURCE] = 1
    container: dict[str, Any] = {
        "name": "bench",
        "image": b.image,
        "command": ["python", "-m", "torch.distributed.run"],
        "args": [
            f"--nnodes={b.nodes}",
            f"--nproc-per-node={b.procs_per_node}",
            "--node-rank=$(JOB_COMPLETION_INDEX)",  # expanded by the kubelet from the Job's env
            f"--master-addr={BENCH_NAME}-0.{BENCH_NAME}",
            f"--master-port={b.port}",
            f"--rdzv-conf=timeout={b.timeout_s}",
            "--max-restarts=0",
            "--monitor-interval=1",
            "-m",
            BENCH_MODULE,
            # the same arguments the verify stage passes (dcinfra.verify.launch)
            "--phase=all",
            f"--out={RESULTS}/bench.json",
            "--node-name=$(NODE_NAME)",
            f"--backend={b.backend}",
            f"--timeout-s={b.timeout_s}",
            f"--max-bytes={b.max_message_bytes}",
            f"--warmup-iters={b.warmup_iters}",
            f"--iters={b.iters}",
            f"--train-steps={b.training_steps}",
            f"--peak-tflops={b.peak_tflops}",
        ],
        "env": env,
        "ports": [{"containerPort": b.port, "name": "rendezvous", "protocol": "TCP"}],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            # RDMA memory registration pins pages: IPC_LOCK, and nothing else.
            "capabilities": {"drop": ["ALL"], **({"add": ["IPC_LOCK"]} if b.rdma else {})},
        },
        "volumeMounts": [
            {"name": "dshm", "mountPath": "/dev/shm"},
            {"name": "results", "mountPath": RESULTS},
        ],
    }
    if limits:
        container["resources"] = {"limits": limits, "requests": dict(limits)}
    annotations = {}
    if b.rails:
        networks = [{"name": name, "namespace": "default", "interface": iface} for name, iface in b.rails]
        annotations["k8s.v1.cni.cncf.io/networks"] = json.dumps(networks, sort_keys=True)
    template_meta: dict[str, Any] = {"labels": labels(pp, BENCH_NAME, "benchmark")}
    if annotations:
        template_meta["annotations"] = annotations
    job_labels = {"kueue.x-k8s.io/queue-name": LOCAL_QUEUE} if kueue else {}
    deps = [_ns_key(NS_VERIFY), service_key, "PriorityClass/_/dcinfra-critical"]
    deps += [f"NetworkPolicy/{NS_VERIFY}/{r.name}" for r in pp.policies]
    deps.append(f"NetworkPolicy/{NS_VERIFY}/default-deny")
    deps += [f"NetworkAttachmentDefinition/default/{name}" for name, _ in b.rails]
    if kueue:
        deps.append(f"LocalQueue/{NS_VERIFY}/{LOCAL_QUEUE}")
    if pp.gpu_operator is not None and b.gpus_per_node:
        deps.append(f"HelmChart/{NS_GPU_OPERATOR}/{charts.GPU_OPERATOR.chart}")
    spec: dict[str, Any] = {
        "completionMode": "Indexed",
        "completions": b.nodes,
        "parallelism": b.nodes,
        "backoffLimit": 0,  # a failed rank fails the run: verify reports it, it does not retry
        "activeDeadlineSeconds": b.timeout_s,
        "template": {
            "metadata": template_meta,
            "spec": {
                "subdomain": BENCH_NAME,
                "restartPolicy": "Never",
                "priorityClassName": "dcinfra-critical",
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 1000,
                    "runAsGroup": 1000,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [container],
                "volumes": [
                    {"name": "dshm", "emptyDir": {"medium": "Memory"}},
                    {"name": "results", "emptyDir": {}},
                ],
            },
        },
    }
    if kueue:
        spec["suspend"] = True  # Kueue un-suspends it on admission
    return K8sObject(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": _meta(pp, BENCH_NAME, "benchmark", NS_VERIFY, extra_labels=job_labels),
            "spec": spec,
        },
        tuple(sorted(deps)),
        False,
    )
