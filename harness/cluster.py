"""What the missing kubelet and controller-manager would do, done for real by the tests.

`JobRunner` plays the Job controller and the kubelet for migration Jobs: it runs each Job's command as a local
process (the repo's code, or a copy of it, stands in for the image), with the Job's env resolved from the API, creates
the Job's Pod and writes Pod and Job status the way the kubelet and the Job controller do (Kubernetes 1.34 validates
the Job status sequence). `DeploymentController` writes a Deployment's rollout status, and can withhold it (a stuck
rollout) and then declare its progress deadline exceeded, as the Deployment controller would.
"""

import base64
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from harness.control_plane import ControlPlane
from harness.paths import REPO_ROOT
from harness.releases import head_revision, revision

CRD = REPO_ROOT / "charts" / "bosun-operator" / "crds" / "appreleases.bosun.dev.yaml"
MERGE = {"Content-Type": "application/merge-patch+json"}
# The kubelet's FallbackToLogsOnError keeps at most the last 80 lines / 2048 bytes of the log.
_MESSAGE_LINES, _MESSAGE_BYTES = 80, 2048


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def install_crd(plane: ControlPlane) -> None:
    """The AppRelease CRD from the operator chart, applied and Established."""
    plane.apply(CRD.read_text())
    plane.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/appreleases.bosun.dev")


def image_source(folder: Path, extra_revisions: dict[str, str] | None = None) -> Path:
    """A copy of the service's code (what an image would contain: no pyproject.toml), optionally with more revisions."""
    for item in ("app", "migrations"):
        shutil.copytree(REPO_ROOT / item, folder / item, ignore=shutil.ignore_patterns("__pycache__"))
    for filename, text in (extra_revisions or {}).items():
        (folder / "migrations" / "versions" / filename).write_text(text)
    return folder


def image_with_revision(folder: Path, revision_id: str, upgrade: str) -> Path:
    """A copy of the service's code with one more Alembic revision on top of the code's head."""
    return image_source(folder, {f"{revision_id}_test.py": revision(head_revision(), revision_id, upgrade)})


@dataclass
class Run:
    """One migration pod's run."""

    job: str
    image: str
    command: list[str]
    exit_code: int
    output: str


