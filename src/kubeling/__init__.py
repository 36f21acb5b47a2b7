"""kubeling: a small Kubernetes-compatible container orchestrator."""

__version__ = "0.1.0"

# The Kubernetes release whose API kubeling speaks (reported in /version).
KUBERNETES_VERSION = "v1.32.4"
