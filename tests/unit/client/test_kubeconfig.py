"""Loading kubeconfigs: auth kinds, files vs inline data, contexts, $KUBECONFIG merging, TLS."""

from __future__ import annotations

import base64
import datetime as dt
import ssl
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubeling.client import kubeconfig
from kubeling.client.kubeconfig import KubeconfigError, load_kubeconfig


def _cert(subject: str, key, issuer: str, issuer_key, ca: bool) -> bytes:
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(issuer_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def pki() -> dict[str, bytes]:
    """A small CA and a client key pair it signed (EC keys: fast to make)."""
    ca_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    return {
        "ca": _cert("test-ca", ca_key, "test-ca", ca_key, True),
        "cert": _cert("admin", client_key, "test-ca", ca_key, False),
        "key": client_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()),
    }


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def config(cluster: dict, user: dict, *, name: str = "c1", namespace: str | None = None,
           current: str | None = "c1", extra_contexts: list[dict] | None = None) -> dict:
    ctx: dict = {"cluster": "k", "user": "u"}
    if namespace:
        ctx["namespace"] = namespace
    doc: dict = {"apiVersion": "v1", "kind": "Config",
                 "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:6443", **cluster}}],
                 "users": [{"name": "u", "user": user}],
                 "contexts": [{"name": name, "context": ctx}, *(extra_contexts or [])]}
    if current is not None:
        doc["current-context"] = current
    return doc


