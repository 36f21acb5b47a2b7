"""Label and field selectors, checked against Kubernetes' parser behaviour and wording
(k8s.io/apimachinery/pkg/labels, pkg/fields, and the API server's field label conversions)."""

import pytest
from tests.unit.api.k8s_messages import LABEL_VALUE_MSG as VALUE_HELP
from tests.unit.api.k8s_messages import QNAME_HELP

from kubeling.api import registry
from kubeling.api.errors import ApiError
from kubeling.api.selectors import (
    FieldSelector,
    LabelSelector,
    Requirement,
    check_field_selector,
    escape_field_value,
    field_selector_for,
    matches,
    new_requirement,
    object_fields,
    parse_field_selector,
    parse_label_selector,
    requirements_for,
)

POD = registry.lookup_kind("", "v1", "Pod")
NODE = registry.lookup_kind("", "v1", "Node")
JOB = registry.lookup_kind("batch", "v1", "Job")
CONFIGMAP = registry.lookup_kind("", "v1", "ConfigMap")
NAMESPACE = registry.lookup_kind("", "v1", "Namespace")
REPLICASET = registry.lookup_kind("apps", "v1", "ReplicaSet")


def bad_request_message(fn, *args) -> str:
    with pytest.raises(ApiError) as err:
        fn(*args)
    assert (err.value.code, err.value.reason) == (400, "BadRequest")
    return err.value.message


# --- label selector strings ---


# TestSelectorParse good strings: String() equals the input without spaces.
@pytest.mark.parametrize("text", ["x=a,y=b,z=c", "", "x!=a,y=b", "x=", "x= ", "x=,z= ", "x= ,z= ", "!x", "x>1",
                                  "x>1,z<5"])
def test_parse_round_trips(text):
    assert str(LabelSelector.parse(text)) == text.replace(" ", "")


@pytest.mark.parametrize(("text", "canonical"), [
    ("x=a,a=x", "a=x,x=a"),  # sorted by key (TestDeterministicParse)
    ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
    ("k notin (b, a)", "k notin (a,b)"),
    ("foo  in\t (abc)", "foo in (abc)"),
    ("x notin\n (abc)", "x notin (abc)"),
    ("\rx", "x"),
    ("x in (abc,)", "x in (,abc)"),
    ("x in ()", "x in ()"),
    ("x notin (abc,def),bar,z in (),w", "bar,w,x notin (abc,def),z in ()"),
    ("x notin ( )", "x notin ()"),
    ("x notin (, a)", "x notin (,a)"),
    ("a in (x,,y)", "a in (,x,y)"),
    ("a in (x,y,notin, z,in)", "a in (in,notin,x,y,z)"),
    ("a ", "a"),
    ("x,y", "x,y"),
    ("this-is-a-dns.domain.com/key-with-dash", "this-is-a-dns.domain.com/key-with-dash"),
    ("0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)", "0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)"),
    ("in in (in,notin)", "in in (in,notin)"),  # keywords are plain words where values go
    ("notin=in", "notin=in"),
    ("a==b", "a==b"),
    ("z,a=1,m", "a=1,m,z"),
    ("  ", ""),
])
def test_canonical_string(text, canonical):
    assert str(LabelSelector.parse(text)) == canonical


