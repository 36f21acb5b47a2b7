"""Pod volumes: the atomic writer's layout, each volume type and its Kubernetes messages, mounts with
subPath, FailedMount and retry in the pod worker, re-sync of contents, and teardown."""

from __future__ import annotations

import base64
import os
import socket
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubeling.api import registry
from kubeling.client.clock import FakeClock
from kubeling.client.local import LocalClient
from kubeling.kubelet import atomic_writer, podspec
from kubeling.kubelet.agent import Kubelet
from kubeling.kubelet.podworker import PodWorkers
from kubeling.kubelet.probes import ProbeManager
from kubeling.kubelet.runtime.base import Mount
from kubeling.kubelet.runtime.fake import FakeRuntime
from kubeling.kubelet.status import StatusManager
from kubeling.kubelet.volumes import (
    RESYNC_PERIOD,
    RETRY_INITIAL,
    PodVolumes,
    VolumeError,
    VolumeManager,
    VolumePath,
    check_host_path,
    expand_sub_path,
    format_map,
    go_quote,
    prepare_sub_path,
    remove_tree,
)

PODS = registry.lookup("", "v1", "pods")
CONFIGMAPS = registry.lookup("", "v1", "configmaps")
SECRETS = registry.lookup("", "v1", "secrets")
UID = "0000-1111"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def pod_obj(volumes: list[dict], containers: list[dict] | None = None, **meta) -> dict:
    return {"metadata": {"name": "p", "namespace": "default", "uid": UID, **meta},
            "spec": {"volumes": volumes, "containers": containers or [{"name": "app"}]}}


# ---- the atomic writer ----

def test_atomic_writer_layout_and_modes(tmp_path: Path):
    assert atomic_writer.write(tmp_path, {"a": (b"1", 0o644), "dir/b": (b"2", 0o400)})
    data = os.readlink(tmp_path / "..data")
    assert data.startswith("..") and (tmp_path / data).is_dir() and mode_of(tmp_path / data) == 0o755
    assert os.readlink(tmp_path / "a") == "..data/a"
    assert os.readlink(tmp_path / "dir") == "..data/dir"  # only the top-level path is a link
    assert (tmp_path / "a").read_bytes() == b"1" and (tmp_path / "dir/b").read_bytes() == b"2"
    assert mode_of(tmp_path / data / "a") == 0o644 and mode_of(tmp_path / data / "dir/b") == 0o400
    assert sorted(os.listdir(tmp_path)) == sorted(["..data", data, "a", "dir"])


def test_atomic_writer_update_swaps_data_link_and_prunes(tmp_path: Path):
    atomic_writer.write(tmp_path, {"a": (b"1", 0o644), "gone": (b"x", 0o644)})
    first = os.readlink(tmp_path / "..data")
    assert not atomic_writer.write(tmp_path, {"a": (b"1", 0o644), "gone": (b"x", 0o644)})  # unchanged
    assert os.readlink(tmp_path / "..data") == first
    assert atomic_writer.write(tmp_path, {"a": (b"2", 0o644)})
    second = os.readlink(tmp_path / "..data")
    assert second != first and not (tmp_path / first).exists()
    assert (tmp_path / "a").read_bytes() == b"2"
    assert not (tmp_path / "gone").is_symlink()
    assert sorted(os.listdir(tmp_path)) == sorted(["..data", second, "a"])


@pytest.mark.parametrize("path, message", [
    ("/abs", "invalid path: must be relative path: /abs"),
    ("a/../b", "invalid path: must not contain '..': a/../b"),
    ("..x", "invalid path: must not start with '..': ..x"),
    ("", 'invalid path: must not be empty: ""'),
])
def test_atomic_writer_rejects_bad_paths(tmp_path: Path, path: str, message: str):
    with pytest.raises(atomic_writer.PayloadError) as e:
        atomic_writer.write(tmp_path, {path: (b"", 0o644)})
    assert str(e.value) == message


# ---- downward API formatting ----

@pytest.mark.parametrize("text, quoted", [
    ("plain", '"plain"'), ('say "hi"', '"say \\"hi\\""'), ("a\nb\tc", '"a\\nb\\tc"'),
    ("back\\slash", '"back\\\\slash"'), ("\x00", '"\\x00"'), ("héllo ✓", '"héllo ✓"'),
])
def test_go_quote(text: str, quoted: str):
    assert go_quote(text) == quoted


