"""Defaulting matches what a real cluster stores (pkg/apis/*/v1/defaults.go)."""

from __future__ import annotations

import copy

import pytest

from kubeling.api import defaults
from kubeling.api.defaults import apply_defaults, generate_job_selector, image_pull_policy
from kubeling.api.registry import RESOURCES

POD = ("", "v1", "Pod")
DEPLOYMENT = ("apps", "v1", "Deployment")
JOB = ("batch", "v1", "Job")


def _template(**spec):
    return {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}], **spec}}


def _get(obj, path):
    for part in path:
        obj = obj[part]
    return obj


@pytest.mark.parametrize(("image", "policy"), [
    ("nginx", "Always"),
    ("nginx:latest", "Always"),
    ("nginx:1.27", "IfNotPresent"),
    ("localhost:5000/nginx", "Always"),
    ("localhost:5000/nginx:v2", "IfNotPresent"),
    ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
    ("", "IfNotPresent"),
])
def test_image_pull_policy(image, policy):
    assert image_pull_policy(image) == policy


def test_pod_defaults_look_like_a_real_cluster():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 80}],
                                    "resources": {"limits": {"cpu": "1"}}}]}}
    apply_defaults(POD, pod)
    spec = pod["spec"]
    assert {k: spec[k] for k in ("restartPolicy", "terminationGracePeriodSeconds", "dnsPolicy",
                                 "schedulerName", "securityContext", "enableServiceLinks")} == {
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        "schedulerName": "default-scheduler", "securityContext": {}, "enableServiceLinks": True}
    assert spec["containers"][0] == {
        "name": "c", "image": "busybox", "imagePullPolicy": "Always",
        "ports": [{"containerPort": 80, "protocol": "TCP"}],
        "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}


CONTAINER_CASES = [
    # (container fragment, path inside the defaulted container, expected value)
    ({"livenessProbe": {"httpGet": {"port": 80}}}, ("livenessProbe",),
     {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10,
      "successThreshold": 1, "failureThreshold": 3}),
    ({"readinessProbe": {"grpc": {"port": 9000}, "periodSeconds": 5}}, ("readinessProbe",),
     {"grpc": {"port": 9000, "service": ""}, "timeoutSeconds": 1, "periodSeconds": 5,
      "successThreshold": 1, "failureThreshold": 3}),
    ({"env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]},
     ("env", 0, "valueFrom", "fieldRef", "apiVersion"), "v1"),
    ({"lifecycle": {"preStop": {"httpGet": {"port": 8080}}}}, ("lifecycle", "preStop", "httpGet", "scheme"),
     "HTTP"),
    ({"imagePullPolicy": "Never"}, ("imagePullPolicy",), "Never"),
    ({"ports": [{"containerPort": 53, "protocol": "UDP"}]}, ("ports", 0, "protocol"), "UDP"),
]


@pytest.mark.parametrize(("fragment", "path", "expected"), CONTAINER_CASES)
def test_container_defaults(fragment, path, expected):
    pod = {"spec": {"containers": [{"name": "c", "image": "nginx:1", **fragment}]}}
    apply_defaults(POD, pod)
    assert _get(pod["spec"]["containers"][0], path) == expected


VOLUME_CASES = [
    ({"name": "v"}, {"name": "v", "emptyDir": {}}),
    ({"name": "v", "configMap": {"name": "cm"}}, {"name": "v", "configMap": {"name": "cm", "defaultMode": 420}}),
    ({"name": "v", "secret": {"secretName": "s", "defaultMode": 256}},
     {"name": "v", "secret": {"secretName": "s", "defaultMode": 256}}),
    ({"name": "v", "hostPath": {"path": "/x"}}, {"name": "v", "hostPath": {"path": "/x", "type": ""}}),
    ({"name": "v", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}},
                                             {"downwardAPI": {"items": [{"path": "n", "fieldRef": {
                                                 "fieldPath": "metadata.name"}}]}}]}},
     {"name": "v", "projected": {"defaultMode": 420, "sources": [
         {"serviceAccountToken": {"path": "t", "expirationSeconds": 3600}},
         {"downwardAPI": {"items": [{"path": "n", "fieldRef": {"fieldPath": "metadata.name",
                                                               "apiVersion": "v1"}}]}}]}}),
]


