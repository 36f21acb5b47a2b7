"""Per-kind validation: the causes (field, message, reason) Kubernetes reports."""

from __future__ import annotations

import copy

import pytest
from tests.unit.api.k8s_messages import LABEL_MSG

from kubeling.api.defaults import apply_defaults, generate_job_selector
from kubeling.api.validation.kinds import validate

POD = ("", "v1", "Pod")
DEPLOY = ("apps", "v1", "Deployment")
RS = ("apps", "v1", "ReplicaSet")
DS = ("apps", "v1", "DaemonSet")
STS = ("apps", "v1", "StatefulSet")
JOB = ("batch", "v1", "Job")
CRON = ("batch", "v1", "CronJob")
SVC = ("", "v1", "Service")
CM = ("", "v1", "ConfigMap")
SECRET = ("", "v1", "Secret")
NS = ("", "v1", "Namespace")
NODE = ("", "v1", "Node")
LEASE = ("coordination.k8s.io", "v1", "Lease")
EVENT = ("", "v1", "Event")
EVENTS_EVENT = ("events.k8s.io", "v1", "Event")
SLICE = ("discovery.k8s.io", "v1", "EndpointSlice")


def container(**extra):
    return {"name": "web", "image": "nginx:1.27", **extra}


def pod(**spec):
    return {"metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": [container()], **spec}}


def template(labels=None, **spec):
    return {"metadata": {"labels": {"app": "web"} if labels is None else labels},
            "spec": {"containers": [container()], **spec}}


def deployment(**spec):
    base = {"selector": {"matchLabels": {"app": "web"}}, "template": template()}
    return {"metadata": {"name": "web", "namespace": "default"}, "spec": {**base, **spec}}


def job(**spec):
    base = {"template": template(restartPolicy="Never")}
    return {"metadata": {"name": "pi", "namespace": "default", "uid": "u-1"}, "spec": {**base, **spec}}


def cronjob(**spec):
    base = {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template(restartPolicy="OnFailure")}}}
    return {"metadata": {"name": "c", "namespace": "default"}, "spec": {**base, **spec}}


