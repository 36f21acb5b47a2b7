"""Decode-time schema checks: Go decoder messages, unknown fields, custom value syntaxes."""

import copy
import time

import pytest

from kubeling.api.validation import schema

DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"
CONFIGMAP = "io.k8s.api.core.v1.ConfigMap"
SECRET = "io.k8s.api.core.v1.Secret"
POD = "io.k8s.api.core.v1.Pod"
TIME_LAYOUT = '"2006-01-02T15:04:05Z07:00"'
QUANTITY_MSG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


def deployment() -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
                     "creationTimestamp": None, "annotations": {"a": "b"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{
                        "name": "web", "image": "nginx:1.25", "args": ["-g", "daemon off;"],
                        "env": [{"name": "A", "value": "1"},
                                {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "resources": {"limits": {"cpu": "100m", "memory": "1Gi"}, "requests": {"cpu": 0.5}},
                        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 5},
                    }],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                    "terminationGracePeriodSeconds": 30,
                },
            },
        },
        "status": {},
    }


def with_value(path: str, value):
    """A deployment with `value` at dotted `path` (numeric parts index lists)."""
    obj = deployment()
    *parents, last = path.split(".")
    cur = obj
    for part in parents:
        cur = cur[int(part)] if part.isdigit() else cur.setdefault(part, {})
    if last.isdigit():
        cur[int(last)] = value
    else:
        cur[last] = value
    return obj


C0 = "spec.template.spec.containers.0"

TYPE_ERRORS = [
    ("spec.replicas", "3", "spec.replicas",
     "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"),
    ("spec.replicas", 3.5, "spec.replicas",
     "json: cannot unmarshal number 3.5 into Go struct field DeploymentSpec.spec.replicas of type int32"),
    ("spec.replicas", 2**31, "spec.replicas",
     "json: cannot unmarshal number 2147483648 into Go struct field DeploymentSpec.spec.replicas of type int32"),
    ("spec.replicas", True, "spec.replicas",
     "json: cannot unmarshal bool into Go struct field DeploymentSpec.spec.replicas of type int32"),
    ("spec.paused", "yes", "spec.paused",
     "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.paused of type bool"),
    ("spec", "x", "spec",
     "json: cannot unmarshal string into Go struct field Deployment.spec of type v1.DeploymentSpec"),
    ("spec.template.spec.containers", {}, "spec.template.spec.containers",
     "json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers of type []v1.Container"),
    ("spec.template.spec.containers.0", 7, "spec.template.spec.containers[0]",
     "json: cannot unmarshal number into Go struct field PodSpec.spec.template.spec.containers of type v1.Container"),
    (f"{C0}.name", 5, "spec.template.spec.containers[0].name",
     "json: cannot unmarshal number into Go struct field Container.spec.template.spec.containers.name of type string"),
    (f"{C0}.args", "a b", "spec.template.spec.containers[0].args",
     "json: cannot unmarshal string into Go struct field Container.spec.template.spec.containers.args of type []string"),
    ("metadata.labels.app", 1, "metadata.labels.app",
     "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"),
    ("metadata.labels", ["a"], "metadata.labels",
     "json: cannot unmarshal array into Go struct field ObjectMeta.metadata.labels of type map[string]string"),
    (f"{C0}.resources.limits", "1", "spec.template.spec.containers[0].resources.limits",
     ("json: cannot unmarshal string into Go struct field ResourceRequirements"
     ".spec.template.spec.containers.resources.limits of type v1.ResourceList")),
    (f"{C0}.ports.0.containerPort", "80", "spec.template.spec.containers[0].ports[0].containerPort",
     ("json: cannot unmarshal string into Go struct field ContainerPort"
     ".spec.template.spec.containers.ports.containerPort of type int32")),
    # Custom unmarshalers: IntOrString, Quantity, Time.
    ("spec.strategy.rollingUpdate.maxSurge", True, "spec.strategy.rollingUpdate.maxSurge",
     ("json: cannot unmarshal bool into Go struct field RollingUpdateDeployment"
     ".spec.strategy.rollingUpdate.maxSurge of type int32")),
    ("spec.strategy.rollingUpdate.maxSurge", 1.5, "spec.strategy.rollingUpdate.maxSurge",
     ("json: cannot unmarshal number 1.5 into Go struct field RollingUpdateDeployment"
     ".spec.strategy.rollingUpdate.maxSurge of type int32")),
    (f"{C0}.resources.limits.cpu", "lots", "spec.template.spec.containers[0].resources.limits.cpu", QUANTITY_MSG),
    (f"{C0}.resources.limits.cpu", True, "spec.template.spec.containers[0].resources.limits.cpu", QUANTITY_MSG),
    (f"{C0}.resources.limits.cpu", "1mm", "spec.template.spec.containers[0].resources.limits.cpu",
     "unable to parse quantity's suffix"),
    ("metadata.creationTimestamp", "yesterday", "metadata.creationTimestamp",
     f'parsing time "yesterday" as {TIME_LAYOUT}: cannot parse "yesterday" as "2006"'),
    ("metadata.creationTimestamp", 5, "metadata.creationTimestamp",
     "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.creationTimestamp of type string"),
]


