"""GitOps render: one file per object plus kustomization.yaml, Argo CD Applications or Flux HelmReleases,
byte-identical twice, stale files removed, and every manifest valid against the Kubernetes OpenAPI
schemas of the pinned version (custom resources against the schemas in tests/fixtures/platform/crds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from dcinfra.platform import K8sObject, build_objects
from dcinfra.platform.gitops import HEADER, GitOpsError, render_gitops
from dcinfra.platform.objects import Item
from tests.fixtures.platform.schemas import custom_kinds, validate
from tests.fixtures.platform.stacks import BENCH_IMAGE, platform_of, with_platform


def items(name: str = "h100_su", **changes: Any) -> tuple[Item, ...]:
    return build_objects(platform_of(with_platform(name, **changes)))


def read_dir(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
    return doc


@pytest.mark.parametrize("helm_as", ["argocd", "flux"])
def test_one_file_per_object_and_byte_identical(tmp_path: Path, helm_as: str) -> None:
    objs = items(bench_image=BENCH_IMAGE)
    a = render_gitops(objs, tmp_path / "a", helm_as)  # type: ignore[arg-type]
    b = render_gitops(objs, tmp_path / "b", helm_as)  # type: ignore[arg-type]
    assert read_dir(tmp_path / "a") == read_dir(tmp_path / "b")
    again = render_gitops(objs, tmp_path / "a", helm_as)  # type: ignore[arg-type]
    assert again.files == a.files and again.removed == ()
    charts = sum(1 for o in objs if not isinstance(o, K8sObject))
    repos = len({o.repo for o in objs if not isinstance(o, K8sObject)}) if helm_as == "flux" else 0
    # the Nodes' label patches are Pulumi's alone: a GitOps tool would own (prune, create) the Node
    patches = sum(1 for o in objs if isinstance(o, K8sObject) and o.patch)
    assert patches > 0 and not any(name[3:].startswith("node-") for name in a.files)
    assert len(a.files) == len(objs) - patches + repos + 1 == len(list((tmp_path / "a").iterdir()))
    kustomization = load(tmp_path / "a" / "kustomization.yaml")
    assert kustomization["resources"] == list(a.files[:-1])
    assert kustomization["sortOptions"] == {"order": "fifo"}
    kinds = [load(tmp_path / "a" / f)["kind"] for f in a.files[:-1]]
    helm_kind = "Application" if helm_as == "argocd" else "HelmRelease"
    assert kinds.count(helm_kind) == charts == 5
    assert b.files == a.files
    for f in a.files:
        assert (tmp_path / "a" / f).read_text().startswith(HEADER)


def test_files_are_in_apply_order(tmp_path: Path) -> None:
    record = render_gitops(items(), tmp_path, "argocd")
    files = list(record.files[:-1])
    assert files == sorted(files)
    first = {load(tmp_path / f)["kind"] for f in files if f.startswith("00-")}
    assert first == {"Namespace", "PriorityClass"}
    app = load(tmp_path / "01-application-h100-su-kueue.yaml")
    assert app["metadata"]["namespace"] == "argocd"
    assert app["spec"]["source"] == {
        "repoURL": "registry.k8s.io/kueue/charts",  # OCI: Argo CD takes the registry path without a scheme
        "chart": "kueue",
        "targetRevision": "0.14.4",
        "helm": {"releaseName": "kueue", "valuesObject": {}},
    }
    assert app["spec"]["destination"]["namespace"] == "kueue-system"
    cq = load(tmp_path / "03-clusterqueue-training.yaml")
    assert cq["metadata"]["annotations"] == {
        "argocd.argoproj.io/sync-options": "SkipDryRunOnMissingResource=true",
        "argocd.argoproj.io/sync-wave": "3",
    }
    # data-bearing objects are never pruned or deleted by Argo CD
    ns = load(tmp_path / "00-namespace-training.yaml")
    assert ns["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] == "Prune=false,Delete=false"


def test_flux_releases_and_repositories(tmp_path: Path) -> None:
    render_gitops(items(), tmp_path, "flux")
    repos = {load(p)["spec"]["url"]: load(p)["spec"] for p in tmp_path.glob("00-helmrepository-*.yaml")}
    assert set(repos) == {
        "https://ceph.github.io/csi-charts",
        "https://helm.ngc.nvidia.com/nvidia",
        "oci://registry.k8s.io/kueue/charts",
    }
    assert repos["oci://registry.k8s.io/kueue/charts"]["type"] == "oci"
    release = load(tmp_path / "01-helmrelease-gpu-operator-gpu-operator.yaml")
    assert release["spec"]["chart"]["spec"]["version"] == "v25.10.1"
    assert release["spec"]["values"]["driver"] == {"enabled": False}
    assert release["spec"]["install"] == {"crds": "CreateReplace"}
    rbd = load(tmp_path / "01-helmrelease-ceph-csi-rbd-ceph-csi-rbd.yaml")
    assert rbd["metadata"]["annotations"] == {"kustomize.toolkit.fluxcd.io/prune": "disabled"}
    assert not list(tmp_path.glob("*application*"))


def test_stale_files_removed_foreign_files_kept(tmp_path: Path) -> None:
    render_gitops(items(bench_image=BENCH_IMAGE), tmp_path, "argocd")
    (tmp_path / "README.md").write_text("mine\n")
    (tmp_path / "extra.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n")
    record = render_gitops(items(), tmp_path, "argocd")
    assert any("job-dcinfra-verify-dcinfra-bench" in f for f in record.removed)
    assert (tmp_path / "README.md").exists() and (tmp_path / "extra.yaml").exists()
    assert sorted(p.name for p in tmp_path.glob("*.yaml")) == sorted([*record.files, "extra.yaml"])


def test_bad_helm_mode(tmp_path: Path) -> None:
    with pytest.raises(GitOpsError, match="'argocd'"):
        render_gitops(items(), tmp_path, "helmfile")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "changes", "helm_as"),
    [
        ("h100_su", {"bench_image": BENCH_IMAGE}, "argocd"),
        ("h100_su", {"bench_image": BENCH_IMAGE}, "flux"),
        ("lab", {"bench_image": BENCH_IMAGE, "namespaces": ["training", "inference"]}, "argocd"),
    ],
)
def test_every_manifest_is_schema_valid(
    tmp_path: Path, name: str, changes: dict[str, Any], helm_as: str
) -> None:
    record = render_gitops(items(name, **changes), tmp_path, helm_as)  # type: ignore[arg-type]
    by_schema: dict[str, set[str]] = {}
    for f in record.files:
        doc = load(tmp_path / f)
        by_schema.setdefault(validate(doc, "1.31"), set()).add(f"{doc['apiVersion']}/{doc['kind']}")
    # built-in kinds against Kubernetes 1.31's own schemas, the rest against the shipped ones
    assert {
        "v1/Namespace",
        "networking.k8s.io/v1/NetworkPolicy",
        "storage.k8s.io/v1/StorageClass",
    } <= by_schema["kubernetes-1.31"]
    assert by_schema["shipped"] <= custom_kinds()
    assert "kustomize.config.k8s.io/v1beta1/Kustomization" in by_schema["shipped"]


def test_rook_manifests_are_schema_valid(tmp_path: Path) -> None:
    stack = with_platform("h100_su", storage="rook")
    stack = stack.model_copy(update={"versions": stack.versions.model_copy(update={"ceph": "reef"})})
    record = render_gitops(build_objects(platform_of(stack)), tmp_path, "argocd")
    kinds = set()
    for f in record.files:
        doc = load(tmp_path / f)
        validate(doc, "1.31")
        kinds.add(doc["kind"])
    assert {"CephCluster", "CephBlockPool", "CephFilesystem"} <= kinds


def test_validation_catches_mistakes() -> None:
    from jsonschema import ValidationError

    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "lables": {}}}
    with pytest.raises(Exception, match="lables"):
        validate(ns, "1.31")
    cq = {
        "apiVersion": "kueue.x-k8s.io/v1beta1",
        "kind": "ClusterQueue",
        "metadata": {"name": "x"},
        "spec": {"queueingStrategy": "FIFO"},
    }
    with pytest.raises(ValidationError):
        validate(cq, "1.31")
