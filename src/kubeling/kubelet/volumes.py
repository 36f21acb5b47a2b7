"""Pod volumes, runtime-independent: each volume of a pod becomes a host path the runtime bind-mounts.

Kubernetes' layout under the kubelet's root dir (its /var/lib/kubelet):
    <root>/pods/<uid>/volumes/kubernetes.io~empty-dir/<name>
    <root>/pods/<uid>/volumes/kubernetes.io~configmap/<name>     (also ~secret, ~downward-api, ~projected)
hostPath volumes are the host's own path (checked per its type, never created under <root>).

Set-up follows the volume plugins (pkg/volume/{emptydir,hostpath,configmap,secret,downwardapi,projected})
and their messages; a failure is reported as `MountVolume.SetUp failed for volume "<name>" : <why>`
and retried with the volume manager's exponential backoff. Differences from Kubernetes: emptyDir
with medium Memory and secrets are plain directories on disk (no tmpfs), fsGroup/ownership are not
applied, and serviceAccountToken/clusterTrustBundle projections are skipped (no tokens yet).
"""

from __future__ import annotations

import base64
import logging
import os
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from kubeling.api.errors import ApiError
from kubeling.client.base import Client, Obj
from kubeling.client.clock import REAL, Clock
from kubeling.kubelet import atomic_writer, podspec
from kubeling.kubelet.runtime.base import Mount

log = logging.getLogger(__name__)

DEFAULT_MODE = 0o644  # the API's defaultMode (420)
EMPTY_DIR_MODE = 0o777
RETRY_INITIAL = 0.5  # seconds; nestedpendingoperations' initialDurationBeforeRetry
RETRY_MAX = 122.0  # maxDurationBeforeRetry (2m2s)
RESYNC_PERIOD = 10.0  # how often mounted configMap/secret/downwardAPI/projected contents are refreshed

PLUGIN_DIRS = {
    "emptyDir": "kubernetes.io~empty-dir",
    "configMap": "kubernetes.io~configmap",
    "secret": "kubernetes.io~secret",
    "downwardAPI": "kubernetes.io~downward-api",
    "projected": "kubernetes.io~projected",
}
# Their mounters report ReadOnly, so every mount of them is read-only whatever volumeMounts says.
READ_ONLY_KINDS = frozenset({"configMap", "secret", "downwardAPI", "projected"})


class VolumeError(Exception):
    """A volume cannot be set up; the message is the plugin's."""


@dataclass
class VolumePath:
    host_path: str
    readonly: bool = False


@dataclass
class PodVolumes:
    """A pod's set-up volumes by name, and the mounts a container of the pod gets from them."""

    paths: dict[str, VolumePath] = field(default_factory=dict)

    def mounts(self, container: Obj, env: dict[str, str]) -> list[Mount]:
        """The container's volumeMounts as host paths (kubelet's makeMounts); raises
        podspec.ConfigError, which fails the container with CreateContainerConfigError."""
        out = []
        for vm in container.get("volumeMounts") or ():
            name = vm.get("name", "")
            volume = self.paths.get(name)
            if volume is None:
                raise podspec.ConfigError(f'cannot find volume "{name}" to mount into container '
                                          f'"{container.get("name", "")}"')
            sub_path = vm.get("subPath", "")
            if vm.get("subPathExpr"):
                sub_path = expand_sub_path(vm["subPathExpr"], env)
            host = volume.host_path
            if sub_path:
                host = prepare_sub_path(volume.host_path, sub_path, name, container.get("name", ""))
            out.append(Mount(container_path=vm.get("mountPath", ""), host_path=host,
                             readonly=bool(vm.get("readOnly")) or volume.readonly))
        return out


# ---- subPath ----

_REFERENCE = re.compile(r"\$\$|\$\(([^)]*)\)")