@dataclass
class JobRunner:
    """Runs the migration Jobs of one namespace; `images` maps an image to the code it stands for."""

    plane: ControlPlane
    namespace: str
    images: dict[str, Path] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)
    # When each Job was first seen and finished (time.monotonic()), for ordering checks and latency figures.
    seen: dict[str, float] = field(default_factory=dict)
    finished: dict[str, float] = field(default_factory=dict)
    _hold: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _seen: set[str] = field(default_factory=set)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._hold.set()
        # The images' `bosun` shims and the pods' home folders, all removed by stop().
        self._shims = Path(tempfile.mkdtemp(prefix="bosun-images-"))

    def hold(self) -> None:
        """Jobs seen from now on start (status active) but do not run until `release()`."""
        self._hold.clear()

    def release(self) -> None:
        self._hold.set()

    def start(self) -> None:
        thread = threading.Thread(target=self._watch, name=f"jobs-{self.namespace}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self._hold.set()
        for thread in self._threads:
            thread.join(timeout=60)
        shutil.rmtree(self._shims, ignore_errors=True)

    def _watch(self) -> None:
        with self.plane.http() as api:
            while not self._stop.is_set():
                jobs = api.get(f"/apis/batch/v1/namespaces/{self.namespace}/jobs").json().get("items", [])
                for job in jobs:
                    uid = job["metadata"]["uid"]
                    if uid not in self._seen and not _finished(job):
                        self._seen.add(uid)
                        self.seen[job["metadata"]["name"]] = time.monotonic()
                        worker = threading.Thread(target=self._run_job, args=(job,), daemon=True)
                        worker.start()
                        self._threads.append(worker)
                self._stop.wait(0.2)

    def _run_job(self, job: dict[str, Any]) -> None:
        with self.plane.http() as api:
            name = job["metadata"]["name"]
            path = f"/apis/batch/v1/namespaces/{self.namespace}/jobs/{name}/status"
            started = time.monotonic()
            _patch(api, path, {"status": {"startTime": now(), "active": 1}})
            self._hold.wait()
            spec = job["spec"]
            deadline = spec.get("activeDeadlineSeconds")
            attempts = int(spec.get("backoffLimit", 6)) + 1
            failed = 0
            for _ in range(attempts):
                remaining = None if deadline is None else deadline - (time.monotonic() - started)
                if remaining is not None and remaining <= 0:
                    break
                code = self._run_pod(api, job, remaining)
                if code == 0:
                    self._finish(api, path, succeeded=True, failed=failed, reason="CompletionsReached")
                    return
                failed += 1
                _patch(api, path, {"status": {"failed": failed}})
            over_deadline = deadline is not None and time.monotonic() - started >= deadline
            reason = "DeadlineExceeded" if over_deadline else "BackoffLimitExceeded"
            self._finish(api, path, succeeded=False, failed=failed, reason=reason)

    def _finish(self, api: httpx.Client, path: str, *, succeeded: bool, failed: int, reason: str) -> None:
        first = "SuccessCriteriaMet" if succeeded else "FailureTarget"
        final = "Complete" if succeeded else "Failed"
        message = {
            "CompletionsReached": "Reached expected number of succeeded pods",
            "BackoffLimitExceeded": "Job has reached the specified backoff limit",
            "DeadlineExceeded": "Job was active longer than specified deadline",
        }[reason]
        target = _condition(first, reason, message)
        counts: dict[str, Any] = {
            "active": 0,
            "succeeded": 1 if succeeded else 0,
            "failed": failed,
            "uncountedTerminatedPods": {},
        }
        _patch(api, path, {"status": {**counts, "conditions": [target]}})
        done: dict[str, Any] = {"conditions": [target, _condition(final, reason, message)]}
        if succeeded:
            done["completionTime"] = now()
        _patch(api, path, {"status": done})
        self.finished[path.split("/")[-2]] = time.monotonic()

    def _run_pod(self, api: httpx.Client, job: dict[str, Any], timeout: float | None) -> int:
        name = job["metadata"]["name"]
        pod_spec = job["spec"]["template"]["spec"]
        container = pod_spec["containers"][0]
        self._ensure_service_account(api, pod_spec.get("serviceAccountName") or "default")
        pod_name = f"{name}-{uuid.uuid4().hex[:5]}"
        labels = {**job["spec"]["template"]["metadata"].get("labels", {}), "batch.kubernetes.io/job-name": name}
        owner = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "name": name,
            "uid": job["metadata"]["uid"],
            "controller": True,
        }
        pod = {"metadata": {"name": pod_name, "labels": labels, "ownerReferences": [owner]}, "spec": pod_spec}
        created = api.post(f"/api/v1/namespaces/{self.namespace}/pods", json=pod)
        created.raise_for_status()
        started = now()
        env = self._environment(api, container)
        command = list(container.get("command") or []) + list(container.get("args") or [])
        try:
            result = subprocess.run(
                command, env=env, cwd=env["HOME"], capture_output=True, text=True, timeout=timeout, check=False
            )
            code, output = result.returncode, result.stdout + result.stderr
        except subprocess.TimeoutExpired as exc:
            code, output = 137, _text(exc.stdout) + _text(exc.stderr)
        except FileNotFoundError as exc:
            code, output = 127, f"exec: {exc.filename}: not found"
        self.runs.append(Run(name, container["image"], command, code, output))
        tail = "\n".join(output.splitlines()[-_MESSAGE_LINES:]).encode()[-_MESSAGE_BYTES:].decode(errors="ignore")
        state = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": started,
            "finishedAt": now(),
        }
        if code != 0 and container.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            state["message"] = tail
        status = {
            "phase": "Succeeded" if code == 0 else "Failed",
            "containerStatuses": [
                {
                    "name": container["name"],
                    "image": container["image"],
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"terminated": state},
                }
            ],
        }
        _patch(api, f"/api/v1/namespaces/{self.namespace}/pods/{pod_name}/status", {"status": status})
        return code

    def _ensure_service_account(self, api: httpx.Client, name: str) -> None:
        """The service-account controller would have made `default`; admission refuses pods without it."""
        response = api.post(f"/api/v1/namespaces/{self.namespace}/serviceaccounts", json={"metadata": {"name": name}})
        if response.status_code not in (201, 409):
            response.raise_for_status()

    def _environment(self, api: httpx.Client, container: dict[str, Any]) -> dict[str, str]:
        """The container's environment as the kubelet builds it, on top of the image's (the code's bin folder)."""
        home = tempfile.mkdtemp(prefix="pod-", dir=self._shims)
        env = {"PATH": f"{self._bin_for(container['image'])}:/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8"}
        env["PYTHONPATH"] = str(self.images.get(container["image"], REPO_ROOT))
        for source in container.get("envFrom") or []:
            for key, kind in (("configMapRef", "configmaps"), ("secretRef", "secrets")):
                if key in source:
                    data = self._read(api, kind, source[key]["name"])
                    env.update({source.get("prefix", "") + k: v for k, v in data.items()})
        for variable in container.get("env") or []:
            if "valueFrom" not in variable:
                env[variable["name"]] = variable.get("value", "")
                continue
            for key, kind in (("configMapKeyRef", "configmaps"), ("secretKeyRef", "secrets")):
                reference = variable["valueFrom"].get(key)
                if reference:
                    env[variable["name"]] = self._read(api, kind, reference["name"])[reference["key"]]
        return env

    def _read(self, api: httpx.Client, kind: str, name: str) -> dict[str, str]:
        response = api.get(f"/api/v1/namespaces/{self.namespace}/{kind}/{name}")
        response.raise_for_status()
        data: dict[str, str] = response.json().get("data") or {}
        if kind == "secrets":
            return {key: base64.b64decode(value).decode() for key, value in data.items()}
        return data

    def _bin_for(self, image: str) -> Path:
        """A `bosun` command that runs the code this image stands for."""
        folder = self._shims / uuid.uuid5(uuid.NAMESPACE_URL, image).hex
        if not folder.exists():
            folder.mkdir()
            shim = folder / "bosun"
            shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c "from app.cli import main; main()" "$@"\n')
            shim.chmod(0o755)
        return folder