@pytest.mark.parametrize("path,value,field,message", TYPE_ERRORS)
def test_type_errors_read_like_the_go_decoder(path, value, field, message):
    causes, _ = schema.validate_schema(with_value(path, value), DEPLOYMENT)
    assert causes, "expected a decode error"
    assert causes[0]["message"] == message
    assert causes[0]["field"] == field


def test_valid_deployment_has_no_causes_and_no_unknown_fields():
    assert schema.validate_schema(deployment(), DEPLOYMENT) == ([], [])


@pytest.mark.parametrize("path,value", [
    ("spec.replicas", None), ("spec.template", None), ("metadata.labels", None),
    ("spec.strategy.rollingUpdate.maxSurge", 2), ("spec.strategy.rollingUpdate.maxSurge", "30%"),
    (f"{C0}.resources.limits.cpu", 2), (f"{C0}.resources.limits.cpu", "1.5"),
    (f"{C0}.resources.limits.memory", "1e3"), (f"{C0}.resources.limits.memory", " 64Ki "),
    ("metadata.creationTimestamp", "2024-01-02T03:04:05Z"),
    ("metadata.creationTimestamp", "2024-01-02T03:04:05+05:30"),
    ("spec.minReadySeconds", -1),  # ranges are semantic validation, not decoding
])
def test_values_the_decoder_accepts(path, value):
    assert schema.validate_schema(with_value(path, value), DEPLOYMENT) == ([], [])


def test_non_object_top_level_is_a_go_value_error():
    causes, _ = schema.validate_schema([], DEPLOYMENT)  # type: ignore[arg-type]
    assert causes[0]["message"] == "json: cannot unmarshal array into Go value of type v1.Deployment"


def test_first_type_error_is_the_reported_one():
    obj = with_value("spec.replicas", "3")
    obj["spec"]["paused"] = "no"
    causes, _ = schema.validate_schema(obj, DEPLOYMENT)
    assert [c["field"] for c in causes] == ["spec.replicas", "spec.paused"]


