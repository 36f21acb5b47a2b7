"""The kubelet's serving certificate: self-signed (`<host>@<unix time>`), as a kubelet's is by
default, kept under ROOT/pki as kubelet.crt and kubelet.key (as in /var/lib/kubelet/pki) and
made again only when the node's name or addresses change.

`cryptography` costs a node agent ~14 MiB of RSS once imported, and the agent needs it for
nothing else: a process that has not imported it makes the certificate in a child process
(`python -m kubeling.kubelet.servingcert HOST IP...`, PEM certificate then key on stdout).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import subprocess
import sys
import time
from pathlib import Path

_KEY_MARKER = b"-----BEGIN PRIVATE KEY-----"


def self_signed_cert(hostname: str, ips: list[str]) -> tuple[bytes, bytes]:
    """A new certificate for `hostname` and `ips` signed by its own key: (cert PEM, key PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{hostname}@{int(time.time())}")])
    sans: list[x509.GeneralName] = [x509.DNSName(hostname)]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _made_elsewhere(hostname: str, ips: list[str]) -> tuple[bytes, bytes]:
    # The child imports this very copy of kubeling, wherever it was imported from.
    package_parent = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-m", "kubeling.kubelet.servingcert", hostname, *ips],
                         capture_output=True, check=True, timeout=60, env=env).stdout
    cut = out.index(_KEY_MARKER)
    return out[:cut], out[cut:]


def serving_cert(hostname: str, ips: list[str], pki_dir: Path | None = None) -> tuple[bytes, bytes]:
    """(cert PEM, key PEM) for the kubelet: the kept one when it was made for these names."""
    stamp = json.dumps({"hostname": hostname, "ips": sorted(ips)})
    if pki_dir is not None:
        paths = [pki_dir / name for name in ("kubelet.crt", "kubelet.key", "kubelet.names")]
        if all(p.exists() for p in paths) and paths[2].read_text() == stamp:
            return paths[0].read_bytes(), paths[1].read_bytes()
    make = self_signed_cert if "cryptography" in sys.modules else _made_elsewhere
    cert, key = make(hostname, ips)
    if pki_dir is not None:
        pki_dir.mkdir(parents=True, exist_ok=True)
        paths[0].write_bytes(cert)
        fd = os.open(paths[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        paths[2].write_text(stamp)
    return cert, key


if __name__ == "__main__":
    cert_pem, key_pem = self_signed_cert(sys.argv[1], sys.argv[2:])
    sys.stdout.buffer.write(cert_pem + key_pem)