def write(path: Path, doc: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


def test_inline_data_is_decoded_and_builds_a_verifying_context(tmp_path, pki):
    path = write(tmp_path / "kc.yaml", config({"certificate-authority-data": b64(pki["ca"])},
                                              {"client-certificate-data": b64(pki["cert"]),
                                               "client-key-data": b64(pki["key"])}))
    conn = load_kubeconfig(path)
    assert (conn.server, conn.namespace, conn.context) == ("https://127.0.0.1:6443", "default", "c1")
    assert (conn.ca_data, conn.client_cert_data, conn.client_key_data) == (pki["ca"], pki["cert"], pki["key"])
    assert conn.bearer_token() is None
    ctx = conn.ssl_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    # Only the cluster CA is trusted, not the system roots.
    assert [c["subject"] for c in ctx.get_ca_certs()] == [((("commonName", "test-ca"),),)]


def test_relative_files_resolve_against_the_kubeconfig_directory(tmp_path, pki, monkeypatch):
    home = tmp_path / "conf"
    for name in ("ca", "cert", "key"):
        (home / "pki").mkdir(parents=True, exist_ok=True)
        (home / "pki" / f"{name}.pem").write_bytes(pki[name])
    path = write(home / "kc.yaml", config({"certificate-authority": "pki/ca.pem"},
                                          {"client-certificate": "pki/cert.pem", "client-key": "pki/key.pem"}))
    monkeypatch.chdir(tmp_path)  # a different working directory must not matter
    conn = load_kubeconfig(path)
    assert conn.ca_file == str(home.resolve() / "pki" / "ca.pem")
    assert conn.client_cert_file == str(home.resolve() / "pki" / "cert.pem")
    assert conn.client_key_file == str(home.resolve() / "pki" / "key.pem")
    assert len(conn.ssl_context().get_ca_certs()) == 1  # the files load, key pair included


def test_inline_token(tmp_path):
    path = write(tmp_path / "kc.yaml", config({"insecure-skip-tls-verify": True}, {"token": "abc"}))
    conn = load_kubeconfig(path)
    assert conn.bearer_token() == "abc"
    ctx = conn.ssl_context()
    assert ctx.verify_mode == ssl.CERT_NONE and not ctx.check_hostname


def test_token_file_is_read_and_refreshed(tmp_path, monkeypatch):
    (tmp_path / "token").write_text("first\n")
    path = write(tmp_path / "kc.yaml", config({}, {"tokenFile": "token"}))
    now = [1000.0]
    monkeypatch.setattr(kubeconfig.time, "monotonic", lambda: now[0])
    conn = load_kubeconfig(path)
    assert conn.bearer_token() == "first"
    (tmp_path / "token").write_text("second\n")
    assert conn.bearer_token() == "first"  # cached within the refresh period
    now[0] += kubeconfig.TOKEN_FILE_REFRESH_SECONDS + 1
    assert conn.bearer_token() == "second"
    (tmp_path / "token").unlink()
    now[0] += kubeconfig.TOKEN_FILE_REFRESH_SECONDS + 1
    assert conn.bearer_token() == "second"  # an unreadable file keeps the last good value


@pytest.mark.parametrize("context, expected_ns, expected_server", [
    (None, "team-a", "https://127.0.0.1:6443"),
    ("other", "default", "https://10.0.0.1"),
])
def test_context_selection(tmp_path, context, expected_ns, expected_server):
    doc = config({}, {"token": "t"}, namespace="team-a",
                 extra_contexts=[{"name": "other", "context": {"cluster": "k2", "user": "u"}}])
    doc["clusters"].append({"name": "k2", "cluster": {"server": "https://10.0.0.1/"}})
    conn = load_kubeconfig(write(tmp_path / "kc.yaml", doc), context)
    assert (conn.namespace, conn.server) == (expected_ns, expected_server)


@pytest.mark.parametrize("cluster, user, context, current, message", [
    ({}, {"token": "t"}, "nope", "c1", "context was not found for specified context: nope"),
    ({}, {"token": "t"}, None, "", "no context chosen"),
    ({}, {"token": "t"}, None, "gone", "context was not found for specified context: gone"),
    ({"server": ""}, {"token": "t"}, None, "c1", 'invalid configuration: no server found for cluster "k"'),
    ({"certificate-authority-data": "QQ==", "certificate-authority": "/ca.pem"}, {"token": "t"}, None, "c1",
     "certificate-authority-data and certificate-authority are both specified for k"),
    ({}, {"client-certificate-data": "QQ=="}, None, "c1",
     "client-key-data or client-key must be specified for u to use the clientCert authentication method."),
    ({}, {"client-certificate-data": "QQ==", "client-certificate": "/x", "client-key-data": "QQ=="}, None, "c1",
     "client-cert-data and client-cert are both specified for u"),
    ({}, {"tokenFile": "missing-token"}, None, "c1", "missing-token: no such file or directory"),
    ({}, {"token": "t", "username": "me"}, None, "c1", "more than one authentication method found for u"),
])
def test_unusable_configs_are_refused(tmp_path, cluster, user, context, current, message):
    path = write(tmp_path / "kc.yaml", config(cluster, user, current=current))
    with pytest.raises(KubeconfigError) as e:
        load_kubeconfig(path, context)
    assert message in str(e.value)


def test_context_referring_to_unknown_user_and_cluster(tmp_path):
    doc = config({}, {"token": "t"})
    doc["contexts"][0]["context"] = {"cluster": "nok", "user": "nou"}
    with pytest.raises(KubeconfigError) as e:
        load_kubeconfig(write(tmp_path / "kc.yaml", doc))
    assert str(e.value) == ('invalid configuration: [user "nou" was not found for context "c1", '
                            'cluster "nok" was not found for context "c1"]')


def test_kubeconfig_env_merges_files_first_wins(tmp_path, monkeypatch):
    first = config({}, {"token": "from-first"}, current="c1")
    first["clusters"][0]["cluster"]["server"] = "https://first"
    second = config({}, {"token": "from-second"}, name="c2", current="c2")
    second["clusters"][0]["cluster"]["server"] = "https://second"
    a, b = write(tmp_path / "a.yaml", first), write(tmp_path / "b.yaml", second)
    missing = tmp_path / "missing.yaml"
    monkeypatch.setenv("KUBECONFIG", f"{missing}:{a}:{b}")
    conn = load_kubeconfig()
    assert (conn.context, conn.server, conn.bearer_token()) == ("c1", "https://first", "from-first")
    # A context only the second file defines still uses the first file's "k" and "u".
    conn = load_kubeconfig(context="c2")
    assert (conn.server, conn.bearer_token()) == ("https://first", "from-first")


def test_explicit_missing_file_and_empty_env(tmp_path, monkeypatch):
    with pytest.raises(KubeconfigError, match="no such file"):
        load_kubeconfig(tmp_path / "nope.yaml")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "nope.yaml"))
    with pytest.raises(KubeconfigError, match="no configuration has been provided"):
        load_kubeconfig()


def test_default_path_is_home_kube_config(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    write(tmp_path / ".kube" / "config", config({}, {"token": "t"}))
    assert load_kubeconfig().bearer_token() == "t"