def test_format_map_sorted_without_trailing_newline():
    assert format_map({"b": "2", "a": "x y"}) == 'a="x y"\nb="2"'
    assert format_map({}) == ""


# ---- hostPath ----

def test_host_path_checks(tmp_path: Path):
    d, f = tmp_path / "dir", tmp_path / "file"
    d.mkdir()
    f.write_text("x")
    sock_path = tmp_path / "sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    try:
        ok = [("", str(tmp_path / "nothing")), ("Directory", str(d)), ("DirectoryOrCreate", str(d)),
              ("File", str(f)), ("FileOrCreate", str(f)), ("Socket", str(sock_path)),
              ("CharDevice", "/dev/null")]
        for type_, path in ok:
            check_host_path(path, type_)
        bad = [("Directory", str(f), f"hostPath type check failed: {f} is not a directory"),
               ("Directory", str(tmp_path / "no"), f"hostPath type check failed: {tmp_path / 'no'} is not a directory"),
               ("DirectoryOrCreate", str(f), f"hostPath type check failed: {f} is not a directory"),
               ("File", str(d), f"hostPath type check failed: {d} is not a file"),
               ("FileOrCreate", str(d), f"hostPath type check failed: {d} is not a file"),
               ("Socket", str(f), f"hostPath type check failed: {f} is not a socket file"),
               ("CharDevice", str(f), f"hostPath type check failed: {f} is not a character device"),
               ("BlockDevice", "/dev/null", "hostPath type check failed: /dev/null is not a block device"),
               ("Weird", str(f), "Weird is an invalid volume type"),
               ("", "/a/../b", "invalid HostPath `/a/../b`: must not contain '..'"),
               ("FileOrCreate", str(tmp_path / "no/such"),
                f"open {tmp_path / 'no/such'}: no such file or directory")]
        for type_, path, message in bad:
            with pytest.raises(VolumeError) as e:
                check_host_path(path, type_)
            assert str(e.value) == message, (type_, path)
    finally:
        sock.close()


def test_host_path_or_create_types_create_with_kubernetes_modes(tmp_path: Path):
    old = os.umask(0o077)
    try:
        check_host_path(str(tmp_path / "new/dir"), "DirectoryOrCreate")
        check_host_path(str(tmp_path / "newfile"), "FileOrCreate")
    finally:
        os.umask(old)
    assert (tmp_path / "new/dir").is_dir()
    assert (tmp_path / "newfile").is_file() and (tmp_path / "newfile").read_bytes() == b""


# ---- subPath ----

@pytest.mark.parametrize("expr, env, result", [
    ("$(POD)/logs", {"POD": "web-1"}, "web-1/logs"),
    ("a$$(POD)", {"POD": "x"}, "a$(POD)"),
    ("$(A)-$(B)", {"A": "1", "B": "2"}, "1-2"),
])
def test_expand_sub_path(expr, env, result):
    assert expand_sub_path(expr, env) == result


def test_expand_sub_path_missing_values():
    with pytest.raises(podspec.ConfigError) as e:
        expand_sub_path("$(B)/$(A)/$(C)", {"C": "ok", "A": ""})
    assert str(e.value) == "missing value for A, B"


def test_prepare_sub_path(tmp_path: Path):
    vol = tmp_path / "vol"
    vol.mkdir()
    vol.chmod(0o750)
    (tmp_path / "outside").mkdir()
    os.symlink(str(tmp_path / "outside"), vol / "escape")
    host = prepare_sub_path(str(vol), "a/b", "data", "app")
    assert host == str(vol / "a/b") and Path(host).is_dir() and mode_of(Path(host)) == 0o750
    cases = [("/abs", "error SubPath `/abs` must not be an absolute path"),
             ("x/../y", "unable to provision SubPath `x/../y`: must not contain '..'"),
             ("escape/f", 'failed to prepare subPath for volumeMount "data" of container "app"')]
    for sub, message in cases:
        with pytest.raises(podspec.ConfigError) as e:
            prepare_sub_path(str(vol), sub, "data", "app")
        assert str(e.value) == message
    assert os.listdir(tmp_path / "outside") == []


