"""Reading a kubeconfig into the few facts a client needs to reach an API server.

Follows client-go's clientcmd rules where they matter to us:
- `$KUBECONFIG` is a path list; files are merged with the first file to set a name winning
  (also for current-context); missing files are skipped. Without it, `~/.kube/config`.
- The context is the one asked for, else `current-context`; an unknown context is an error.
- Relative file paths (certificate-authority, client-certificate, client-key, tokenFile) are
  resolved against the directory of the kubeconfig file that holds them.
- `*-data` fields are base64 and set together with their file twin they are an error, as in
  clientcmd's validation. A tokenFile is re-read now and then, and wins over an inline token.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_NAMESPACE = "default"
# client-go's cached file token source re-reads the file once a minute (tokens get rotated).
TOKEN_FILE_REFRESH_SECONDS = 60.0

_PATH_FIELDS = {
    "cluster": ("certificate-authority",),
    "user": ("client-certificate", "client-key", "tokenFile"),
}


class KubeconfigError(ValueError):
    """The kubeconfig cannot be used; the message follows clientcmd's wording."""


@dataclass
class Connection:
    """How to reach and authenticate to one API server."""

    server: str
    namespace: str = DEFAULT_NAMESPACE
    ca_data: bytes | None = None
    ca_file: str | None = None
    client_cert_data: bytes | None = None
    client_cert_file: str | None = None
    client_key_data: bytes | None = None
    client_key_file: str | None = None
    token: str | None = None
    token_file: str | None = None
    insecure_skip_tls_verify: bool = False
    tls_server_name: str | None = None
    context: str = ""
    _token_cache: tuple[float, str] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def uses_tls(self) -> bool:
        return self.server.startswith("https://")

    def bearer_token(self) -> str | None:
        """The token to send, if any. The file is re-read once a minute; when it cannot be read
        the last value read (or the inline token) is kept, as client-go does."""
        if not self.token_file:
            return self.token
        now = time.monotonic()
        if self._token_cache and now - self._token_cache[0] < TOKEN_FILE_REFRESH_SECONDS:
            return self._token_cache[1]
        try:
            value = Path(self.token_file).read_text().strip()
        except OSError:
            return self._token_cache[1] if self._token_cache else self.token
        self._token_cache = (now, value)
        return value

    def ssl_context(self) -> ssl.SSLContext:
        """TLS settings: the cluster CA only (system roots when none is given), the client
        certificate if any, or no verification at all with insecure-skip-tls-verify."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if self.insecure_skip_tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_data:
            ctx.load_verify_locations(cadata=self.ca_data.decode())
        elif self.ca_file:
            ctx.load_verify_locations(cafile=self.ca_file)
        else:
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
        if self.client_cert_data or self.client_cert_file:
            _load_client_cert(ctx, self)
        return ctx


def _load_client_cert(ctx: ssl.SSLContext, conn: Connection) -> None:
    # The ssl module loads key pairs only from files: in-memory data goes through a private
    # temporary directory that is removed as soon as it has been read.
    with tempfile.TemporaryDirectory(prefix="kubeling-tls-") as tmp:
        cert = conn.client_cert_file
        key = conn.client_key_file
        if conn.client_cert_data:
            cert = _private_file(Path(tmp) / "client.crt", conn.client_cert_data)
        if conn.client_key_data:
            key = _private_file(Path(tmp) / "client.key", conn.client_key_data)
        ctx.load_cert_chain(certfile=cert, keyfile=key)


def _private_file(path: Path, data: bytes) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return str(path)


# ---- finding and merging files ------------------------------------------------------------------


def default_paths() -> list[Path]:
    """The files `$KUBECONFIG` names (in order), else `~/.kube/config`."""
    env = os.environ.get("KUBECONFIG", "")
    paths = [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return paths or [Path.home() / ".kube" / "config"]


def _named(entries: Any, inner: str, source: Path) -> dict[str, dict[str, Any]]:
    """`[{name, cluster: {...}}]` as {name: {...}}, with relative paths made absolute."""
    out: dict[str, dict[str, Any]] = {}
    for entry in entries or []:
        if not isinstance(entry, dict) or not entry.get("name"):
            continue
        body = dict(entry.get(inner) or {})
        for key in _PATH_FIELDS.get(inner, ()):
            value = body.get(key)
            if value and not os.path.isabs(os.path.expanduser(value)):
                body[key] = str(source.parent / value)
            elif value:
                body[key] = os.path.expanduser(value)
        out[entry["name"]] = body
    return out


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise KubeconfigError(f"error loading config file \"{path}\": {e}") from e
    if not isinstance(doc, dict):
        raise KubeconfigError(f"error loading config file \"{path}\": not a kubeconfig mapping")
    path = path.resolve()
    return {
        "current-context": doc.get("current-context") or "",
        "clusters": _named(doc.get("clusters"), "cluster", path),
        "users": _named(doc.get("users"), "user", path),
        "contexts": _named(doc.get("contexts"), "context", path),
    }


def merge(paths: list[Path], *, must_exist: bool) -> dict[str, Any]:
    """Merge kubeconfig files, the first file to set a name (or current-context) winning."""
    merged: dict[str, Any] = {"current-context": "", "clusters": {}, "users": {}, "contexts": {}}
    for path in paths:
        if not path.exists():
            if must_exist:
                raise KubeconfigError(f"stat {path}: no such file or directory")
            continue
        doc = _read(path)
        merged["current-context"] = merged["current-context"] or doc["current-context"]
        for section in ("clusters", "users", "contexts"):
            for name, body in doc[section].items():
                merged[section].setdefault(name, body)
    return merged


# ---- resolving one context ---------------------------------------------------------------------


def load_kubeconfig(path: str | os.PathLike | None = None, context: str | None = None) -> Connection:
    """The Connection of `context` (default: current-context) in the kubeconfig at `path`
    (default: the `$KUBECONFIG` files merged, else ~/.kube/config)."""
    paths = [Path(path).expanduser()] if path is not None else default_paths()
    config = merge(paths, must_exist=path is not None)
    return connection_for(config, context)


def connection_for(config: dict[str, Any], context: str | None = None) -> Connection:
    """Resolve one context of a merged config (see `merge`) into a Connection."""
    if not (config["clusters"] or config["users"] or config["contexts"]):
        raise KubeconfigError("invalid configuration: no configuration has been provided, "
                              "try setting KUBERNETES_MASTER environment variable")
    name = context or config["current-context"]
    if not name:
        raise KubeconfigError("no context chosen")
    ctx = config["contexts"].get(name)
    if ctx is None:
        raise KubeconfigError(f"context was not found for specified context: {name}")
    errs = _context_errors(name, ctx, config)
    cluster = config["clusters"].get(ctx.get("cluster", ""), {})
    user = config["users"].get(ctx.get("user", ""), {})
    if not errs:
        errs = _cluster_errors(ctx["cluster"], cluster) + _user_errors(ctx["user"], user)
    if errs:
        raise KubeconfigError("invalid configuration: " + _aggregate(errs))
    return Connection(
        server=cluster["server"].rstrip("/"),
        namespace=ctx.get("namespace") or DEFAULT_NAMESPACE,
        ca_data=_b64(cluster, "certificate-authority-data"),
        ca_file=cluster.get("certificate-authority"),
        client_cert_data=_b64(user, "client-certificate-data"),
        client_cert_file=user.get("client-certificate"),
        client_key_data=_b64(user, "client-key-data"),
        client_key_file=user.get("client-key"),
        token=user.get("token") or None,
        token_file=user.get("tokenFile") or None,
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify")),
        tls_server_name=cluster.get("tls-server-name") or None,
        context=name,
    )


def _aggregate(errs: list[str]) -> str:
    # utilerrors.NewAggregate: one error alone, several in brackets.
    return errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]"


def _b64(section: dict[str, Any], key: str) -> bytes | None:
    value = section.get(key)
    if not value:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except ValueError as e:
        raise KubeconfigError(f"illegal base64 data in {key}") from e


def _context_errors(name: str, ctx: dict[str, Any], config: dict[str, Any]) -> list[str]:
    errs = []
    user, cluster = ctx.get("user"), ctx.get("cluster")
    if not user:
        errs.append(f'user was not specified for context "{name}"')
    elif user not in config["users"]:
        errs.append(f'user "{user}" was not found for context "{name}"')
    if not cluster:
        errs.append(f'cluster was not specified for context "{name}"')
    elif cluster not in config["clusters"]:
        errs.append(f'cluster "{cluster}" was not found for context "{name}"')
    return errs


def _cluster_errors(name: str, cluster: dict[str, Any]) -> list[str]:
    errs = []
    if not cluster.get("server"):
        errs.append(f'no server found for cluster "{name}"')
    ca_file = cluster.get("certificate-authority")
    if ca_file and cluster.get("certificate-authority-data"):
        errs.append(f"certificate-authority-data and certificate-authority are both specified for {name}. "
                    "certificate-authority-data will override.")
    if ca_file and not os.path.exists(ca_file):
        errs.append(f"unable to read certificate-authority {ca_file} for {name} due to "
                    f"open {ca_file}: no such file or directory")
    return errs


def _user_errors(name: str, user: dict[str, Any]) -> list[str]:
    errs = []
    cert, cert_data = user.get("client-certificate"), user.get("client-certificate-data")
    key, key_data = user.get("client-key"), user.get("client-key-data")
    if cert or cert_data:
        if cert and cert_data:
            errs.append(f"client-cert-data and client-cert are both specified for {name}. "
                        "client-cert-data will override.")
        if key and key_data:
            errs.append(f"client-key-data and client-key are both specified for {name}; "
                        "client-key-data will override")
        if not key and not key_data:
            errs.append(f"client-key-data or client-key must be specified for {name} "
                        "to use the clientCert authentication method.")
        for label, path in (("client-cert", cert), ("client-key", key)):
            if path and not os.path.exists(path):
                errs.append(f"unable to read {label} {path} for {name} due to "
                            f"open {path}: no such file or directory")
    token_file = user.get("tokenFile")
    if token_file and not user.get("token") and not os.path.exists(token_file):
        errs.append(f"open {token_file}: no such file or directory")
    if user.get("token") and (user.get("username") or user.get("password")):
        errs.append(f"more than one authentication method found for {name}; "
                    "found [token basicAuth], only one is allowed")
    return errs