@pytest.mark.parametrize(("text", "message"), [
    ("x=a||y=b", "unable to parse requirement: values[0][x]: Invalid value: \"a||y\": " + VALUE_HELP),
    ("x==a==b", "found '==', expected: ',' or 'end of string'"),
    ("!x=a", "found '=', expected: ',' or 'end of string'"),
    ("x<a", ("unable to parse requirement: values[0]: Invalid value: \"a\": "
            "for 'Gt', 'Lt' operators, the value must be an integer")),
    ("a=b c", "found 'c', expected: ',' or 'end of string'"),
    ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("a in b", "unable to parse requirement: found 'b' expected: '('"),
    ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'"),
    ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
    ("a in (b,=)", "unable to parse requirement: found '=', expected: ',', or identifier"),
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("a=(", "unable to parse requirement: found '(', expected: identifier"),
    (",a", "found ',', expected: !, identifier, or 'end of string'"),
    ("a,", "found '', expected: identifier after ','"),
    ("a,,b", "found ',', expected: identifier after ','"),
    ("a in (xyz),", "found '', expected: identifier after ','"),
    ("a in (xyz)b notin ()", "found 'b', expected: ',' or 'end of string'"),
    ("x nott in (y)", "unable to parse requirement: found 'nott', expected: in, notin, =, ==, !=, gt, lt"),
    ("a notin(", "unable to parse requirement: found '', expected: ',', ')' or identifier"),
    ("(", "found '(', expected: !, identifier, or 'end of string'"),
    ("x>-5", "unable to parse requirement: values[0][x]: Invalid value: \"-5\": " + VALUE_HELP),
    ("!", "unable to parse requirement: found '', expected: identifier"),
    ("A@=b", "unable to parse requirement: <nil>: Invalid value: \"A@\": name part " + QNAME_HELP),
    ("/a", "unable to parse requirement: <nil>: Invalid value: \"/a\": prefix part must be non-empty"),
    ("a/", "unable to parse requirement: <nil>: Invalid value: \"a/\": name part must be non-empty; "
           "name part " + QNAME_HELP),
    ("x>99999999999999999999", ("unable to parse requirement: values[0]: Invalid value: "
                               "\"99999999999999999999\": for 'Gt', 'Lt' operators, the value must be an integer")),
    ("a=" + "v" * 64, "unable to parse requirement: values[0][a]: Invalid value: \"" + "v" * 64
                      + "\": must be no more than 63 characters"),
])
def test_parse_errors_use_kubernetes_wording(text, message):
    assert bad_request_message(LabelSelector.parse, text) == message


@pytest.mark.parametrize(("text", "labels", "expected"), [
    # TestSelectorMatches.
    ("", {"x": "y"}, True),
    ("x=y", {"x": "y"}, True),
    ("x=y,z=w", {"x": "y", "z": "w"}, True),
    ("x!=y,z!=w", {"x": "z", "z": "a"}, True),
    ("notin=in", {"notin": "in"}, True),
    ("x", {"x": "z"}, True),
    ("!x", {"y": "z"}, True),
    ("x>1", {"x": "2"}, True),
    ("x<1", {"x": "0"}, True),
    ("x=z", {}, False),
    ("x=y", {"x": "z"}, False),
    ("x=y,z=w", {"x": "w", "z": "w"}, False),
    ("x!=y,z!=w", {"x": "z", "z": "w"}, False),
    ("x", {"y": "z"}, False),
    ("!x", {"x": "z"}, False),
    ("x>1", {"x": "0"}, False),
    ("x<1", {"x": "2"}, False),
    ("x>1", {}, False),
    ("x>1", {"x": "v2"}, False),
    # TestRequirementSelectorMatching.
    ("x in (foo),y notin (alpha)", {"x": "foo", "y": "baz"}, True),
    ("x in (foo),y in (alpha)", {"x": "foo", "y": "baz"}, False),
    ("x notin (),y", {"y": ""}, True),
    ("!x,y", {"y": ""}, True),
    ("x notin (),!y", {"y": ""}, False),
    ("x in ()", {"y": "baz"}, False),
    ("x in ()", {"x": ""}, True),
    ("x=", {"x": ""}, True),
    ("x notin (a)", {}, True),
    ("x!=a", {}, True),
    ("x", None, False),
    ("!x", None, True),
])
def test_matches(text, labels, expected):
    assert LabelSelector.parse(text).matches(labels) is expected


def test_parse_label_selector_treats_missing_as_everything():
    for raw in (None, ""):
        sel = parse_label_selector(raw)
        assert sel.empty and sel.matches({"a": "b"}) and sel.matches(None)
    assert not parse_label_selector("a").empty


@pytest.mark.parametrize(("text", "key", "value"), [
    ("a=b,c=d", "c", "d"), ("a==b", "a", "b"), ("a in (x)", "a", "x"), ("a in (x,y)", "a", None),
    ("a!=b", "a", None), ("a", "a", None), ("b=c", "a", None),
])
def test_requires_exact_match(text, key, value):
    assert LabelSelector.parse(text).requires_exact_match(key) == value


# --- metav1.LabelSelector ---


@pytest.mark.parametrize(("selector", "canonical"), [
    ({"matchLabels": {"app": "web"}}, "app=web"),
    ({"matchLabels": {"tier": "fe", "app": "web"}}, "app=web,tier=fe"),
    ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]}, "env in (dev,prod)"),
    ({"matchLabels": {"b": "1"}, "matchExpressions": [
        {"key": "a", "operator": "NotIn", "values": ["x"]},
        {"key": "c", "operator": "Exists"},
        {"key": "d", "operator": "DoesNotExist"}]}, "a notin (x),b=1,c,!d"),
])
def test_from_dict_canonical_string(selector, canonical):
    # This string is what Scale status.selector carries.
    assert str(LabelSelector.from_dict(selector)) == canonical


