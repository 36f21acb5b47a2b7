"""Every acknowledged write survives a SIGKILL of the server, and restarts keep data and credentials."""

from __future__ import annotations

import threading
import time

from kubernetes import client, config
from tests.support.cluster import Server


def _writer(kubeconfig: str, prefix: str, acked: list[str], stop: threading.Event) -> None:
    core = client.CoreV1Api(config.new_client_from_config(kubeconfig))
    i = 0
    while not stop.is_set():
        name = f"{prefix}-{i}"
        try:
            core.create_namespaced_config_map("default", client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name=name), data={"i": str(i)}), _request_timeout=5)
        except Exception:
            return
        acked.append(name)
        i += 1


def test_sigkill_loses_no_acknowledged_write(tmp_path):
    srv = Server(data_dir=tmp_path / "data", home=tmp_path / "home")
    srv.home.mkdir()
    srv.start()
    try:
        ca_before = (srv.data_dir / "pki" / "ca.crt").read_bytes()
        acked: list[list[str]] = [[] for _ in range(4)]
        stop = threading.Event()
        threads = [threading.Thread(target=_writer, args=(str(srv.kubeconfig), f"w{t}", acked[t], stop))
                   for t in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while sum(map(len, acked)) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        srv.kill()  # SIGKILL while the writers are mid-request
        stop.set()
        for t in threads:
            t.join(10)
        total = sum(map(len, acked))
        assert total >= 200

        srv.start()  # same data dir
        assert (srv.data_dir / "pki" / "ca.crt").read_bytes() == ca_before
        core = client.CoreV1Api(config.new_client_from_config(str(srv.kubeconfig)))
        stored = {cm.metadata.name: cm for cm in core.list_namespaced_config_map("default").items}
        missing = [name for names in acked for name in names if name not in stored]
        assert missing == []
        # Consistent: each writer's objects form a gap-free prefix (at most one extra unacknowledged write).
        for t in range(4):
            ids = sorted(int(n.split("-")[1]) for n in stored if n.startswith(f"w{t}-"))
            assert ids == list(range(len(ids)))
            assert len(acked[t]) <= len(ids) <= len(acked[t]) + 1
        # Revisions continue upwards after the restart.
        before = max(int(cm.metadata.resource_version) for cm in stored.values())
        after = core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="after")))
        assert int(after.metadata.resource_version) > before
    finally:
        srv.stop()


def test_restart_keeps_data_and_kubeconfig_credentials(tmp_path):
    srv = Server(data_dir=tmp_path / "data", home=tmp_path / "home")
    srv.home.mkdir()
    srv.start()
    try:
        srv.kubectl("create", "configmap", "persisted", "--from-literal=k=v")
        old_kubeconfig = srv.kubeconfig.read_text()
        assert srv.stop() == 0  # SIGTERM is a clean stop
        srv.start()
        new = srv.kubeconfig.read_text()
        # Same CA and client credential; only the port may differ (tests ask for a free one).
        def without_server(text: str) -> list[str]:
            return [line for line in text.splitlines() if "server:" not in line]
        assert without_server(new) == without_server(old_kubeconfig)
        assert srv.kubectl("get", "cm", "persisted", "-o", "jsonpath={.data.k}").stdout == "v"
    finally:
        srv.stop()
