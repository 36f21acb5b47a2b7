"""Local images built from the static busybox binary: `busybox` for workloads and the pause image
containerd runs as every pod's sandbox. No registry is needed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from kubeling.images.oci import Entry, layer_tar, make_layer, write_image_tar

BUSYBOX_IMAGE = "docker.io/library/busybox:latest"
PAUSE_IMAGE = "registry.k8s.io/pause:3.9"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# PID 1 ignores SIGTERM unless it handles it: trap it so StopPodSandbox/StopContainer end at once.
PAUSE_SCRIPT = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait; done"

_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
_GROUP = "root:x:0:\nnobody:x:65534:\n"


class BusyboxNotFound(RuntimeError):
    pass


def find_static_busybox() -> Path:
    """The statically linked busybox (Debian's busybox-static); a dynamic one cannot run in an empty rootfs."""
    candidates = [shutil.which("busybox"), "/bin/busybox", "/usr/bin/busybox"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and _is_static_elf(Path(candidate)):
            return Path(candidate).resolve()
    raise BusyboxNotFound("no statically linked busybox found on PATH or in /bin (install busybox-static)")


def _is_static_elf(path: Path) -> bool:
    """True for an ELF executable without a PT_INTERP program header (i.e. not dynamically linked)."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:  # 64-bit only, which is all we build for
        return False
    order = "little" if data[5] == 1 else "big"
    phoff = int.from_bytes(data[0x20:0x28], order)
    phentsize = int.from_bytes(data[0x36:0x38], order)
    phnum = int.from_bytes(data[0x38:0x3A], order)
    for i in range(phnum):
        p_type = int.from_bytes(data[phoff + i * phentsize:phoff + i * phentsize + 4], order)
        if p_type == 3:  # PT_INTERP
            return False
    return True


def applets(busybox: Path) -> list[str]:
    """Paths (without leading slash) of every applet busybox provides, e.g. `bin/sh`, `usr/bin/env`."""
    out = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True, check=True).stdout
    return [line.strip().lstrip("/") for line in out.splitlines() if line.strip()]


def _dirs_of(paths: list[str]) -> set[str]:
    dirs: set[str] = set()
    for path in paths:
        parts = path.split("/")[:-1]
        dirs.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    return dirs


def busybox_rootfs(busybox: Path, *, links: bool = True, extra_files: dict[str, bytes] | None = None) -> list[Entry]:
    """/bin/busybox, its applet symlinks, /etc/passwd and /etc/group, /tmp, /root, and `extra_files`."""
    files = {"etc/passwd": _PASSWD.encode(), "etc/group": _GROUP.encode(), **(extra_files or {})}
    files = {path.lstrip("/"): data for path, data in files.items()}
    links_to = [p for p in applets(busybox) if p != "bin/busybox"] if links else []
    entries = [Entry("bin/busybox", data=busybox.read_bytes(), mode=0o755)]
    entries += [Entry(path, "symlink", target="/bin/busybox") for path in links_to]
    entries += [Entry(path, data=data) for path, data in files.items()]
    dirs = _dirs_of(["bin/busybox", *links_to, *files]) | {"etc", "root", "proc", "sys", "dev", "var"}
    entries += [Entry(d, "dir", mode=0o755) for d in dirs]
    entries += [Entry("tmp", "dir", mode=0o1777), Entry("var/tmp", "dir", mode=0o1777)]
    return entries


def build_busybox(out: Path, name: str = BUSYBOX_IMAGE, *, extra_file: tuple[str, bytes] | None = None,
                  busybox: Path | None = None) -> str:
    """Write a busybox image tarball to `out`; return its image id.

    `extra_file` (path, content) adds one file, so two tags of "the same" busybox can differ in
    image id (rolling-update tests need that)."""
    binary = busybox or find_static_busybox()
    extra = dict([extra_file]) if extra_file else None
    layer = make_layer(layer_tar(busybox_rootfs(binary, extra_files=extra)))
    config = {"Cmd": ["sh"], "Env": [DEFAULT_PATH], "WorkingDir": "/"}
    return write_image_tar(out, name, [layer], config)


def build_pause(out: Path, name: str = PAUSE_IMAGE, *, busybox: Path | None = None) -> str:
    """Write the pause (sandbox) image tarball to `out`; return its image id.

    It holds only busybox with `sh` and `sleep`; it sleeps forever and exits 0 on SIGTERM."""
    binary = busybox or find_static_busybox()
    entries = [Entry("bin/busybox", data=binary.read_bytes(), mode=0o755),
               Entry("bin/sh", "symlink", target="/bin/busybox"),
               Entry("bin/sleep", "symlink", target="/bin/busybox"),
               Entry("bin", "dir", mode=0o755), Entry("etc", "dir", mode=0o755),
               Entry("proc", "dir", mode=0o755), Entry("sys", "dir", mode=0o755), Entry("dev", "dir", mode=0o755),
               Entry("etc/passwd", data=_PASSWD.encode()), Entry("etc/group", data=_GROUP.encode())]
    config = {"Entrypoint": ["/bin/sh", "-c", PAUSE_SCRIPT], "Env": [DEFAULT_PATH], "WorkingDir": "/"}
    return write_image_tar(out, name, [make_layer(layer_tar(entries))], config)