def service(**spec):
    return {"metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}], **spec}}


def with_pod_spec(obj_pod_spec_patch):
    return pod(**obj_pod_spec_patch)


def run(kind, obj, old=None):
    obj = copy.deepcopy(obj)
    apply_defaults(kind, obj)
    if kind == JOB:
        generate_job_selector(obj)
        apply_defaults(kind, obj)
    if old is not None:
        old = copy.deepcopy(old)
        apply_defaults(kind, old)
        if kind == JOB:
            generate_job_selector(old)
            apply_defaults(kind, old)
    return validate(kind, obj, old)


VALID = [
    (POD, pod()),
    (POD, pod(volumes=[{"name": "data"}],
              containers=[container(volumeMounts=[{"name": "data", "mountPath": "/data"}],
                                    ports=[{"name": "http", "containerPort": 80}],
                                    env=[{"name": "A", "value": "1"},
                                         {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                                    resources={"requests": {"cpu": "100m"}, "limits": {"cpu": "0.5"}},
                                    livenessProbe={"httpGet": {"port": "http"}})])),
    (DEPLOY, deployment()),
    (RS, {"spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template()}}),
    (DS, {"spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template()}}),
    (STS, {"metadata": {"name": "db"}, "spec": {"selector": {"matchLabels": {"app": "web"}},
                                                "serviceName": "db", "template": template()}}),
    (JOB, job()),
    (CRON, cronjob()),
    (CRON, cronjob(schedule="@hourly")),
    (SVC, service()),
    (SVC, service(clusterIP="None", ports=[])),
    (SVC, {"spec": {"type": "ExternalName", "externalName": "example.com."}}),
    (CM, {"data": {"a.conf": "x", "KEY_1": "y"}}),
    (SECRET, {"data": {"tls.crt": "eA==", "tls.key": "eA=="}, "type": "kubernetes.io/tls"}),
    (NS, {"metadata": {"name": "dev"}}),
    (NODE, {"metadata": {"name": "n1"}, "spec": {"podCIDRs": ["10.244.1.0/24"],
                                                 "taints": [{"key": "a", "effect": "NoSchedule"}]}}),
    (LEASE, {"spec": {"holderIdentity": "x", "leaseDurationSeconds": 15}}),
    (EVENT, {"metadata": {"name": "e", "namespace": "default"},
             "involvedObject": {"kind": "Pod", "namespace": "default", "name": "p"}}),
    (EVENTS_EVENT, {"metadata": {"name": "e", "namespace": "default"}, "eventTime": "2024-01-01T00:00:00.000000Z",
                    "type": "Normal", "reason": "Started", "action": "Start", "reportingController": "kubelet",
                    "reportingInstance": "n1", "regarding": {"kind": "Pod", "namespace": "default"}}),
    (SLICE, {"addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}],
             "ports": [{"name": "http", "port": 80}]}),
]


@pytest.mark.parametrize(("kind", "obj"), VALID, ids=lambda v: v[2] if isinstance(v, tuple) else None)
def test_valid_objects_have_no_causes(kind, obj):
    assert run(kind, obj) == []


def c(field, message, reason="FieldValueInvalid"):
    return {"field": field, "message": message, "reason": reason}


REQ, DUP, UNSUP = "FieldValueRequired", "FieldValueDuplicate", "FieldValueNotSupported"
FORBID, NOTFOUND = "FieldValueForbidden", "FieldValueNotFound"

INVALID = [
    # pod spec
    ("no containers", POD, pod(containers=[]), c("spec.containers", "Required value", REQ)),
    ("container name", POD, pod(containers=[container(name="Web")]),
     c("spec.containers[0].name", f'Invalid value: "Web": {LABEL_MSG}')),
    ("duplicate across init", POD, pod(initContainers=[container()]),
     c("spec.initContainers[0].name", 'Duplicate value: "web"', DUP)),
    ("image required", POD, pod(containers=[container(image="")]),
     c("spec.containers[0].image", "Required value", REQ)),
    ("port range", POD, pod(containers=[container(ports=[{"containerPort": 70000}])]),
     c("spec.containers[0].ports[0].containerPort",
       "Invalid value: 70000: must be between 1 and 65535, inclusive")),
    ("port name dup", POD, pod(containers=[container(ports=[{"name": "http", "containerPort": 80},
                                                            {"name": "http", "containerPort": 81}])]),
     c("spec.containers[0].ports[1].name", 'Duplicate value: "http"', DUP)),
    ("port protocol", POD, pod(containers=[container(ports=[{"containerPort": 80, "protocol": "tcp"}])]),
     c("spec.containers[0].ports[0].protocol",
       'Unsupported value: "tcp": supported values: "SCTP", "TCP", "UDP"', UNSUP)),
    ("restart policy", POD, pod(restartPolicy="Sometimes"),
     c("spec.restartPolicy", 'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
       UNSUP)),
    ("request > limit", POD, pod(containers=[container(resources={"requests": {"cpu": "2"},
                                                                  "limits": {"cpu": "1000m"}})]),
     c("spec.containers[0].resources.requests", 'Invalid value: "2": must be less than or equal to cpu limit of 1')),
    ("bad quantity", POD, pod(containers=[container(resources={"limits": {"memory": "1x"}})]),
     c("spec.containers[0].resources.limits[memory]",
       "Invalid value: \"1x\": quantities must match the regular expression "
       "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")),
    ("resource name", POD, pod(containers=[container(resources={"limits": {"gpu": "1"}})]),
     c("spec.containers[0].resources.limits[gpu]", 'Invalid value: "gpu": must be a standard resource for containers')),
    ("extended resource", POD, pod(containers=[container(resources={"requests": {"example.com/dev": "1"}})]),
     c("spec.containers[0].resources.limits", "Required value: Limit must be set for non overcommitable resources",
       REQ)),
    ("env name", POD, pod(containers=[container(env=[{"name": "A=B"}])]),
     c("spec.containers[0].env[0].name", 'Invalid value: "A=B": a valid environment variable name must consist '
                                         "only of printable ASCII characters other than '='")),
    ("env value and valueFrom", POD, pod(containers=[container(env=[{"name": "A", "value": "x", "valueFrom": {
        "fieldRef": {"fieldPath": "metadata.name"}}}])]),
     c("spec.containers[0].env[0].valueFrom", 'Invalid value: "": may not be specified when `value` is not empty')),
    ("env fieldPath", POD, pod(containers=[container(env=[{"name": "A", "valueFrom": {
        "fieldRef": {"fieldPath": "spec.foo"}}}])]),
     c("spec.containers[0].env[0].valueFrom.fieldRef.fieldPath",
       'Unsupported value: "spec.foo": supported values: "metadata.name", "metadata.namespace", "metadata.uid", '
       '"spec.nodeName", "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", '
       '"status.podIPs"', UNSUP)),
    ("volume dup", POD, pod(volumes=[{"name": "v"}, {"name": "v"}]),
     c("spec.volumes[1].name", 'Duplicate value: "v"', DUP)),
    ("two volume sources", POD, pod(volumes=[{"name": "v", "emptyDir": {}, "configMap": {"name": "c"}}]),
     c("spec.volumes[0].configMap", "Forbidden: may not specify more than 1 volume type", FORBID)),
    ("mount without volume", POD, pod(containers=[container(volumeMounts=[{"name": "data", "mountPath": "/d"}])]),
     c("spec.containers[0].volumeMounts[0].name", 'Not found: "data"', NOTFOUND)),
    ("probe negative", POD, pod(containers=[container(readinessProbe={"tcpSocket": {"port": 80},
                                                                      "periodSeconds": -1})]),
     c("spec.containers[0].readinessProbe.periodSeconds", "Invalid value: -1: must be greater than or equal to 0")),
    ("probe handler", POD, pod(containers=[container(livenessProbe={"periodSeconds": 3})]),
     c("spec.containers[0].livenessProbe", "Required value: must specify a handler type", REQ)),
    ("liveness success", POD, pod(containers=[container(livenessProbe={"exec": {"command": ["true"]},
                                                                       "successThreshold": 2})]),
     c("spec.containers[0].livenessProbe.successThreshold", "Invalid value: 2: must be 1")),
    ("toleration operator", POD, pod(tolerations=[{"key": "k", "operator": "Maybe"}]),
     c("spec.tolerations[0].operator", 'Unsupported value: "Maybe": supported values: "Equal", "Exists"', UNSUP)),
    ("ephemeral on create", POD, pod(ephemeralContainers=[container(name="dbg")]),
     c("spec.ephemeralContainers", "Forbidden: cannot be set on create", FORBID)),
    # apps
    ("selector mismatch", DEPLOY, deployment(template=template(labels={"app": "x"})),
     c("spec.template.metadata.labels",
       'Invalid value: map[string]string{"app":"x"}: `selector` does not match template `labels`')),
    ("selector required", DEPLOY, {"spec": {"template": template()}}, c("spec.selector", "Required value", REQ)),
    ("empty selector", DEPLOY, deployment(selector={}),
     c("spec.selector", "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
                        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment")),
    ("negative replicas", DEPLOY, deployment(replicas=-1),
     c("spec.replicas", "Invalid value: -1: must be greater than or equal to 0")),
    ("surge and unavailable 0", DEPLOY, deployment(strategy={"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}),
     c("spec.strategy.rollingUpdate.maxUnavailable",
       'Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:""}: may not be 0 when `maxSurge` is 0')),
    ("bad percent", DEPLOY, deployment(strategy={"rollingUpdate": {"maxSurge": "x"}}),
     c("spec.strategy.rollingUpdate.maxSurge",
       'Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"x"}: a valid percent string must be a numeric '
       "string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")),
    ("strategy type", DEPLOY, deployment(strategy={"type": "Blue"}),
     c("spec.strategy", 'Unsupported value: apps.DeploymentStrategy{Type:"Blue", '
                        'RollingUpdate:(*apps.RollingUpdateDeployment)(nil)}: supported values: "Recreate", '
                        '"RollingUpdate"', UNSUP)),
    ("recreate with rolling", DEPLOY, deployment(strategy={"type": "Recreate", "rollingUpdate": {}}),
     c("spec.strategy.rollingUpdate", "Forbidden: may not be specified when strategy `type` is 'Recreate'", FORBID)),
    ("deploy restart", DEPLOY, deployment(template=template(restartPolicy="Never")),
     c("spec.template.spec.restartPolicy", 'Unsupported value: "Never": supported values: "Always"', UNSUP)),
    ("deploy container", DEPLOY, deployment(template=template(containers=[])),
     c("spec.template.spec.containers", "Required value", REQ)),
    ("progress deadline", DEPLOY, deployment(minReadySeconds=700),
     c("spec.progressDeadlineSeconds", "Invalid value: 600: must be greater than minReadySeconds")),
    ("rs empty selector", RS, {"spec": {"selector": {}, "template": template()}},
     c("spec.selector", "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
                        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment")),
    ("selector operator", RS, {"spec": {"selector": {"matchExpressions": [{"key": "a", "operator": "In"}]},
                                        "template": template()}},
     c("spec.selector.matchExpressions[0].values", "Required value: must be specified when `operator` is 'In' or "
                                                   "'NotIn'", REQ)),
    ("ds both surge", DS, {"spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template(),
                                    "updateStrategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}}},
     c("spec.updateStrategy.rollingUpdate.maxSurge",
       'Invalid value: intstr.IntOrString{Type:0, IntVal:1, StrVal:""}: may not be set when maxUnavailable is '
       "non-zero")),
    ("sts policy", STS, {"spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template(),
                                  "podManagementPolicy": "Random"}},
     c("spec.podManagementPolicy", "Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'")),
    # batch
    ("job restart Always", JOB, job(template=template()),
     c("spec.template.spec.restartPolicy", 'Required value: valid values: "OnFailure", "Never"', REQ)),
    ("job negative backoff", JOB, job(backoffLimit=-1),
     c("spec.backoffLimit", "Invalid value: -1: must be greater than or equal to 0")),
    ("completion mode", JOB, job(completionMode="Sometimes"),
     c("spec.completionMode", 'Unsupported value: "Sometimes": supported values: "NonIndexed", "Indexed"', UNSUP)),
    ("manual selector mismatch", JOB, job(manualSelector=True, selector={"matchLabels": {"a": "b"}}),
     c("spec.template.metadata.labels",
       'Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`')),
    ("cron fields", CRON, cronjob(schedule="* * *"),
     c("spec.schedule", 'Invalid value: "* * *": expected exactly 5 fields, found 3: [* * *]')),
    ("cron range", CRON, cronjob(schedule="61 * * * *"),
     c("spec.schedule", 'Invalid value: "61 * * * *": end of range (61) above maximum (59): 61')),
    ("cron TZ", CRON, cronjob(schedule="TZ=UTC 0 * * * *"),
     c("spec.schedule", 'Invalid value: "TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone '
                        "field instead")),
    ("cron job restart", CRON, cronjob(jobTemplate={"spec": {"template": template(restartPolicy="Sometimes")}}),
     c("spec.jobTemplate.spec.template.spec.restartPolicy",
       'Unsupported value: "Sometimes": supported values: "OnFailure", "Never"', UNSUP)),
    ("cron concurrency", CRON, cronjob(concurrencyPolicy="Never"),
     c("spec.concurrencyPolicy", 'Unsupported value: "Never": supported values: "Allow", "Forbid", "Replace"',
       UNSUP)),
    ("cron name length", CRON, {**cronjob(), "metadata": {"name": "a" * 53}},
     c("metadata.name", f'Invalid value: "{"a" * 53}": must be no more than 52 characters')),
    # core
    ("service ports", SVC, service(ports=[]), c("spec.ports", "Required value", REQ)),
    ("service port range", SVC, service(ports=[{"port": 0}]),
     c("spec.ports[0].port", "Invalid value: 0: must be between 1 and 65535, inclusive")),
    ("service port names", SVC, service(ports=[{"name": "web", "port": 80}, {"name": "web", "port": 81}]),
     c("spec.ports[1].name", 'Duplicate value: "web"', DUP)),
    ("service port name required", SVC, service(ports=[{"port": 80}, {"port": 81}]),
     c("spec.ports[0].name", "Required value", REQ)),
    ("service type", SVC, service(type="Internal"),
     c("spec.type", 'Unsupported value: "Internal": supported values: "ClusterIP", "ExternalName", "LoadBalancer", '
                    '"NodePort"', UNSUP)),
    ("service dup port", SVC, service(ports=[{"name": "a", "port": 80}, {"name": "b", "port": 80}]),
     c("spec.ports[1]", 'Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", AppProtocol:(*string)(nil), '
                        'Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}', DUP)),
    ("cluster ip nodePort", SVC, service(ports=[{"port": 80, "nodePort": 30001}]),
     c("spec.ports[0].nodePort", "Forbidden: may not be used when `type` is 'ClusterIP'", FORBID)),
    ("configmap key", CM, {"data": {"a/b": "x"}},
     c("data[a/b]", "Invalid value: \"a/b\": a valid config key must consist of alphanumeric characters, '-', '_' "
                    "or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
                    "'[-._a-zA-Z0-9]+')")),
    ("configmap size", CM, {"data": {"big": "x" * (1024 * 1024 + 1)}},
     c("", "Too long: must have at most 1048576 bytes", "FieldValueTooLong")),
    ("secret tls", SECRET, {"type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}},
     c("data[tls.key]", "Required value", REQ)),
    ("secret key", SECRET, {"stringData": {"..x": "y"}},
     c("data[..x]", "Invalid value: \"..x\": must not start with '..'")),
    ("namespace finalizer", NS, {"metadata": {"name": "dev"}, "spec": {"finalizers": ["custom"]}},
     c("spec.finalizers", 'Invalid value: "custom": name is neither a standard finalizer name nor is it fully '
                          "qualified")),
    ("node taint effect", NODE, {"spec": {"taints": [{"key": "a", "effect": "Sometimes"}]}},
     c("spec.taints[0].effect", 'Unsupported value: "Sometimes": supported values: "NoSchedule", '
                                '"PreferNoSchedule", "NoExecute"', UNSUP)),
    ("lease duration", LEASE, {"spec": {"leaseDurationSeconds": 0}},
     c("spec.leaseDurationSeconds", "Invalid value: 0: must be greater than 0")),
    ("event namespace", EVENT, {"metadata": {"name": "e", "namespace": "default"},
                                "involvedObject": {"kind": "Pod", "namespace": "other"}},
     c("involvedObject.namespace", 'Invalid value: "other": does not match event.namespace')),
    ("events.k8s.io type", EVENTS_EVENT, {"metadata": {"name": "e", "namespace": "default"},
                                          "eventTime": "2024-01-01T00:00:00.000000Z", "type": "Bad",
                                          "reason": "R", "action": "A", "reportingController": "c",
                                          "reportingInstance": "i", "regarding": {"namespace": "default"}},
     c("type", 'Invalid value: "": has invalid value: Bad')),
    ("slice address", SLICE, {"addressType": "IPv4", "endpoints": [{"addresses": ["::1"]}]},
     c("endpoints[0].addresses[0]", 'Invalid value: "::1": must be a valid IPv4 address')),
    ("slice address type", SLICE, {"addressType": "IPX", "endpoints": []},
     c("addressType", 'Unsupported value: "IPX": supported values: "FQDN", "IPv4", "IPv6"', UNSUP)),
]


@pytest.mark.parametrize(("kind", "obj", "expected"), [case[1:] for case in INVALID],
                         ids=[case[0] for case in INVALID])
def test_invalid_objects_report_kubernetes_causes(kind, obj, expected):
    assert expected in run(kind, obj)


def test_request_defaulted_from_limit_is_not_reported_twice():
    causes = run(POD, pod(containers=[container(resources={"limits": {"cpu": "-1"}})]))
    assert [x["field"] for x in causes] == ["spec.containers[0].resources.limits[cpu]",
                                            "spec.containers[0].resources.requests[cpu]"]


POD_UPDATE_FORBIDDEN = ("Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
                        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
                        "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set "
                        "to 1 if it was previously negative)\n")

UPDATES = [
    # (id, kind, old, new, expected cause or None for a valid update)
    ("pod image", POD, pod(), pod(containers=[container(image="nginx:1.28")]), None),
    ("pod deadline set", POD, pod(), pod(activeDeadlineSeconds=30), None),
    ("pod toleration added", POD, pod(), pod(tolerations=[{"key": "a", "operator": "Exists"}]), None),
    ("pod deadline raised", POD, pod(activeDeadlineSeconds=30), pod(activeDeadlineSeconds=60),
     c("spec.activeDeadlineSeconds", "Invalid value: 60: must be less than or equal to previous value")),
    ("pod deadline unset", POD, pod(activeDeadlineSeconds=30), pod(),
     c("spec.activeDeadlineSeconds", "Invalid value: null: must not update from a positive integer to nil value")),
    ("pod add container", POD, pod(), pod(containers=[container(), container(name="b")]),
     c("spec.containers", "Forbidden: pod updates may not add or remove containers", FORBID)),
    ("pod toleration changed", POD, pod(tolerations=[{"key": "a", "operator": "Exists"}]),
     pod(tolerations=[{"key": "b", "operator": "Exists"}]),
     c("spec.tolerations", "Forbidden: existing toleration can not be modified except its tolerationSeconds",
       FORBID)),
    ("deploy selector", DEPLOY, deployment(),
     deployment(selector={"matchLabels": {"app": "web", "v": "2"}}, template=template(labels={"app": "web",
                                                                                             "v": "2"})),
     c("spec.selector", 'Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "v":"2"}, '
                        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable")),
    ("deploy scale", DEPLOY, deployment(), deployment(replicas=5), None),
    ("sts service name", STS, {"spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template(),
                                        "serviceName": "a"}},
     {"spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template(), "serviceName": "b"}},
     c("spec", "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
               "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
       FORBID)),
    ("job completions", JOB, job(), job(completions=3),
     c("spec.completions", "Invalid value: 3: field is immutable")),
    ("job suspended scheduling", JOB, job(suspend=True),
     job(suspend=True, template=template(restartPolicy="Never", nodeSelector={"disk": "ssd"})), None),
    ("job template", JOB, job(), job(template=template(restartPolicy="OnFailure")),
     c("spec.template", "Invalid value: core.PodTemplateSpec{...}: field is immutable")),
    ("service cluster ip", SVC, service(clusterIP="10.0.0.1"), service(clusterIP="10.0.0.2"),
     c("spec.clusterIPs[0]", 'Invalid value: []string{"10.0.0.2"}: may not change once set')),
    ("configmap immutable", CM, {"immutable": True, "data": {"a": "1"}}, {"immutable": True, "data": {"a": "2"}},
     c("data", "Forbidden: field is immutable when `immutable` is set", FORBID)),
    ("secret type", SECRET, {"type": "Opaque"}, {"type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}},
     c("type", 'Invalid value: "kubernetes.io/tls": field is immutable')),
    ("slice address type", SLICE, {"addressType": "IPv4"}, {"addressType": "IPv6"},
     c("addressType", 'Invalid value: "IPv6": field is immutable')),
]


@pytest.mark.parametrize(("kind", "old", "new", "expected"), [u[1:] for u in UPDATES], ids=[u[0] for u in UPDATES])
def test_updates(kind, old, new, expected):
    causes = run(kind, new, old)
    if expected is None:
        assert causes == []
    else:
        assert expected in causes


def test_pod_update_of_other_fields_is_forbidden_with_a_diff():
    causes = run(POD, pod(containers=[container(ports=[{"containerPort": 8080}])]),
                 pod(containers=[container(ports=[{"containerPort": 3000}])]))
    assert len(causes) == 1
    cause = causes[0]
    assert (cause["field"], cause["reason"]) == ("spec", FORBID)
    assert cause["message"].startswith(POD_UPDATE_FORBIDDEN)
    assert "- \tcontainers[0].ports[0].containerPort: 3000," in cause["message"]
    assert "+ \tcontainers[0].ports[0].containerPort: 8080," in cause["message"]


def test_every_registered_kind_has_a_validator():
    from kubeling.api.registry import RESOURCES
    from kubeling.api.validation.kinds import VALIDATORS
    assert {(r.group, r.version, r.kind) for r in RESOURCES} <= set(VALIDATORS)