def test_custom_unmarshaler_failure_aborts_and_wins_over_earlier_type_errors():
    obj = with_value("spec.replicas", "3")
    obj["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "x"
    obj["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = "late"  # after the abort
    causes, _ = schema.validate_schema(obj, DEPLOYMENT)
    assert causes[0]["message"] == QUANTITY_MSG
    assert [c["field"] for c in causes] == ["spec.template.spec.containers[0].resources.limits.cpu", "spec.replicas"]


@pytest.mark.parametrize("data,message", [
    ({"k": "%%%%"}, "illegal base64 data at input byte 0"),
    ({"k": "YQ"}, "illegal base64 data at input byte 0"),
    ({"k": 5}, "json: cannot unmarshal number into Go struct field Secret.data of type []uint8"),
])
def test_secret_data_is_base64(data, message):
    causes, _ = schema.validate_schema({"kind": "Secret", "data": data}, SECRET)
    assert causes[0]["message"] == message
    assert causes[0]["field"] == "data.k" or data["k"] == 5


def test_configmap_data_type_error():
    causes, _ = schema.validate_schema({"data": {"a": 1}}, CONFIGMAP)
    assert causes[0]["message"] == "json: cannot unmarshal number into Go struct field ConfigMap.data of type string"


# ---------------------------------------------------------------- unknown fields

def test_unknown_fields_are_reported_with_kubernetes_paths_in_document_order():
    obj = deployment()
    obj["metadata"]["unknownMeta"] = "x"
    obj["spec"]["unknown1"] = None
    obj["spec"]["Replicas"] = 3  # matching is case-sensitive
    obj["spec"]["template"]["spec"]["containers"][0]["unknownNested"] = {"deep": 1}
    obj["spec"]["template"]["spec"]["volumes"][0]["emptyDir"]["sizeLimitX"] = "1Gi"
    obj["extra"] = 1
    causes, unknown = schema.validate_schema(obj, DEPLOYMENT)
    assert causes == []
    assert unknown == [
        "metadata.unknownMeta",
        "spec.template.spec.containers[0].unknownNested",
        "spec.template.spec.volumes[0].emptyDir.sizeLimitX",
        "spec.unknown1",  # added after spec.template, so reported after it
        "spec.Replicas",
        "extra",
    ]


def test_map_keys_and_opaque_fields_are_never_unknown():
    obj = deployment()
    obj["metadata"]["labels"]["anything"] = "x"
    obj["metadata"]["managedFields"] = [{"manager": "m", "fieldsV1": {"f:spec": {"f:whatever": {}}}}]
    assert schema.validate_schema(obj, DEPLOYMENT) == ([], [])


def test_prune_drops_exactly_the_unknown_fields():
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["foo"] = 1
    obj["bar"] = 2
    expected = deployment()
    _, unknown = schema.validate_schema(obj, DEPLOYMENT)
    schema.prune(obj, unknown)
    assert obj == expected


class _RT:
    kind, version = "Deployment", "v1"


def test_decode_error_is_kube_apiservers_400():
    causes, _ = schema.validate_schema(with_value("spec.replicas", "3"), DEPLOYMENT)
    err = schema.decode_error(_RT, causes)
    assert (err.code, err.reason) == (400, "BadRequest")
    assert err.message == ('Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal '
                           "string into Go struct field DeploymentSpec.spec.replicas of type int32")


def test_strict_decoding_error_and_warnings():
    err = schema.strict_decoding_error(_RT, ["spec.foo", "spec.template.spec.containers[0].bar"])
    assert (err.code, err.reason) == (400, "BadRequest")
    assert err.message == ('Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
                           'unknown field "spec.foo", unknown field "spec.template.spec.containers[0].bar"')
    assert schema.unknown_field_warnings(["spec.foo"]) == ['unknown field "spec.foo"']


def test_validation_does_not_modify_the_object():
    obj = with_value("spec.foo", 1)
    before = copy.deepcopy(obj)
    schema.validate_schema(obj, DEPLOYMENT)
    assert obj == before


@pytest.mark.parametrize("name", [
    "io.k8s.api.core.v1.Pod", "io.k8s.api.core.v1.Node", "io.k8s.api.batch.v1.CronJob",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
])
def test_every_definition_compiles_and_accepts_an_empty_object(name):
    assert schema.validate_schema({}, name) == ([], [])


# ---------------------------------------------------------------- value syntaxes

@pytest.mark.parametrize("text,error", [
    ("1", None), ("100m", None), ("1Gi", None), ("1.5", None), ("+1", None), ("-2Ki", None),
    ("1e3", None), ("1E", None), ("5E-3", None), (".5", None), ("1.", None),
    ("", QUANTITY_MSG), ("abc", QUANTITY_MSG), ("1.2.3", QUANTITY_MSG), ("1KiB", QUANTITY_MSG),
    ("1 Gi", QUANTITY_MSG),
    ("1mm", "unable to parse quantity's suffix"), ("1e", "unable to parse quantity's suffix"),
    ("1iK", "unable to parse quantity's suffix"),
])
def test_quantity_syntax(text, error):
    assert schema.quantity_error(text) == error


@pytest.mark.parametrize("data,offset", [
    (b"", None), (b"YQ==", None), (b"YWI=", None), (b"YWJj", None), (b"YWJj\nZGVm\r\n", None),
    (b"YQ", 0), (b"YWJjZA", 4), (b"YQ=", 3), (b"Y===", 1), (b"YQ==YQ==", 4), (b"a b", 1), (b"YWJ$", 3),
    (b"YQ=x", 2),
])
def test_base64_error_offsets_match_go(data, offset):
    assert schema.base64_error_offset(data) == offset


MICRO = schema.RFC3339_MICRO


@pytest.mark.parametrize("layout,value,error", [
    (schema.RFC3339, "2024-01-02T03:04:05Z", None),
    (schema.RFC3339, "2024-01-02T03:04:05.123Z", None),
    (schema.RFC3339, "2024-01-02T03:04:05-07:00", None),
    (schema.RFC3339, "2024-02-29T00:00:00Z", None),
    (schema.RFC3339, "", f'parsing time "" as {TIME_LAYOUT}: cannot parse "" as "2006"'),
    (schema.RFC3339, "2024-01-02 03:04:05Z",
     f'parsing time "2024-01-02 03:04:05Z" as {TIME_LAYOUT}: cannot parse " 03:04:05Z" as "T"'),
    (schema.RFC3339, "2024-1-02T03:04:05Z",
     f'parsing time "2024-1-02T03:04:05Z" as {TIME_LAYOUT}: cannot parse "1-02T03:04:05Z" as "01"'),
    (schema.RFC3339, "2024-01-02T03:04:05",
     f'parsing time "2024-01-02T03:04:05" as {TIME_LAYOUT}: cannot parse "" as "Z07:00"'),
    (schema.RFC3339, "2024-13-02T03:04:05Z", 'parsing time "2024-13-02T03:04:05Z": month out of range'),
    (schema.RFC3339, "2024-01-02T24:04:05Z", 'parsing time "2024-01-02T24:04:05Z": hour out of range'),
    (schema.RFC3339, "2023-02-29T00:00:00Z", 'parsing time "2023-02-29T00:00:00Z": day out of range'),
    (schema.RFC3339, "2024-01-02T03:04:05Zjunk", 'parsing time "2024-01-02T03:04:05Zjunk": extra text: "junk"'),
    (MICRO, "2024-01-02T03:04:05.123456Z", None),
    (MICRO, "2024-01-02T03:04:05Z",
     'parsing time "2024-01-02T03:04:05Z" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "Z" as ".000000"'),
])
def test_time_parse_errors_match_go(layout, value, error):
    assert schema.go_time_parse_error(layout, value) == error


# ---------------------------------------------------------------- speed

def _mean_seconds(obj, name, runs=300):
    schema.validate_schema(obj, name)  # compile outside the measurement
    start = time.perf_counter()
    for _ in range(runs):
        schema.validate_schema(obj, name)
    return (time.perf_counter() - start) / runs


def test_walk_is_fast_enough_to_run_on_every_write():
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "d"},
                 "data": {"a": "1", "b": "2"}}
    assert _mean_seconds(configmap, CONFIGMAP) < 50e-6
    assert _mean_seconds(deployment(), DEPLOYMENT) < 500e-6
