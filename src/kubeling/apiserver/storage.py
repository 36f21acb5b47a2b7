"""Generic REST semantics over the store: what create, update, patch and delete mean
for any registered resource type (Kubernetes' generic registry + per-kind strategies).

Writes go to the Backend with compare-and-swap; reads come from the watch cache.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

import orjson

from kubeling.api import errors, meta, patch, registry, strategies, validation
from kubeling.api.meta import json_copy as copy_stored  # objects read from the store are JSON
from kubeling.api.registry import ResourceType
from kubeling.api.validation import meta as meta_validation
from kubeling.apiserver import admission
from kubeling.apiserver.watchcache import WatchCache, decode
from kubeling.store.backend import Backend, ConflictError, KeyExistsError, KeyNotFoundError

NAMESPACES = registry.lookup("", "v1", "namespaces")
CONFLICT_RETRIES = 10
GENERATE_NAME_RETRIES = 8
# Namespaces the NamespaceLifecycle admission plugin refuses to delete.
IMMORTAL_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
# The alphabet Kubernetes uses for generateName suffixes (no vowels, no look-alikes).
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

# Metadata the server owns: what a client sends for these is ignored.
_SYSTEM_META = ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
                "deletionGracePeriodSeconds", "generation", "selfLink", "managedFields")


@dataclass
class WriteOptions:
    dry_run: bool = False
    field_validation: str = "Warn"  # Strict | Warn | Ignore
    field_manager: str = ""


@dataclass
class WriteResult:
    object: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    created: bool = False


def encode(obj: dict[str, Any]) -> bytes:
    """The stored form: the object without resourceVersion (that is the store's revision)."""
    md = obj.get("metadata") or {}
    if "resourceVersion" in md:
        md = dict(md)
        del md["resourceVersion"]
        obj = {**obj, "metadata": md}
    return orjson.dumps(obj)


class ResourceStore:
    def __init__(self, backend: Backend, cache: WatchCache):
        self.backend = backend
        self.cache = cache

    # ---- reads -------------------------------------------------------------------------------

    async def consistent(self) -> None:
        """Make the cache at least as new as the store (read-your-writes)."""
        await self.cache.wait_for(await self.backend.current_revision())

    async def get(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        await self.consistent()
        obj = self.cache.get(rt.storage_key(namespace, name))
        if obj is None:
            raise errors.not_found(rt.plural, name, rt.group)
        return obj

    # ---- create ------------------------------------------------------------------------------

    async def create(self, rt: ResourceType, namespace: str | None, obj: dict[str, Any],
                     opts: WriteOptions) -> WriteResult:
        if obj.get("metadata") is None:
            obj["metadata"] = {}  # JSON null decodes to an empty ObjectMeta in Go
        warnings = validation.check_schema(rt, obj, opts.field_validation)
        md = obj["metadata"]
        if not isinstance(md, dict):
            raise errors.bad_request("metadata must be an object")
        self._set_namespace(rt, namespace, md)
        for f in _SYSTEM_META:
            md.pop(f, None)
        generated = not md.get("name") and bool(md.get("generateName"))
        if generated:
            md["name"] = _generate_name(md["generateName"])
        md["uid"] = meta.new_uid()
        md["creationTimestamp"] = meta.rfc3339()
        if rt.has_generation:
            md["generation"] = 1
        strategies.prepare_for_create(rt, obj)
        await admission.admit_create(self, rt, obj)
        validation.validate(rt, obj, None)
        if rt.namespaced:
            await self._check_namespace_open(rt, md["namespace"], md.get("name", ""))
        if opts.dry_run:
            # Ask the store, not the cache: the cache may not have seen a create that just returned.
            if await self.backend.get(rt.storage_key(md.get("namespace"), md["name"])) is not None:
                raise errors.already_exists(rt.plural, md["name"], rt.group)
            return WriteResult(obj, warnings, created=True)
        for attempt in range(GENERATE_NAME_RETRIES):
            try:
                rev = await self.backend.create(rt.storage_key(md.get("namespace"), md["name"]), encode(obj))
                break
            except KeyExistsError:
                # A generated name that is taken gets another suffix, as kube-apiserver retries.
                if not generated or attempt == GENERATE_NAME_RETRIES - 1:
                    raise errors.already_exists(rt.plural, md["name"], rt.group) from None
                md["name"] = _generate_name(md["generateName"])
        md["resourceVersion"] = str(rev)
        return WriteResult(obj, warnings, created=True)

    def _set_namespace(self, rt: ResourceType, namespace: str | None, md: dict[str, Any]) -> None:
        if not rt.namespaced:
            md.pop("namespace", None)
            return
        given = md.get("namespace")
        if given and namespace and given != namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the request")
        md["namespace"] = namespace or given or "default"

    async def _check_namespace_open(self, rt: ResourceType, namespace: str, name: str) -> None:
        await self.consistent()  # a namespace deleted a moment ago must already refuse content
        ns = self.cache.get(NAMESPACES.storage_key(None, namespace))
        if ns is None:
            raise errors.not_found("namespaces", namespace)
        if (ns.get("metadata") or {}).get("deletionTimestamp") or (ns.get("status") or {}).get("phase") == "Terminating":
            raise errors.ApiError(
                403, "Forbidden",
                f'{_gr(rt)} "{name}" is forbidden: unable to create new content in namespace {namespace} '
                "because it is being terminated",
                details={"name": name, "group": rt.group, "kind": rt.plural,
                         "causes": [{"reason": "NamespaceTerminating",
                                     "message": f"namespace {namespace} is being terminated",
                                     "field": "metadata.namespace"}]})

    # ---- update and patch --------------------------------------------------------------------

    async def update(self, rt: ResourceType, namespace: str | None, name: str, body: dict[str, Any],
                     opts: WriteOptions, subresource: str = "") -> WriteResult:
        """PUT: replace the object (or its status), honouring a resourceVersion precondition."""
        warnings = validation.check_schema(rt, body, opts.field_validation)
        md = body.get("metadata")
        if not isinstance(md, dict):
            raise errors.bad_request("metadata must be an object")
        if md.get("name", "") != name:  # a PUT body must name the object it replaces
            raise errors.bad_request(
                f"the name of the object ({md.get('name', '')}) does not match the name on the URL ({name})")
        if rt.namespaced and md.get("namespace") and namespace and md["namespace"] != namespace:
            raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the request")
        precondition = md.get("resourceVersion") or ""
        current = await self._current(rt, namespace, name)
        if precondition and precondition != current["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.plural, name, rt.group)
        result = await self._write_update(rt, current, lambda cur: copy_stored(body), opts, subresource,
                                          retry=not precondition)
        result.warnings[:0] = warnings
        return result

    async def patch(self, rt: ResourceType, namespace: str | None, name: str, content_type: str,
                    body: bytes, opts: WriteOptions, subresource: str = "") -> WriteResult:
        current = await self._current(rt, namespace, name)
        warnings: list[str] = []

        def patched(cur: dict[str, Any]) -> dict[str, Any]:
            new = patch.apply_patch(content_type, cur, body, rt.schema_name)
            warnings[:] = validation.check_schema(rt, new, opts.field_validation)
            wanted = (new.get("metadata") or {}).get("resourceVersion")
            if wanted and wanted != cur["metadata"]["resourceVersion"]:
                raise errors.conflict(rt.plural, name, rt.group)
            return new

        result = await self._write_update(rt, current, patched, opts, subresource, retry=True)
        result.warnings[:0] = warnings
        return result

    async def mutate(self, rt: ResourceType, namespace: str | None, name: str, fn, opts: WriteOptions,
                     subresource: str = "") -> WriteResult:
        """A server-side read-modify-write (scale, binding, finalize), retried on conflicts."""
        current = await self._current(rt, namespace, name)
        return await self._write_update(rt, current, fn, opts, subresource, retry=True)

    async def _current(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        """The stored object, from the watch cache once it has caught up with the store (no
        store round trip; compare-and-swap still catches any write that lands meanwhile).
        The result is shared with the cache: callers copy before changing it."""
        await self.consistent()
        obj = self.cache.get(rt.storage_key(namespace, name))
        if obj is None:
            raise errors.not_found(rt.plural, name, rt.group)
        return obj

    async def _write_update(self, rt: ResourceType, current: dict[str, Any], make_new, opts: WriteOptions,
                            subresource: str, retry: bool) -> WriteResult:
        for _ in range(CONFLICT_RETRIES):
            new = make_new(copy_stored(current))
            new = self._prepare_update(rt, new, current, subresource)
            old_rv = current["metadata"]["resourceVersion"]
            if _same(new, current):
                return WriteResult(current)  # a no-op write changes nothing, not even resourceVersion
            key = rt.storage_key(current["metadata"].get("namespace"), current["metadata"]["name"])
            md = new["metadata"]
            if md.get("deletionTimestamp") and not strategies.pending_finalizers(rt, new) \
                    and _may_finish_deletion(rt, new):
                # The last finalizer is gone from an object being deleted: now it really goes.
                if opts.dry_run:
                    return WriteResult(new)
                try:
                    kv = await self.backend.delete(key, int(old_rv))
                    return WriteResult(decode(kv, kv.mod_revision))
                except ConflictError as e:
                    current = self._after_conflict(rt, e, retry)
                    continue
            if opts.dry_run:
                return WriteResult(new)
            try:
                rev = await self.backend.update(key, encode(new), int(old_rv))
            except ConflictError as e:
                current = self._after_conflict(rt, e, retry)
                continue
            except KeyNotFoundError:
                raise errors.not_found(rt.plural, current["metadata"]["name"], rt.group) from None
            md["resourceVersion"] = str(rev)
            return WriteResult(new)
        raise errors.conflict(rt.plural, current["metadata"]["name"], rt.group)

    def _after_conflict(self, rt: ResourceType, e: ConflictError, retry: bool) -> dict[str, Any]:
        if e.current is None:
            raise errors.ApiError(404, "NotFound", "the object was deleted while being updated")
        if not retry:
            cur = decode(e.current)
            raise errors.conflict(rt.plural, cur["metadata"]["name"], rt.group)
        return decode(e.current)

    def _prepare_update(self, rt: ResourceType, new: dict[str, Any], old: dict[str, Any],
                        subresource: str) -> dict[str, Any]:
        if not isinstance(new.get("metadata"), dict):
            raise errors.bad_request("metadata must be an object")
        if subresource == "status":
            # A status write changes status, and may change annotations (the Deployment controller
            # records the revision there); spec, labels, owners and finalizers stay as they were.
            status = new.get("status")
            annotations = (new.get("metadata") or {}).get("annotations")
            new = copy_stored(old)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
            if annotations:
                new["metadata"]["annotations"] = annotations
            else:
                new["metadata"].pop("annotations", None)
            validation.validate(rt, new, old)
        elif subresource in ("binding", "finalize"):
            pass  # the server built this change itself from the old object
        else:
            _check_type(rt, new)
            md = new["metadata"]
            old_md = old["metadata"]
            if md.get("uid") and md["uid"] != old_md.get("uid"):
                # A uid in the body is a precondition: it must be this very object, not a namesake.
                raise errors.conflict(rt.plural, old_md["name"], rt.group,
                                      f"Precondition failed: UID in precondition: {md['uid']}, "
                                      f"UID in object meta: {old_md.get('uid')}")
            for f in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                      "generation", "name", "namespace"):
                if f in old_md:
                    md[f] = old_md[f]
                else:
                    md.pop(f, None)
            md.pop("managedFields", None)
            md.pop("selfLink", None)
            if rt.has_status and subresource == "":
                if "status" in old:
                    new["status"] = copy_stored(old["status"])
                else:
                    new.pop("status", None)
            new["apiVersion"], new["kind"] = rt.api_version, rt.kind
            strategies.prepare_for_update(rt, new, old)
            if old_md.get("deletionTimestamp"):
                causes = meta_validation.validate_no_new_finalizers(md.get("finalizers") or [],
                                                                   old_md.get("finalizers") or [])
                if causes:
                    raise errors.invalid(rt.kind, md["name"], causes, rt.group)
            if rt.has_generation and _spec_changed(new, old):
                md["generation"] = int(old_md.get("generation") or 1) + 1
            validation.validate(rt, new, old)
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        return new

    # ---- delete ------------------------------------------------------------------------------

    async def delete(self, rt: ResourceType, namespace: str | None, name: str,
                     options: dict[str, Any], dry_run: bool) -> tuple[dict[str, Any], bool]:
        """DELETE: the object as it is after the call, and whether it is gone (else only marked)."""
        if rt is NAMESPACES and name in IMMORTAL_NAMESPACES:
            raise errors.forbidden(f'namespaces "{name}" is forbidden: this namespace may not be deleted')
        for _ in range(CONFLICT_RETRIES):
            current = await self._current(rt, namespace, name)
            _check_preconditions(rt, current, options.get("preconditions") or {})
            marked = _mark_for_deletion(rt, current, options)
            key = rt.storage_key(namespace, name)
            rv = int(current["metadata"]["resourceVersion"])
            if dry_run:
                return (marked or current), marked is None
            try:
                if marked is not None:
                    if _same(marked, current):
                        return current, False
                    new_rv = await self.backend.update(key, encode(marked), rv)
                    marked["metadata"]["resourceVersion"] = str(new_rv)
                    return marked, False
                kv = await self.backend.delete(key, rv)
                return decode(kv, kv.mod_revision), True
            except ConflictError:
                continue
            except KeyNotFoundError:
                raise errors.not_found(rt.plural, name, rt.group) from None
        raise errors.conflict(rt.plural, name, rt.group)


def _generate_name(prefix: str) -> str:
    return prefix + "".join(random.choices(_NAME_ALPHABET, k=5))


def _gr(rt: ResourceType) -> str:
    return f"{rt.plural}.{rt.group}" if rt.group else rt.plural


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a == b


def _spec_changed(new: dict[str, Any], old: dict[str, Any]) -> bool:
    keys = (set(new) | set(old)) - {"metadata", "status", "apiVersion", "kind"}
    return any(new.get(k) != old.get(k) for k in keys)


def _check_type(rt: ResourceType, obj: dict[str, Any]) -> None:
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if api_version and api_version != rt.api_version or kind and kind != rt.kind:
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API version ({rt.api_version})"
            if api_version != rt.api_version else
            f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})")


def _may_finish_deletion(rt: ResourceType, obj: dict[str, Any]) -> bool:
    # A pod with a grace period still running is deleted by its kubelet, not by finalizer removal.
    if rt.kind == "Pod" and rt.group == "":
        return (obj["metadata"].get("deletionGracePeriodSeconds") or 0) == 0
    return True


def _check_preconditions(rt: ResourceType, current: dict[str, Any], pre: dict[str, Any]) -> None:
    md = current["metadata"]
    if _is_namespace(rt):
        # The namespace registry checks them in its storage update, worded as the storage layer words them.
        uid_why = f"Precondition failed: UID in precondition: {pre.get('uid')}, UID in object meta: {md.get('uid')}"
        rv_why = ("Precondition failed: ResourceVersion in precondition: "
                  f"{pre.get('resourceVersion')}, ResourceVersion in object meta: {md.get('resourceVersion')}")
        resource = rt.plural
    else:
        # Everything else fails early in the generic BeforeDelete, which names the Kind, not the resource.
        uid_why = (f"the UID in the precondition ({pre.get('uid')}) does not match the UID in record "
                   f"({md.get('uid')}). The object might have been deleted and then recreated")
        rv_why = (f"the ResourceVersion in the precondition ({pre.get('resourceVersion')}) does not match the "
                  f"ResourceVersion in record ({md.get('resourceVersion')}). The object might have been modified")
        resource = rt.kind
    if pre.get("uid") and pre["uid"] != md.get("uid"):
        raise errors.conflict(resource, md["name"], rt.group, uid_why)
    if pre.get("resourceVersion") and pre["resourceVersion"] != md.get("resourceVersion"):
        raise errors.conflict(resource, md["name"], rt.group, rv_why)


def _is_namespace(rt: ResourceType) -> bool:
    return rt.group == "" and rt.kind == "Namespace"


_PROPAGATION_FINALIZERS = {"Orphan": "orphan", "Foreground": "foregroundDeletion"}


def _mark_for_deletion(rt: ResourceType, current: dict[str, Any], options: dict[str, Any]) -> dict[str, Any] | None:
    """The object marked with deletionTimestamp when it cannot go at once; None when it can."""
    policy = options.get("propagationPolicy")
    if policy is None and options.get("orphanDependents") is True:
        policy = "Orphan"
    if policy not in (None, "Orphan", "Foreground", "Background"):
        raise errors.invalid("DeleteOptions", "", [errors.field_cause(
            "propagationPolicy",
            f'Unsupported value: "{policy}": supported values: "Foreground", "Background", "Orphan", "nil"',
            "FieldValueNotSupported")])
    new = copy_stored(current)
    md = new["metadata"]
    finalizers = list(md.get("finalizers") or [])
    spec_finalizers = strategies.pending_finalizers(rt, current) and not finalizers
    # A fresh delete request of an object with dependents asks the garbage collector for help.
    if policy in _PROPAGATION_FINALIZERS and not md.get("deletionTimestamp"):
        wanted = _PROPAGATION_FINALIZERS[policy]
        other = _PROPAGATION_FINALIZERS["Foreground" if policy == "Orphan" else "Orphan"]
        finalizers = [f for f in finalizers if f != other]
        if wanted not in finalizers:
            finalizers.append(wanted)
    grace = strategies.deletion_grace_seconds(rt, current, options.get("gracePeriodSeconds"))
    if md.get("deletionTimestamp"):
        # Already being deleted: only a shorter grace period changes anything.
        if grace is not None and grace < (md.get("deletionGracePeriodSeconds") or 0):
            md["deletionGracePeriodSeconds"] = grace
            md["deletionTimestamp"] = meta.rfc3339(meta.now() + dt.timedelta(seconds=grace))
            if grace == 0 and not finalizers:
                return None
            return new
        return None if not finalizers and not spec_finalizers and not (md.get("deletionGracePeriodSeconds") or 0) else new
    if not finalizers and not spec_finalizers and not grace:
        return None
    if finalizers:
        md["finalizers"] = finalizers
    if md.get("generation"):
        md["generation"] += 1  # the start of deletion is a change of desired state, as in Kubernetes
    md["deletionTimestamp"] = meta.rfc3339(meta.now() + dt.timedelta(seconds=grace or 0))
    if _is_namespace(rt):
        # The namespace registry marks it Terminating without a grace period.
        new.setdefault("status", {})["phase"] = "Terminating"
    else:
        md["deletionGracePeriodSeconds"] = grace or 0
    return new
