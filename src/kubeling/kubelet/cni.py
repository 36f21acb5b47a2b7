"""The node's CNI network config, written from its podCIDR.

One conflist (the format of the CNI spec, version 1.0.0): `bridge` puts every pod's veth on
one Linux bridge that is also the pods' gateway (isGateway: the bridge holds the subnet's
first address and the host routes to the pods through it), masquerades traffic leaving the
pod CIDR (ipMasq), and lets a pod reach itself through a Service (hairpinMode); `host-local`
hands out addresses of the node's podCIDR, recording them under `dataDir`; `portmap` turns
the pods' hostPorts (containerd passes them as the portMappings capability) into DNAT rules.

No `loopback` plugin here: containerd's CRI plugin brings up each sandbox's `lo` itself
(go-cni's WithLoNetwork, on Linux), needing only the `loopback` binary in its CNI bin dir.
Containerd reads the first file of its conf dir in lexical order and reloads it when the
directory changes, so the file is replaced atomically and only when its content changes.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

CNI_VERSION = "1.0.0"
NETWORK_NAME = "kubeling"
BRIDGE_NAME = "kubeling0"
CONFLIST_NAME = "10-kubeling.conflist"


def conflist(pod_cidr: str, *, bridge: str = BRIDGE_NAME, name: str = NETWORK_NAME,
             data_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The network config list for a node whose pods live in `pod_cidr`. `data_dir`: where
    host-local keeps its leases (default /var/lib/cni/networks)."""
    ipam: dict[str, Any] = {"type": "host-local", "ranges": [[{"subnet": pod_cidr}]],
                            "routes": [{"dst": "0.0.0.0/0"}]}
    if data_dir is not None:
        ipam["dataDir"] = os.fspath(data_dir)
    return {
        "cniVersion": CNI_VERSION,
        "name": name,
        "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": True, "hairpinMode": True,
             "ipam": ipam},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def render(config: dict[str, Any]) -> bytes:
    return (json.dumps(config, indent=2) + "\n").encode()


def write_conflist(conf_dir: Path, pod_cidr: str, **options: Any) -> Path:
    """Write `10-kubeling.conflist` into conf_dir (made if missing) unless it already holds
    exactly this; a temporary file renamed over the old one, so a reader never sees half a
    file. `options` go to `conflist`."""
    conf_dir = Path(conf_dir)
    path = conf_dir / CONFLIST_NAME
    content = render(conflist(pod_cidr, **options))
    try:
        if path.read_bytes() == content:
            return path
    except FileNotFoundError:
        pass
    conf_dir.mkdir(parents=True, exist_ok=True)
    # A dot name with another suffix: containerd only loads *.conf, *.conflist and *.json.
    fd, tmp = tempfile.mkstemp(dir=conf_dir, prefix=f".{CONFLIST_NAME}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
