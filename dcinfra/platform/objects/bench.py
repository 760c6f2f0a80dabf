"""The benchmark objects: a headless Service for the ranks' rendezvous and the indexed Job that runs the
verify stage's benchmark, one pod per compute host."""

from __future__ import annotations

import json
from typing import Any

from dcinfra.catalog import charts
from dcinfra.plan.platform import NS_GPU_OPERATOR, NS_VERIFY, RDMA_RESOURCE, BenchPlan, PlatformPlan
from dcinfra.platform.objects.base import Item, K8sObject, labels, meta, ns_key
from dcinfra.platform.objects.kueue import LOCAL_QUEUE

BENCH_NAME = "dcinfra-bench"
# The verify stage's bench entry point, run by torchrun in each pod (see dcinfra/verify/bench).
BENCH_MODULE = "dcinfra.verify.bench"
RESULTS = "/results"  # where rank 0 writes bench.json (the pod's log has the run too)


def bench(pp: PlatformPlan) -> list[Item]:
    b = pp.bench
    if b is None:
        return []
    app = {"app.kubernetes.io/name": BENCH_NAME}
    service = K8sObject(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta(pp, BENCH_NAME, "benchmark", NS_VERIFY),
            "spec": {
                "clusterIP": "None",
                # Ranks resolve each other before they are ready: the rendezvous is what makes them ready.
                "publishNotReadyAddresses": True,
                "selector": app,
                "ports": [{"name": "rendezvous", "port": b.port, "protocol": "TCP"}],
            },
        },
        (ns_key(NS_VERIFY),),
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
    deps = [ns_key(NS_VERIFY), service_key, "PriorityClass/_/dcinfra-critical"]
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
            "metadata": meta(pp, BENCH_NAME, "benchmark", NS_VERIFY, extra_labels=job_labels),
            "spec": spec,
        },
        tuple(sorted(deps)),
        False,
    )
