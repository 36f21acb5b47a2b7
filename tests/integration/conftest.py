"""An HTTPS client for raw API requests against the module's real kubeling server.

Tests here speak the REST API directly (no kubectl, no generated client) so that they can
send malformed bodies, odd headers and exact query parameters, and see every status code.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
import yaml

_names = itertools.count()


class Api:
    """A thin requests.Session bound to the server URL, authenticated by the admin client cert."""

    def __init__(self, base: str, session: requests.Session):
        self.base = base
        self.session = session

    def request(self, method: str, path: str, body: Any = None, *, data: bytes | str | None = None,
                content_type: str | None = None, headers: dict[str, str] | None = None,
                params: dict[str, Any] | list[tuple[str, Any]] | None = None, **kw: Any) -> requests.Response:
        hdrs = dict(headers or {})
        if body is not None:
            data = orjson.dumps(body)
            hdrs.setdefault("Content-Type", content_type or "application/json")
        elif content_type:
            hdrs["Content-Type"] = content_type
        return self.session.request(method, self.base + path, data=data, headers=hdrs, params=params,
                                    timeout=kw.pop("timeout", 10), **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.request("PUT", path, body, **kw)

    def patch(self, path: str, body: Any = None, *, patch_type: str = "merge", **kw: Any) -> requests.Response:
        ctype = f"application/{patch_type}-patch+json"
        return self.request("PATCH", path, body, content_type=ctype, **kw)

    def delete(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, body, **kw)

    def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> dict[str, Any]:
        """The decoded answer of a request that must succeed."""
        r = self.request(method, path, body, **kw)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        return r.json()

    def watch(self, path: str, params: dict[str, Any] | None = None, **kw: Any) -> Iterator[dict[str, Any]]:
        """The events of a watch, one decoded line each, until the server ends the stream.

        The request is sent at once (not on the first next()), so that the watch is established
        before the caller makes the changes it wants to see."""
        q = {"watch": "true", **(params or {})}
        r = self.get(path, params=q, stream=True, **kw)
        if r.status_code != 200:
            r.close()
            raise AssertionError(f"watch {path}: {r.status_code} {r.text}")

        def events() -> Iterator[dict[str, Any]]:
            with r:
                for line in r.iter_lines():
                    if line:
                        yield orjson.loads(line)

        return events()

    def namespace(self, prefix: str = "it") -> str:
        """A fresh namespace, so that tests sharing one server never see each other's objects."""
        name = f"{prefix}-{next(_names)}"
        self.ok("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        return name


def _write_pem(directory: Path, name: str, b64: str) -> str:
    path = directory / name
    path.write_bytes(base64.b64decode(b64))
    path.chmod(0o600)
    return str(path)


def _session(kubeconfig: Path, cert_dir: Path, with_client_cert: bool) -> tuple[str, requests.Session]:
    cfg = yaml.safe_load(kubeconfig.read_text())
    cluster, user = cfg["clusters"][0]["cluster"], cfg["users"][0]["user"]
    s = requests.Session()
    s.trust_env = False  # REQUESTS_CA_BUNDLE or a proxy from the environment would override ours
    s.verify = _write_pem(cert_dir, "ca.crt", cluster["certificate-authority-data"])
    if with_client_cert:
        s.cert = (_write_pem(cert_dir, "client.crt", user["client-certificate-data"]),
                  _write_pem(cert_dir, "client.key", user["client-key-data"]))
    return cluster["server"], s


@pytest.fixture(scope="module")
def server(api_only_server):
    """Integration tests check the API server and clients alone: no controllers run."""
    return api_only_server


@pytest.fixture(scope="module")
def api(server, tmp_path_factory) -> Iterator[Api]:
    base, session = _session(server.kubeconfig, tmp_path_factory.mktemp("certs"), True)
    yield Api(base, session)
    session.close()


@pytest.fixture(scope="module")
def anonymous(server, tmp_path_factory) -> Iterator[Api]:
    """A client that trusts the server but presents no credentials."""
    base, session = _session(server.kubeconfig, tmp_path_factory.mktemp("anon"), False)
    yield Api(base, session)
    session.close()