@pytest.mark.parametrize(("volume", "expected"), VOLUME_CASES)
def test_volume_defaults(volume, expected):
    pod = {"spec": {"containers": [{"name": "c", "image": "x:1"}], "volumes": [volume]}}
    apply_defaults(POD, pod)
    assert pod["spec"]["volumes"][0] == expected


def test_host_network_pods_default_host_ports():
    pod = {"spec": {"hostNetwork": True, "containers": [{"name": "c", "image": "x:1",
                                                          "ports": [{"containerPort": 8080}]}]}}
    apply_defaults(POD, pod)
    assert pod["spec"]["containers"][0]["ports"][0]["hostPort"] == 8080


KIND_CASES = [
    # (kind key, object, path, expected)
    (DEPLOYMENT, {"spec": {"template": _template()}}, ("spec", "replicas"), 1),
    (DEPLOYMENT, {"spec": {"template": _template()}}, ("spec", "strategy"),
     {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}),
    (DEPLOYMENT, {"spec": {"strategy": {"type": "Recreate"}}}, ("spec", "strategy"), {"type": "Recreate"}),
    (DEPLOYMENT, {"spec": {}}, ("spec", "revisionHistoryLimit"), 10),
    (DEPLOYMENT, {"spec": {}}, ("spec", "progressDeadlineSeconds"), 600),
    (DEPLOYMENT, {"spec": {"replicas": 0}}, ("spec", "replicas"), 0),
    (DEPLOYMENT, {"spec": {"template": _template()}}, ("spec", "template", "spec", "restartPolicy"), "Always"),
    (("apps", "v1", "ReplicaSet"), {"spec": {}}, ("spec", "replicas"), 1),
    (("apps", "v1", "DaemonSet"), {"spec": {}}, ("spec", "updateStrategy"),
     {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
    (("apps", "v1", "StatefulSet"), {"spec": {}}, ("spec",),
     {"podManagementPolicy": "OrderedReady", "updateStrategy": {"type": "RollingUpdate",
                                                                "rollingUpdate": {"partition": 0}},
      "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
      "replicas": 1, "revisionHistoryLimit": 10}),
    (JOB, {"spec": {"template": _template(restartPolicy="Never")}}, ("spec", "completions"), 1),
    (JOB, {"spec": {"completions": 5}}, ("spec", "parallelism"), 1),
    (JOB, {"spec": {"parallelism": 3}}, ("spec",),
     {"parallelism": 3, "backoffLimit": 6, "completionMode": "NonIndexed", "suspend": False,
      "podReplacementPolicy": "TerminatingOrFailed", "manualSelector": False}),
    (JOB, {"spec": {"backoffLimitPerIndex": 1}}, ("spec", "backoffLimit"), 2147483647),
    (JOB, {"spec": {"podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [
        {"type": "DisruptionTarget"}]}]}}}, ("spec", "podReplacementPolicy"), "Failed"),
    (JOB, {"spec": {"podFailurePolicy": {"rules": [{"action": "Ignore", "onPodConditions": [
        {"type": "DisruptionTarget"}]}]}}},
     ("spec", "podFailurePolicy", "rules", 0, "onPodConditions", 0, "status"), "True"),
    (JOB, {"metadata": {"name": "j"}, "spec": {"template": _template()}}, ("metadata", "labels"), {"app": "web"}),
    (("", "v1", "Service"), {"spec": {"ports": [{"port": 80}]}}, ("spec",),
     {"ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}], "type": "ClusterIP",
      "sessionAffinity": "None", "internalTrafficPolicy": "Cluster", "ipFamilyPolicy": "SingleStack",
      "ipFamilies": ["IPv4"]}),
    (("", "v1", "Service"), {"spec": {"type": "NodePort", "ports": [{"port": 80, "targetPort": "http"}]}},
     ("spec", "externalTrafficPolicy"), "Cluster"),
    (("", "v1", "Service"), {"spec": {"type": "LoadBalancer"}}, ("spec", "allocateLoadBalancerNodePorts"), True),
    (("", "v1", "Service"), {"spec": {"sessionAffinity": "ClientIP"}}, ("spec", "sessionAffinityConfig"),
     {"clientIP": {"timeoutSeconds": 10800}}),
    (("", "v1", "Service"), {"spec": {"clusterIP": "None"}}, ("spec", "ipFamilyPolicy"), "RequireDualStack"),
    (("", "v1", "Service"), {"spec": {"type": "ExternalName", "externalName": "a.b"}}, ("spec",),
     {"type": "ExternalName", "externalName": "a.b", "sessionAffinity": "None"}),
    (("", "v1", "Namespace"), {"metadata": {"name": "ns1"}}, (),
     {"metadata": {"name": "ns1", "labels": {"kubernetes.io/metadata.name": "ns1"}},
      "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
    (("", "v1", "Secret"), {"data": {}}, ("type",), "Opaque"),
    (("", "v1", "Secret"), {"type": "kubernetes.io/tls"}, ("type",), "kubernetes.io/tls"),
    (("", "v1", "Node"), {"status": {"capacity": {"cpu": "4"}}}, ("status", "allocatable"), {"cpu": "4"}),
    (("", "v1", "Endpoints"), {"subsets": [{"ports": [{"port": 80}]}]}, ("subsets", 0, "ports", 0, "protocol"),
     "TCP"),
    (("discovery.k8s.io", "v1", "EndpointSlice"), {"ports": [{"port": 80}]}, ("ports", 0),
     {"port": 80, "name": "", "protocol": "TCP"}),
]

@pytest.mark.parametrize(("kind", "obj", "path", "expected"), KIND_CASES)
def test_kind_defaults(kind, obj, path, expected):
    obj = copy.deepcopy(obj)
    apply_defaults(kind, obj)
    assert _get(obj, path) == expected


def test_cronjob_defaults_its_job_template_pod_spec_only():
    cron = {"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": _template()}}}}
    apply_defaults(("batch", "v1", "CronJob"), cron)
    spec = cron["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"], spec["successfulJobsHistoryLimit"],
            spec["failedJobsHistoryLimit"]) == ("Allow", False, 3, 1)
    job_spec = spec["jobTemplate"]["spec"]
    assert "backoffLimit" not in job_spec  # Job defaults are for Jobs, not job templates
    assert job_spec["template"]["spec"]["terminationGracePeriodSeconds"] == 30


