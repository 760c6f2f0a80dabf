"""The Kubernetes platform layer: objects built from the Plan, deployed by Pulumi or rendered for GitOps.

    compile_plan --> Plan.platform --build_objects--> (K8sObject | HelmChart, ...)
    (a PlatformPlan, dcinfra.plan.platform)                         |
                                   +--------------------------------+-----------------------+
                                   v                                                        v
                 program.register(...) through pulumi-kubernetes          gitops.render_gitops(...)
                 driven by engines.pulumi.preview/up/destroy              one YAML per object +
                 (Automation API, file:// backend in the state dir)       kustomization.yaml

The decisions are made once, in the plan; this package only spells them as objects. Everything up to the
objects is pure; :mod:`dcinfra.engines.pulumi` is the only module with side effects (it runs the Pulumi
CLI).
"""

from dcinfra.plan.platform import PlatformPlan
from dcinfra.platform.objects import HelmChart, Item, K8sObject, build_objects

__all__ = ["HelmChart", "Item", "K8sObject", "PlatformPlan", "build_objects"]
