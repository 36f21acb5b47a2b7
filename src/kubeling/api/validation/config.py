"""ConfigMap and Secret (pkg/apis/core/validation): data keys, size, types, immutability."""

from __future__ import annotations

import base64
import json
from typing import Any

from kubeling.api.names import config_key
from kubeling.api.validation.causes import Cause, each_invalid, forbidden, invalid, required, too_long
from kubeling.api.validation.common import Obj, as_dict, as_str, immutable

MAX_DATA_BYTES = 1024 * 1024
IMMUTABLE_WHEN_SET = "field is immutable when `immutable` is set"
# Secret types whose data must carry these keys.
SECRET_REQUIRED_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


def validate_configmap(obj: Obj, old: Obj | None) -> list[Cause]:
    data, binary = as_dict(obj.get("data")), as_dict(obj.get("binaryData"))
    causes: list[Cause] = []
    total = 0
    for key, value in data.items():
        causes += each_invalid(f"data[{key}]", key, config_key(key))
        if key in binary:
            causes.append(invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
        total += len(as_str(value).encode())
    for key, value in binary.items():
        causes += each_invalid(f"binaryData[{key}]", key, config_key(key))
        if key in data:
            causes.append(invalid(f"binaryData[{key}]", key, "duplicate of key present in data"))
        total += _decoded_len(value)
    if total > MAX_DATA_BYTES:
        causes.append(too_long("", MAX_DATA_BYTES))
    if old is not None and old.get("immutable") is True:
        changed = [k for k in ("data", "binaryData") if as_dict(obj.get(k)) != as_dict(old.get(k))]
        causes += _immutable_when_set(obj, changed)
    return causes


def validate_secret(obj: Obj, old: Obj | None) -> list[Cause]:
    data = _secret_data(obj)
    causes: list[Cause] = []
    for key in data:
        causes += each_invalid(f"data[{key}]", key, config_key(key))
    if sum(len(v) for v in data.values()) > MAX_DATA_BYTES:
        causes.append(too_long("data", MAX_DATA_BYTES))
    secret_type = as_str(obj.get("type"))
    causes += _secret_type_keys(obj, secret_type, data)
    if old is not None:
        causes += immutable("type", secret_type, as_str(old.get("type")) or "Opaque")
        if old.get("immutable") is True:
            causes += _immutable_when_set(obj, ["data"] if data != _secret_data(old) else [])
    return causes


def _secret_type_keys(obj: Obj, secret_type: str, data: dict[str, bytes]) -> list[Cause]:
    """What each built-in Secret type requires of its data (or annotations)."""
    causes: list[Cause] = []
    if secret_type == "kubernetes.io/service-account-token":
        annotations = as_dict(as_dict(obj.get("metadata")).get("annotations"))
        if not annotations.get("kubernetes.io/service-account.name"):
            causes.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    elif secret_type == "kubernetes.io/basic-auth" and "username" not in data and "password" not in data:
        causes += [required("data[username]"), required("data[password]")]
    for key in SECRET_REQUIRED_KEYS.get(secret_type, ()):
        if key not in data or (key == "ssh-privatekey" and not data[key]):
            causes.append(required(f"data[{key}]"))
        elif key.startswith(".docker"):
            try:
                json.loads(data[key])
            except ValueError as e:
                causes.append(invalid(f"data[{key}]", "<secret contents redacted>", str(e)))
    return causes


def _immutable_when_set(obj: Obj, changed: list[str]) -> list[Cause]:
    """An update of an immutable ConfigMap or Secret: it must stay immutable, its data unchanged."""
    causes = [] if obj.get("immutable") is True else [forbidden("immutable", IMMUTABLE_WHEN_SET)]
    return causes + [forbidden(key, IMMUTABLE_WHEN_SET) for key in changed]


def _decoded_len(value: Any) -> int:
    try:
        return len(base64.b64decode(as_str(value), validate=True))
    except ValueError:
        return len(as_str(value)) * 3 // 4


def _secret_data(obj: Obj) -> dict[str, bytes]:
    """data (base64) with stringData merged over it, as the v1 conversion does before validation."""
    out: dict[str, bytes] = {}
    for key, value in as_dict(obj.get("data")).items():
        try:
            out[key] = base64.b64decode(as_str(value))
        except ValueError:
            out[key] = as_str(value).encode()
    for key, value in as_dict(obj.get("stringData")).items():
        out[key] = as_str(value).encode()
    return out
