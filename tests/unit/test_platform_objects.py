"""Platform objects from the plan: namespaces and Pod Security, NetworkPolicies compiled from the host
firewall, GPU Operator values and the toolkit CVE floor, rail attachments, storage classes, Kueue quotas,
the benchmark Job, labels, ordering and determinism."""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from typing import Any

import pytest

from dcinfra.errors import StackInvalid
from dcinfra.model.platform import GpuQuota
from dcinfra.model.stack import Stack
from dcinfra.plan import compile_plan
from dcinfra.plan.platform import NS_VERIFY, POOL_LABEL, RDMA_RESOURCE, PlatformPlan
from dcinfra.platform import HelmChart, K8sObject, build_objects
from dcinfra.platform.objects import STACK_LABEL, waves
from tests.fixtures.platform.stacks import (
    BENCH_IMAGE,
    compiled,
    plan_of,
    platform_of,
    problems_of,
    reference,
    with_platform,
)

STANDARD_LABELS = (
    "app.kubernetes.io/component",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/name",
    "app.kubernetes.io/part-of",
    STACK_LABEL,
)


def platform(name: str = "h100_su", **changes: Any) -> PlatformPlan:
    stack = with_platform(name, **changes) if changes or name != "h100_su" else reference(name)
    return platform_of(stack)


def objects(name: str = "h100_su", **changes: Any) -> dict[str, K8sObject | HelmChart]:
    return {o.key: o for o in build_objects(platform(name, **changes))}


def of_kind(objs: dict[str, K8sObject | HelmChart], kind: str) -> list[K8sObject]:
    return [o for o in objs.values() if isinstance(o, K8sObject) and o.kind == kind]


def test_no_platform_no_objects() -> None:
    stack = reference("lab")
    assert stack.platform is None
    assert compiled(stack).platform is None
    assert problems_of(stack) == []


def test_the_plan_carries_the_platform() -> None:
    """compile_plan plans the platform once, with the rest: the plan's own field, in its JSON."""
    from dcinfra.plan.types import to_jsonable

    plan = compile_plan(reference("h100_su"))
    assert plan.platform is not None and plan.platform.stack == "h100-su"
    assert to_jsonable(plan)["platform"]["kubernetes_version"] == "1.31"


def test_h100_su_object_counts() -> None:
    counts = Counter(o.kind if isinstance(o, K8sObject) else "HelmChart" for o in objects().values())
    # 2 workload + 5 operator namespaces; 16 policies per workload namespace; one NAD and IP pool per
    # rail (8); GPU Operator, Network Operator, ceph-csi RBD and CephFS, Kueue.
    assert counts == {
        "Namespace": 7,
        "NetworkPolicy": 32,
        "NetworkAttachmentDefinition": 8,
        "IPPool": 8,
        "NicClusterPolicy": 1,
        "HelmChart": 5,
        "StorageClass": 2,
        "PriorityClass": 4,
        "ResourceFlavor": 1,
        "ClusterQueue": 2,
        "LocalQueue": 2,
        "Node": 32,  # label patches: dcinfra.io/pool on every compute node
    }


def test_pod_security_labels() -> None:
    ns = {o.name: o.manifest["metadata"]["labels"] for o in of_kind(objects(), "Namespace")}
    for workload in ("training", "inference"):
        assert ns[workload]["pod-security.kubernetes.io/enforce"] == "restricted"
        assert ns[workload]["pod-security.kubernetes.io/enforce-version"] == "v1.31"
        assert ns[workload]["pod-security.kubernetes.io/warn"] == "restricted"
        assert ns[workload]["pod-security.kubernetes.io/audit"] == "restricted"
    # privileged only for operators with node agents
    privileged = sorted(
        n for n, labels in ns.items() if labels["pod-security.kubernetes.io/enforce"] == "privileged"
    )
    assert privileged == ["ceph-csi-cephfs", "ceph-csi-rbd", "gpu-operator", "nvidia-network-operator"]
    assert ns["kueue-system"]["pod-security.kubernetes.io/enforce"] == "baseline"


