"""The Pulumi program under ``pulumi.runtime.set_mocks``: for stacks/h100_su.py (with the benchmark Job),
the registered resources by type, Pod Security labels, default-deny in every workload namespace,
``protect`` on exactly the data-bearing resources, ``depends_on`` edges (CRDs' charts before their custom
resources, namespaces before their contents), one explicit provider, and inputs as the objects say."""

from __future__ import annotations

import importlib
from collections import Counter
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pulumi
import pytest
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks

from dcinfra.platform import K8sObject, build_objects
from dcinfra.platform.objects import Item
from tests.fixtures.platform.stacks import BENCH_IMAGE, platform_of, reference, with_platform

PROJECT = STACK = "h100-su"


@dataclass
class Registration:
    """One RegisterResource request as the engine would receive it."""

    type: str
    name: str
    protect: bool
    dependencies: list[str]  # URNs
    provider: str
    remote: bool
    inputs: dict[str, Any]


class Recorder(Mocks):
    """Records every resource's inputs; returns them as its state."""

    def __init__(self) -> None:
        self.inputs: dict[tuple[str, str], dict[str, Any]] = {}

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.inputs[(args.typ, args.name)] = args.inputs
        return f"{args.name}-id", args.inputs

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


class Monitor(MockMonitor):
    """The mock monitor, also keeping the resource options (protect, dependencies, provider)."""

    def __init__(self, mocks: Recorder) -> None:
        super().__init__(mocks)
        self.recorder = mocks
        self.requests: list[Any] = []

    def RegisterResource(self, request: Any) -> Any:
        self.requests.append(request)
        return super().RegisterResource(request)

    def registrations(self) -> dict[tuple[str, str], Registration]:
        out = {}
        for r in self.requests:
            if r.type == "pulumi:pulumi:Stack":
                continue
            out[(r.type, r.name)] = Registration(
                r.type,
                r.name,
                bool(r.protect),
                list(r.dependencies),
                r.provider,
                bool(r.remote),
                self.recorder.inputs.get((r.type, r.name), {}),
            )
        return out


def run_program(items: tuple[Item, ...], **kwargs: Any) -> dict[tuple[str, str], Registration]:
    """Set the mocks, then import the program and run it over ``items``."""
    recorder = Recorder()
    monitor = Monitor(recorder)
    pulumi.runtime.set_mocks(recorder, project=PROJECT, stack=STACK, preview=False, monitor=monitor)
    program: ModuleType = importlib.import_module("dcinfra.platform.program")

    @pulumi.runtime.test  # type: ignore[misc]
    def run() -> pulumi.Output[list[str]]:
        resources = program.register(items, **kwargs)
        return pulumi.Output.all(*[r.urn for r in resources.values()])

    run()
    return monitor.registrations()


def urn(type_: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack${type_}::{name}"


NS = "kubernetes:core/v1:Namespace"
NP = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
CHART = "kubernetes:helm.sh/v4:Chart"


@pytest.fixture(scope="module")
def items() -> tuple[Item, ...]:
    return build_objects(platform_of(with_platform("h100_su", bench_image=BENCH_IMAGE)))


@pytest.fixture(scope="module")
def registered(items: tuple[Item, ...]) -> dict[tuple[str, str], Registration]:
    return run_program(items, kubeconfig="/etc/dcinfra/kubeconfig", context="h100-admin")


def test_resource_counts_by_type(registered: dict[tuple[str, str], Registration]) -> None:
    counts = Counter(t for t, _ in registered)
    assert counts == {
        "pulumi:providers:kubernetes": 1,
        NS: 8,  # training, inference, dcinfra-verify + 5 operator namespaces
        NP: 48,  # (default-deny + 15 allows) x 3 workload namespaces
        CHART: 5,  # GPU Operator, Network Operator, ceph-csi RBD and CephFS, Kueue
        "kubernetes:k8s.cni.cncf.io/v1:NetworkAttachmentDefinition": 8,
        "kubernetes:nv-ipam.nvidia.com/v1alpha1:IPPool": 8,
        "kubernetes:mellanox.com/v1alpha1:NicClusterPolicy": 1,
        "kubernetes:storage.k8s.io/v1:StorageClass": 2,
        "kubernetes:scheduling.k8s.io/v1:PriorityClass": 4,
        "kubernetes:kueue.x-k8s.io/v1beta1:ResourceFlavor": 1,
        "kubernetes:kueue.x-k8s.io/v1beta1:ClusterQueue": 3,
        "kubernetes:kueue.x-k8s.io/v1beta1:LocalQueue": 3,
        "kubernetes:core/v1:Service": 1,
        "kubernetes:batch/v1:Job": 1,
        "kubernetes:core/v1:NodePatch": 32,  # the pool label of every compute node
    }


def test_compute_nodes_get_their_pool_label(
    items: tuple[Item, ...], registered: dict[tuple[str, str], Registration]
) -> None:
    # The Kueue flavors and IP pools select nodes on dcinfra.io/pool; the program sets it on each compute
    # host's Node as a server-side-apply patch of that one label (dcinfra does not own the Node).
    flavors = [i for i in items if isinstance(i, K8sObject) and i.kind == "ResourceFlavor"]
    assert [f.manifest["spec"]["nodeLabels"] for f in flavors] == [{"dcinfra.io/pool": "gpu"}]
    patches = {name: r for (t, name), r in registered.items() if t == "kubernetes:core/v1:NodePatch"}
    assert sorted(patches) == [f"gpu-{n:03d}" for n in range(1, 33)]
    for name, reg in patches.items():
        assert reg.inputs == {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {"dcinfra.io/pool": "gpu"}},
        }
        assert not reg.protect


