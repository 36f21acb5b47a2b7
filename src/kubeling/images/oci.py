"""Writing OCI image-layout tarballs (the format `ctr images import` reads), without a registry.

Everything written is deterministic (fixed mtimes, owners and ordering, gzip without a
timestamp), so the same inputs always give the same image id.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import platform
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import orjson

MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"

# containerd names the imported image after this annotation; the OCI tag annotation is the
# short form other tools (skopeo, podman) read.
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"

FIXED_MTIME = 0  # 1970-01-01: no build clock leaks into digests
_GO_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
            "armv7l": "arm", "armv6l": "arm", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
            "i686": "386", "i386": "386"}


def machine_arch() -> str:
    """This machine's architecture in OCI (GOARCH) spelling."""
    machine = platform.machine().lower()
    return _GO_ARCH.get(machine, machine)


def normalize_ref(name: str) -> str:
    """A full image reference as containerd stores it: `busybox` -> `docker.io/library/busybox:latest`."""
    if "@" in name:
        return name
    repo, tag = name, "latest"
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        repo, tag = name.rsplit(":", 1)
    first = repo.split("/", 1)[0]
    if "/" not in repo:
        repo = f"docker.io/library/{repo}"
    elif not ("." in first or ":" in first or first == "localhost"):
        repo = f"docker.io/{repo}"
    return f"{repo}:{tag}"


def ref_tag(name: str) -> str:
    """The tag part of a reference (what `org.opencontainers.image.ref.name` carries)."""
    return normalize_ref(name).rsplit(":", 1)[-1]


@dataclass
class Entry:
    """One file system entry of a layer: a regular file, a directory or a symlink."""

    path: str  # inside the image, without a leading slash
    kind: str = "file"  # "file" | "dir" | "symlink"
    data: bytes = b""
    mode: int = 0o644
    target: str = ""  # for symlinks


@dataclass
class Layer:
    """A layer's blob as stored (compressed or not) and its uncompressed digest."""

    blob: bytes
    media_type: str
    diff_id: str = field(default="")

    @property
    def digest(self) -> str:
        return _sha256(self.blob)


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(entries: list[Entry]) -> bytes:
    """A deterministic uncompressed tar of `entries`, parents before children."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(entries, key=lambda e: e.path):
            info = tarfile.TarInfo(entry.path.lstrip("/"))
            info.mtime, info.uid, info.gid, info.uname, info.gname = FIXED_MTIME, 0, 0, "root", "root"
            info.mode = entry.mode
            if entry.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif entry.kind == "symlink":
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, entry.target, 0o777
                tar.addfile(info)
            elif entry.kind == "file":
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
            else:
                raise ValueError(f"unknown layer entry kind {entry.kind!r} for {entry.path}")
    return buf.getvalue()


def make_layer(tar_bytes: bytes, *, compress: bool = True) -> Layer:
    """Wrap an uncompressed layer tar; gzip it (mtime 0, so the blob is reproducible) unless asked not to."""
    diff_id = _sha256(tar_bytes)
    if not compress:
        return Layer(tar_bytes, MEDIA_LAYER_TAR, diff_id)
    blob = gzip.compress(tar_bytes, compresslevel=6, mtime=0)
    return Layer(blob, MEDIA_LAYER_GZIP, diff_id)


def _as_layer(layer: Layer | Path | bytes) -> Layer:
    if isinstance(layer, Layer):
        return layer
    raw = Path(layer).read_bytes() if isinstance(layer, Path) else layer
    if raw[:2] == b"\x1f\x8b":  # already gzip: keep the blob, the diff id is of its contents
        return Layer(raw, MEDIA_LAYER_GZIP, _sha256(gzip.decompress(raw)))
    return make_layer(raw)


def image_config(layers: list[Layer], config: dict) -> dict:
    """The OCI image configuration: platform, the container defaults in `config`, and the rootfs diff ids."""
    return {
        "architecture": machine_arch(),
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "kubeling image build"}
                    for _ in layers],
    }


def _json(obj: dict) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


def write_image_tar(out: Path, name: str, layers: list[Layer | Path | bytes], config: dict) -> str:
    """Write an OCI image-layout tarball of one image named `name`; return the image id (config digest).

    `layers` are bottom-first: `Layer`s, or paths to / bytes of plain or gzipped tars.
    `config` is the OCI `config` object (Cmd, Entrypoint, Env, WorkingDir, User, ...).
    """
    full_name = normalize_ref(name)
    built = [_as_layer(layer) for layer in layers]
    config_blob = _json(image_config(built, config))
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": _sha256(config_blob), "size": len(config_blob)},
        "layers": [{"mediaType": layer.media_type, "digest": layer.digest, "size": len(layer.blob)}
                   for layer in built],
    }
    manifest_blob = _json(manifest)
    index = {
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": [{
            "mediaType": MEDIA_MANIFEST, "digest": _sha256(manifest_blob), "size": len(manifest_blob),
            "platform": {"architecture": machine_arch(), "os": "linux"},
            "annotations": {ANNOTATION_CONTAINERD_NAME: full_name, ANNOTATION_REF_NAME: ref_tag(full_name)},
        }],
    }
    files: dict[str, bytes] = {"oci-layout": _json({"imageLayoutVersion": "1.0.0"}), "index.json": _json(index)}
    for blob in [config_blob, manifest_blob, *(layer.blob for layer in built)]:
        files["blobs/sha256/" + hashlib.sha256(blob).hexdigest()] = blob
    entries = [Entry("blobs", "dir", mode=0o755), Entry("blobs/sha256", "dir", mode=0o755)]
    entries += [Entry(path, data=data) for path, data in files.items()]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    tmp.write_bytes(layer_tar(entries))
    tmp.replace(out)  # readers never see half an archive
    return _sha256(config_blob)