def test_default_deny_in_every_workload_namespace() -> None:
    objs = objects(bench_image=BENCH_IMAGE)
    pp = platform(bench_image=BENCH_IMAGE)
    assert set(pp.workload_namespaces) == {"training", "inference", NS_VERIFY}
    for ns in pp.workload_namespaces:
        deny = objs[f"NetworkPolicy/{ns}/default-deny"]
        assert isinstance(deny, K8sObject)
        assert deny.manifest["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    # operator namespaces get none
    assert not [o for o in of_kind(objs, "NetworkPolicy") if o.namespace not in pp.workload_namespaces]


def _policy(objs: dict[str, Any], ns: str, name: str) -> dict[str, Any]:
    obj = objs[f"NetworkPolicy/{ns}/{name}"]
    spec: dict[str, Any] = obj.manifest["spec"]
    return spec


def test_policies_follow_the_host_firewall() -> None:
    objs = objects()
    plan = plan_of(reference("h100_su"))
    names = {o.name for o in of_kind(objs, "NetworkPolicy") if o.namespace == "training"}
    # the benchmark's flows are pod to pod; ssh and kubelet are host paths and never mapped
    assert not any("ssh" in n or "kubelet" in n for n in names)
    rdzv = _policy(objs, "training", "allow-ingress-flow-bench-rendezvous")
    assert rdzv["ingress"] == [{"from": [{"podSelector": {}}], "ports": [{"port": 29500, "protocol": "TCP"}]}]
    # egress to the Ceph monitors: exactly the monitors' storage-network addresses, both mon ports
    mon = _policy(objs, "training", "allow-egress-flow-ceph-mon")
    ceph = plan.ceph
    assert ceph is not None
    allowed = [ipaddress.ip_network(p["ipBlock"]["cidr"]) for p in mon["egress"][0]["to"]]
    assert sorted(str(a) for n in allowed for a in n) == sorted(ceph.mon_addresses)
    assert {p["port"] for p in mon["egress"][0]["ports"]} == {3300, 6789}
    # OSD range as a port range
    osd = _policy(objs, "training", "allow-egress-flow-ceph-daemons")
    assert osd["egress"][0]["ports"] == [{"port": 6800, "endPort": 7300, "protocol": "TCP"}]
    # the user's rule: node-exporter scraped from the service hosts only
    scrape = _policy(objs, "training", "allow-ingress-rule-node-exporter")
    svc = sorted(h.addresses["management"] for h in plan.hosts if h.pool == "svc")
    sources = [ipaddress.ip_network(p["ipBlock"]["cidr"]) for p in scrape["ingress"][0]["from"]]
    assert sorted(str(a) for n in sources for a in n) == svc
    # the API server through the control plane's management addresses
    api = _policy(objs, "training", "allow-egress-flow-kube-apiserver")
    assert api["egress"][0]["ports"] == [{"port": 6443, "protocol": "TCP"}]
    # DNS always
    dns = _policy(objs, "training", "allow-egress-dns")
    assert dns["egress"][0]["ports"] == [{"port": 53, "protocol": "UDP"}]


def test_policies_only_what_every_compute_host_is_allowed() -> None:
    """A daemon flow the hosts accept from only some compute hosts is not granted to pods: a pod may
    land on any compute host."""
    from dataclasses import replace

    from dcinfra.plan.platform import compile_policies

    plan = plan_of(reference("h100_su"))
    gpu1 = f"{plan.host('gpu-001').addresses['storage']}/32"
    rulesets = {
        key: tuple(replace(r, sources=(gpu1,)) if r.comment == "flow ceph-mon" else r for r in rules)
        for key, rules in plan.security.rulesets.items()
    }
    narrowed = replace(plan, security=replace(plan.security, rulesets=rulesets))
    compute = [h for h in plan.hosts if "compute" in h.roles]
    assert "allow-egress-flow-ceph-mon" in {r.name for r in compile_policies(plan, compute)}
    names = {r.name for r in compile_policies(narrowed, compute)}
    assert "allow-egress-flow-ceph-mon" not in names
    assert "allow-egress-flow-ceph-daemons" in names


def test_tenant_isolation_drops_become_excepts() -> None:
    from dcinfra.plan.platform.policies import _peers
    from dcinfra.plan.platform.records import Peer

    drops = [ipaddress.IPv4Network("10.0.0.16/28")]
    assert _peers(("10.0.0.0/24",), drops) == (Peer("10.0.0.0/24", ("10.0.0.16/28",)),)
    assert _peers(("10.0.0.16/30",), drops) == ()  # wholly dropped
    assert _peers((), drops) == (Peer("0.0.0.0/0", ("10.0.0.16/28",)),)


def test_gpu_operator_values_and_toolkit_floor() -> None:
    chart = objects()["HelmChart/gpu-operator/gpu-operator"]
    assert isinstance(chart, HelmChart)
    assert chart.values["driver"] == {"enabled": False}  # the nvidia_driver role manages host drivers
    assert chart.values["toolkit"]["enabled"] is True
    assert chart.version == "v25.10.1"
    assert chart.repo == "https://helm.ngc.nvidia.com/nvidia"
    op = objects(gpu_driver="operator")["HelmChart/gpu-operator/gpu-operator"]
    assert isinstance(op, HelmChart)
    assert op.values["driver"] == {"enabled": True}
    # too old: an operator that ships a toolkit before the CVE-2025-23266 fix
    stack = with_platform("h100_su", gpu_operator_version="v24.9.2")
    problems = problems_of(stack)
    assert [p.rule for p in problems] == ["platform.toolkit"]
    assert "v24.9.2" in problems[0].message and "v25.3.1" in problems[0].hint
    with pytest.raises(StackInvalid):
        compile_plan(stack)
    # an old operator is fine when a fixed toolkit is forced; a forced old toolkit is not
    stack = with_platform("h100_su", gpu_operator_version="v24.9.2", toolkit_version="v1.17.8")
    assert problems_of(stack) == []
    stack = with_platform("h100_su", toolkit_version="v1.16.2")
    assert [p.path for p in problems_of(stack)] == ["platform.kubernetes.toolkit_version"]


def test_no_gpus_no_gpu_operator() -> None:
    pp = platform("lab")
    assert pp.gpu_operator is None
    assert not [k for k in objects("lab") if k.startswith("HelmChart/gpu-operator")]


def test_one_attachment_per_rail() -> None:
    objs = objects()
    plan = plan_of(reference("h100_su"))
    rails = [n for n in plan.networks if n.name.startswith("compute-r")]
    nads = sorted(of_kind(objs, "NetworkAttachmentDefinition"), key=lambda o: o.name)
    assert [o.name for o in nads] == [f"rail{i}" for i in range(len(rails))] and len(rails) == 8
    for nad, net in zip(nads, sorted(rails, key=lambda n: int(n.name[9:])), strict=True):
        config = json.loads(nad.manifest["spec"]["config"])
        assert config["type"] == "ipoib" and config["master"] == net.interface
        assert config["ipam"] == {"type": "nv-ipam", "poolName": nad.name}
        assert nad.manifest["metadata"]["annotations"]["k8s.v1.cni.cncf.io/resourceName"] == RDMA_RESOURCE
        pool = objs[f"IPPool/nvidia-network-operator/{nad.name}"]
        assert isinstance(pool, K8sObject)
        assert pool.manifest["spec"]["subnet"] == net.cidr
        # every host address on the rail is excluded from pod addresses
        excluded = set()
        for ex in pool.manifest["spec"]["exclusions"]:
            a, b = ipaddress.ip_address(ex["startIP"]), ipaddress.ip_address(ex["endIP"])
            excluded |= {str(ipaddress.ip_address(i)) for i in range(int(a), int(b) + 1)}
        rail = int(nad.name[4:])
        assert excluded == {h.rails[rail].address for h in plan.hosts if len(h.rails) > rail}
    policy = objs["NicClusterPolicy/_/nic-cluster-policy"]
    assert isinstance(policy, K8sObject)
    config = json.loads(policy.manifest["spec"]["rdmaSharedDevicePlugin"]["config"])
    assert config["configList"][0]["selectors"]["ifNames"] == [f"ib{i}" for i in range(8)]
    assert "ipoib" in policy.manifest["spec"]["secondaryNetwork"]


def test_ethernet_rails_use_macvlan_without_rdma() -> None:
    objs = objects("lab")
    nad = objs["NetworkAttachmentDefinition/default/rail0"]
    assert isinstance(nad, K8sObject)
    config = json.loads(nad.manifest["spec"]["config"])
    assert config["type"] == "macvlan" and config["mtu"] == 1500
    assert "annotations" not in nad.manifest["metadata"]
    policy = objs["NicClusterPolicy/_/nic-cluster-policy"]
    assert isinstance(policy, K8sObject)
    assert "rdmaSharedDevicePlugin" not in policy.manifest["spec"]


def test_ceph_csi_classes_point_at_the_plan_ceph() -> None:
    objs = objects()
    ceph = plan_of(reference("h100_su")).ceph
    assert ceph is not None
    rbd = objs["StorageClass/_/ceph-rbd"]
    fs = objs["StorageClass/_/ceph-cephfs"]
    assert isinstance(rbd, K8sObject) and isinstance(fs, K8sObject)
    assert rbd.manifest["provisioner"] == "rbd.csi.ceph.com"
    assert rbd.manifest["parameters"]["clusterID"] == ceph.fsid
    assert rbd.manifest["parameters"]["pool"] == "rbd"
    assert fs.manifest["parameters"]["fsName"] == "datasets"
    assert rbd.manifest["reclaimPolicy"] == "Retain"
    for sc in (rbd, fs):
        # secrets by name and namespace only
        params = sc.manifest["parameters"]
        assert params["csi.storage.k8s.io/node-stage-secret-name"].startswith("csi-")
        assert not [k for k in params if "key" in k.lower()]
        assert sc.data_bearing
    chart = objs["HelmChart/ceph-csi-rbd/ceph-csi-rbd"]
    assert isinstance(chart, HelmChart)
    assert chart.values["csiConfig"] == [
        {"clusterID": ceph.fsid, "monitors": [f"{a}:6789" for a in ceph.mon_addresses]}
    ]
    assert chart.values["secret"] == {"create": False}
    text = json.dumps([o.manifest if isinstance(o, K8sObject) else o.values for o in objs.values()])
    assert "userKey" not in text and "adminKey" not in text


def _squid(stack: Stack) -> Stack:
    """``stack`` with Ceph squid (Rook 1.17 runs reef or squid, not the reference stacks' pacific)."""
    return stack.model_copy(update={"versions": stack.versions.model_copy(update={"ceph": "squid"})})


def test_rook_is_protected_and_needs_a_supported_release() -> None:
    stack = with_platform("h100_su", storage="rook")
    problems = problems_of(stack)
    assert [p.path for p in problems] == ["versions.ceph"]  # pacific: Rook 1.17 runs reef or squid
    # the plan's Ceph release comes from the versions lock
    objs = {o.key: o for o in build_objects(platform_of(_squid(stack)))}
    cluster = objs["CephCluster/rook-ceph/ceph"]
    assert isinstance(cluster, K8sObject) and cluster.data_bearing
    assert cluster.manifest["spec"]["mon"]["count"] == 3
    assert len(cluster.manifest["spec"]["storage"]["nodes"]) == 6
    assert cluster.manifest["spec"]["storage"]["nodes"][0]["devices"][0] == {"name": "nvme1n1"}
    assert "HelmChart/rook-rook-ceph" not in objs and objs["HelmChart/rook-ceph/rook-ceph"].data_bearing
    assert "HelmChart/ceph-csi-rbd/ceph-csi-rbd" not in objs
    rbd = objs["StorageClass/_/ceph-rbd"]
    assert isinstance(rbd, K8sObject)
    assert rbd.manifest["provisioner"] == "rook-ceph.rbd.csi.ceph.com"
    assert rbd.depends_on == ("CephBlockPool/rook-ceph/rbd",)


def test_rook_pools_have_their_own_planned_sizes() -> None:
    """Each CephBlockPool and each pool of the CephFilesystem is as large as the plan sized it (here the
    CephFS pools copy the first declared pool, an rgw pool of 4), not the first RBD pool's 3."""
    from dcinfra.model.storage import CephPool

    stack = _squid(with_platform("h100_su", storage="rook"))
    ceph = stack.storage.ceph
    assert ceph is not None
    pools = (
        CephPool(name="objects", size=4, min_size=3, application="rgw"),
        CephPool(name="rbd", size=3, min_size=2, application="rbd"),
        CephPool(name="scratch", size=2, min_size=2, application="rbd"),
    )
    storage = stack.storage.model_copy(update={"ceph": ceph.model_copy(update={"pools": pools})})
    stack = stack.model_copy(update={"storage": storage})
    plan = compiled(stack)
    assert plan.ceph is not None and plan.platform is not None
    planned = {p.name: p.size for p in plan.ceph.pools}
    assert planned == {"objects": 4, "rbd": 3, "scratch": 2, "datasets-metadata": 4, "datasets-data": 4}
    objs = {o.key: o for o in build_objects(plan.platform)}
    blocks = {o.name: o.manifest["spec"] for o in of_kind(objs, "CephBlockPool")}
    assert {name: spec["replicated"]["size"] for name, spec in blocks.items()} == {"rbd": 3, "scratch": 2}
    fs = objs["CephFilesystem/rook-ceph/datasets"]
    assert isinstance(fs, K8sObject)
    assert fs.manifest["spec"]["metadataPool"]["replicated"]["size"] == planned["datasets-metadata"]
    data = fs.manifest["spec"]["dataPools"]
    assert [(d["name"], d["replicated"]["size"]) for d in data] == [("data", planned["datasets-data"])]
    rbd = objs["StorageClass/_/ceph-rbd"]
    assert isinstance(rbd, K8sObject) and rbd.manifest["parameters"]["pool"] == "rbd"
    # no CephObjectStore: the rgw pool is left out, and the plan says so
    assert "objects" not in blocks and any("'objects'" in n for n in plan.platform.notes)


def test_rook_devices_come_from_the_planned_osds() -> None:
    """Rook's OSDs are the plan's (host -> devices, in OSD order), not the stack's device list; a site
    that backs OSDs with files cannot run them."""
    from dataclasses import replace

    from dcinfra.errors import Problem
    from dcinfra.plan.platform import plan_platform
    from dcinfra.plan.types import OsdPlan

    stack = _squid(with_platform("h100_su", storage="rook"))
    plan = compiled(stack)
    assert plan.ceph is not None and plan.platform is not None and plan.platform.rook is not None
    hosts = sorted({o.host for o in plan.ceph.osds})
    assert plan.platform.rook.nodes == tuple(
        (h, tuple(o.device.removeprefix("/dev/") for o in plan.ceph.osds if o.host == h)) for h in hosts
    )
    # a plan whose OSDs differ from the stack's devices: Rook follows the plan
    osds = (
        OsdPlan(0, hosts[0], "/dev/sdb"),
        OsdPlan(1, hosts[0], "/dev/sdc"),
        OsdPlan(2, hosts[1], "/dev/sdd"),
    )
    other = replace(plan, storage=replace(plan.storage, ceph=replace(plan.ceph, osds=osds)))
    problems: list[Problem] = []
    pp = plan_platform(stack, other, problems)
    assert problems == [] and pp is not None and pp.rook is not None
    assert pp.rook.nodes == ((hosts[0], ("sdb", "sdc")), (hosts[1], ("sdd",)))
    cluster = {o.key: o for o in build_objects(pp)}["CephCluster/rook-ceph/ceph"]
    assert isinstance(cluster, K8sObject)
    assert cluster.manifest["spec"]["storage"]["nodes"] == [
        {"name": hosts[0], "devices": [{"name": "sdb"}, {"name": "sdc"}]},
        {"name": hosts[1], "devices": [{"name": "sdd"}]},
    ]
    # file-backed OSDs (a site's choice) are no block devices for Rook
    files = replace(plan.ceph, osds=(OsdPlan(0, hosts[0], "file:8G"),), osd_backing="files")
    problems = []
    plan_platform(stack, replace(plan, storage=replace(plan.storage, ceph=files)), problems)
    assert [(p.path, p.rule) for p in problems] == [("platform.kubernetes.storage", "platform.storage")]
    assert "file:8G" in problems[0].message


def test_kueue_quotas_per_tenant() -> None:
    tenants = [
        GpuQuota(name="research", namespaces=["training"], gpus=192),
        GpuQuota(name="serving", namespaces=["inference"], gpus=64, borrowing_limit=0),
    ]
    objs = objects(tenants=[t.model_dump() for t in tenants])
    plan = plan_of(reference("h100_su"))
    gpu_hosts = [h for h in plan.hosts if h.pool == "gpu"]
    flavor = objs["ResourceFlavor/_/gpu"]
    assert isinstance(flavor, K8sObject)
    assert flavor.manifest["spec"] == {"nodeLabels": {"dcinfra.io/pool": "gpu"}}
    cq = {o.name: o.manifest["spec"] for o in of_kind(objs, "ClusterQueue")}
    assert set(cq) == {"research", "serving"}
    for name, gpus in (("research", 192), ("serving", 64)):
        spec = cq[name]
        assert spec["cohort"] == "dcinfra"
        group = spec["resourceGroups"][0]
        assert group["coveredResources"] == ["cpu", "memory", "nvidia.com/gpu", RDMA_RESOURCE]
        quota = {r["name"]: r for r in group["flavors"][0]["resources"]}
        assert quota["nvidia.com/gpu"]["nominalQuota"] == gpus
        # CPU and memory in proportion to the GPU share (256 GPUs in all)
        assert quota["cpu"]["nominalQuota"] == -(-sum(h.cpu_cores for h in gpu_hosts) * gpus // 256)
    assert cq["serving"]["resourceGroups"][0]["flavors"][0]["resources"][2]["borrowingLimit"] == 0
    assert cq["research"]["namespaceSelector"]["matchExpressions"][0]["values"] == ["training"]
    lq = objs["LocalQueue/training/default"]
    assert isinstance(lq, K8sObject)
    assert lq.manifest["spec"] == {"clusterQueue": "research"}
    assert {o.name for o in of_kind(objs, "PriorityClass")} == {
        "dcinfra-critical",
        "dcinfra-high",
        "dcinfra-default",
        "dcinfra-low",
    }


def test_quota_problems() -> None:
    stack = with_platform(
        "h100_su",
        tenants=[
            {"name": "a", "namespaces": ["training", "nope"], "gpus": 200},
            {"name": "b", "namespaces": ["training"], "gpus": 100},
        ],
    )
    problems = problems_of(stack)
    messages = "\n".join(p.message for p in problems)
    assert "'nope'" in messages  # unknown namespace
    assert "in tenants 'a' and 'b'" in messages  # a namespace in two tenants
    assert "guaranteed 300 GPUs but the compute hosts have 256" in messages
    stack = with_platform("h100_su", namespaces=["training", "kube-system"])
    assert [p.rule for p in problems_of(stack)] == ["platform.namespaces"]


def test_benchmark_indexed_job() -> None:
    objs = objects(bench_image=BENCH_IMAGE)
    plan = plan_of(reference("h100_su"))
    verify = plan.verify
    assert verify is not None
    job = objs[f"Job/{NS_VERIFY}/dcinfra-bench"]
    assert isinstance(job, K8sObject)
    spec = job.manifest["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == len(verify.hosts) == 32
    assert (
        spec["suspend"] is True
        and job.manifest["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "default"
    )
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == BENCH_IMAGE
    args = container["args"]
    assert args[args.index("-m") + 1] == "dcinfra.verify.bench"
    assert "--node-rank=$(JOB_COMPLETION_INDEX)" in args and "--max-restarts=0" in args
    # the verify stage's own settings, as it passes them to the bench
    assert f"--max-bytes={verify.max_message_bytes}" in args and f"--iters={verify.iters}" in args
    assert f"--peak-tflops={verify.gemm_peak_tflops}" in args and "--node-name=$(NODE_NAME)" in args
    assert container["resources"]["limits"] == {"nvidia.com/gpu": 8, RDMA_RESOURCE: 1}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["NCCL_IB_HCA"] == plan.hosts[0].nccl_env["NCCL_IB_HCA"]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["IPC_LOCK"]}
    networks = json.loads(spec["template"]["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"])
    assert [n["interface"] for n in networks] == [f"ib{i}" for i in range(8)]
    assert pod["subdomain"] == "dcinfra-bench" and objs[f"Service/{NS_VERIFY}/dcinfra-bench"]
    # RDMA needs IPC_LOCK: only the benchmark namespace is privileged for it, and it says why
    ns = objs[f"Namespace/_/{NS_VERIFY}"]
    assert isinstance(ns, K8sObject)
    assert ns.manifest["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert "IPC_LOCK" in ns.manifest["metadata"]["annotations"]["dcinfra.io/pod-security-reason"]
    # the job follows its queue, priority class, policies and attachments
    assert f"LocalQueue/{NS_VERIFY}/default" in job.depends_on
    assert f"NetworkPolicy/{NS_VERIFY}/default-deny" in job.depends_on
    assert "NetworkAttachmentDefinition/default/rail7" in job.depends_on


def test_benchmark_on_cpu_lab_is_restricted() -> None:
    objs = objects("lab", bench_image=BENCH_IMAGE)
    job = objs[f"Job/{NS_VERIFY}/dcinfra-bench"]
    assert isinstance(job, K8sObject)
    container = job.manifest["spec"]["template"]["spec"]["containers"][0]
    assert "resources" not in container
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert "--backend=gloo" in container["args"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["OMP_NUM_THREADS"] == str(plan_of(reference("lab")).hosts[0].cpu_cores)
    ns = objs[f"Namespace/_/{NS_VERIFY}"]
    assert isinstance(ns, K8sObject)
    assert ns.manifest["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_standard_labels_everywhere() -> None:
    for item in objects(bench_image=BENCH_IMAGE).values():
        if isinstance(item, K8sObject) and item.patch:
            # a patch of a Node dcinfra does not own: only the pool label, nothing that claims the Node
            assert item.manifest["metadata"]["labels"] == {POOL_LABEL: "gpu"}, item.key
            continue
        labels = item.manifest["metadata"]["labels"] if isinstance(item, K8sObject) else item.labels
        assert set(STANDARD_LABELS) <= set(labels), item.key
        assert labels[STACK_LABEL] == "h100-su"
        assert labels["app.kubernetes.io/managed-by"] == "dcinfra"


def test_dependencies_point_backwards_and_crs_follow_their_charts() -> None:
    items = build_objects(platform(bench_image=BENCH_IMAGE))
    keys = [i.key for i in items]
    position = {k: n for n, k in enumerate(keys)}
    for item in items:
        for dep in item.depends_on:
            if dep in position:
                assert position[dep] < position[item.key], (item.key, dep)
    wave = waves(items)
    by_key = {i.key: i for i in items}
    crd_owner = {
        "ResourceFlavor": "HelmChart/kueue-system/kueue",
        "ClusterQueue": "HelmChart/kueue-system/kueue",
        "NicClusterPolicy": "HelmChart/nvidia-network-operator/network-operator",
        "NetworkAttachmentDefinition": "HelmChart/nvidia-network-operator/network-operator",
    }
    for item in items:
        if isinstance(item, K8sObject) and item.kind in crd_owner:
            assert wave[item.key] > wave[crd_owner[item.kind]], item.key
        if isinstance(item, K8sObject) and item.namespace not in (None, "default"):
            assert f"Namespace/_/{item.namespace}" in item.depends_on or any(
                f"Namespace/_/{item.namespace}" in by_key[d].depends_on
                for d in item.depends_on
                if d in by_key
            ), item.key


def test_data_bearing_objects() -> None:
    protected = sorted(i.key for i in build_objects(platform()) if i.data_bearing)
    assert protected == [
        "HelmChart/ceph-csi-cephfs/ceph-csi-cephfs",
        "HelmChart/ceph-csi-rbd/ceph-csi-rbd",
        "Namespace/_/inference",
        "Namespace/_/training",
        "StorageClass/_/ceph-cephfs",
        "StorageClass/_/ceph-rbd",
    ]


def test_deterministic() -> None:
    a = build_objects(platform(bench_image=BENCH_IMAGE))
    b = build_objects(platform(bench_image=BENCH_IMAGE))
    assert a == b
    assert json.dumps([getattr(i, "manifest", None) for i in a], sort_keys=True) == json.dumps(
        [getattr(i, "manifest", None) for i in b], sort_keys=True
    )


def test_platform_plan_json_is_stable() -> None:
    from dcinfra.plan.types import to_jsonable

    def to_json(pp: PlatformPlan | None) -> str:
        return json.dumps(to_jsonable(pp), indent=2, sort_keys=True)

    text = to_json(platform(bench_image=BENCH_IMAGE))
    # a fresh compile (not the fixtures' cached one) gives the same bytes
    assert text == to_json(compile_plan(with_platform("h100_su", bench_image=BENCH_IMAGE)).platform)
    doc = json.loads(text)
    assert doc["stack"] == "h100-su" and doc["bench"]["nodes"] == 32
    assert [n["name"] for n in doc["namespaces"]] == sorted(n["name"] for n in doc["namespaces"])
