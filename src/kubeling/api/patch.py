"""PATCH bodies: JSON patch (RFC 6902), JSON merge patch (RFC 7386), strategic merge patch.

Semantics and error answers follow kube-apiserver (apiserver/pkg/endpoints/handlers/patch.go)
and apimachinery's strategicpatch package. Strategic merge patch reads its list strategies and
merge keys from Kubernetes' own OpenAPI data (`api/schema.py`), never from a hand-typed table.
"""

from __future__ import annotations

import json
from typing import Any

import jsonpatch
import jsonpointer
import orjson

from kubeling.api import schema
from kubeling.api.errors import ApiError, bad_request, field_cause, invalid, request_entity_too_large

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# What kube-apiserver lists in its 415 answer, for built-in types and for custom resources.
BUILTIN_PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)
CUSTOM_PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, APPLY_PATCH)

MAX_JSON_PATCH_OPERATIONS = 10000

# Directives of strategic merge patch.
DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ELEMENT_ORDER = "$setElementOrder"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"

# mergepatch's sentinel errors (k8s.io/apimachinery/pkg/util/mergepatch/errors.go).
ERR_BAD_FORMAT_PRIMITIVE_LIST = "invalid patch format of primitive list"
ERR_BAD_FORMAT_RETAIN_KEYS = "invalid patch format of retainKeys"
ERR_BAD_FORMAT_SET_ELEMENT_ORDER = "invalid patch format of setElementOrder list"
ERR_NO_LIST_OF_LISTS = "lists of lists are not supported"


def apply_patch(content_type: str, original: dict, patch_body: bytes, schema_name: str | None) -> dict:
    """The object `original` with `patch_body` applied; `original` itself is left untouched.

    `schema_name` is the OpenAPI definition of the object (None for types Kubernetes does not
    know, such as custom resources, which cannot take a strategic merge patch).
    """
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    known = schema_name is not None and schema_name in schema.definitions()
    if media_type == JSON_PATCH:
        return apply_json_patch(original, patch_body)
    if media_type == MERGE_PATCH:
        return apply_merge_patch(original, patch_body)
    if media_type == STRATEGIC_MERGE_PATCH and known:
        return apply_strategic_merge_patch(original, patch_body, schema_name)
    raise unsupported_patch_type(BUILTIN_PATCH_TYPES if known else CUSTOM_PATCH_TYPES)


def unsupported_patch_type(accepted: tuple[str, ...]) -> ApiError:
    """415 as apiserver's negotiation package words it for an unaccepted patch Content-Type."""
    return ApiError(415, "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: "
                    + ", ".join(accepted))


# ---------------------------------------------------------------------------------------------
# JSON patch and JSON merge patch


def apply_json_patch(original: dict, patch_body: bytes) -> dict:
    """RFC 6902 operations applied to a copy of `original`."""
    ops = _decode(patch_body, bad_request_message=None)
    if ops is None:
        return _copy(original)
    if not isinstance(ops, list):
        raise _cannot_unmarshal(ops, "jsonpatch.Patch")
    for op in ops:
        if op is not None and not isinstance(op, dict):
            raise _cannot_unmarshal(op, "jsonpatch.Operation")
    if len(ops) > MAX_JSON_PATCH_OPERATIONS:
        raise request_entity_too_large(
            "Request entity too large: The allowed maximum operations in a JSON patch is "
            f"{MAX_JSON_PATCH_OPERATIONS}, got {len(ops)}")
    try:
        patched = jsonpatch.JsonPatch([op or {} for op in ops]).apply(original, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, KeyError, IndexError,
            TypeError, ValueError):
        # Failed tests, missing paths, bad ops: apiserver answers a bare 422 (NewGenericServerResponse
        # drops the json-patch library's own message).
        raise _rejected() from None
    return _require_object(patched)


def apply_merge_patch(original: dict, patch_body: bytes) -> dict:
    """An RFC 7386 body applied to a copy of `original`."""
    patch = _decode(patch_body, bad_request_message="Invalid JSON Patch")
    if patch is None or isinstance(patch, (str, int, float, bool)):
        raise bad_request("Invalid JSON Patch")
    if isinstance(patch, list):
        return _require_object(prune_nulls(patch))
    return merge_patch(original, patch)


