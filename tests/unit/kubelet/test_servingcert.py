"""The kubelet's serving certificate: made once per set of names, kept under the root dir."""

from __future__ import annotations

import ssl

from kubeling.kubelet import servingcert


def _loads(cert: bytes, key: bytes, tmp_path) -> None:
    (tmp_path / "c.pem").write_bytes(cert)
    (tmp_path / "k.pem").write_bytes(key)
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")


def test_kept_and_reused_for_the_same_names(tmp_path):
    pki = tmp_path / "pki"
    first = servingcert.serving_cert("node-1", ["10.0.0.1"], pki)
    _loads(*first, tmp_path)
    assert servingcert.serving_cert("node-1", ["10.0.0.1"], pki) == first
    assert (pki / "kubelet.key").stat().st_mode & 0o777 == 0o600


def test_made_again_when_the_names_change(tmp_path):
    pki = tmp_path / "pki"
    first = servingcert.serving_cert("node-1", ["10.0.0.1"], pki)
    second = servingcert.serving_cert("node-1", ["10.0.0.2"], pki)
    assert second != first
    assert servingcert.serving_cert("node-1", ["10.0.0.2"], pki) == second


def test_a_child_process_makes_it_without_importing_cryptography_here(tmp_path):
    cert, key = servingcert._made_elsewhere("node-9", ["127.0.0.1"])
    assert cert.startswith(b"-----BEGIN CERTIFICATE-----") and key.startswith(b"-----BEGIN PRIVATE KEY-----")
    _loads(cert, key, tmp_path)