def test_pod_volumes_mounts(tmp_path: Path):
    (tmp_path / "cfg").mkdir()
    volumes = PodVolumes({"cfg": VolumePath(str(tmp_path / "cfg"), readonly=True),
                          "data": VolumePath(str(tmp_path / "data"))})
    (tmp_path / "data").mkdir()
    container = {"name": "app", "volumeMounts": [
        {"name": "cfg", "mountPath": "/etc/cfg"},
        {"name": "data", "mountPath": "/data", "readOnly": True},
        {"name": "data", "mountPath": "/logs", "subPathExpr": "$(POD)"},
    ]}
    assert volumes.mounts(container, {"POD": "p1"}) == [
        Mount("/etc/cfg", str(tmp_path / "cfg"), True), Mount("/data", str(tmp_path / "data"), True),
        Mount("/logs", str(tmp_path / "data/p1"), False)]
    with pytest.raises(podspec.ConfigError) as e:
        volumes.mounts({"name": "app", "volumeMounts": [{"name": "nope", "mountPath": "/x"}]}, {})
    assert str(e.value) == 'cannot find volume "nope" to mount into container "app"'


# ---- the volume manager, against an in-process API server ----

@pytest.fixture
async def client():
    c = await LocalClient.start()
    yield c
    await c.close()


async def make_cm(client, name: str, data: dict, binary: dict | None = None) -> dict:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
    if binary:
        body["binaryData"] = {k: base64.b64encode(v).decode() for k, v in binary.items()}
    return await client.create(CONFIGMAPS, "default", body)


async def make_secret(client, name: str, data: dict[str, bytes]) -> dict:
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "data": {k: base64.b64encode(v).decode() for k, v in data.items()}}
    return await client.create(SECRETS, "default", body)


def manager(client, tmp_path: Path, clock: FakeClock | None = None) -> VolumeManager:
    return VolumeManager(client, tmp_path / "kubelet", clock=clock or FakeClock())


def vdir(tmp_path: Path, plugin: str, name: str) -> Path:
    return tmp_path / "kubelet/pods" / UID / "volumes" / plugin / name


async def test_config_map_all_keys_items_and_binary(client, tmp_path: Path):
    await make_cm(client, "cfg", {"a.conf": "A", "b": "B"}, {"bin": b"\x00\xff"})
    vm = manager(client, tmp_path)
    pod = pod_obj([{"name": "all", "configMap": {"name": "cfg", "defaultMode": 0o600}},
                   {"name": "some", "configMap": {"name": "cfg", "items": [
                       {"key": "b", "path": "sub/b.txt", "mode": 0o400}, {"key": "bin", "path": "bin"}]}}])
    volumes, errors = await vm.mount(pod)
    assert errors == []
    all_dir, some_dir = vdir(tmp_path, "kubernetes.io~configmap", "all"), vdir(tmp_path, "kubernetes.io~configmap", "some")
    assert volumes.paths == {"all": VolumePath(str(all_dir), True), "some": VolumePath(str(some_dir), True)}
    assert {p: (all_dir / p).read_bytes() for p in ("a.conf", "b", "bin")} == {"a.conf": b"A", "b": b"B",
                                                                                "bin": b"\x00\xff"}
    assert mode_of(all_dir / "a.conf") == 0o600
    assert (some_dir / "sub/b.txt").read_bytes() == b"B" and mode_of(some_dir / "sub/b.txt") == 0o400
    assert mode_of(some_dir / "bin") == 0o644  # defaultMode 420 when the API left it out
    assert os.readlink(some_dir / "sub") == "..data/sub" and not (some_dir / "a.conf").exists()


async def test_secret_volume_decodes_and_uses_default_mode(client, tmp_path: Path):
    await make_secret(client, "creds", {"password": b"s3cret\n", "token": b"t"})
    vm = manager(client, tmp_path)
    volumes, errors = await vm.mount(pod_obj([{"name": "s", "secret": {"secretName": "creds"}}]))
    target = vdir(tmp_path, "kubernetes.io~secret", "s")
    assert errors == [] and volumes.paths["s"] == VolumePath(str(target), True)
    assert (target / "password").read_bytes() == b"s3cret\n" and mode_of(target / "token") == 0o644


