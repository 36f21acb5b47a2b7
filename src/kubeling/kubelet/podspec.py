"""Turning a pod's spec into the runtime's SandboxConfig and ContainerConfig.

Environment variables are resolved as kubelet's makeEnvironmentVariables does: envFrom first,
then env (value with $(VAR) expansion, or valueFrom fieldRef / resourceFieldRef /
configMapKeyRef / secretKeyRef), ConfigMaps and Secrets read through the API client.
"""

from __future__ import annotations

import base64
import math
import re
from typing import TYPE_CHECKING, Any

from kubeling.api import quantity, registry
from kubeling.api.errors import ApiError
from kubeling.client.base import Client, Obj
from kubeling.kubelet import resources
from kubeling.kubelet.runtime.base import ContainerConfig, SandboxConfig

if TYPE_CHECKING:
    from kubeling.kubelet.volumes import PodVolumes

CONFIGMAPS = registry.lookup("", "v1", "configmaps")
SECRETS = registry.lookup("", "v1", "secrets")

_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class ConfigError(Exception):
    """The container cannot be configured (kubelet's CreateContainerConfigError)."""


def sandbox_config(pod: Obj, attempt: int = 0) -> SandboxConfig:
    md, spec = pod["metadata"], pod.get("spec") or {}
    host_network = bool(spec.get("hostNetwork"))
    ports = [{"protocol": p.get("protocol", "TCP"), "container_port": p["containerPort"],
              "host_port": p.get("hostPort", 0), "host_ip": p.get("hostIP", "")}
             for c in spec.get("containers") or () for p in c.get("ports") or () if p.get("hostPort")]
    return SandboxConfig(
        name=md["name"], namespace=md.get("namespace", ""), uid=md["uid"], attempt=attempt,
        hostname="" if host_network else (spec.get("hostname") or md["name"])[:63],
        host_network=host_network, labels=dict(md.get("labels") or {}),
        annotations=dict(md.get("annotations") or {}),
        log_directory=f"{md.get('namespace', '')}_{md['name']}_{md['uid']}",
        dns=dict(spec.get("dnsConfig") or {}), port_mappings=ports)


def expand(text: str, env: dict[str, str]) -> str:
    """$(VAR) references replaced from env; $$ escapes; unknown references kept as written."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("$(", i) and ")" in text[i + 2:]:
            end = text.index(")", i + 2)
            name = text[i + 2:end]
            out.append(env[name] if name in env else text[i:end + 1])
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _field_ref(pod: Obj, path: str, host_ip: str, pod_ips: list[str]) -> str:
    md, spec = pod["metadata"], pod.get("spec") or {}
    m = re.fullmatch(r"metadata\.(labels|annotations)\['(.*)'\]", path)
    if m:
        return (md.get(m.group(1)) or {}).get(m.group(2), "")
    simple = {
        "metadata.name": md.get("name", ""), "metadata.namespace": md.get("namespace", ""),
        "metadata.uid": md.get("uid", ""), "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": host_ip, "status.hostIPs": host_ip,
        "status.podIP": pod_ips[0] if pod_ips else "", "status.podIPs": ",".join(pod_ips),
    }
    if path not in simple:
        raise ConfigError(f"unsupported fieldPath: {path}")
    return simple[path]


def resource_field_value(container: Obj, ref: Obj, node_allocatable: dict[str, str]) -> str:
    """A resourceFieldRef's value (env and downwardAPI volumes): ceil(amount / divisor)."""
    resource = ref.get("resource", "")
    kind, _, name = resource.partition(".")
    resources = container.get("resources") or {}
    amount = (resources.get(kind) or {}).get(name)
    if amount is None and kind == "requests":
        amount = (resources.get("limits") or {}).get(name)
    if amount is None:
        amount = node_allocatable.get(name, "0")
    divisor = quantity.parse_quantity(str(ref.get("divisor") or "1")) or 1
    return str(math.ceil(quantity.parse_quantity(str(amount)) / divisor))


async def _lookup(client: Client, rt: Any, namespace: str, name: str, cache: dict) -> Obj | None:
    key = (rt.plural, name)
    if key not in cache:
        try:
            cache[key] = await client.get(rt, namespace, name)
        except ApiError as e:
            if e.code != 404:
                raise ConfigError(e.message) from e
            cache[key] = None
    return cache[key]


def _data(obj: Obj, secret: bool) -> dict[str, str]:
    if not secret:
        return {**(obj.get("binaryData") or {}), **(obj.get("data") or {})}
    return {k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()}


async def _key_ref(client: Client, namespace: str, ref: Obj, secret: bool, cache: dict) -> str | None:
    rt, kind = (SECRETS, "Secret") if secret else (CONFIGMAPS, "ConfigMap")
    obj = await _lookup(client, rt, namespace, ref.get("name", ""), cache)
    optional = bool(ref.get("optional"))
    if obj is None:
        if optional:
            return None
        raise ConfigError(f'{kind.lower()} "{ref.get("name", "")}" not found')
    data = _data(obj, secret)
    if ref.get("key") not in data:
        if optional:
            return None
        raise ConfigError(f"couldn't find key {ref.get('key')} in {kind} {namespace}/{ref.get('name', '')}")
    return data[ref["key"]]


