"""The object records and what every area shares: standard labels, metadata, Helm charts, storage
classes, and the dependency order of the objects."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dcinfra.catalog import charts
from dcinfra.plan.platform import PlatformPlan

PART_OF = "dcinfra-platform"
MANAGED_BY = "dcinfra"
STACK_LABEL = "dcinfra.io/stack"


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


def meta(
    pp: PlatformPlan,
    name: str,
    component: str,
    namespace: str | None = None,
    *,
    app: str | None = None,
    extra_labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """metadata: name, the standard labels plus ``extra_labels``, namespace and annotations."""
    out: dict[str, Any] = {
        "name": name,
        "labels": {**labels(pp, app or name, component), **(extra_labels or {})},
    }
    if namespace is not None:
        out["namespace"] = namespace
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def ns_key(ns: str) -> str:
    """The key of namespace ``ns``'s object."""
    return f"Namespace/_/{ns}"


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


def helm_chart(
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
        depends_on=(ns_key(namespace), *depends_on),
        data_bearing=data_bearing,
    )


def secret_params(name: str, namespace: str, node: str | None = None) -> dict[str, str]:
    """The CSI secret parameters of a StorageClass: Secrets by name only, never their contents."""
    out = {}
    for role in ("provisioner", "controller-expand", "node-stage"):
        secret = node if (node is not None and role == "node-stage") else name
        out[f"csi.storage.k8s.io/{role}-secret-name"] = secret
        out[f"csi.storage.k8s.io/{role}-secret-namespace"] = namespace
    return out


def storage_class(
    pp: PlatformPlan, name: str, provisioner: str, parameters: dict[str, str], deps: tuple[str, ...]
) -> K8sObject:
    return K8sObject(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": meta(pp, name, "storage"),
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
