"""The real kubectl against a real kubeling server."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import textwrap
import time

import pytest

import yaml

DEPLOY = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: {name}
      labels: {{app: {name}}}
    spec:
      replicas: {replicas}
      selector:
        matchLabels: {{app: {name}}}
      template:
        metadata:
          labels: {{app: {name}}}
        spec:
          containers:
          - name: main
            image: {image}
            ports:
            - containerPort: 80
    """)


def deploy_yaml(name: str, image: str = "nginx:1.25", replicas: int = 2) -> str:
    return DEPLOY.format(name=name, image=image, replicas=replicas)


@pytest.fixture(scope="module")
def server(api_only_server):
    """These tests check the API itself: no controller acts on what they create."""
    return api_only_server




def test_version_reports_kubernetes_1_32(server):
    out = server.kubectl("version", "-o", "json").stdout
    info = json.loads(out)
    assert info["serverVersion"]["gitVersion"] == "v1.32.4"
    assert info["serverVersion"]["minor"] == "32"


def test_system_namespaces_exist(server):
    out = server.kubectl("get", "namespaces", "-o", "name").stdout.split()
    for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert f"namespace/{ns}" in out


def test_unauthenticated_requests_are_refused(server):
    out = server.kubectl("get", "pods", "--kubeconfig", "/dev/null", "--server", f"https://127.0.0.1:{server.port}",
                         "--insecure-skip-tls-verify", "--token", "not-the-token", check=False)
    assert out.returncode == 1
    # kubectl words it by whether discovery (uncached) or the GET itself got the 401.
    assert out.stderr.strip().splitlines()[-1] in (
        "error: You must be logged in to the server (Unauthorized)",
        "error: You must be logged in to the server (the server has asked for the client to provide credentials)")
    token = (server.data_dir / "pki" / "admin.token").read_text().strip()
    ok = server.kubectl("get", "ns", "default", "-o", "name", "--kubeconfig", "/dev/null", "--server",
                        f"https://127.0.0.1:{server.port}", "--certificate-authority",
                        str(server.data_dir / "pki" / "ca.crt"), "--token", token)
    assert ok.stdout.strip() == "namespace/default"


