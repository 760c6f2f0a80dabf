"""Namespaces with their Pod Security labels, the NetworkPolicies, priority classes and the Nodes' pool
label."""

from __future__ import annotations

from typing import Any

from dcinfra.plan.platform import POOL_LABEL, NamespacePlan, PlatformPlan, PolicyRule
from dcinfra.platform.objects.base import Item, K8sObject, meta, ns_key


def node_labels(pp: PlatformPlan) -> list[Item]:
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


def namespaces(pp: PlatformPlan) -> list[Item]:
    return [
        K8sObject(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": meta(
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


def policies(pp: PlatformPlan) -> list[Item]:
    out: list[Item] = []
    for ns in pp.workload_namespaces:
        deps = (ns_key(ns),)
        out.append(
            K8sObject(
                {
                    "apiVersion": "networking.k8s.io/v1",
                    "kind": "NetworkPolicy",
                    "metadata": meta(pp, "default-deny", "network-policy", ns),
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
                        "metadata": meta(
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


def priorities(pp: PlatformPlan) -> list[Item]:
    return [
        K8sObject(
            {
                "apiVersion": "scheduling.k8s.io/v1",
                "kind": "PriorityClass",
                "metadata": meta(pp, p.name, "priority"),
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
