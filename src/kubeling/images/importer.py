"""Importing image tarballs (OCI layout or docker-archive) into containerd's CRI namespace.

This shells out to `ctr`, which ships with containerd. Images are unpacked into the same
snapshotter the CRI plugin uses (overlayfs), so pods can start from them at once.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

CRI_NAMESPACE = "k8s.io"
IMAGE_SUFFIXES = (".tar", ".tar.gz", ".tgz")

# ctr 1.6 prints "unpacking docker.io/library/busybox:latest (sha256:...)...done" per image.
_UNPACKING = re.compile(r"^unpacking (\S+) \(sha256:[0-9a-f]+\)")


class ImageImportError(RuntimeError):
    pass


def ctr_binary() -> str:
    found = shutil.which("ctr")
    if not found:
        raise ImageImportError("ctr not found on PATH: it ships with containerd (install the containerd package)")
    return found


def import_images(address: str, files: list[Path], *, snapshotter: str = "overlayfs",
                  namespace: str = CRI_NAMESPACE, timeout: float = 300) -> list[str]:
    """Import each tarball into containerd at `address` (a socket path or unix:// URL); return the
    image names imported, in order."""
    socket = _socket_path(address)
    if not Path(socket).is_socket():
        raise ImageImportError(f"no containerd is listening on {socket}")
    names: list[str] = []
    for path in files:
        names += _import_one(socket, Path(path), snapshotter, namespace, timeout)
    return names


def import_dir(address: str, directory: Path, **kwargs) -> list[str]:
    """Import every *.tar / *.tar.gz / *.tgz in `directory` (k3s' air-gap convention DATA_DIR/images/)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.name.endswith(IMAGE_SUFFIXES))
    return import_images(address, files, **kwargs)


def _socket_path(address: str) -> str:
    return address.removeprefix("unix://")


def _import_one(address: str, path: Path, snapshotter: str, namespace: str, timeout: float) -> list[str]:
    if not path.is_file():
        raise ImageImportError(f"cannot import {path}: no such file")
    # No --no-unpack: CRI can only start containers from unpacked images; no --all-platforms:
    # only this machine's platform is wanted (and unpacked).
    cmd = [ctr_binary(), "--address", address, "--namespace", namespace, "images", "import",
           "--snapshotter", snapshotter, str(path)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ImageImportError(f"importing {path} took longer than {timeout:g}s") from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise ImageImportError(f"importing {path} failed: {detail[-1] if detail else f'ctr exit {done.returncode}'}")
    names = [m.group(1) for line in done.stdout.splitlines() if (m := _UNPACKING.match(line.strip()))]
    if not names:
        raise ImageImportError(f"importing {path}: the archive holds no named image (ctr said: "
                               f"{done.stdout.strip() or 'nothing'})")
    return names
