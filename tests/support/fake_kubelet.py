"""A stand-in for kubelets until they exist (as kwok does): every new pod is marked
Running and Ready through the status subresource, and a pod being deleted is removed at
once, using the official Python client."""

from __future__ import annotations

import datetime as dt
import threading

from kubernetes import client, config, watch


def _ready_status(pod) -> dict:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    conditions = [{"type": t, "status": "True", "lastTransitionTime": now}
                  for t in ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready", "PodScheduled")]
    statuses = [{"name": c.name, "image": c.image, "imageID": "", "ready": True, "started": True,
                 "restartCount": 0, "state": {"running": {"startedAt": now}}} for c in pod.spec.containers]
    return {"status": {"phase": "Running", "conditions": conditions, "containerStatuses": statuses,
                       "startTime": now, "podIP": "10.88.0.10", "hostIP": "10.0.0.1"}}


class FakeKubelet:
    def __init__(self, kubeconfig: str, delay: float = 0.0):
        self.api = client.CoreV1Api(config.new_client_from_config(kubeconfig))
        self.delay = delay
        self._stop = threading.Event()
        self._watch = watch.Watch()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> FakeKubelet:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._watch.stop()
        self._thread.join(10)

    def _finish_deletion(self, pod) -> None:
        """A kubelet removes a deleted pod once its containers stopped: at once here."""
        try:
            self.api.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0)
        except client.ApiException:
            pass

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for event in self._watch.stream(self.api.list_pod_for_all_namespaces, timeout_seconds=5):
                    pod = event["object"]
                    if event["type"] == "DELETED":
                        continue
                    if pod.metadata.deletion_timestamp:
                        self._finish_deletion(pod)
                        continue
                    if pod.status.phase != "Running":
                        if self.delay:
                            self._stop.wait(self.delay)
                        try:
                            self.api.patch_namespaced_pod_status(pod.metadata.name, pod.metadata.namespace,
                                                                 _ready_status(pod))
                        except client.ApiException:
                            pass  # deleted meanwhile
                    if self._stop.is_set():
                        return
            except Exception:
                self._stop.wait(0.2)
