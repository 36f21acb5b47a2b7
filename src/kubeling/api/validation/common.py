"""What every kind's validation uses: tolerant accessors and the checks Kubernetes repeats.

Objects reach validation after the schema check, but a field may still be absent or
null, so the accessors return an empty value of the expected type instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubeling.api.names import dns1123_label
from kubeling.api.validation.causes import (
    IMMUTABLE,
    NEGATIVE,
    Cause,
    duplicate,
    each_invalid,
    invalid,
    not_supported,
    required,
)

KindKey = tuple[str, str, str]
Obj = dict[str, Any]
Validator = Callable[[Obj, Obj | None], list[Cause]]

# ---------------------------------------------------------------- accessors


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def as_dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def dicts(value: Any) -> list[Obj]:
    return [v for v in as_list(value) if isinstance(v, dict)]


# ---------------------------------------------------------------- shared checks


def nonnegative(path: str, value: Any) -> list[Cause]:
    return [invalid(path, value, NEGATIVE)] if is_int(value) and value < 0 else []


def one_of(value: Any, allowed: tuple[str, ...], path: str) -> list[Cause]:
    """The common "Required if empty, NotSupported if unknown" check for enum strings."""
    if value in (None, ""):
        return [required(path)]
    if value not in allowed:
        return [not_supported(path, value, allowed)]
    return []


def unique_dns_label(name: str, path: str, seen: set[str]) -> list[Cause]:
    """A list item's required, DNS-1123-label, unique name (volumes, containers); records it in `seen`."""
    if not name:
        return [required(path)]
    causes = each_invalid(path, name, dns1123_label(name))
    if name in seen:
        causes.append(duplicate(path, name))
    seen.add(name)
    return causes


def immutable(path: str, new: Any, old: Any, shown: Any = None) -> list[Cause]:
    if semantic(new) == semantic(old):
        return []
    return [invalid(path, new if shown is None else shown, IMMUTABLE)]


def semantic(value: Any) -> Any:
    """Normalize for Semantic.DeepEqual: nil and empty slices/maps compare equal."""
    if isinstance(value, dict):
        return {k: semantic(v) for k, v in value.items() if v is not None and v != [] and v != {}}
    if isinstance(value, list):
        return [semantic(v) for v in value]
    return value


def validate_nothing(obj: Obj, old: Obj | None) -> list[Cause]:
    """For kinds with no rules beyond ObjectMeta."""
    return []