def test_one_explicit_provider(registered: dict[tuple[str, str], Registration]) -> None:
    provider = registered[("pulumi:providers:kubernetes", "dcinfra-k8s")]
    assert provider.inputs == {
        "kubeconfig": "/etc/dcinfra/kubeconfig",
        "context": "h100-admin",
        "enableServerSideApply": "true",
    }
    for reg in registered.values():
        if reg.type != "pulumi:providers:kubernetes":
            assert reg.provider.startswith(urn("pulumi:providers:kubernetes", "dcinfra-k8s")), reg.name


def test_pod_security_labels(registered: dict[tuple[str, str], Registration]) -> None:
    for ns in ("training", "inference"):
        labels = registered[(NS, ns)].inputs["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
        assert labels["pod-security.kubernetes.io/enforce-version"] == "v1.31"
        assert labels["dcinfra.io/stack"] == "h100-su"
    assert registered[(NS, "gpu-operator")].inputs["metadata"]["labels"][
        "pod-security.kubernetes.io/enforce"
    ] == ("privileged")


def test_default_deny_in_every_workload_namespace(registered: dict[tuple[str, str], Registration]) -> None:
    for ns in ("training", "inference", "dcinfra-verify"):
        deny = registered[(NP, f"{ns}-default-deny")]
        assert deny.inputs["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
        assert deny.inputs["metadata"]["namespace"] == ns
        assert urn(NS, ns) in deny.dependencies
    namespaces = {r.inputs["metadata"]["namespace"] for r in registered.values() if r.type == NP}
    assert namespaces == {"training", "inference", "dcinfra-verify"}


def test_protect_exactly_data_bearing(
    registered: dict[tuple[str, str], Registration], items: tuple[Item, ...]
) -> None:
    protected = sorted(name for (_, name), r in registered.items() if r.protect)
    assert protected == [
        "ceph-cephfs",  # StorageClass
        "ceph-csi-cephfs",  # chart
        "ceph-csi-rbd",  # chart
        "ceph-rbd",  # StorageClass
        "inference",  # workload namespaces hold the PVCs
        "training",
    ]
    assert len(protected) == sum(1 for i in items if i.data_bearing)


def test_depends_on_edges(registered: dict[tuple[str, str], Registration]) -> None:
    kueue = urn(CHART, "kueue")
    cq = registered[("kubernetes:kueue.x-k8s.io/v1beta1:ClusterQueue", "training")]
    assert set(cq.dependencies) == {kueue, urn("kubernetes:kueue.x-k8s.io/v1beta1:ResourceFlavor", "gpu")}
    flavor = registered[("kubernetes:kueue.x-k8s.io/v1beta1:ResourceFlavor", "gpu")]
    assert flavor.dependencies == [kueue]
    lq = registered[("kubernetes:kueue.x-k8s.io/v1beta1:LocalQueue", "training-default")]
    assert set(lq.dependencies) == {
        urn(NS, "training"),
        urn("kubernetes:kueue.x-k8s.io/v1beta1:ClusterQueue", "training"),
    }
    nad = registered[("kubernetes:k8s.cni.cncf.io/v1:NetworkAttachmentDefinition", "default-rail3")]
    assert set(nad.dependencies) == {
        urn(CHART, "network-operator"),
        urn("kubernetes:nv-ipam.nvidia.com/v1alpha1:IPPool", "nvidia-network-operator-rail3"),
    }
    policy = registered[("kubernetes:mellanox.com/v1alpha1:NicClusterPolicy", "nic-cluster-policy")]
    assert policy.dependencies == [urn(CHART, "network-operator")]
    sc = registered[("kubernetes:storage.k8s.io/v1:StorageClass", "ceph-rbd")]
    assert sc.dependencies == [urn(CHART, "ceph-csi-rbd")]
    assert registered[(CHART, "gpu-operator")].dependencies == [urn(NS, "gpu-operator")]
    job = registered[("kubernetes:batch/v1:Job", "dcinfra-verify-dcinfra-bench")]
    for dep in (
        urn("kubernetes:kueue.x-k8s.io/v1beta1:LocalQueue", "dcinfra-verify-default"),
        urn(NP, "dcinfra-verify-default-deny"),
        urn(NP, "dcinfra-verify-allow-ingress-flow-bench-rendezvous"),
        urn("kubernetes:k8s.cni.cncf.io/v1:NetworkAttachmentDefinition", "default-rail0"),
        urn("kubernetes:scheduling.k8s.io/v1:PriorityClass", "dcinfra-critical"),
        urn(CHART, "gpu-operator"),
    ):
        assert dep in job.dependencies
    # every dependency is a resource the program registered
    urns = {urn(t, n) for t, n in registered}
    assert all(d in urns for r in registered.values() for d in r.dependencies)


def test_inputs_match_the_objects(
    registered: dict[tuple[str, str], Registration], items: tuple[Item, ...]
) -> None:
    sc = next(i for i in items if isinstance(i, K8sObject) and i.key == "StorageClass/_/ceph-rbd")
    inputs = registered[("kubernetes:storage.k8s.io/v1:StorageClass", "ceph-rbd")].inputs
    assert inputs["parameters"] == sc.manifest["parameters"]
    assert inputs["reclaimPolicy"] == "Retain"
    gpu = registered[(CHART, "gpu-operator")]
    assert gpu.remote  # a multi-language component rendered by the provider
    assert gpu.inputs["chart"] == "gpu-operator" and gpu.inputs["version"] == "v25.10.1"
    assert gpu.inputs["repositoryOpts"] == {"repo": "https://helm.ngc.nvidia.com/nvidia"}
    assert gpu.inputs["values"]["driver"] == {"enabled": False}
    kueue = registered[(CHART, "kueue")]
    assert (
        kueue.inputs["chart"] == "oci://registry.k8s.io/kueue/charts/kueue"
        and "repositoryOpts" not in kueue.inputs
    )
    job = registered[("kubernetes:batch/v1:Job", "dcinfra-verify-dcinfra-bench")]
    # `up` does not wait for the benchmark to finish
    assert job.inputs["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
    assert job.inputs["spec"]["completionMode"] == "Indexed"


def test_unprotected_and_render_mode() -> None:
    pp = platform_of(reference("h100_su"))
    registered = run_program(build_objects(pp), render_dir="/tmp/rendered", protect=False)
    assert not [r for r in registered.values() if r.protect]
    # a label patch of a live Node has no manifest to render
    assert not [r for r in registered.values() if r.type == "kubernetes:core/v1:NodePatch"]
    provider = registered[("pulumi:providers:kubernetes", "dcinfra-k8s")]
    assert provider.inputs["renderYamlToDirectory"] == "/tmp/rendered"


def test_out_of_order_items_are_refused(items: tuple[Item, ...]) -> None:
    program = importlib.import_module("dcinfra.platform.program")
    with pytest.raises(ValueError, match="comes before its dependencies"):
        program.register(tuple(reversed(items)))