@pytest.mark.parametrize("volume, message", [
    ({"configMap": {"name": "missing"}}, 'configmap "missing" not found'),
    ({"secret": {"secretName": "missing"}}, 'secret "missing" not found'),
    ({"configMap": {"name": "cfg", "items": [{"key": "nope", "path": "x"}]}},
     "configmap references non-existent config key: nope"),
    ({"secret": {"secretName": "creds", "items": [{"key": "nope", "path": "x"}]}},
     "references non-existent secret key: nope"),
    ({"downwardAPI": {"items": [{"path": "x", "fieldRef": {"fieldPath": "status.podIP"}}]}},
     "unsupported fieldPath: status.podIP"),
    ({"projected": {"sources": [{"configMap": {"name": "m1"}}, {"secret": {"name": "m2"}}]}},
     '[configmap "m1" not found, secret "m2" not found]'),
    ({"hostPath": {"path": "/nonexistent-kubeling-dir", "type": "Directory"}},
     "hostPath type check failed: /nonexistent-kubeling-dir is not a directory"),
    ({"persistentVolumeClaim": {"claimName": "c"}}, "no volume plugin matched"),
])
async def test_set_up_failures_are_failed_mount_messages(client, tmp_path: Path, volume, message):
    await make_cm(client, "cfg", {"k": "v"})
    await make_secret(client, "creds", {"k": b"v"})
    volumes, errors = await manager(client, tmp_path).mount(pod_obj([{"name": "v", **volume}]))
    assert volumes is None
    assert errors == [f'MountVolume.SetUp failed for volume "v" : {message}']


async def test_optional_missing_objects_and_keys_are_empty(client, tmp_path: Path):
    await make_cm(client, "cfg", {"k": "v"})
    pod = pod_obj([{"name": "a", "configMap": {"name": "missing", "optional": True}},
                   {"name": "b", "secret": {"secretName": "missing", "optional": True}},
                   {"name": "c", "configMap": {"name": "cfg", "optional": True,
                                               "items": [{"key": "nope", "path": "x"}, {"key": "k", "path": "y"}]}}])
    volumes, errors = await manager(client, tmp_path).mount(pod)
    assert errors == [] and set(volumes.paths) == {"a", "b", "c"}
    assert os.readlink(vdir(tmp_path, "kubernetes.io~configmap", "a") / "..data").startswith("..2026_01_01_00_00_00.")
    assert [p for p in os.listdir(vdir(tmp_path, "kubernetes.io~configmap", "a")) if not p.startswith("..")] == []
    assert sorted(p for p in os.listdir(vdir(tmp_path, "kubernetes.io~configmap", "c")) if not p.startswith("..")) \
        == ["y"]


async def test_downward_api_fields_and_resources(client, tmp_path: Path):
    container = {"name": "app", "resources": {"limits": {"memory": "64Mi", "cpu": "250m"}}}
    pod = pod_obj([{"name": "info", "downwardAPI": {"items": [
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
        {"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}},
        {"path": "uid", "fieldRef": {"fieldPath": "metadata.uid"}},
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}, "mode": 0o400},
        {"path": "tier", "fieldRef": {"fieldPath": "metadata.labels['tier']"}},
        {"path": "mem", "resourceFieldRef": {"containerName": "app", "resource": "limits.memory", "divisor": "1Mi"}},
        {"path": "cpu", "resourceFieldRef": {"containerName": "app", "resource": "limits.cpu", "divisor": "1m"}},
    ]}}], [container], labels={"tier": "web", "app": "x"}, annotations={"note": 'say "hi"\n'})
    volumes, errors = await manager(client, tmp_path).mount(pod)
    target = vdir(tmp_path, "kubernetes.io~downward-api", "info")
    assert errors == [] and volumes.paths["info"] == VolumePath(str(target), True)
    read = {p: (target / p).read_text() for p in ("name", "ns", "uid", "labels", "annotations", "tier", "mem", "cpu")}
    assert read == {"name": "p", "ns": "default", "uid": UID, "labels": 'app="x"\ntier="web"',
                    "annotations": 'note="say \\"hi\\"\\n"', "tier": "web", "mem": "64", "cpu": "250"}
    assert mode_of(target / "annotations") == 0o400