def merge_patch(original: dict, patch: dict) -> dict:
    """RFC 7386 applied to a copy of `original` (as evanphx/json-patch does for apiserver)."""
    doc = _copy(original)
    _merge_docs(doc, patch)
    return doc


def _merge_docs(doc: dict, patch: dict) -> None:
    for key, value in patch.items():
        if value is None:
            doc.pop(key, None)
        elif doc.get(key) is None:
            doc[key] = prune_nulls(value)
        elif isinstance(doc[key], dict) and isinstance(value, dict):
            _merge_docs(doc[key], value)
        elif isinstance(doc[key], dict):
            doc[key] = value
        else:
            doc[key] = prune_nulls(value)


def prune_nulls(value: Any) -> Any:
    """Drop null members of objects, recursively; nulls inside arrays stay (as evanphx does)."""
    if isinstance(value, dict):
        return {k: prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [prune_nulls(v) for v in value]
    return value


def _rejected() -> ApiError:
    return ApiError(422, "Invalid", "the server rejected our request due to an error in our request")


def _require_object(value: Any) -> dict:
    """A patch whose result is no JSON object fails when apiserver decodes it back."""
    if isinstance(value, dict):
        return value
    type_meta = ('struct { APIVersion string "json:\\"apiVersion,omitempty\\""; '
                 'Kind string "json:\\"kind,omitempty\\"" }')
    detail = "couldn't get version/kind; json parse error: " + _cannot_unmarshal(value, type_meta).message
    shown = json.dumps(orjson.dumps(value).decode(), ensure_ascii=False)
    raise invalid("", "", [field_cause("patch", f"Invalid value: {shown}: {detail}")])


# ---------------------------------------------------------------------------------------------
# Strategic merge patch


class _PatchFailure(Exception):
    """An error of the strategicpatch package, with the HTTP answer apiserver gives it."""

    def __init__(self, message: str, code: int = 500):
        super().__init__(message)
        self.message = message
        self.code = code

    def api_error(self) -> ApiError:
        if self.code == 400:
            return bad_request(self.message)
        if self.code == 422:
            return _rejected()
        # Plain Go errors reach the client as a 500 Status with an empty (Unknown) reason.
        return ApiError(500, "", self.message)


def apply_strategic_merge_patch(original: dict, patch_body: bytes, schema_name: str) -> dict:
    """A strategic merge patch body applied to a copy of `original`, typed by `schema_name`."""
    patch = _decode(patch_body, bad_request_message=None)
    if patch is None:
        return _copy(original)
    if not isinstance(patch, dict):
        raise _cannot_unmarshal(patch, "map[string]interface {}")
    return strategic_merge(original, patch, schema_name)


def strategic_merge(original: dict, patch: dict, schema_name: str) -> dict:
    """Kubernetes' strategic merge of `patch` into a copy of `original` (`patch` is consumed)."""
    try:
        return _merge_map(_copy(original), patch, schema.definition(schema_name))
    except _PatchFailure as failure:
        raise failure.api_error() from None


def _merge_map(original: dict, patch: dict, node: dict | None) -> dict:
    if DIRECTIVE in patch:
        return _map_directive(patch)
    _apply_retain_keys(original, patch)
    _merge_ordered_lists(original, patch, node)
    # Deletion lists after the others, so one patch can both add to and delete from a list.
    keys = sorted(patch, key=lambda k: k.startswith(DELETE_FROM_PRIMITIVE_LIST))
    for key in keys:
        _merge_key(original, key, patch[key], node)
    return original


def _merge_key(original: dict, key: str, value: Any, node: dict | None) -> None:
    is_delete_list = key.startswith(DELETE_FROM_PRIMITIVE_LIST)
    if is_delete_list:
        key = _extract_key(key, DELETE_FROM_PRIMITIVE_LIST, ERR_BAD_FORMAT_PRIMITIVE_LIST)
    elif key.startswith("$"):
        return  # an unknown directive never lands in the object
    if value is None:
        original.pop(key, None)
        return
    current = original.get(key)
    same_container = (isinstance(current, dict) and isinstance(value, dict)) or (
        isinstance(current, list) and isinstance(value, list))
    if key not in original or not same_container:
        if is_delete_list:
            return
        cleaned, keep = _remove_directives(value)
        if keep:
            original[key] = cleaned
        else:
            original.pop(key, None)
        return
    strategy, merge_key, sub = _field(node, key)
    if isinstance(value, dict):
        original[key] = _clean(value) if strategy == "replace" else _merge_map(current, value, sub)
    else:
        original[key] = _merge_list_field(current, value, sub, strategy, merge_key, is_delete_list)


def _map_directive(patch: dict) -> dict:
    directive = patch[DIRECTIVE]
    if directive == "replace":
        del patch[DIRECTIVE]
        return _clean(patch)
    if directive == "delete":
        return {}
    raise _PatchFailure(f"unknown patch type: {_gofmt(directive)} in map: {_gofmt(patch)}")


def _apply_retain_keys(original: dict, patch: dict) -> None:
    """`$retainKeys`: drop every key of `original` not listed (a union type switching member)."""
    if RETAIN_KEYS not in patch:
        return
    retain = patch.pop(RETAIN_KEYS)
    if not isinstance(retain, list):
        raise _PatchFailure(ERR_BAD_FORMAT_RETAIN_KEYS, 400)
    for key, value in patch.items():
        if value is None or key.startswith((DELETE_FROM_PRIMITIVE_LIST, SET_ELEMENT_ORDER)):
            continue
        if key not in retain:
            raise _PatchFailure(ERR_BAD_FORMAT_RETAIN_KEYS, 400)
    for key in [k for k in original if k not in retain]:
        del original[key]


def _merge_ordered_lists(original: dict, patch: dict, node: dict | None) -> None:
    """Merge each list that has a `$setElementOrder/<field>` and put it in that order."""
    for directive in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
        order = patch.pop(directive)
        if not isinstance(order, list):
            raise _PatchFailure(_bad_arg_type("[]interface {}", order))
        field = _extract_key(directive, SET_ELEMENT_ORDER, ERR_BAD_FORMAT_SET_ELEMENT_ORDER)
        live, in_live = original.get(field), field in original
        wanted, in_patch = patch.get(field), field in patch
        if in_live and not isinstance(live, list):
            raise _PatchFailure(_bad_arg_type("[]interface {}", live))
        if in_patch and not isinstance(wanted, list):
            raise _PatchFailure(_bad_arg_type("[]interface {}", wanted))
        live, wanted = live or [], wanted or []
        strategy, merge_key, sub = _field(node, field)
        _validate_order(wanted, order, merge_key)
        if in_live and in_patch:
            merged = _merge_list_field(live, wanted, sub, strategy, merge_key, False)
        elif in_patch:
            merged = _remove_directives(wanted)[0]
        elif in_live:
            merged = live
        else:
            continue
        ours, server_only = _partition(merged, order, merge_key)
        is_map = _element_kind(live, wanted) is dict
        original[field] = _normalize_order(ours, server_only, order, live, merge_key, is_map)
        patch.pop(field, None)


def _validate_order(patch_list: list, order: list, merge_key: str) -> None:
    """The patch list's items must appear in `$setElementOrder` and in the same relative order."""
    if not order or not patch_list:
        return
    items = [i for i in patch_list if not _is_delete(i)] if merge_key else patch_list
    for item in patch_list if merge_key else ():
        if not isinstance(item, dict):
            raise _PatchFailure(_bad_arg_type("map[string]interface {}", item))
    p = o = 0
    while p < len(items) and o < len(order):
        if isinstance(items[p], dict) and DIRECTIVE in items[p]:
            p += 1
            continue
        if _merge_key_equal(items[p], order[o], merge_key):
            p += 1
        o += 1
    if p < len(items) and o >= len(order):
        raise _PatchFailure(f"the order in patch list:\n{_gofmt(patch_list)}\n doesn't match "
                            f"{SET_ELEMENT_ORDER} list:\n{_gofmt(order)}")


def _merge_list_field(live: list, patch: list, node: dict | None, strategy: str, merge_key: str,
                      is_delete_list: bool) -> list:
    if strategy != "merge":
        return _clean(patch)  # lists without a merge strategy are replaced wholesale
    return _merge_slice(live, patch, schema.items_schema(node) if node else None, merge_key, is_delete_list)


def _merge_slice(live: list, patch: list, items: dict | None, merge_key: str, is_delete_list: bool) -> list:
    if not live and not patch:
        return live
    kind = _element_kind(live, patch)
    if kind is not dict:
        if is_delete_list:
            doomed = {_scalar_id(v) for v in patch}
            return [v for v in live if _scalar_id(v) not in doomed]
        merged = _dedupe(live + patch)
    else:
        if not merge_key:
            raise _PatchFailure("cannot merge lists without merge key for struct")
        live, patch = _list_directives(live, patch, merge_key)
        merged = _merge_by_key(live, patch, merge_key, items)
    ours, server_only = _partition(merged, patch, merge_key)
    return _normalize_order(ours, server_only, patch, live, merge_key, kind is dict)


def _list_directives(live: list, patch: list, merge_key: str) -> tuple[list, list]:
    """Apply `$patch` items of a merging list: delete by merge key, or replace the whole list."""
    kept, replace = [], False
    for item in patch:
        if DIRECTIVE not in item:
            kept.append(item)
            continue
        directive = item[DIRECTIVE]
        if directive == "delete":
            if merge_key not in item:
                raise _PatchFailure(_no_merge_key(item, merge_key))
            live = [v for v in live if not (merge_key in v and _same(v[merge_key], item[merge_key]))]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise _PatchFailure("merging lists cannot yet be specified in the patch")
        else:
            raise _PatchFailure(f"unknown patch type: {_gofmt(directive)} in map: {_gofmt(item)}")
    if replace:
        return [_clean(i) for i in kept], []
    return live, kept


def _merge_by_key(live: list, patch: list, merge_key: str, items: dict | None) -> list:
    live = list(live)  # the caller still orders by the live list as it was before appending
    for item in patch:
        if merge_key not in item:
            raise _PatchFailure(_no_merge_key(item, merge_key))
        index = _find(live, merge_key, item[merge_key])
        if index is None:
            live.append(_clean(item))
        else:
            live[index] = _merge_map(live[index], item, items)
    return live


def _partition(merged: list, present_in: list, merge_key: str) -> tuple[list, list]:
    """Split `merged` into items named in `present_in` and items only the server has."""
    ours, server_only = [], []
    if not merge_key:
        wanted = {_scalar_id(v) for v in present_in if not isinstance(v, (dict, list))}
        for v in merged:
            (ours if not isinstance(v, (dict, list)) and _scalar_id(v) in wanted else server_only).append(v)
        return ours, server_only
    for v in merged:
        if not isinstance(v, dict):
            raise _PatchFailure(_bad_arg_type("map[string]interface {}", v))
        if merge_key not in v:
            raise _PatchFailure(_no_merge_key(v, merge_key))
        (ours if _find(present_in, merge_key, v[merge_key]) is not None else server_only).append(v)
    return ours, server_only


def _normalize_order(ours: list, server_only: list, patch_order: list, server_order: list, merge_key: str,
                     is_map: bool) -> list:
    """Patch items in the patch's order, server-only items in the live order, then interleave."""
    ours = _sort_by(ours, patch_order, merge_key, is_map)
    server_only = _sort_by(server_only, server_order, merge_key, is_map)
    return _merge_sorted(server_only, ours, server_order, merge_key, is_map)


def _sort_by(items: list, order: list, merge_key: str, is_map: bool) -> list:
    to_delete: list = []
    if is_map:
        for v in items + order:
            if not isinstance(v, dict):
                raise _PatchFailure(_bad_arg_type("map[string]interface {}", v))
            if merge_key not in v:
                raise _PatchFailure(_no_merge_key(v, merge_key))
        to_delete = [v for v in items if _is_delete(v)]
        items = [v for v in items if not _is_delete(v)]
    positions = [_index(order, v, merge_key, is_map) for v in items]
    if all(p >= 0 for p in positions):
        ranked = sorted(range(len(items)), key=positions.__getitem__)
        return [items[i] for i in ranked] + to_delete
    return _go_insertion_sort(items, order, merge_key, is_map) + to_delete


def _go_insertion_sort(items: list, order: list, merge_key: str, is_map: bool) -> list:
    """Go's sort.SliceStable on a small list with apimachinery's comparator, which calls any
    item missing from `order` "less": mirrored so odd inputs land where Kubernetes puts them."""
    items = list(items)

    def less(a: Any, b: Any) -> bool:
        ia, ib = _index(order, a, merge_key, is_map), _index(order, b, merge_key, is_map)
        return ia < ib if ia >= 0 and ib >= 0 else True

    for i in range(1, len(items)):
        j = i
        while j > 0 and less(items[j], items[j - 1]):
            items[j], items[j - 1] = items[j - 1], items[j]
            j -= 1
    return items


def _merge_sorted(left: list, right: list, server_order: list, merge_key: str, is_map: bool) -> list:
    """Insert server-only items (`left`) among patch items (`right`) by their live positions."""
    out, i, j = [], 0, 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li = _index(server_order, left[i], merge_key, is_map)
            ri = _index(server_order, right[j], merge_key, is_map)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


# --- schema lookups -------------------------------------------------------------------------


def _field(node: dict | None, key: str) -> tuple[str, str, dict | None]:
    """(patch strategy, merge key, resolved schema) of `key` inside the object schema `node`.

    The x-kubernetes-patch-* extensions sit on the raw property, beside any `$ref`, so they are
    read before resolving. Maps (`additionalProperties`) give their value schema for every key.
    """
    if node is None:
        return "", "", None
    resolved = schema.resolve(node)
    raw = (resolved.get("properties") or {}).get(key)
    if raw is None:
        extra = resolved.get("additionalProperties")
        if not isinstance(extra, dict):
            return "", "", None
        raw = extra
    return _strategy(raw), raw.get("x-kubernetes-patch-merge-key", ""), schema.resolve(raw)


def _strategy(raw: dict) -> str:
    """The list/map strategy, with `retainKeys` (a client-side hint) split off."""
    parts = [p for p in raw.get("x-kubernetes-patch-strategy", "").split(",") if p]
    others = [p for p in parts if p != "retainKeys"]
    if len(others) > 1 or len(parts) > 2:
        raise _PatchFailure(f"unexpected patch strategy: {_gofmt(parts)}")
    return others[0] if others else ""


# --- cleaning of values taken from the patch as they are -----------------------------------


def _remove_directives(value: Any) -> tuple[Any, bool]:
    """A patch value new to the object, minus directives and null members (apimachinery's
    removeDirectives + discardNullValuesFromPatch); a map carrying `$patch` is not kept at all."""
    if isinstance(value, dict):
        if DIRECTIVE in value:
            return None, False
        out = {}
        for k, v in value.items():
            if v is None or k.startswith("$"):
                continue
            cleaned, keep = _remove_directives(v)
            if keep:
                out[k] = cleaned
        return out, True
    if isinstance(value, list):
        kept = (_remove_directives(v) for v in value)
        return [v for v, keep in kept if keep], True
    return value, True


def _clean(value: Any) -> Any:
    """Like `_remove_directives`, for a value that must stay: a `$patch` map becomes empty."""
    cleaned, keep = _remove_directives(value)
    return cleaned if keep else {}


# --- small helpers --------------------------------------------------------------------------


def _element_kind(*lists: list) -> type | None:
    """The one element type of all lists (apimachinery's sliceElementType)."""
    kind: type | None = None
    for items in lists:
        for v in items:
            if kind is None:
                kind = type(v)
                if kind is list:
                    raise _PatchFailure(ERR_NO_LIST_OF_LISTS, 422)
            elif type(v) is not kind:
                raise _PatchFailure(f"list element types are not identical: {_gofmt(list(lists))}")
    if kind is None:
        raise _PatchFailure("no elements in any of the given slices")
    return kind


def _is_delete(item: Any) -> bool:
    return isinstance(item, dict) and item.get(DIRECTIVE) == "delete"


def _same(a: Any, b: Any) -> bool:
    """Go interface equality: same dynamic type and value (1, 1.0 and true all differ)."""
    return type(a) is type(b) and a == b


def _scalar_id(v: Any) -> tuple[type, Any]:
    return type(v), v


def _dedupe(items: list) -> list:
    seen, out = set(), []
    for v in items:
        ident = _scalar_id(v)
        if ident not in seen:
            seen.add(ident)
            out.append(v)
    return out


def _find(items: list, merge_key: str, value: Any) -> int | None:
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise _PatchFailure(f"value for key {i} is not a map.")
        if merge_key in item and _same(item[merge_key], value):
            return i
    return None


def _index(items: list, value: Any, merge_key: str, is_map: bool) -> int:
    def key_of(v: Any) -> Any:
        return (v.get(merge_key) if isinstance(v, dict) else None) if is_map else v

    target = key_of(value)
    for i, item in enumerate(items):
        if _same(key_of(item), target):
            return i
    return -1


def _merge_key_equal(left: Any, right: Any, merge_key: str) -> bool:
    if not merge_key:
        return _same(left, right)
    for side in (left, right):
        if not isinstance(side, dict):
            raise _PatchFailure(_bad_arg_type("map[string]interface {}", side))
        if merge_key not in side:
            raise _PatchFailure(_no_merge_key(side, merge_key))
    return _same(left[merge_key], right[merge_key])


def _extract_key(key: str, prefix: str, error: str) -> str:
    head, sep, rest = key.partition("/")
    if not sep or head != prefix:
        raise _PatchFailure(error, 400)
    return rest


def _no_merge_key(item: dict, merge_key: str) -> str:
    return f"map: {_gofmt(item)} does not contain declared merge key: {merge_key}"


def _bad_arg_type(expected: str, actual: Any) -> str:
    return f"expected a {expected}, but received a {_go_type(actual)}"


def _go_type(value: Any) -> str:
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    if value is None:
        return "<nil>"
    names = {bool: "bool", int: "int64", float: "float64", str: "string"}
    return names.get(type(value), type(value).__name__)


def _gofmt(value: Any) -> str:
    """Go's %v of a decoded JSON value, as it shows up in apimachinery's error messages."""
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_gofmt(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_gofmt(v) for v in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


# --- JSON decoding with Go's error wording -------------------------------------------------


def _decode(body: bytes, bad_request_message: str | None) -> Any:
    """Parse a patch body; syntax errors are 400s worded like Go's encoding/json."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise bad_request(bad_request_message or _go_syntax_error(body)) from None


def _cannot_unmarshal(value: Any, go_type: str) -> ApiError:
    return bad_request(f"json: cannot unmarshal {_go_json_kind(value)} into Go value of type {go_type}")


def _go_json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    return "number"


_CONTEXTS = {
    "Expecting value": "looking for beginning of value",
    "Expecting property name enclosed in double quotes": "looking for beginning of object key string",
    "Expecting ':' delimiter": "after object key",
    "Extra data": "after top-level value",
}


def _go_syntax_error(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace")
    try:
        json.loads(text)
    except json.JSONDecodeError as err:
        pos, msg = err.pos, err.msg
    else:
        return "invalid character looking for beginning of value"  # e.g. NaN, which only Python takes
    if msg.startswith("Unterminated string") or not text[pos:].strip():
        return "unexpected end of JSON input"
    if msg.startswith("Invalid \\escape"):
        return f"invalid character {_quote_char(text[pos + 1:pos + 2] or ' ')} in string escape code"
    if msg.startswith("Invalid control character"):
        return f"invalid character {_quote_char(text[pos])} in string literal"
    literal = _bad_literal(text, pos) if msg == "Expecting value" else None
    if literal:
        return literal
    if msg == "Expecting ',' delimiter":
        where = "after object key:value pair" if _innermost_open(text[:pos]) == "{" else "after array element"
    else:
        where = _CONTEXTS.get(msg, "looking for beginning of value")
    return f"invalid character {_quote_char(text[pos])} {where}"


def _bad_literal(text: str, pos: int) -> str | None:
    """Go names the literal it was reading (`in literal true (expecting 'r')`)."""
    word = {"t": "true", "f": "false", "n": "null"}.get(text[pos])
    if word is None:
        return None
    for k, expected in enumerate(word):
        if pos + k >= len(text):
            return "unexpected end of JSON input"
        if text[pos + k] != expected:
            found = _quote_char(text[pos + k])
            return f"invalid character {found} in literal {word} (expecting {_quote_char(expected)})"
    return None


def _innermost_open(prefix: str) -> str:
    stack, in_string, escaped = [], False, False
    for ch in prefix:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            stack.append(ch)
        elif ch in "]}" and stack:
            stack.pop()
    return stack[-1] if stack else ""


def _quote_char(ch: str) -> str:
    if ch == "'":
        return "'\\''"
    if ch == '"':
        return "'\"'"
    return "'" + json.dumps(ch, ensure_ascii=False)[1:-1] + "'"
