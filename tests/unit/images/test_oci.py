"""OCI image-layout tarballs: structure, digests, determinism, and the busybox/pause images."""

import gzip
import hashlib
import io
import sys
import tarfile
from pathlib import Path

import orjson
import pytest

from kubeling.images import busybox as bb
from kubeling.images.oci import (
    ANNOTATION_CONTAINERD_NAME,
    ANNOTATION_REF_NAME,
    MEDIA_LAYER_GZIP,
    MEDIA_LAYER_TAR,
    Entry,
    layer_tar,
    machine_arch,
    make_layer,
    normalize_ref,
    write_image_tar,
)


def read_layout(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def blob(files: dict[str, bytes], digest: str) -> bytes:
    return files["blobs/sha256/" + digest.removeprefix("sha256:")]


def manifest_and_config(files: dict[str, bytes]) -> tuple[dict, dict, dict]:
    index = orjson.loads(files["index.json"])
    manifest = orjson.loads(blob(files, index["manifests"][0]["digest"]))
    config = orjson.loads(blob(files, manifest["config"]["digest"]))
    return index, manifest, config


def small_layer() -> bytes:
    return layer_tar([Entry("hello", data=b"hi\n"), Entry("bin", "dir", mode=0o755),
                      Entry("bin/sh", "symlink", target="/bin/busybox")])


@pytest.mark.parametrize("name,full", [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("library/busybox:1.36", "docker.io/library/busybox:1.36"),
    ("me/app", "docker.io/me/app:latest"),
    ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause:3.9"),
    ("localhost:5000/app", "localhost:5000/app:latest"),
    ("localhost/app:v1", "localhost/app:v1"),
])
def test_normalize_ref(name, full):
    assert normalize_ref(name) == full


def test_layout_has_index_annotations_and_matching_digests(tmp_path):
    out = tmp_path / "img.tar"
    image_id = write_image_tar(out, "busybox:1.36", [small_layer()], {"Cmd": ["sh"], "Env": ["A=1"]})
    files = read_layout(out)
    assert orjson.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    for name, data in files.items():  # every blob is stored under its own digest
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]
    index, manifest, config = manifest_and_config(files)
    descriptor = index["manifests"][0]
    assert descriptor["annotations"] == {ANNOTATION_CONTAINERD_NAME: "docker.io/library/busybox:1.36",
                                         ANNOTATION_REF_NAME: "1.36"}
    assert descriptor["platform"] == {"architecture": machine_arch(), "os": "linux"}
    assert descriptor["size"] == len(blob(files, descriptor["digest"]))
    assert image_id == manifest["config"]["digest"]
    assert config["architecture"] == machine_arch() and config["os"] == "linux"
    assert config["config"] == {"Cmd": ["sh"], "Env": ["A=1"]}
    layer_desc = manifest["layers"][0]
    assert layer_desc["mediaType"] == MEDIA_LAYER_GZIP
    uncompressed = gzip.decompress(blob(files, layer_desc["digest"]))
    assert config["rootfs"] == {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(uncompressed).hexdigest()]}


def test_output_is_deterministic(tmp_path):
    a, b = tmp_path / "a.tar", tmp_path / "b.tar"
    assert write_image_tar(a, "x", [small_layer()], {}) == write_image_tar(b, "x", [small_layer()], {})
    assert a.read_bytes() == b.read_bytes()


def test_layers_from_paths_plain_and_gzip(tmp_path):
    plain = tmp_path / "plain.tar"
    plain.write_bytes(small_layer())
    gz = tmp_path / "layer.tar.gz"
    gz.write_bytes(gzip.compress(small_layer(), mtime=0))
    write_image_tar(tmp_path / "img.tar", "x", [plain, gz, make_layer(small_layer(), compress=False)], {})
    _, manifest, config = manifest_and_config(read_layout(tmp_path / "img.tar"))
    assert [layer["mediaType"] for layer in manifest["layers"]] == [MEDIA_LAYER_GZIP, MEDIA_LAYER_GZIP,
                                                                      MEDIA_LAYER_TAR]
    # the same content gives the same diff id however it was stored
    assert len(set(config["rootfs"]["diff_ids"])) == 1


def test_layer_tar_entries_are_owned_by_root_with_fixed_times():
    with tarfile.open(fileobj=io.BytesIO(small_layer())) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["bin", "bin/sh", "hello"]  # parents before children
    assert all(m.uid == 0 and m.gid == 0 and m.mtime == 0 for m in members)
    assert members[1].issym() and members[1].linkname == "/bin/busybox"


def test_unknown_entry_kind_is_rejected():
    with pytest.raises(ValueError, match="unknown layer entry kind"):
        layer_tar([Entry("x", "fifo")])


def test_dynamic_binary_is_not_taken_for_static_busybox():
    assert not bb._is_static_elf(Path(sys.executable).resolve())


def _rootfs_members(path: Path) -> dict[str, tarfile.TarInfo]:
    files = read_layout(path)
    _, manifest, config = manifest_and_config(files)
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob(files, manifest["layers"][0]["digest"])))) as tar:
        return {m.name: m for m in tar.getmembers()}


def _static_busybox_present() -> bool:
    try:
        bb.find_static_busybox()
    except bb.BusyboxNotFound:
        return False
    return True


busybox_needed = pytest.mark.skipif(not _static_busybox_present(),
                                    reason="no static busybox (busybox-static) on PATH")


@busybox_needed
def test_busybox_image_has_applets_users_and_tmp(tmp_path):
    out = tmp_path / "busybox.tar"
    bb.build_busybox(out)
    members = _rootfs_members(out)
    assert members["bin/busybox"].mode == 0o755 and members["bin/busybox"].size > 100_000
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "/bin/busybox"
    assert "usr/bin/env" in members and "etc/passwd" in members and "etc/group" in members
    assert members["tmp"].isdir() and members["tmp"].mode == 0o1777
    _, _, config = manifest_and_config(read_layout(out))
    assert config["config"]["Cmd"] == ["sh"]


@busybox_needed
def test_two_busybox_tags_differ_in_image_id(tmp_path):
    latest = bb.build_busybox(tmp_path / "a.tar")
    again = bb.build_busybox(tmp_path / "b.tar")
    other = bb.build_busybox(tmp_path / "c.tar", "busybox:1.37", extra_file=("etc/busybox-tag", b"1.37\n"))
    assert latest == again != other
    assert "etc/busybox-tag" in _rootfs_members(tmp_path / "c.tar")
    index, _, _ = manifest_and_config(read_layout(tmp_path / "c.tar"))
    assert index["manifests"][0]["annotations"][ANNOTATION_CONTAINERD_NAME] == "docker.io/library/busybox:1.37"


@busybox_needed
def test_pause_image_traps_sigterm(tmp_path):
    out = tmp_path / "pause.tar"
    bb.build_pause(out)
    index, _, config = manifest_and_config(read_layout(out))
    assert index["manifests"][0]["annotations"][ANNOTATION_CONTAINERD_NAME] == bb.PAUSE_IMAGE
    entrypoint = config["config"]["Entrypoint"]
    assert entrypoint[:2] == ["/bin/sh", "-c"] and "trap 'exit 0' TERM" in entrypoint[2]
    assert {"bin/busybox", "bin/sh", "bin/sleep"} <= set(_rootfs_members(out))