def test_nil_selector_matches_nothing_and_empty_matches_everything():
    nothing, everything = LabelSelector.from_dict(None), LabelSelector.from_dict({})
    assert not nothing.matches({"a": "b"}) and not nothing.matches({}) and not nothing.empty
    assert nothing.matches_nothing
    assert everything.matches({"a": "b"}) and everything.matches(None) and everything.empty
    assert LabelSelector.from_dict({"matchLabels": {}, "matchExpressions": []}).empty


@pytest.mark.parametrize(("selector", "labels", "expected"), [
    ({"matchLabels": {"app": "web"}}, {"app": "web", "x": "y"}, True),
    ({"matchLabels": {"app": "web"}}, {"app": "db"}, False),
    ({"matchExpressions": [{"key": "env", "operator": "In", "values": ["a", "b"]}]}, {"env": "b"}, True),
    ({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["a"]}]}, {}, True),
    ({"matchExpressions": [{"key": "env", "operator": "Exists"}]}, {"env": ""}, True),
    ({"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]}, {"env": ""}, False),
])
def test_from_dict_matches(selector, labels, expected):
    assert LabelSelector.from_dict(selector).matches(labels) is expected


@pytest.mark.parametrize(("selector", "message"), [
    ({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}, '"Bogus" is not a valid label selector operator'),
    ({"matchExpressions": [{"key": "a", "operator": "In"}]},
     "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"),
    ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
     'values: Invalid value: []string{"x"}: values set must be empty for exists and does not exist'),
    ({"matchLabels": {"a b": "c"}}, 'key: Invalid value: "a b": name part ' + QNAME_HELP),
    ({"matchLabels": {"a": "b c"}}, 'values[0][a]: Invalid value: "b c": ' + VALUE_HELP),
])
def test_from_dict_errors(selector, message):
    assert bad_request_message(LabelSelector.from_dict, selector) == message


def test_from_set_and_requirements():
    sel = LabelSelector.from_set({"b": "2", "a": "1"})
    assert str(sel) == "a=1,b=2"
    assert sel.matches({"a": "1", "b": "2"}) and not sel.matches({"a": "1"})
    assert LabelSelector.from_set(None).empty
    assert sel == LabelSelector.parse("b=2,a=1") and hash(sel) == hash(LabelSelector.parse("a=1,b=2"))
    assert new_requirement("x", "in", ["b", "a"]) == Requirement("x", "in", ("b", "a"))
    assert str(new_requirement("x", "in", ["b", "a"])) == "x in (a,b)"


# --- field selectors ---


@pytest.mark.parametrize(("text", "canonical"), [
    ("metadata.name=a", "metadata.name=a"),
    ("spec.nodeName=n1,metadata.name==a", "metadata.name=a,spec.nodeName=n1"),  # terms are sorted
    ("status.phase!=Running", "status.phase!=Running"),
    ("a=b\\,c", "a=b\\,c"),
    ("a=b\\=c\\\\d", "a=b\\=c\\\\d"),
    ("a=", "a="),
    (",a=b,,", "a=b"),
    ("", ""),
    ("a=!x", "a=!x"),  # the leftmost operator splits
])
def test_field_selector_canonical(text, canonical):
    assert str(FieldSelector.parse(text)) == canonical


@pytest.mark.parametrize(("text", "message"), [
    ("a", "invalid selector: 'a'; can't understand 'a'"),
    ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
    ("a=b=c", "invalid field selector: unescaped character in value: 61"),
    ("a!==b", "invalid field selector: unescaped character in value: 61"),
    ("a=b\\x", "invalid field selector: invalid escape sequence: \\x"),
    ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
])
def test_field_selector_parse_errors(text, message):
    assert bad_request_message(FieldSelector.parse, text) == message