@dataclass
class DeploymentController:
    """Writes the rollout status of a namespace's Deployments; `stall(name)` withholds it."""

    plane: ControlPlane
    namespace: str
    on_rollout: Callable[[dict[str, Any]], None] | None = None
    # When each Deployment was first seen and last rolled out (time.monotonic()).
    first_seen: dict[str, float] = field(default_factory=dict)
    rolled: dict[str, float] = field(default_factory=dict)
    _stalled: set[str] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def stall(self, name: str) -> None:
        self._stalled.add(name)

    def exceed_deadline(self, name: str) -> None:
        """What the Deployment controller writes once progressDeadlineSeconds passed without progress."""
        with self.plane.http() as api:
            path = f"/apis/apps/v1/namespaces/{self.namespace}/deployments/{name}"
            deployment = api.get(path).json()
            condition = {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": f'ReplicaSet "{name}-new" has timed out progressing.',
                "lastUpdateTime": now(),
                "lastTransitionTime": now(),
            }
            status = {**(deployment.get("status") or {}), "observedGeneration": deployment["metadata"]["generation"]}
            status["conditions"] = [condition]
            _patch(api, path + "/status", {"status": status})

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name=f"deployments-{self.namespace}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)

    def _watch(self) -> None:
        with self.plane.http() as api:
            while not self._stop.is_set():
                items = api.get(f"/apis/apps/v1/namespaces/{self.namespace}/deployments").json().get("items", [])
                for deployment in items:
                    generation = deployment["metadata"]["generation"]
                    observed = (deployment.get("status") or {}).get("observedGeneration")
                    name = deployment["metadata"]["name"]
                    self.first_seen.setdefault(name, time.monotonic())
                    if observed != generation and name not in self._stalled:
                        if self.on_rollout:
                            self.on_rollout(deployment)
                        self._roll_out(api, deployment)
                self._stop.wait(0.2)

    def _roll_out(self, api: httpx.Client, deployment: dict[str, Any]) -> None:
        replicas = deployment["spec"].get("replicas", 1)
        available = {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}
        progressing = {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}
        status = {
            "observedGeneration": deployment["metadata"]["generation"],
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [
                {**c, "lastUpdateTime": now(), "lastTransitionTime": now()} for c in (available, progressing)
            ],
        }
        name = deployment["metadata"]["name"]
        _patch(api, f"/apis/apps/v1/namespaces/{self.namespace}/deployments/{name}/status", {"status": status})
        self.rolled[name] = time.monotonic()


@contextmanager
def cluster_controllers(
    plane: ControlPlane, namespace: str, images: dict[str, Path] | None = None
) -> Iterator[tuple[JobRunner, DeploymentController]]:
    """Run the Job and Deployment stand-ins for one namespace for the duration of a test."""
    jobs = JobRunner(plane, namespace, images=images or {})
    deployments = DeploymentController(plane, namespace)
    jobs.start()
    deployments.start()
    try:
        yield jobs, deployments
    finally:
        jobs.stop()
        deployments.stop()


def _finished(job: dict[str, Any]) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(c["type"] in ("Complete", "Failed") and c["status"] == "True" for c in conditions)


def _condition(kind: str, reason: str, message: str) -> dict[str, str]:
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastProbeTime": now(),
        "lastTransitionTime": now(),
    }


def _patch(api: httpx.Client, path: str, body: dict[str, Any]) -> None:
    response = api.patch(path, json=body, headers=MERGE)
    if response.status_code >= 400:
        raise AssertionError(f"PATCH {path} failed ({response.status_code}): {response.text}")


def _text(value: bytes | str | None) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value or ""
