"""The Pulumi program: the platform objects registered through pulumi-kubernetes.

:func:`register` is a pure function of its inputs (the ordered objects from
:func:`dcinfra.platform.objects.build_objects` and the provider settings): it declares one Pulumi resource
per object, in dependency order, with

- ``depends_on`` from the objects (a custom resource after the chart that installs its CRD, a namespaced
  object after its namespace, the benchmark Job after its queue, policies and attachments);
- ``protect`` on data-bearing objects (workload namespaces, storage classes, the CSI drivers, Rook and
  its CephCluster): ``destroy`` refuses them until the engine unprotects them (``destroy_data``);
- one explicit ``kubernetes.Provider`` (kubeconfig, context, server-side apply, or render-to-directory).

Built-in kinds use the typed classes (``kubernetes:core/v1:Namespace`` ...), patches of objects dcinfra
does not own their Patch classes (``NodePatch``: the pool label of each compute Node); custom resources use
``apiextensions.CustomResource``; Helm charts use ``helm.v4.Chart`` (rendered client-side, so it also
works in render-to-directory mode, and its CRDs become resources the custom resources can depend on).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from dcinfra.platform.objects import HelmChart, Item, K8sObject

PROVIDER_NAME = "dcinfra-k8s"

# Built-in kinds and their typed pulumi-kubernetes classes.
_TYPED: dict[tuple[str, str], Callable[..., pulumi.CustomResource]] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("batch/v1", "Job"): k8s.batch.v1.Job,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("scheduling.k8s.io/v1", "PriorityClass"): k8s.scheduling.v1.PriorityClass,
    ("storage.k8s.io/v1", "StorageClass"): k8s.storage.v1.StorageClass,
}

# Objects dcinfra patches but does not own (K8sObject.patch): their server-side-apply Patch classes.
_PATCHES: dict[tuple[str, str], Callable[..., pulumi.CustomResource]] = {
    ("v1", "Node"): k8s.core.v1.NodePatch,
}

# Kinds whose readiness Pulumi must not wait for: a Job waits for Kueue admission and then runs for as
# long as the benchmark does; `up` returns once it is created (verify reads its result).
_SKIP_AWAIT = frozenset({"Job"})


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def resource_name(item: Item) -> str:
    """The Pulumi resource name of an object: ``<namespace>-<name>``, or ``<name>`` when cluster-scoped."""
    if isinstance(item, HelmChart):
        return item.name
    return f"{item.namespace}-{item.name}" if item.namespace else item.name


def _object(item: K8sObject, opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    manifest = item.manifest
    if item.kind in _SKIP_AWAIT:
        meta = dict(manifest["metadata"])
        meta["annotations"] = {**meta.get("annotations", {}), "pulumi.com/skipAwait": "true"}
        manifest = {**manifest, "metadata": meta}
    name = resource_name(item)
    if item.patch:
        return _PATCHES[(manifest["apiVersion"], manifest["kind"])](
            name, metadata=manifest["metadata"], opts=opts
        )
    cls = _TYPED.get((manifest["apiVersion"], manifest["kind"]))
    if cls is None:
        return k8s.apiextensions.CustomResource(
            name,
            api_version=manifest["apiVersion"],
            kind=manifest["kind"],
            metadata=manifest["metadata"],
            spec=manifest.get("spec"),
            opts=opts,
        )
    kwargs = {_snake(k): v for k, v in manifest.items() if k not in ("apiVersion", "kind")}
    return cls(name, opts=opts, **kwargs)


def _chart(item: HelmChart, opts: pulumi.ResourceOptions) -> pulumi.Resource:
    if item.oci:
        chart, repo = f"{item.repo}/{item.chart}", None
    else:
        chart, repo = item.chart, k8s.helm.v4.RepositoryOptsArgs(repo=item.repo)
    return k8s.helm.v4.Chart(
        resource_name(item),
        chart=chart,
        version=item.version,
        namespace=item.namespace,
        name=item.name,
        values=item.values,
        repository_opts=repo,
        opts=opts,
    )


def register(
    items: Sequence[Item],
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    render_dir: str | None = None,
    protect: bool = True,
) -> dict[str, pulumi.Resource]:
    """Declare every object as a Pulumi resource; returns them by object key.

    ``items`` must be in dependency order (as :func:`~dcinfra.platform.objects.build_objects` returns
    them). ``render_dir``: write manifests there instead of touching a cluster (the provider's
    render-to-directory mode). ``protect=False`` drops protection (only ``destroy --destroy-data``)."""
    keys = {i.key for i in items}
    seen: set[str] = set()
    for item in items:
        missing = [d for d in item.depends_on if d in keys and d not in seen]
        if missing:
            raise ValueError(f"{item.key} comes before its dependencies {missing}: order the items")
        seen.add(item.key)
    provider = k8s.Provider(
        PROVIDER_NAME,
        kubeconfig=kubeconfig,
        context=context,
        render_yaml_to_directory=render_dir,
        enable_server_side_apply=True,
    )
    out: dict[str, pulumi.Resource] = {}
    for item in items:
        if render_dir is not None and isinstance(item, K8sObject) and item.patch:
            continue  # a patch of a live object (a Node's label) has no manifest of its own to write
        deps = [out[d] for d in item.depends_on if d in out]
        opts = pulumi.ResourceOptions(
            provider=provider, depends_on=deps, protect=protect and item.data_bearing
        )
        out[item.key] = _chart(item, opts) if isinstance(item, HelmChart) else _object(item, opts)
    pulumi.export("objects", len(out))
    return out


def program(items: Sequence[Item], **provider: Any) -> Callable[[], None]:
    """An inline Pulumi program (for the Automation API) registering ``items``."""

    def run() -> None:
        register(items, **provider)

    return run