@pytest.mark.parametrize(("text", "fields", "expected"), [
    ("a=b", {"a": "b"}, True),
    ("a=b", {"a": "c"}, False),
    ("a!=b", {"a": "c"}, True),
    ("a!=b", {}, True),
    ("a=", {}, True),
    ("a=b,c=d", {"a": "b", "c": "d"}, True),
    ("a=b,c=d", {"a": "b", "c": "x"}, False),
    ("a=x\\,y\\=z", {"a": "x,y=z"}, True),
    ("", {"a": "b"}, True),
])
def test_field_selector_matches(text, fields, expected):
    assert FieldSelector.parse(text).matches(fields) is expected


def test_exact_match_lookup_for_indexes():
    fs = parse_field_selector("spec.nodeName=n1,metadata.name!=x,metadata.name=p")
    assert fs.requires_exact_match("spec.nodeName") == "n1"
    assert fs.requires_exact_match("metadata.name") == "p"
    assert fs.requires_exact_match("status.phase") is None
    assert [str(r) for r in requirements_for(fs, "metadata.name")] == ["metadata.name!=x", "metadata.name=p"]
    assert parse_field_selector(None).empty and parse_field_selector("").empty
    assert escape_field_value("a,b=c\\") == "a\\,b\\=c\\\\"


@pytest.mark.parametrize(("rt", "text", "message"), [
    (POD, "foo=bar", "field label not supported: foo"),
    (NODE, "metadata.namespace=x", "field label not supported: metadata.namespace"),
    (NAMESPACE, "spec.x=y", "field label not supported: spec.x"),
    (JOB, "status.succeeded=1", 'field label "status.succeeded" not supported for batchv1.Job'),
    (CONFIGMAP, "data.x=y", '"data.x" is not a known field selector: only "metadata.name", "metadata.namespace"'),
])
def test_unsupported_field_labels(rt, text, message):
    assert bad_request_message(field_selector_for, rt, text) == message


@pytest.mark.parametrize(("rt", "text", "canonical"), [
    (POD, "spec.nodeName=n1,metadata.namespace=default", "metadata.namespace=default,spec.nodeName=n1"),
    (POD, "spec.host=n1", "spec.nodeName=n1"),  # old clients' spelling is renamed
    (NODE, "spec.unschedulable=true,metadata.name=n", "metadata.name=n,spec.unschedulable=true"),
    (JOB, "status.successful=1", "status.successful=1"),
    (CONFIGMAP, "metadata.name=a", "metadata.name=a"),
])
def test_supported_field_labels(rt, text, canonical):
    assert str(check_field_selector(rt, FieldSelector.parse(text))) == canonical


def test_object_fields_render_values_like_kubernetes():
    pod = {"metadata": {"name": "p", "namespace": "ns"},
           "spec": {"nodeName": "n1", "hostNetwork": True}, "status": {"phase": "Running"}}
    fields = object_fields(POD, pod)
    assert fields["metadata.name"] == "p" and fields["metadata.namespace"] == "ns"
    assert fields["spec.nodeName"] == "n1"
    assert fields["spec.hostNetwork"] == "true"
    assert fields["status.phase"] == "Running"
    assert fields["status.podIP"] == ""  # missing strings are empty
    bare = object_fields(POD, {"metadata": {"name": "q"}})
    assert bare["spec.hostNetwork"] == "false"  # Go zero values for absent scalars
    assert object_fields(REPLICASET, {"metadata": {"name": "r"}})["status.replicas"] == "0"
    assert object_fields(REPLICASET, {"metadata": {"name": "r"}, "status": {"replicas": 3}})["status.replicas"] == "3"
    assert object_fields(JOB, {"metadata": {"name": "j"}, "status": {"succeeded": 2}})["status.successful"] == "2"
    assert "metadata.namespace" not in object_fields(NODE, {"metadata": {"name": "n"}})
    assert object_fields(NODE, {"metadata": {"name": "n"}, "spec": {"unschedulable": False}})["spec.unschedulable"] \
        == "false"


@pytest.mark.parametrize(("labels", "fields", "expected"), [
    ("app=web", "spec.nodeName=n1", True),
    ("app=db", "spec.nodeName=n1", False),
    ("app=web", "spec.nodeName=n2", False),
    (None, "spec.hostNetwork=false", True),
    (None, "status.phase!=Running", False),
    (None, None, True),
])
def test_matches_object(labels, fields, expected):
    pod = {"metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web"}},
           "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}
    ls = parse_label_selector(labels) if labels else None
    fs = field_selector_for(POD, fields) if fields else None
    assert matches(POD, pod, ls, fs) is expected
