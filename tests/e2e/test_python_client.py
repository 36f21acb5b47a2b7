"""The official `kubernetes` Python client against a real kubeling server."""

from __future__ import annotations

import threading

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException


@pytest.fixture(scope="module")
def server(api_only_server):
    """CRUD through the official client: no controller writes to these objects meanwhile
    (with controllers running, a read-modify-replace can meet a 409, as on Kubernetes)."""
    return api_only_server


@pytest.fixture(scope="module")
def api(server):
    return config.new_client_from_config(str(server.kubeconfig))


@pytest.fixture(scope="module")
def ns(api):
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="pyclient")))
    return "pyclient"


def _pod(name: str, image: str = "busybox") -> client.V1Pod:
    return client.V1Pod(metadata=client.V1ObjectMeta(name=name, labels={"app": "py"}),
                        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image=image)]))


def test_pod_crud(api, ns):
    core = client.CoreV1Api(api)
    created = core.create_namespaced_pod(ns, _pod("p1"))
    assert created.metadata.uid and created.status.phase == "Pending"
    assert created.spec.restart_policy == "Always"
    read = core.read_namespaced_pod("p1", ns)
    assert read.metadata.resource_version == created.metadata.resource_version
    pods = core.list_namespaced_pod(ns, label_selector="app=py")
    assert [p.metadata.name for p in pods.items] == ["p1"]
    patched = core.patch_namespaced_pod("p1", ns, {"metadata": {"labels": {"extra": "1"}}})
    assert patched.metadata.labels == {"app": "py", "extra": "1"}
    read.metadata.annotations = {"a": "b"}
    with pytest.raises(ApiException) as stale:
        core.replace_namespaced_pod("p1", ns, read)  # read is older than the patch
    assert stale.value.status == 409
    fresh = core.read_namespaced_pod("p1", ns)
    fresh.metadata.annotations = {"a": "b"}
    replaced = core.replace_namespaced_pod("p1", ns, fresh)
    assert replaced.metadata.annotations == {"a": "b"}
    core.delete_namespaced_pod("p1", ns)
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_pod("p1", ns)
    assert gone.value.status == 404


def test_deployment_crud_and_scale(api, ns):
    apps = client.AppsV1Api(api)
    body = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="d1"),
        spec=client.V1DeploymentSpec(
            replicas=2, selector=client.V1LabelSelector(match_labels={"app": "d1"}),
            template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels={"app": "d1"}),
                                              spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="x")]))))
    created = apps.create_namespaced_deployment(ns, body)
    assert created.metadata.generation == 1
    assert created.spec.strategy.type == "RollingUpdate"
    apps.patch_namespaced_deployment_scale("d1", ns, {"spec": {"replicas": 4}})
    scale = apps.read_namespaced_deployment_scale("d1", ns)
    assert scale.spec.replicas == 4 and scale.status.selector == "app=d1"
    d = apps.read_namespaced_deployment("d1", ns)
    assert d.metadata.generation == 2
    d.spec.template.spec.containers[0].image = "y"
    assert apps.replace_namespaced_deployment("d1", ns, d).metadata.generation == 3
    assert [x.metadata.name for x in apps.list_namespaced_deployment(ns).items] == ["d1"]
    apps.delete_namespaced_deployment("d1", ns)
    assert apps.list_namespaced_deployment(ns).items == []


def test_configmap_crud(api, ns):
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c1"), data={"k": "v"}))
    with pytest.raises(ApiException) as dup:
        core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c1")))
    assert dup.value.status == 409 and "AlreadyExists" in dup.value.body
    core.patch_namespaced_config_map("c1", ns, {"data": {"k2": "v2"}})
    cm = core.read_namespaced_config_map("c1", ns)
    assert cm.data == {"k": "v", "k2": "v2"}
    cm.data = {"only": "this"}
    assert core.replace_namespaced_config_map("c1", ns, cm).data == {"only": "this"}
    core.delete_namespaced_config_map("c1", ns)
    assert core.list_namespaced_config_map(ns).items == []


def test_watch_resumes_from_resource_version(api, ns):
    core = client.CoreV1Api(api)
    start_rv = core.list_namespaced_config_map(ns).metadata.resource_version
    for i in range(3):
        core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"w{i}")))
    core.delete_namespaced_config_map("w1", ns)
    seen = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_config_map, ns, resource_version=start_rv, timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 4:
            w.stop()
    assert seen == [("ADDED", "w0"), ("ADDED", "w1"), ("ADDED", "w2"), ("DELETED", "w1")]
    # Resume again from the middle: only later events arrive.
    mid_rv = core.read_namespaced_config_map("w2", ns).metadata.resource_version
    later = []

    def make_later():
        core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="w3")))

    timer = threading.Timer(0.5, make_later)
    timer.start()
    for event in w.stream(core.list_namespaced_config_map, ns, resource_version=mid_rv, timeout_seconds=5):
        later.append((event["type"], event["object"].metadata.name))
        if event["object"].metadata.name == "w3":
            w.stop()
    timer.join()
    assert later == [("DELETED", "w1"), ("ADDED", "w3")]