async def test_projected_combines_sources_and_skips_tokens(client, tmp_path: Path):
    await make_cm(client, "ca", {"ca.crt": "CERT"})
    await make_secret(client, "creds", {"user": b"me"})
    pod = pod_obj([{"name": "all-in-one", "projected": {"defaultMode": 0o440, "sources": [
        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
        {"configMap": {"name": "ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"secret": {"name": "creds"}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
    ]}}])
    volumes, errors = await manager(client, tmp_path).mount(pod)
    target = vdir(tmp_path, "kubernetes.io~projected", "all-in-one")
    assert errors == [] and volumes.paths["all-in-one"].readonly
    assert sorted(p for p in os.listdir(target) if not p.startswith("..")) == ["ca.crt", "namespace", "user"]
    assert (target / "ca.crt").read_text() == "CERT" and (target / "user").read_text() == "me"
    assert mode_of(target / "namespace") == 0o440


async def test_empty_dir_and_host_path(client, tmp_path: Path):
    host = tmp_path / "host"
    pod = pod_obj([{"name": "scratch", "emptyDir": {}}, {"name": "mem", "emptyDir": {"medium": "Memory"}},
                   {"name": "h", "hostPath": {"path": str(host), "type": "DirectoryOrCreate"}}])
    volumes, errors = await manager(client, tmp_path).mount(pod)
    scratch = vdir(tmp_path, "kubernetes.io~empty-dir", "scratch")
    assert errors == []
    assert volumes.paths == {"scratch": VolumePath(str(scratch)),
                             "mem": VolumePath(str(vdir(tmp_path, "kubernetes.io~empty-dir", "mem"))),
                             "h": VolumePath(str(host))}
    assert scratch.is_dir() and mode_of(scratch) == 0o777 and host.is_dir()


async def test_pod_without_volumes_touches_no_disk(client, tmp_path: Path):
    vm = manager(client, tmp_path)
    volumes, errors = await vm.mount(pod_obj([]))
    assert volumes == PodVolumes() and errors == [] and not (tmp_path / "kubelet").exists()


async def test_retry_backs_off_then_succeeds(client, tmp_path: Path):
    clock = FakeClock()
    vm = manager(client, tmp_path, clock)
    pod = pod_obj([{"name": "cfg", "configMap": {"name": "late"}}])
    assert (await vm.mount(pod))[1]  # fails, retry in 0.5 s
    assert await vm.mount(pod) == (None, [])  # within the back-off: not tried
    clock.advance(RETRY_INITIAL)
    assert (await vm.mount(pod))[1]  # tried again, fails; next back-off 1 s
    await make_cm(client, "late", {"k": "v"})
    clock.advance(RETRY_INITIAL)
    assert await vm.mount(pod) == (None, [])
    clock.advance(RETRY_INITIAL)
    volumes, errors = await vm.mount(pod)
    assert errors == [] and (Path(volumes.paths["cfg"].host_path) / "k").read_text() == "v"


async def test_resync_updates_contents_by_swapping_data_link(client, tmp_path: Path):
    clock = FakeClock()
    vm = manager(client, tmp_path, clock)
    cm = await make_cm(client, "cfg", {"k": "one", "old": "x"})
    pod = pod_obj([{"name": "cfg", "configMap": {"name": "cfg"}}])
    volumes, _ = await vm.mount(pod)
    target = Path(volumes.paths["cfg"].host_path)
    before = os.readlink(target / "..data")
    cm["data"] = {"k": "two", "new": "y"}
    await client.update(CONFIGMAPS, cm)
    await vm.mount(pod)
    assert (target / "k").read_text() == "one"  # not yet due
    clock.advance(RESYNC_PERIOD)
    await vm.mount(pod)
    assert (target / "k").read_text() == "two" and (target / "new").read_text() == "y"
    assert not (target / "old").is_symlink() and os.readlink(target / "..data") != before
    await client.delete(CONFIGMAPS, "default", "cfg")
    clock.advance(RESYNC_PERIOD)
    volumes, errors = await vm.mount(pod)  # a failed re-sync keeps the mounted content
    assert errors == ['MountVolume.SetUp failed for volume "cfg" : configmap "cfg" not found']
    assert volumes is not None and (target / "k").read_text() == "two"


async def test_unmount_never_follows_symlinks_out(client, tmp_path: Path):
    host = tmp_path / "host"
    host.mkdir()
    (host / "keep.txt").write_text("precious")
    vm = manager(client, tmp_path)
    pod = pod_obj([{"name": "scratch", "emptyDir": {}}, {"name": "h", "hostPath": {"path": str(host)}}])
    volumes, _ = await vm.mount(pod)
    scratch = Path(volumes.paths["scratch"].host_path)
    os.symlink(str(host), scratch / "link-to-host")
    (scratch / "f").write_text("x")
    await vm.unmount(UID)
    assert not (tmp_path / "kubelet/pods" / UID).exists()
    assert (host / "keep.txt").read_text() == "precious"


def test_remove_tree_missing_is_fine(tmp_path: Path):
    assert remove_tree(tmp_path / "absent") == []


def test_temporary_root_is_removed_on_close(tmp_path: Path):
    vm = VolumeManager(client=None, clock=FakeClock())  # type: ignore[arg-type]
    root = vm.root
    assert root.is_dir()
    vm.close()
    assert not root.exists()


async def test_kubelet_root_dir(client, tmp_path: Path):
    kubelet = Kubelet(client, FakeRuntime(), node_name="n", node_ip="192.0.2.1", root_dir=tmp_path / "kl")
    assert kubelet.volumes.root == tmp_path / "kl" and kubelet.pods.volumes is kubelet.volumes
    assert kubelet.volumes.pod_dir("u") == tmp_path / "kl/pods/u"


# ---- in the pod worker ----

class Recorder:
    def __init__(self):
        self.events: list[tuple[str, str, str]] = []

    def event(self, obj, type_, reason, message):
        self.events.append((type_, reason, message))

    def messages(self, reason: str) -> list[str]:
        return [m for _, r, m in self.events if r == reason]


@dataclass
class Env:
    client: LocalClient
    clock: FakeClock
    runtime: FakeRuntime
    recorder: Recorder
    status: StatusManager
    workers: PodWorkers
    root: Path
    configs: list  # every ContainerConfig the worker passed to the runtime

    async def run_pod(self, name: str, containers: list[dict], volumes: list[dict]) -> dict:
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                "spec": {"nodeName": "node-1", "containers": containers, "volumes": volumes}}
        pod = await self.client.create(PODS, "default", body)
        self.workers.update(pod)
        await self.workers.wait_idle()
        return pod

    async def tick(self, seconds: float) -> None:
        for _ in range(int(seconds * 2)):
            self.clock.advance(0.5)
            await self.workers.wait_idle()

    def container_status(self, pod: dict) -> dict:
        return self.status.get(pod["metadata"]["uid"])["containerStatuses"][0]


@pytest.fixture
async def env(tmp_path: Path):
    client = await LocalClient.start()
    clock = FakeClock()
    runtime = FakeRuntime(clock=clock)
    configs: list = []
    create = runtime.create_container

    async def recording_create(sandbox_id, config, sandbox):
        configs.append(config)
        return await create(sandbox_id, config, sandbox)

    runtime.create_container = recording_create
    rec = Recorder()
    status = StatusManager(client, clock)
    probes = ProbeManager(runtime, clock, recorder=rec)
    volumes = VolumeManager(client, tmp_path / "kubelet", clock=clock)
    workers = PodWorkers(runtime, client, status, probes, node_name="node-1", node_ip="192.0.2.10",
                         clock=clock, recorder=rec, volumes=volumes)
    yield Env(client, clock, runtime, rec, status, workers, tmp_path / "kubelet", configs)
    await workers.close()
    await probes.close()
    await client.close()


def ctr(name: str, **extra) -> dict:
    return {"name": name, "image": "busybox:1.36", "imagePullPolicy": "IfNotPresent", **extra}


async def test_worker_passes_mounts_to_runtime(env: Env, tmp_path: Path):
    await make_cm(env.client, "cfg", {"app.conf": "x=1"})
    mounts = [{"name": "cfg", "mountPath": "/etc/app"},
              {"name": "cfg", "mountPath": "/etc/app.conf", "subPath": "app.conf"},
              {"name": "data", "mountPath": "/data"},
              {"name": "data", "mountPath": "/logs", "subPathExpr": "$(POD_NAME)"},
              {"name": "host", "mountPath": "/host", "readOnly": True}]
    env_vars = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    pod = await env.run_pod("web", [ctr("app", volumeMounts=mounts, env=env_vars)],
                            [{"name": "cfg", "configMap": {"name": "cfg"}}, {"name": "data", "emptyDir": {}},
                             {"name": "host", "hostPath": {"path": str(tmp_path / "h"), "type": "DirectoryOrCreate"}}])
    assert "running" in env.container_status(pod)["state"]
    uid = pod["metadata"]["uid"]
    base = env.root / "pods" / uid / "volumes"
    cfg = base / "kubernetes.io~configmap/cfg"
    data_link = os.readlink(cfg / "..data")
    assert env.configs[0].mounts == [
        Mount("/etc/app", str(cfg), True),
        Mount("/etc/app.conf", str(cfg / data_link / "app.conf"), True),  # subPath: resolved, no updates
        Mount("/data", str(base / "kubernetes.io~empty-dir/data"), False),
        Mount("/logs", str(base / "kubernetes.io~empty-dir/data/web"), False),
        Mount("/host", str(tmp_path / "h"), True)]
    assert (base / "kubernetes.io~empty-dir/data/web").is_dir()


async def test_missing_config_map_keeps_pod_creating_until_it_appears(env: Env):
    pod = await env.run_pod("waits", [ctr("app", volumeMounts=[{"name": "cfg", "mountPath": "/cfg"}])],
                            [{"name": "cfg", "configMap": {"name": "missing"}}])
    message = 'MountVolume.SetUp failed for volume "cfg" : configmap "missing" not found'
    assert env.recorder.messages("FailedMount") == [message]
    assert env.container_status(pod)["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert await env.runtime.list_pod_sandboxes() == []  # volumes come before the sandbox
    await env.tick(2)
    assert len(env.recorder.messages("FailedMount")) >= 2  # retried (with back-off)
    await make_cm(env.client, "missing", {"k": "v"})
    await env.tick(5)
    assert "running" in env.container_status(pod)["state"]
    host = env.configs[-1].mounts[0].host_path
    assert (Path(host) / "k").read_text() == "v"


async def test_failed_host_path_check_records_failed_mount(env: Env, tmp_path: Path):
    pod = await env.run_pod("hp", [ctr("app")], [{"name": "h", "hostPath": {"path": str(tmp_path / "no"),
                                                                            "type": "Directory"}}])
    assert env.recorder.messages("FailedMount") == [
        f'MountVolume.SetUp failed for volume "h" : hostPath type check failed: {tmp_path / "no"} is not a directory']
    assert env.container_status(pod)["state"]["waiting"]["reason"] == "ContainerCreating"


async def test_sub_path_expr_without_value_is_config_error(env: Env):
    mounts = [{"name": "data", "mountPath": "/logs", "subPathExpr": "$(NOPE)"}]
    pod = await env.run_pod("spe", [ctr("app", volumeMounts=mounts)], [{"name": "data", "emptyDir": {}}])
    assert env.container_status(pod)["state"]["waiting"] == {"reason": "CreateContainerConfigError",
                                                             "message": "missing value for NOPE"}
    assert env.recorder.messages("Failed")[-1] == "Error: missing value for NOPE"


async def test_deleted_pod_volumes_are_torn_down(env: Env, tmp_path: Path):
    host = tmp_path / "h"
    host.mkdir()
    (host / "keep").write_text("k")
    pod = await env.run_pod("bye", [ctr("app")], [{"name": "d", "emptyDir": {}},
                                                  {"name": "h", "hostPath": {"path": str(host)}}])
    pod_dir = env.root / "pods" / pod["metadata"]["uid"]
    assert (pod_dir / "volumes/kubernetes.io~empty-dir/d").is_dir()
    await env.client.delete(PODS, "default", "bye", grace_period_seconds=0)
    env.workers.delete(pod)
    await env.workers.wait_idle()
    assert not pod_dir.exists() and (host / "keep").read_text() == "k"