async def container_env(client: Client, pod: Obj, container: Obj, *, host_ip: str = "",
                        pod_ips: list[str] | None = None, node_allocatable: dict[str, str] | None = None,
                        ) -> dict[str, str]:
    """The container's environment, resolved; raises ConfigError as kubelet fails the container."""
    namespace = pod["metadata"].get("namespace", "")
    env: dict[str, str] = {}
    cache: dict = {}
    for source in container.get("envFrom") or ():
        secret = "secretRef" in source
        ref = source.get("secretRef" if secret else "configMapRef") or {}
        obj = await _lookup(client, SECRETS if secret else CONFIGMAPS, namespace, ref.get("name", ""), cache)
        if obj is None:
            if ref.get("optional"):
                continue
            raise ConfigError(f'{"secret" if secret else "configmap"} "{ref.get("name", "")}" not found')
        prefix = source.get("prefix", "")
        for k, v in _data(obj, secret).items():
            if _ENV_NAME.match(prefix + k):  # invalid names are skipped, as kubelet does
                env[prefix + k] = v
    for var in container.get("env") or ():
        name, source = var["name"], var.get("valueFrom")
        if source is None:
            env[name] = expand(var.get("value", ""), env)
        elif "fieldRef" in source:
            env[name] = _field_ref(pod, source["fieldRef"].get("fieldPath", ""), host_ip, pod_ips or [])
        elif "resourceFieldRef" in source:
            env[name] = resource_field_value(container, source["resourceFieldRef"], node_allocatable or {})
        elif "configMapKeyRef" in source or "secretKeyRef" in source:
            secret = "secretKeyRef" in source
            value = await _key_ref(client, namespace, source["secretKeyRef" if secret else "configMapKeyRef"],
                                   secret, cache)
            if value is not None:
                env[name] = value
    return env


async def container_config(client: Client, pod: Obj, container: Obj, attempt: int, *, host_ip: str = "",
                           pod_ips: list[str] | None = None, volumes: PodVolumes | None = None) -> ContainerConfig:
    """The runtime's ContainerConfig for one container of pod (command/args expanded with env,
    volumeMounts turned into host paths from the pod's set-up volumes, resources and security
    context in CRI's units)."""
    check_non_root(pod, container)
    env = await container_env(client, pod, container, host_ip=host_ip, pod_ips=pod_ips)
    mounts = volumes.mounts(container, env) if volumes is not None else []
    md = pod["metadata"]
    labels = {"io.kubernetes.pod.name": md["name"], "io.kubernetes.pod.namespace": md.get("namespace", ""),
              "io.kubernetes.pod.uid": md["uid"], "io.kubernetes.container.name": container["name"]}
    return ContainerConfig(
        name=container["name"], image=container.get("image", ""), attempt=attempt,
        command=[expand(a, env) for a in container.get("command") or ()],
        args=[expand(a, env) for a in container.get("args") or ()],
        working_dir=container.get("workingDir", ""), env=env, mounts=mounts, labels=labels,
        annotations={"io.kubernetes.container.restartCount": str(attempt)},
        log_path=f"{container['name']}/{attempt}.log",
        linux=linux_config(pod, container),
        stdin=bool(container.get("stdin")), tty=bool(container.get("tty")))


def _security_value(pod: Obj, container: Obj, key: str) -> Any:
    """A securityContext field, the container's over the pod's (for the fields both have)."""
    own = (container.get("securityContext") or {}).get(key)
    if own is not None:
        return own
    return ((pod.get("spec") or {}).get("securityContext") or {}).get(key)


def check_non_root(pod: Obj, container: Obj) -> None:
    """runAsNonRoot with an explicit runAsUser 0 cannot start (kubelet's verifyRunAsNonRoot)."""
    if _security_value(pod, container, "runAsNonRoot") and _security_value(pod, container, "runAsUser") == 0:
        md = pod["metadata"]
        pod_name = f"{md['name']}_{md.get('namespace', '')}({md.get('uid', '')})"
        raise ConfigError(f'container\'s runAsUser breaks non-root policy (pod: "{pod_name}", '
                          f"container: {container['name']})")


def security_config(pod: Obj, container: Obj) -> dict[str, Any]:
    """CRI's LinuxContainerSecurityContext keys (runtime/cri.py) from the pod's and the container's
    securityContext, as kubelet's determineEffectiveSecurityContext merges them."""
    out: dict[str, Any] = {}
    for key, cri_key in (("runAsUser", "run_as_user"), ("runAsGroup", "run_as_group")):
        value = _security_value(pod, container, key)
        if value is not None:
            out[cri_key] = int(value)
    sc = container.get("securityContext") or {}
    if sc.get("readOnlyRootFilesystem"):
        out["readonly_rootfs"] = True
    if sc.get("privileged"):
        out["privileged"] = True
    caps = sc.get("capabilities") or {}
    if caps.get("add"):
        out["capabilities_add"] = [str(c) for c in caps["add"]]
    if caps.get("drop"):
        out["capabilities_drop"] = [str(c) for c in caps["drop"]]
    return out


def linux_config(pod: Obj, container: Obj, memory_capacity: int | None = None) -> dict[str, Any]:
    """ContainerConfig.linux: resources (kubelet's generateLinuxContainerConfig) and security context."""
    return {**resources.linux_resources(pod, container, memory_capacity), **security_config(pod, container)}
