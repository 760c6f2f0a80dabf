"""The Kubernetes platform layer: objects built from the Plan, deployed by Pulumi or rendered for GitOps.

    Stack + Plan --plan_platform--> PlatformPlan --build_objects--> (K8sObject | HelmChart, ...)
                                                                     |
                                   +---------------------------------+----------------------+
                                   v                                                        v
                 program.register(...) through pulumi-kubernetes          gitops.render_gitops(...)
                 driven by engines.pulumi.preview/up/destroy              one YAML per object +
                 (Automation API, file:// backend in the state dir)       kustomization.yaml

Everything up to the objects is pure; :mod:`dcinfra.engines.pulumi` is the only module with side
effects (it runs the Pulumi CLI).
"""

from dcinfra.platform.objects import HelmChart, K8sObject, build_objects
from dcinfra.platform.plan import PlatformPlan, plan_platform, platform_problems

__all__ = ["HelmChart", "K8sObject", "PlatformPlan", "build_objects", "plan_platform", "platform_problems"]
