"""The operators' objects: the GPU Operator chart, the Network Operator chart with its NicClusterPolicy,
and one IP pool and NetworkAttachmentDefinition per compute rail."""

from __future__ import annotations

import json
from typing import Any

from dcinfra.catalog import charts
from dcinfra.plan.platform import (
    IPAM_BLOCK_PER_NODE,
    NS_GPU_OPERATOR,
    NS_NETWORK_OPERATOR,
    POOL_LABEL,
    RDMA_HCA_MAX,
    RDMA_RESOURCE,
    PlatformPlan,
)
from dcinfra.platform.objects.base import Item, K8sObject, helm_chart, meta, ns_key


def gpu_operator(pp: PlatformPlan) -> list[Item]:
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
    return [helm_chart(pp, charts.GPU_OPERATOR, NS_GPU_OPERATOR, g.version, values, "gpu")]


def network(pp: PlatformPlan) -> list[Item]:
    n = pp.network
    if n is None:
        return []
    chart = helm_chart(
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
            "metadata": meta(pp, "nic-cluster-policy", "network"),
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
                "metadata": meta(pp, r.name, "network", NS_NETWORK_OPERATOR),
                "spec": {
                    "subnet": r.subnet,
                    "perNodeBlockSize": IPAM_BLOCK_PER_NODE,
                    "exclusions": [{"startIP": a, "endIP": b} for a, b in r.exclusions],
                    "nodeSelector": node_selector,
                },
            },
            (ns_key(NS_NETWORK_OPERATOR), policy.key),
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
                "metadata": meta(pp, r.name, "network", "default", annotations=annotations),
                "spec": {"config": json.dumps(cni, sort_keys=True)},
            },
            (chart.key, pool.key),
            False,
        )
        out += [pool, nad]
    return out
