"""The cluster's PKI: a CA, the API server's serving certificate, the admin credential.

Generated once under DATA_DIR/pki and reused on every restart, so kubeconfigs stay valid.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = dt.timedelta(days=3650)


@dataclass(frozen=True)
class Pki:
    dir: Path

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.dir / "apiserver.crt"

    @property
    def server_key(self) -> Path:
        return self.dir / "apiserver.key"

    @property
    def admin_cert(self) -> Path:
        return self.dir / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.dir / "admin.key"

    @property
    def admin_token(self) -> Path:
        return self.dir / "admin.token"

    def token(self) -> str:
        return self.admin_token.read_text().strip()


def ensure_pki(data_dir: Path) -> Pki:
    """Create whatever part of the PKI is missing; keep what exists."""
    pki = Pki(data_dir / "pki")
    pki.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not pki.ca_cert.exists():
        key = _new_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubeling-ca")])
        cert = (_builder(name, name, key.public_key())
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
                .sign(key, hashes.SHA256()))
        _write(pki.ca_key, pki.ca_cert, key, cert)
    ca_key, ca_cert = _load(pki.ca_key, pki.ca_cert)
    if not pki.server_cert.exists():
        _issue(pki.server_key, pki.server_cert, ca_key, ca_cert, "kube-apiserver", None,
               ExtendedKeyUsageOID.SERVER_AUTH, _server_names())
    if not pki.admin_cert.exists():
        _issue(pki.admin_key, pki.admin_cert, ca_key, ca_cert, "kubernetes-admin", "system:masters",
               ExtendedKeyUsageOID.CLIENT_AUTH, None)
    if not pki.admin_token.exists():
        _write_private(pki.admin_token, secrets.token_urlsafe(32).encode() + b"\n")
    return pki


def issue_client_cert(pki: Pki, common_name: str, organization: str | None) -> tuple[bytes, bytes]:
    """A client certificate signed by the cluster CA (PEM cert, PEM key), e.g. for a node agent."""
    ca_key, ca_cert = _load(pki.ca_key, pki.ca_cert)
    key = _new_key()
    cert = _client_or_server(ca_key, ca_cert, key, common_name, organization, ExtendedKeyUsageOID.CLIENT_AUTH, None)
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def _server_names() -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.DNSName("kubernetes"),
                                     x509.DNSName("kubernetes.default"), x509.DNSName("kubernetes.default.svc"),
                                     x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                     x509.IPAddress(ipaddress.ip_address("::1"))]
    hostname = socket.gethostname()
    if hostname and hostname != "localhost":
        names.append(x509.DNSName(hostname))
    return names


def _issue(key_path: Path, cert_path: Path, ca_key, ca_cert, cn: str, org: str | None, usage, sans) -> None:
    key = _new_key()
    cert = _client_or_server(ca_key, ca_cert, key, cn, org, usage, sans)
    _write(key_path, cert_path, key, cert)


def _client_or_server(ca_key, ca_cert, key, cn: str, org: str | None, usage, sans) -> x509.Certificate:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    builder = (_builder(x509.Name(attrs), ca_cert.subject, key.public_key())
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _builder(subject: x509.Name, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(start + VALIDITY))


def _new_key() -> ec.EllipticCurvePrivateKey:
    # P-256: fast handshakes and quick generation, and every Kubernetes client accepts it.
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(key_path: Path, cert_path: Path, key, cert: x509.Certificate) -> None:
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _load(key_path: Path, cert_path: Path):
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return key, cert
