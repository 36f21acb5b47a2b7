"""ObjectMeta validation and the name/key syntaxes, with Kubernetes' exact wording."""


import pytest

from kubeling.api.validation import meta as v

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
             "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
             "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
               "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
               "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
QNAME_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
             "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
             "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                   "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                   "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")


@pytest.mark.parametrize("fn,value,expected", [
    (v.dns1123_subdomain, "example.com", []),
    (v.dns1123_subdomain, "Web", [SUBDOMAIN_MSG]),
    (v.dns1123_subdomain, "a" * 254, ["must be no more than 253 characters"]),
    (v.dns1123_label, "my-name", []),
    (v.dns1123_label, "a.b", ["must not contain dots"]),
    (v.dns1123_label, "-a", [LABEL_MSG]),
    (v.dns1123_label, "a" * 64, ["must be no more than 63 characters"]),
    (v.dns1035_label, "1abc", [DNS1035_MSG]),
    (v.is_qualified_name, "app", []),
    (v.is_qualified_name, "example.com/App_1", []),
    (v.is_qualified_name, "/a", ["prefix part must be non-empty"]),
    (v.is_qualified_name, "Example.com/a", ["prefix part " + SUBDOMAIN_MSG]),
    (v.is_qualified_name, "a/", ["name part must be non-empty", QNAME_MSG]),
    (v.is_qualified_name, "-a", [QNAME_MSG]),
    (v.is_qualified_name, "x" * 64, ["name part must be no more than 63 characters"]),
    (v.is_qualified_name, "a/b/c", [
        ("a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
        "an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' "
        "(e.g. 'example.com/MyName')")]),
    (v.is_valid_label_value, "", []),
    (v.is_valid_label_value, "v1.2_x", []),
    (v.is_valid_label_value, "bad value", [LABEL_VALUE_MSG]),
    (v.is_valid_label_value, "v" * 64, ["must be no more than 63 characters"]),
    (v.is_valid_path_segment_name, "..", ["may not be '..'"]),
    (v.is_valid_path_segment_name, "a/b%", ["may not contain '/'", "may not contain '%'"]),
])
def test_syntax_helpers(fn, value, expected):
    assert fn(value) == expected


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


@pytest.mark.parametrize("text,quoted", [
    ("plain", '"plain"'), ('q"b\\', '"q\\"b\\\\"'), ("tab\there\n", '"tab\\there\\n"'),
    ("\x01", '"\\x01"'), ("héllo", '"héllo"'),
])
def test_go_quote(text, quoted):
    assert v.go_quote(text) == quoted
