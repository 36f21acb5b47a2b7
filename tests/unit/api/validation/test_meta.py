"""ObjectMeta validation and each kind's name rule, with Kubernetes' exact wording."""

import pytest
from tests.unit.api.k8s_messages import DNS1035_MSG, LABEL_MSG, LABEL_VALUE_MSG, QNAME_MSG, SUBDOMAIN_MSG

from kubeling.api.validation import meta as v


@pytest.mark.parametrize("kind,name,ok", [
    ("ConfigMap", "a.b", True), ("Deployment", "a.b", True),
    ("Namespace", "a.b", False), ("StatefulSet", "a.b", False),
    ("Service", "a1", True), ("Service", "1a", False), ("Pod", "1a", True),
    ("ClusterRole", "system:controller:x", True), ("Pod", "system:x", False),
])
def test_each_kind_uses_its_own_name_rule(kind, name, ok):
    assert (v.name_validator(kind)(name, False) == []) is ok


def test_generate_name_may_end_with_a_dash():
    assert v.name_is_dns_subdomain("web-", True) == []
    assert v.name_is_dns_subdomain("web-", False) == [SUBDOMAIN_MSG]


def cause(field, message, reason="FieldValueInvalid"):
    return {"reason": reason, "message": message, "field": field}


OK = {"name": "web", "namespace": "default"}

META_CASES = [
    ("valid", OK, True, "ConfigMap", []),
    ("no name", {"namespace": "default"}, True, "ConfigMap",
     [cause("metadata.name", "Required value: name or generateName is required", "FieldValueRequired")]),
    ("bad name", {"name": "Web", "namespace": "default"}, True, "ConfigMap",
     [cause("metadata.name", 'Invalid value: "Web": ' + SUBDOMAIN_MSG)]),
    ("bad generateName", {"generateName": "Web-", "name": "web-x1", "namespace": "default"}, True, "Pod",
     [cause("metadata.generateName", 'Invalid value: "Web-": ' + SUBDOMAIN_MSG)]),
    ("namespace name with dots", {"name": "a.b"}, False, "Namespace",
     [cause("metadata.name", 'Invalid value: "a.b": must not contain dots')]),
    ("service name", {"name": "1web", "namespace": "default"}, True, "Service",
     [cause("metadata.name", 'Invalid value: "1web": ' + DNS1035_MSG)]),
    ("namespace missing", {"name": "web"}, True, "ConfigMap",
     [cause("metadata.namespace", "Required value", "FieldValueRequired")]),
    ("namespace on cluster kind", {"name": "n1", "namespace": "default"}, False, "Node",
     [cause("metadata.namespace", "Forbidden: not allowed on this type", "FieldValueForbidden")]),
    ("bad namespace", {"name": "web", "namespace": "Prod"}, True, "ConfigMap",
     [cause("metadata.namespace", 'Invalid value: "Prod": ' + LABEL_MSG)]),
    ("negative generation", {**OK, "generation": -1}, True, "ConfigMap",
     [cause("metadata.generation", "Invalid value: -1: must be greater than or equal to 0")]),
    ("bad label key", {**OK, "labels": {"-x": "1"}}, True, "ConfigMap",
     [cause("metadata.labels", 'Invalid value: "-x": ' + QNAME_MSG)]),
    ("bad label value", {**OK, "labels": {"x": "a b"}}, True, "ConfigMap",
     [cause("metadata.labels", 'Invalid value: "a b": ' + LABEL_VALUE_MSG)]),
    ("annotation keys ignore case", {**OK, "annotations": {"Example.COM/Note": "x"}}, True, "ConfigMap", []),
    ("annotations too large", {**OK, "annotations": {"a": "x" * (256 * 1024)}}, True, "ConfigMap",
     [cause("metadata.annotations", "Too long: must have at most 262144 bytes", "FieldValueTooLong")]),
    ("short finalizer", {**OK, "finalizers": ["kubernetes", "mine"]}, True, "ConfigMap",
     [cause("metadata.finalizers[1]",
            'Invalid value: "mine": name is neither a standard finalizer name nor is it fully qualified')]),
    ("qualified finalizer", {**OK, "finalizers": ["example.com/cleanup"]}, True, "ConfigMap", []),
    ("conflicting finalizers", {**OK, "finalizers": ["orphan", "foregroundDeletion"]}, True, "ConfigMap",
     [cause("metadata.finalizers", 'Invalid value: []string{"orphan", "foregroundDeletion"}: '
                                   "finalizer orphan and foregroundDeletion cannot be both set")]),
    ("owner reference fields", {**OK, "ownerReferences": [{"apiVersion": "apps/", "kind": "", "name": "x"}]},
     True, "Pod", [cause("metadata.ownerReferences.apiVersion", 'Invalid value: "apps/": version must not be empty'),
                   cause("metadata.ownerReferences.kind", 'Invalid value: "": kind must not be empty'),
                   cause("metadata.ownerReferences.uid", 'Invalid value: "": uid must not be empty')]),
    ("managed fields", {**OK, "managedFields": [{"operation": "Patch", "fieldsType": "FieldsV2"}]}, True, "Pod",
     [cause("metadata.managedFields[0].operation", 'Invalid value: "Patch": must be `Apply` or `Update`'),
      cause("metadata.managedFields[0].fieldsType", 'Invalid value: "FieldsV2": must be `FieldsV1`')]),
]


