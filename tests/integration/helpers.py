"""Object builders and response checks shared by the integration tests."""

from __future__ import annotations

from typing import Any

import requests


def status_of(r: requests.Response) -> dict[str, Any]:
    """The metav1.Status of a failed request, checked for the shape every client relies on."""
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    body = r.json()
    assert body["kind"] == "Status" and body["apiVersion"] == "v1", body
    assert body["status"] == "Failure" and body["code"] == r.status_code, body
    return body


def cm(name: str, data: dict[str, str] | None = None, labels: dict[str, str] | None = None,
       **metadata: Any) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, **metadata}
    if labels:
        md["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": md, "data": data or {"k": "v"}}


def pod(name: str, labels: dict[str, str] | None = None, node: str | None = None, **metadata: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    md: dict[str, Any] = {"name": name, **metadata}
    if labels:
        md["labels"] = labels
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec}


def deployment(name: str, replicas: int = 2, image: str = "nginx:1.25") -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}
