"""The Deployment controller: rolls Deployments out through ReplicaSets, as Kubernetes does."""

from kubeling.controllers.deployment.controller import DeploymentController

__all__ = ["DeploymentController"]