def expand_sub_path(expr: str, env: dict[str, str]) -> str:
    """subPathExpr with $(VAR) from the container's env; unset or empty variables are an error."""
    missing: set[str] = set()

    def value(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        if not env.get(name):
            missing.add(name)
        return env.get(name, "")

    expanded = _REFERENCE.sub(value, expr)
    if missing:
        raise podspec.ConfigError(f"missing value for {', '.join(sorted(missing))}")
    return expanded


def _within(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip("/") + "/")


def prepare_sub_path(volume_path: str, sub_path: str, mount_name: str, container_name: str) -> str:
    """The host path for a subPath of a volume: created as a directory if missing (with the
    volume's mode), symlinks resolved, and refused if it leads out of the volume."""
    if sub_path.startswith("/"):
        raise podspec.ConfigError(f"error SubPath `{sub_path}` must not be an absolute path")
    if ".." in sub_path.split("/"):
        raise podspec.ConfigError(f"unable to provision SubPath `{sub_path}`: must not contain '..'")
    base = os.path.realpath(volume_path)
    real = os.path.realpath(os.path.join(volume_path, sub_path))
    if not _within(real, base):
        # as kubelet, no details: they could tell about the host's filesystem
        log.warning("subPath %s of volume %s leads out of it, to %s", sub_path, volume_path, real)
        raise podspec.ConfigError(f'failed to prepare subPath for volumeMount "{mount_name}" of container '
                                  f'"{container_name}"')
    if not os.path.lexists(real):
        try:
            mode = stat.S_IMODE(os.stat(base).st_mode)
            os.makedirs(real, mode=mode)
            os.chmod(real, mode)
        except OSError as e:
            log.warning("creating subPath %s: %s", real, e)
            raise podspec.ConfigError(f'failed to create subPath directory for volumeMount "{mount_name}" of '
                                      f'container "{container_name}"') from e
    return real


# ---- downward API ----

def go_quote(text: str) -> str:
    """Go's %q / strconv.Quote: double quotes, Go escapes, printable characters kept as they are."""
    escapes = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n",
               "\r": "\\r", "\t": "\\t", "\v": "\\v"}
    out = []
    for ch in text:
        if ch in escapes:
            out.append(escapes[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def format_map(m: dict[str, str]) -> str:
    """fieldpath.FormatMap: `key="value"` lines sorted by key, no trailing newline."""
    return "\n".join(f"{k}={go_quote(m[k])}" for k in sorted(m))


def field_path_value(pod: Obj, path: str) -> str:
    """fieldpath.ExtractFieldPathAsString for the fields a downwardAPI volume may project."""
    md = pod["metadata"]
    m = re.fullmatch(r"metadata\.(labels|annotations)\['(.*)'\]", path)
    if m:
        return (md.get(m.group(1)) or {}).get(m.group(2), "")
    if path in ("metadata.labels", "metadata.annotations"):
        return format_map(md.get(path.split(".")[1]) or {})
    if path in ("metadata.name", "metadata.namespace", "metadata.uid"):
        return md.get(path.split(".")[1], "")
    raise VolumeError(f"unsupported fieldPath: {path}")


def _find_container(pod: Obj, name: str) -> Obj:
    spec = pod.get("spec") or {}
    for c in [*(spec.get("containers") or ()), *(spec.get("initContainers") or ())]:
        if c.get("name") == name:
            return c
    raise VolumeError(f"container {name} not found")


def _mode(item: Obj, default: int) -> int:
    mode = item.get("mode")
    return default if mode is None else int(mode)


def downward_payload(pod: Obj, items: list[Obj], default_mode: int,
                     node_allocatable: dict[str, str] | None = None) -> atomic_writer.Payload:
    payload: atomic_writer.Payload = {}
    errors = []
    for item in items:
        try:
            if item.get("fieldRef"):
                value = field_path_value(pod, item["fieldRef"].get("fieldPath", ""))
            elif item.get("resourceFieldRef"):
                ref = item["resourceFieldRef"]
                container = _find_container(pod, ref.get("containerName", ""))
                value = podspec.resource_field_value(container, ref, node_allocatable or {})
            else:
                value = ""
        except VolumeError as e:
            errors.append(str(e))
            continue
        payload[item.get("path", "")] = (value.encode(), _mode(item, default_mode))
    if errors:
        raise VolumeError(aggregate(errors))
    return payload


def aggregate(errors: list[str]) -> str:
    """utilerrors.NewAggregate's message."""
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


# ---- configMap and secret ----

def _object_data(obj: Obj, secret: bool) -> dict[str, bytes]:
    if secret:
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    data = {k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()}
    data.update({k: v.encode() for k, v in (obj.get("data") or {}).items()})
    return data


def key_payload(data: dict[str, bytes], items: list[Obj], default_mode: int, optional: bool,
                secret: bool) -> atomic_writer.Payload:
    """configmap.MakePayload / secret.MakePayload: every key, or the items asked for."""
    if not items:
        return {key: (value, default_mode) for key, value in data.items()}
    payload: atomic_writer.Payload = {}
    for item in items:
        key = item.get("key", "")
        if key not in data:
            if optional:
                continue
            raise VolumeError(f"references non-existent secret key: {key}" if secret else
                              f"configmap references non-existent config key: {key}")
        payload[item.get("path", "")] = (data[key], _mode(item, default_mode))
    return payload


class _Objects:
    """ConfigMaps and Secrets of one namespace, each read once per set-up."""

    def __init__(self, client: Client, namespace: str):
        self.client, self.namespace = client, namespace
        self._cache: dict[tuple[str, str], Obj | None] = {}

    async def get(self, secret: bool, name: str) -> Obj | None:
        key = ("secret" if secret else "configmap", name)
        if key not in self._cache:
            try:
                self._cache[key] = await self.client.get(podspec.SECRETS if secret else podspec.CONFIGMAPS,
                                                         self.namespace, name)
            except ApiError as e:
                if e.code != 404:
                    raise VolumeError(e.message) from e
                self._cache[key] = None
        return self._cache[key]

    async def payload(self, secret: bool, name: str, items: list[Obj], default_mode: int,
                      optional: bool) -> atomic_writer.Payload:
        obj = await self.get(secret, name)
        if obj is None:
            if not optional:
                # the kubelet's watch-based manager answers NotFound with the singular resource
                raise VolumeError(f'{"secret" if secret else "configmap"} "{name}" not found')
            return {}
        return key_payload(_object_data(obj, secret), items, default_mode, optional, secret)


async def projected_payload(objects: _Objects, pod: Obj, source: Obj,
                            node_allocatable: dict[str, str] | None = None) -> atomic_writer.Payload:
    default_mode = int(source.get("defaultMode", DEFAULT_MODE))
    payload: atomic_writer.Payload = {}
    errors = []
    for projection in source.get("sources") or ():
        try:
            if projection.get("configMap") is not None or projection.get("secret") is not None:
                secret = projection.get("secret") is not None
                ref = projection["secret" if secret else "configMap"]
                payload.update(await objects.payload(secret, ref.get("name", ""), ref.get("items") or [],
                                                     default_mode, bool(ref.get("optional"))))
            elif projection.get("downwardAPI") is not None:
                payload.update(downward_payload(pod, projection["downwardAPI"].get("items") or [], default_mode,
                                                node_allocatable))
            else:
                kinds = ", ".join(k for k in projection if projection[k] is not None)
                log.info("pod %s/%s: projected source %s skipped (not supported yet)",
                         pod["metadata"].get("namespace"), pod["metadata"]["name"], kinds)
        except VolumeError as e:
            errors.append(str(e))
    if errors:
        raise VolumeError(aggregate(errors))
    return payload


# ---- hostPath ----

def _go_os_error(op: str, path: str, e: OSError) -> str:
    why = e.strerror or str(e)
    return f"{op} {path}: {why[:1].lower()}{why[1:]}"


def _file_type(path: str) -> int | None:
    try:
        return os.stat(path).st_mode
    except OSError:
        return None


def check_host_path(path: str, type_: str) -> None:
    """hostPath's SetUp: the path type check, creating a directory or file for the *OrCreate types."""
    if ".." in path.split("/"):
        raise VolumeError(f"invalid HostPath `{path}`: must not contain '..'")
    if not type_:
        return
    mode = _file_type(path)
    if type_ == "DirectoryOrCreate" and mode is None:
        try:
            os.makedirs(path, mode=0o755, exist_ok=True)
        except OSError as e:
            raise VolumeError(_go_os_error("mkdir", path, e)) from e
        return
    if type_ == "FileOrCreate" and mode is None:
        try:
            os.close(os.open(path, os.O_CREAT | os.O_RDONLY, 0o644))
        except OSError as e:
            raise VolumeError(_go_os_error("open", path, e)) from e
        return
    checks = {
        "Directory": (stat.S_ISDIR, "a directory"), "DirectoryOrCreate": (stat.S_ISDIR, "a directory"),
        "File": (lambda m: not stat.S_ISDIR(m), "a file"), "FileOrCreate": (lambda m: not stat.S_ISDIR(m), "a file"),
        "Socket": (stat.S_ISSOCK, "a socket file"), "CharDevice": (stat.S_ISCHR, "a character device"),
        "BlockDevice": (stat.S_ISBLK, "a block device"),
    }
    if type_ not in checks:
        raise VolumeError(f"{type_} is an invalid volume type")
    ok, what = checks[type_]
    if mode is None or not ok(mode):
        raise VolumeError(f"hostPath type check failed: {path} is not {what}")


# ---- removal ----

def remove_tree(path: Path) -> list[str]:
    """Delete path without following symlinks and without entering other filesystems (a mount
    point inside is left alone and reported), so nothing outside the pod's directory goes."""
    try:
        root_dev = os.lstat(path).st_dev
    except FileNotFoundError:
        return []
    kept: list[str] = []

    def remove(p: str) -> bool:
        st = os.lstat(p)
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(p)
            return True
        if st.st_dev != root_dev or os.path.ismount(p):
            kept.append(p)
            return False
        with os.scandir(p) as entries:
            emptied = all([remove(e.path) for e in entries])
        if emptied:
            os.rmdir(p)
        return emptied

    remove(str(path))
    return kept


# ---- the manager ----

@dataclass
class _PodState:
    volumes: PodVolumes | None = None  # set once every volume was set up
    next_at: float = 0.0  # monotonic time of the next set-up (retry or re-sync)
    delay: float = 0.0  # the current retry back-off


class VolumeManager:
    """Sets up, re-syncs and tears down the volumes of the pods on one node."""

    def __init__(self, client: Client, root_dir: Path | None = None, *, clock: Clock = REAL):
        self.client, self.clock = client, clock
        self._root = Path(root_dir) if root_dir is not None else None
        self._own_root = root_dir is None  # a temporary root, made on first use and removed by close()
        self._pods: dict[str, _PodState] = {}

    @property
    def root(self) -> Path:
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="kubeling-kubelet-"))
        return self._root

    def pod_dir(self, uid: str) -> Path:
        return self.root / "pods" / uid

    def volume_dir(self, uid: str, kind: str, name: str) -> Path:
        return self.pod_dir(uid) / "volumes" / PLUGIN_DIRS[kind] / name

    async def mount(self, pod: Obj, node_allocatable: dict[str, str] | None = None,
                    ) -> tuple[PodVolumes | None, list[str]]:
        """The pod's volumes, set up (retried with back-off until all succeed) and their contents
        re-synced every RESYNC_PERIOD; with the FailedMount messages of this attempt. None while
        some volume has never been set up."""
        volumes = (pod.get("spec") or {}).get("volumes") or []
        if not volumes:
            return PodVolumes(), []
        uid = pod["metadata"]["uid"]
        state = self._pods.setdefault(uid, _PodState())
        now = self.clock.monotonic()
        if now < state.next_at:
            return state.volumes, []
        objects = _Objects(self.client, pod["metadata"].get("namespace", ""))
        paths, errors = {}, []
        for volume in volumes:
            name = volume.get("name", "")
            try:
                paths[name] = await self._set_up(pod, volume, objects, node_allocatable)
            except (VolumeError, atomic_writer.PayloadError, OSError) as e:
                errors.append(f'MountVolume.SetUp failed for volume "{name}" : {e}')
        if errors and state.volumes is None:
            state.delay = min(state.delay * 2, RETRY_MAX) if state.delay else RETRY_INITIAL
            state.next_at = now + state.delay
            return None, errors
        if state.volumes is not None:  # a failed re-sync keeps what was mounted
            paths = {**state.volumes.paths, **paths}
        state.volumes, state.delay, state.next_at = PodVolumes(paths), 0.0, now + RESYNC_PERIOD
        return state.volumes, errors

    async def _set_up(self, pod: Obj, volume: Obj, objects: _Objects,
                      node_allocatable: dict[str, str] | None) -> VolumePath:
        kind = volume_kind(volume)
        source = volume.get(kind) or {}
        if kind == "hostPath":
            check_host_path(source.get("path", ""), source.get("type") or "")
            return VolumePath(source.get("path", ""))
        if kind not in PLUGIN_DIRS:
            raise VolumeError("no volume plugin matched")
        target = self.volume_dir(pod["metadata"]["uid"], kind, volume.get("name", ""))
        if kind == "emptyDir":
            _make_dir(target)  # medium Memory: a plain directory too (no tmpfs here)
            return VolumePath(str(target))
        payload = await self._payload(kind, source, pod, objects, node_allocatable)
        _make_dir(target)
        atomic_writer.write(target, payload, self.clock.now())
        return VolumePath(str(target), readonly=kind in READ_ONLY_KINDS)

    async def _payload(self, kind: str, source: Obj, pod: Obj, objects: _Objects,
                       node_allocatable: dict[str, str] | None) -> atomic_writer.Payload:
        default_mode = int(source.get("defaultMode", DEFAULT_MODE))
        if kind == "configMap":
            return await objects.payload(False, source.get("name", ""), source.get("items") or [], default_mode,
                                         bool(source.get("optional")))
        if kind == "secret":
            return await objects.payload(True, source.get("secretName", ""), source.get("items") or [],
                                         default_mode, bool(source.get("optional")))
        if kind == "downwardAPI":
            return downward_payload(pod, source.get("items") or [], default_mode, node_allocatable)
        return await projected_payload(objects, pod, source, node_allocatable)

    async def unmount(self, uid: str) -> None:
        """Tear down the pod's volumes: its directory goes; hostPath content is never touched."""
        self._pods.pop(uid, None)
        if self._root is None:
            return
        kept = remove_tree(self.pod_dir(uid))
        if kept:
            log.warning("pod %s: left mount points in place: %s", uid, ", ".join(kept))

    def close(self) -> None:
        if self._own_root and self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None


def _make_dir(path: Path) -> None:
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(EMPTY_DIR_MODE)  # emptyDir's 0777, whatever the umask


def volume_kind(volume: Obj) -> str:
    """The volume source a pod volume uses (e.g. "configMap")."""
    return next((k for k, v in volume.items() if k != "name" and v is not None), "")