@pytest.mark.parametrize("meta,namespaced,kind,expected", [c[1:] for c in META_CASES],
                         ids=[c[0] for c in META_CASES])
def test_validate_object_meta(meta, namespaced, kind, expected):
    assert v.validate_object_meta(meta, namespaced, kind) == expected


def test_name_fn_may_be_a_function():
    assert v.validate_object_meta({"name": "x.y"}, False, v.name_is_dns_label) == [
        cause("metadata.name", 'Invalid value: "x.y": must not contain dots')]


def test_two_controller_owner_references():
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "uid": "u", "controller": True}
    refs = [{**owner, "name": "a"}, {**owner, "name": "b"}]
    [c] = v.validate_object_meta({**OK, "ownerReferences": refs}, True, "Pod")
    assert c["field"] == "metadata.ownerReferences"
    assert c["message"].startswith("Invalid value: []v1.OwnerReference{v1.OwnerReference{APIVersion:\"apps/v1\"")
    assert c["message"].endswith(
        'Only one reference can have Controller set to true. Found "true" in references for ReplicaSet/a and ReplicaSet/b')


OLD = {"name": "web", "namespace": "default", "uid": "u1", "creationTimestamp": "2024-01-02T03:04:05Z",
       "generation": 2, "finalizers": ["example.com/a"]}

UPDATE_CASES = [
    ("unchanged", {}, {}, []),
    ("name", {"name": "web2"}, {}, [cause("metadata.name", 'Invalid value: "web2": field is immutable')]),
    ("namespace", {"namespace": "other"}, {},
     [cause("metadata.namespace", 'Invalid value: "other": field is immutable')]),
    ("uid cleared", {"uid": None}, {}, [cause("metadata.uid", 'Invalid value: "": field is immutable')]),
    ("creationTimestamp", {"creationTimestamp": "2025-01-02T03:04:05Z"}, {},
     [cause("metadata.creationTimestamp", "Invalid value: 2025-01-02 03:04:05 +0000 UTC: field is immutable")]),
    ("same instant other offset", {"creationTimestamp": "2024-01-02T04:04:05+01:00"}, {}, []),
    ("grace period set", {"deletionGracePeriodSeconds": 0}, {},
     [cause("metadata.deletionGracePeriodSeconds", "Invalid value: 0: field is immutable")]),
    ("generation decremented", {"generation": 1}, {},
     [cause("metadata.generation", "Invalid value: 1: must not be decremented")]),
    ("finalizer added while deleting", {"finalizers": ["example.com/a", "example.com/b"],
                                        "deletionTimestamp": "2024-02-01T00:00:00Z"},
     {"deletionTimestamp": "2024-02-01T00:00:00Z"},
     [cause("metadata.finalizers", "Forbidden: no new finalizers can be added if the object is being deleted, "
                                   'found new finalizers []string{"example.com/b"}', "FieldValueForbidden")]),
    ("finalizer added while alive", {"finalizers": ["example.com/a", "example.com/b"]}, {}, []),
]


@pytest.mark.parametrize("new_changes,old_changes,expected", [c[1:] for c in UPDATE_CASES],
                         ids=[c[0] for c in UPDATE_CASES])
def test_validate_object_meta_update(new_changes, old_changes, expected):
    new = {**OLD, **new_changes}
    old = {**OLD, **old_changes}
    assert v.validate_object_meta_update(new, old) == expected


def test_resource_version_check_is_opt_in():
    assert v.validate_object_meta_update(dict(OLD), dict(OLD)) == []
    assert v.validate_object_meta_update(dict(OLD), dict(OLD), require_resource_version=True) == [
        cause("metadata.resourceVersion", 'Invalid value: "": must be specified for an update')]