def test_pod_template_defaults_skip_pod_only_defaults():
    deploy = {"spec": {"template": _template()}}
    deploy["spec"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "1"}}
    apply_defaults(DEPLOYMENT, deploy)
    pod_spec = deploy["spec"]["template"]["spec"]
    assert "enableServiceLinks" not in pod_spec
    assert pod_spec["containers"][0]["resources"] == {"limits": {"cpu": "1"}}


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: f"{r.group or 'core'}/{r.kind}")
def test_every_registered_kind_has_a_defaulter_and_defaulting_is_idempotent(resource):
    key = (resource.group, resource.version, resource.kind)
    assert key in defaults.DEFAULTERS
    obj = {"metadata": {"name": "x"}, "spec": {"template": _template(), "ports": [{"port": 1}]}}
    apply_defaults(key, obj)
    once = copy.deepcopy(obj)
    apply_defaults(key, obj)
    assert obj == once


def test_generate_job_selector_labels_template_and_selects_on_uid():
    job = {"metadata": {"name": "pi", "uid": "u-1"}, "spec": {"template": _template(restartPolicy="Never")}}
    apply_defaults(JOB, job)
    generate_job_selector(job)
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}}
    expected = {"app": "web", "batch.kubernetes.io/controller-uid": "u-1", "batch.kubernetes.io/job-name": "pi",
                "controller-uid": "u-1", "job-name": "pi"}
    assert job["spec"]["template"]["metadata"]["labels"] == expected
    assert job["metadata"]["labels"] == expected  # defaulted from the template, so it follows it


def test_generate_job_selector_keeps_the_jobs_own_labels():
    job = {"metadata": {"name": "pi", "uid": "u-1", "labels": {"team": "a"}}, "spec": {"template": _template()}}
    apply_defaults(JOB, job)
    generate_job_selector(job)
    assert job["metadata"]["labels"] == {"team": "a"}


def test_generate_job_selector_respects_manual_selector():
    job = {"metadata": {"name": "pi", "uid": "u-1"},
           "spec": {"manualSelector": True, "selector": {"matchLabels": {"a": "b"}}, "template": _template()}}
    generate_job_selector(job)
    assert job["spec"]["selector"] == {"matchLabels": {"a": "b"}}
    assert job["spec"]["template"]["metadata"]["labels"] == {"app": "web"}