def test_apply_create_then_reapply_changed_file(server, ns, tmp_path):
    f = tmp_path / "web.yaml"
    f.write_text(deploy_yaml("web"))
    out = server.kubectl("apply", "-n", ns, "-f", str(f)).stdout
    assert out.strip() == "deployment.apps/web created"
    assert server.kubectl("apply", "-n", ns, "-f", str(f)).stdout.strip() == "deployment.apps/web unchanged"
    f.write_text(deploy_yaml("web", image="nginx:1.26", replicas=3))
    assert server.kubectl("apply", "-n", ns, "-f", str(f)).stdout.strip() == "deployment.apps/web configured"
    obj = json.loads(server.kubectl("get", "-n", ns, "deploy/web", "-o", "json").stdout)
    assert obj["spec"]["replicas"] == 3
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert obj["metadata"]["generation"] == 2
    # Defaults are filled in as on a real cluster.
    assert obj["spec"]["strategy"] == {"type": "RollingUpdate",
                                       "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    assert obj["spec"]["revisionHistoryLimit"] == 10
    assert obj["spec"]["progressDeadlineSeconds"] == 600
    pod_spec = obj["spec"]["template"]["spec"]
    assert pod_spec["restartPolicy"] == "Always"
    assert pod_spec["dnsPolicy"] == "ClusterFirst"
    assert pod_spec["schedulerName"] == "default-scheduler"
    assert pod_spec["terminationGracePeriodSeconds"] == 30
    assert pod_spec["containers"][0]["ports"][0]["protocol"] == "TCP"
    assert pod_spec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    last = json.loads(obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last["spec"]["replicas"] == 3


def test_apply_adds_and_removes_a_container_by_strategic_merge(server, ns, tmp_path):
    f = tmp_path / "d.yaml"
    two = yaml.safe_load(deploy_yaml("pair"))
    two["spec"]["template"]["spec"]["containers"].insert(0, {"name": "sidecar", "image": "busybox"})
    f.write_text(yaml.safe_dump(two))
    server.kubectl("apply", "-n", ns, "-f", str(f))
    f.write_text(deploy_yaml("pair"))
    assert "configured" in server.kubectl("apply", "-n", ns, "-f", str(f)).stdout
    names = server.kubectl("get", "-n", ns, "deploy/pair", "-o",
                           "jsonpath={.spec.template.spec.containers[*].name}").stdout
    assert names == "main"


def test_apply_multi_document_file_and_directory(server, ns, tmp_path):
    multi = tmp_path / "multi.yaml"
    multi.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\ndata: {a: '1'}\n---\n"
                     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: two}\ndata: {b: '2'}\n")
    out = server.kubectl("apply", "-n", ns, "-f", str(multi)).stdout.splitlines()
    assert out == ["configmap/one created", "configmap/two created"]
    d = tmp_path / "dir"
    d.mkdir()
    (d / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: three}\n")
    (d / "b.yaml").write_text(deploy_yaml("four"))
    out = server.kubectl("apply", "-n", ns, "-f", str(d)).stdout.splitlines()
    assert sorted(out) == ["configmap/three created", "deployment.apps/four created"]


def test_get_table_wide_yaml_json_jsonpath_name(server, ns):
    server.kubectl("apply", "-n", ns, "-f", "-", input=deploy_yaml("tbl", replicas=3))
    lines = server.kubectl("get", "-n", ns, "deployments").stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert lines[1].split()[:4] == ["tbl", "0/3", "0", "0"]
    wide = server.kubectl("get", "-n", ns, "deployments", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert wide[1].split()[5:] == ["main", "nginx:1.25", "app=tbl"]
    as_yaml = yaml.safe_load(server.kubectl("get", "-n", ns, "deploy", "tbl", "-o", "yaml").stdout)
    assert as_yaml["kind"] == "Deployment" and as_yaml["metadata"]["uid"]
    assert server.kubectl("get", "-n", ns, "deploy", "-o", "name").stdout.split() == ["deployment.apps/tbl"]
    assert server.kubectl("get", "-n", ns, "deploy", "tbl", "-o", "jsonpath={.spec.replicas}").stdout == "3"


def test_get_with_label_and_field_selectors_and_all_namespaces(server, ns):
    for name, tier in (("a", "front"), ("b", "back"), ("c", "front")):
        server.kubectl("create", "configmap", name, "-n", ns)
        server.kubectl("label", "configmap", name, "-n", ns, f"tier={tier}")
    got = server.kubectl("get", "cm", "-n", ns, "-l", "tier=front", "-o", "name").stdout.split()
    assert got == ["configmap/a", "configmap/c"]
    got = server.kubectl("get", "cm", "-n", ns, "-l", "tier in (back),tier!=front", "-o", "name").stdout.split()
    assert got == ["configmap/b"]
    got = server.kubectl("get", "cm", "-n", ns, "--field-selector", "metadata.name=c", "-o", "name").stdout.split()
    assert got == ["configmap/c"]
    lines = server.kubectl("get", "cm", "-A", "-l", "tier=back").stdout.splitlines()
    assert lines[0].split()[:3] == ["NAMESPACE", "NAME", "DATA"]
    assert lines[1].split()[:3] == [ns, "b", "0"]
    bad = server.kubectl("get", "pods", "-n", ns, "--field-selector", "spec.bogus=x", check=False)
    assert bad.returncode != 0 and 'field label not supported: spec.bogus' in bad.stderr


def test_get_watch_streams_changes(server, ns):
    proc = subprocess.Popen(["kubectl", "get", "cm", "-n", ns, "-w", "--request-timeout=20s"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=server.env())
    try:
        time.sleep(1.0)
        server.kubectl("create", "configmap", "watched", "-n", ns, "--from-literal=k=v")
        lines = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("watched"):
                break
        assert any(line.split()[:2] == ["watched", "1"] for line in lines), lines
    finally:
        proc.kill()
        proc.wait()


def test_describe_deployment(server, ns):
    server.kubectl("apply", "-n", ns, "-f", "-", input=deploy_yaml("desc"))
    out = server.kubectl("describe", "-n", ns, "deployment", "desc").stdout
    assert re.search(r"^Name:\s+desc$", out, re.MULTILINE)
    assert re.search(r"^Namespace:\s+" + ns + "$", out, re.MULTILINE)
    assert re.search(r"^Selector:\s+app=desc$", out, re.MULTILINE)
    assert re.search(r"^StrategyType:\s+RollingUpdate$", out, re.MULTILINE)
    assert re.search(r"^RollingUpdateStrategy:\s+25% max unavailable, 25% max surge$", out, re.MULTILINE)
    assert re.search(r"Image:\s+nginx:1.25", out)


def test_delete_by_file_name_label_and_all(server, ns, tmp_path):
    f = tmp_path / "cm.yaml"
    f.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: byfile}\n")
    server.kubectl("apply", "-n", ns, "-f", str(f))
    assert server.kubectl("delete", "-n", ns, "-f", str(f)).stdout.strip() == 'configmap "byfile" deleted'
    server.kubectl("create", "configmap", "byname", "-n", ns)
    assert server.kubectl("delete", "-n", ns, "cm", "byname").stdout.strip() == 'configmap "byname" deleted'
    for n in ("l1", "l2", "keep"):
        server.kubectl("create", "configmap", n, "-n", ns)
    server.kubectl("label", "-n", ns, "cm", "l1", "l2", "gone=yes")
    out = server.kubectl("delete", "-n", ns, "cm", "-l", "gone=yes").stdout.splitlines()
    assert sorted(out) == ['configmap "l1" deleted', 'configmap "l2" deleted']
    server.kubectl("delete", "-n", ns, "cm", "--all")
    assert server.kubectl("get", "-n", ns, "cm", "-o", "name").stdout.strip() == ""
    missing = server.kubectl("delete", "-n", ns, "cm", "nope", check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == 'Error from server (NotFound): configmaps "nope" not found'


def test_edit_with_scripted_editor(server, ns, tmp_path):
    server.kubectl("create", "configmap", "ed", "-n", ns, "--from-literal=color=blue")
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/color: blue/color: green/' \"$1\"\n")
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    env = server.env()
    env["KUBE_EDITOR"] = str(editor)
    out = server.kubectl("edit", "-n", ns, "cm", "ed", env=env).stdout
    assert out.strip() == "configmap/ed edited"
    assert server.kubectl("get", "-n", ns, "cm", "ed", "-o", "jsonpath={.data.color}").stdout == "green"


def test_patch_strategic_merge_and_json(server, ns):
    server.kubectl("apply", "-n", ns, "-f", "-", input=deploy_yaml("pt"))
    server.kubectl("patch", "-n", ns, "deploy", "pt", "--type", "strategic", "-p",
                   '{"spec":{"template":{"spec":{"containers":[{"name":"main","image":"nginx:1.27"}]}}}}')
    server.kubectl("patch", "-n", ns, "deploy", "pt", "--type", "merge", "-p", '{"spec":{"replicas":4}}')
    server.kubectl("patch", "-n", ns, "deploy", "pt", "--type", "json", "-p",
                   '[{"op":"add","path":"/metadata/labels/extra","value":"yes"}]')
    obj = json.loads(server.kubectl("get", "-n", ns, "deploy", "pt", "-o", "json").stdout)
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert obj["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert obj["spec"]["replicas"] == 4
    assert obj["metadata"]["labels"]["extra"] == "yes"
    bad = server.kubectl("patch", "-n", ns, "deploy", "pt", "--type", "json", "-p",
                         '[{"op":"test","path":"/spec/replicas","value":9}]', check=False)
    assert bad.returncode != 0


def test_label_annotate_and_overwrite(server, ns):
    server.kubectl("create", "configmap", "la", "-n", ns)
    assert server.kubectl("label", "-n", ns, "cm", "la", "a=1").stdout.strip() == "configmap/la labeled"
    fail = server.kubectl("label", "-n", ns, "cm", "la", "a=2", check=False)
    assert fail.returncode != 0 and "already has a value (1)" in fail.stderr
    server.kubectl("label", "-n", ns, "cm", "la", "a=2", "--overwrite")
    assert server.kubectl("annotate", "-n", ns, "cm", "la", "note=hi").stdout.strip() == "configmap/la annotated"
    server.kubectl("label", "-n", ns, "cm", "la", "a-")
    obj = json.loads(server.kubectl("get", "-n", ns, "cm", "la", "-o", "json").stdout)
    assert "a" not in (obj["metadata"].get("labels") or {})
    assert obj["metadata"]["annotations"]["note"] == "hi"


def test_scale_uses_the_scale_subresource(server, ns):
    server.kubectl("apply", "-n", ns, "-f", "-", input=deploy_yaml("sc"))
    assert server.kubectl("scale", "-n", ns, "deploy/sc", "--replicas=5").stdout.strip() == "deployment.apps/sc scaled"
    assert server.kubectl("get", "-n", ns, "deploy", "sc", "-o", "jsonpath={.spec.replicas}").stdout == "5"
    server.kubectl("scale", "-n", ns, "deploy/sc", "--current-replicas=5", "--replicas=1")
    assert server.kubectl("get", "-n", ns, "deploy", "sc", "-o", "jsonpath={.spec.replicas}").stdout == "1"
    stale = server.kubectl("scale", "-n", ns, "deploy/sc", "--current-replicas=7", "--replicas=2", check=False)
    assert stale.returncode != 0


def test_create_generators_sent_as_protobuf(server, ns):
    """kubectl 1.32+ sends these generator bodies as Kubernetes protobuf."""
    assert server.kubectl("create", "configmap", "gen", "-n", ns, "--from-literal=a=1").stdout.strip() \
        == "configmap/gen created"
    server.kubectl("create", "secret", "generic", "sec", "-n", ns, "--from-literal=password=s3cret")
    server.kubectl("create", "deployment", "gd", "-n", ns, "--image=nginx:1.25", "--replicas=2", "--port=80")
    server.kubectl("create", "service", "clusterip", "gs", "-n", ns, "--tcp=80:8080")
    cm = json.loads(server.kubectl("get", "-n", ns, "cm", "gen", "-o", "json").stdout)
    assert cm["data"] == {"a": "1"}
    secret = json.loads(server.kubectl("get", "-n", ns, "secret", "sec", "-o", "json").stdout)
    assert secret["data"] == {"password": "czNjcmV0"} and secret["type"] == "Opaque"
    d = json.loads(server.kubectl("get", "-n", ns, "deploy", "gd", "-o", "json").stdout)
    assert d["spec"]["replicas"] == 2
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] == 80
    svc = json.loads(server.kubectl("get", "-n", ns, "svc", "gs", "-o", "json").stdout)
    assert svc["spec"]["ports"][0]["port"] == 80 and svc["spec"]["ports"][0]["targetPort"] == 8080


def test_explain_api_resources_api_versions(server):
    out = server.kubectl("explain", "deployment.spec.strategy").stdout
    assert "rollingUpdate" in out and "DeploymentStrategy" in out
    res = server.kubectl("api-resources").stdout.splitlines()
    assert res[0].split() == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    rows = {line.split()[0]: line.split() for line in res[1:]}
    assert rows["deployments"] == ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    assert rows["nodes"] == ["nodes", "no", "v1", "false", "Node"]
    versions = server.kubectl("api-versions").stdout.split()
    for gv in ("v1", "apps/v1", "batch/v1", "coordination.k8s.io/v1", "events.k8s.io/v1", "discovery.k8s.io/v1"):
        assert gv in versions


def test_wait_for_jsonpath_and_delete(server, ns):
    server.kubectl("create", "configmap", "w", "-n", ns, "--from-literal=state=ready")
    out = server.kubectl("wait", "-n", ns, "cm/w", "--for=jsonpath={.data.state}=ready", "--timeout=10s").stdout
    assert out.strip() == "configmap/w condition met"
    proc = subprocess.Popen(["kubectl", "wait", "-n", ns, "cm/w", "--for=delete", "--timeout=20s"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=server.env())
    time.sleep(1.0)
    server.kubectl("delete", "-n", ns, "cm", "w", "--wait=false")
    stdout, stderr = proc.communicate(timeout=25)
    assert proc.returncode == 0, stderr
    assert stdout.strip() == "configmap/w condition met"


def test_invalid_objects_get_kubernetes_errors(server, ns):
    bad = deploy_yaml("Bad_Name")
    out = server.kubectl("apply", "-n", ns, "-f", "-", input=bad, check=False)
    assert out.returncode != 0
    assert 'The Deployment "Bad_Name" is invalid' in out.stderr
    assert "metadata.name: Invalid value: \"Bad_Name\"" in out.stderr
    mismatch = yaml.safe_load(deploy_yaml("mm"))
    mismatch["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    out = server.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(mismatch), check=False)
    assert out.returncode != 0
    assert "spec.template.metadata.labels: Invalid value" in out.stderr
    assert "`selector` does not match template `labels`" in out.stderr
    unknown = yaml.safe_load(deploy_yaml("uf"))
    unknown["spec"]["bogus"] = 1
    out = server.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(unknown), check=False)
    assert out.returncode != 0 and 'unknown field "spec.bogus"' in out.stderr
    assert server.kubectl("get", "-n", ns, "deploy", "-o", "name").stdout.strip() == ""


def test_create_in_missing_namespace_is_not_found(server):
    out = server.kubectl("create", "configmap", "x", "-n", "does-not-exist", check=False)
    assert out.returncode != 0
    assert 'namespaces "does-not-exist" not found' in out.stderr


def test_dry_run_server_writes_nothing(server, ns):
    out = server.kubectl("apply", "-n", ns, "--dry-run=server", "-f", "-", input=deploy_yaml("dry")).stdout
    assert out.strip() == "deployment.apps/dry created (server dry run)"
    assert server.kubectl("get", "-n", ns, "deploy", "-o", "name").stdout.strip() == ""


@pytest.mark.parametrize("minor", [27, 33])
def test_other_kubectl_versions_apply_get_delete(server, ns, tmp_path, minor):
    binary = f"/usr/lib/google-cloud-sdk/bin/kubectl.1.{minor}"
    if not os.path.exists(binary):
        pytest.skip(f"kubectl 1.{minor} not installed")
    f = tmp_path / "v.yaml"
    f.write_text(deploy_yaml(f"v{minor}"))
    assert server.kubectl("apply", "-n", ns, "-f", str(f), minor=minor).stdout.strip() \
        == f"deployment.apps/v{minor} created"
    f.write_text(deploy_yaml(f"v{minor}", replicas=4))
    assert "configured" in server.kubectl("apply", "-n", ns, "-f", str(f), minor=minor).stdout
    lines = server.kubectl("get", "-n", ns, "deploy", minor=minor).stdout.splitlines()
    assert lines[1].split()[:2] == [f"v{minor}", "0/4"]
    assert server.kubectl("delete", "-n", ns, "-f", str(f), minor=minor).stdout.strip() \
        == f'deployment.apps "v{minor}" deleted'
