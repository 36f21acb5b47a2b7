"""Writing the admin kubeconfig that kubectl and client libraries read."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import yaml

from kubeling.apiserver.certs import Pki

CLUSTER = "kubeling"
USER = "kubeling-admin"


def admin_kubeconfig(pki: Pki, server_url: str) -> dict:
    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CLUSTER, "cluster": {"server": server_url, "certificate-authority-data": b64(pki.ca_cert)}}],
        "users": [{"name": USER, "user": {"client-certificate-data": b64(pki.admin_cert),
                                          "client-key-data": b64(pki.admin_key)}}],
        "contexts": [{"name": CLUSTER, "context": {"cluster": CLUSTER, "user": USER, "namespace": "default"}}],
        "current-context": CLUSTER,
        "preferences": {},
    }


def write_kubeconfig(path: Path, config: dict) -> None:
    """Atomic write (readers never see a half file), private to the owner."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    os.replace(tmp, path)
