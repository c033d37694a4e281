"""The admission webhook for real: the chart's ValidatingWebhookConfiguration, the test kube-apiserver calling the
operator over TLS (with the CA bundle the operator set), `kubectl apply` refused at once with the reconciler's
message; a webhook that is down; hostile bodies sent straight to it."""

import json
import statistics
import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness.admission import WEBHOOK, OperatorInstall, install_operator_chart
from harness.cluster import install_crd
from harness.control_plane import ControlPlane
from harness.operator import OperatorProcess, operator_process
from harness.releases import IMAGE, INVALID_SETTINGS, condition, database_secret, get, phase, release, wait_for

pytestmark = pytest.mark.k8s
SECRET_URL = "mysql://bosun:hunter2@db.example.com/bosun"


@pytest.fixture(scope="module")
def webhook(kube: ControlPlane) -> Iterator[tuple[str, OperatorInstall, OperatorProcess]]:
    """The operator chart (secrets readable) for one namespace and a running operator serving its webhook."""
    install_crd(kube)
    watched, system = kube.create_namespace("apps"), kube.create_namespace("ops")
    install = install_operator_chart(kube, system, [watched], "--set", "rbac.readSecrets=true")
    database_secret(kube, watched, "postgresql://bosun:pw@db.example.com/bosun")
    with operator_process(kube, [watched], env=install.env(), args=install.args()) as operator:
        yield watched, install, operator


def apply(kube: ControlPlane, namespace: str, document: dict[str, Any]) -> tuple[int, str]:
    result = kube.kubectl(
        "apply", "--server-side", "--field-manager=gitops", "-n", namespace, "-f", "-",
        input=json.dumps(document), check=False,
    )  # fmt: skip
    return result.returncode, result.stderr


def with_env(name: str, **container: Any) -> dict[str, Any]:
    document = release(name)
    document["spec"]["template"]["spec"]["containers"][0].update(container)
    return document


def config_map(kube: ControlPlane, namespace: str, name: str, data: dict[str, str]) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": data}
    kube.apply(json.dumps(body))


def test_the_operator_set_the_ca_bundle_with_the_charts_rbac(
    kube: ControlPlane, webhook: tuple[str, OperatorInstall, OperatorProcess]
) -> None:
    _, install, _ = webhook
    assert install.ca_bundle(kube).startswith(b"-----BEGIN CERTIFICATE-----")


def test_a_valid_release_is_accepted(kube: ControlPlane, webhook: tuple[str, OperatorInstall, OperatorProcess]) -> None:
    namespace, _, _ = webhook
    code, stderr = apply(kube, namespace, release("valid"))
    assert code == 0, stderr
    assert get(kube, namespace, "apprelease", "valid") is not None


@pytest.mark.parametrize(("settings", "setting"), INVALID_SETTINGS.values(), ids=INVALID_SETTINGS.keys())
def test_invalid_settings_are_refused_at_apply(
    kube: ControlPlane, webhook: tuple[str, OperatorInstall, OperatorProcess], settings: dict[str, str], setting: str
) -> None:
    namespace, _, _ = webhook
    name = f"bad-{len(settings)}-{abs(hash(json.dumps(settings))) % 10**8}"
    code, stderr = apply(kube, namespace, release(name, settings={"ENVIRONMENT": "staging", **settings}))
    assert code != 0
    denied = f'admission webhook "{WEBHOOK}" denied the request: '
    assert f"{denied}{setting}" in stderr or f"{denied}invalid configuration: {setting}" in stderr, stderr
    assert stderr.count("\n") == 1
    assert get(kube, namespace, "apprelease", name) is None


def test_settings_from_config_maps_and_secrets_are_checked(
    kube: ControlPlane, webhook: tuple[str, OperatorInstall, OperatorProcess]
) -> None:
    namespace, _, _ = webhook
    config_map(kube, namespace, "bad-config", {"SMTP_PORT": "0"})
    kube.apply(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "mysql", "namespace": namespace},
                "stringData": {"DATABASE_URL": SECRET_URL},
            }
        )
    )
    cases = {
        "from-config-map": (
            with_env(
                "cm", envFrom=[{"secretRef": {"name": "bosun-secrets"}}, {"configMapRef": {"name": "bad-config"}}]
            ),
            "invalid configuration: SMTP_PORT: Input should be greater than or equal to 1",
        ),
        "database-url-from-a-secret": (
            with_env("mysql", envFrom=[{"secretRef": {"name": "mysql"}}]),
            "DATABASE_URL: must be a PostgreSQL URL",
        ),
        "missing-config-map": (
            with_env("missing", envFrom=[{"secretRef": {"name": "bosun-secrets"}}, {"configMapRef": {"name": "no"}}]),
            "the ConfigMap 'no' that the template reads does not exist in this namespace",
        ),
        "missing-key": (
            with_env(
                "key",
                env=[{"name": "LOG_LEVEL", "valueFrom": {"configMapKeyRef": {"name": "bad-config", "key": "NOPE"}}}],
            ),
            "LOG_LEVEL: the ConfigMap 'bad-config' has no key 'NOPE'",
        ),
    }
    for name, (document, message) in cases.items():
        code, stderr = apply(kube, namespace, document)
        assert code != 0, name
        assert message in stderr, (name, stderr)
        assert "hunter2" not in stderr


def test_a_source_that_goes_bad_later_is_reported_invalid_with_the_same_message(
    kube: ControlPlane, webhook: tuple[str, OperatorInstall, OperatorProcess]
) -> None:
    """Admission cannot know about a ConfigMap that changes after the release was accepted: status `Invalid` says so,
    in the words the webhook uses for a spec change made afterwards; a pause or the retry annotation still go in."""
    namespace, _, _ = webhook
    config_map(kube, namespace, "tuning", {"DB_POOL_SIZE": "5"})
    envs = [{"secretRef": {"name": "bosun-secrets"}}, {"configMapRef": {"name": "tuning"}}]
    document = with_env("later", envFrom=envs)
    assert apply(kube, namespace, document)[0] == 0
    config_map(kube, namespace, "tuning", {"DB_POOL_SIZE": "0"})
    body = wait_for(kube, namespace, phase("Invalid"), "later")
    message = condition(body, "Valid")["message"]
    assert message.startswith("invalid configuration: DB_POOL_SIZE")
    document["spec"]["replicas"] = 3
    code, stderr = apply(kube, namespace, document)
    assert code != 0 and f"denied the request: {message}" in stderr
    annotate = kube.kubectl("annotate", "apprelease", "later", "-n", namespace, "bosun.dev/retry=1", check=False)
    assert annotate.returncode == 0, annotate.stderr
    document["spec"]["paused"] = True
    assert apply(kube, namespace, document)[0] == 0


Webhook = tuple[str, OperatorInstall, OperatorProcess]


def test_hostile_reviews_are_answered(kube: ControlPlane, webhook: Webhook) -> None:
    namespace, install, operator = webhook

    def review(spec: object, operation: str = "CREATE") -> bytes:
        body = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "u-1",
                "operation": operation,
                "namespace": namespace,
                "resource": {"group": "bosun.dev", "version": "v1alpha1", "resource": "appreleases"},
                "object": {"spec": spec},
            },
        }
        return json.dumps(body).encode()

    base = release("hostile")["spec"]
    nested: Any = {"leaf": True}
    for _ in range(900):
        nested = {"x": nested}
    answers = {
        "huge-settings": review({**base, "settings": {f"X{i}": "v" * 30 for i in range(60_000)}}),
        "nul": review({**base, "settings": {"PROJECT_NAME": "a\x00b", "B\x00AD": "x"}}),
        "non-string-values": review({**base, "settings": {"PORT": 8000, "DEBUG": None, "X": ["a"]}}),
        "settings-not-a-map": review({**base, "settings": ["PORT=1"]}),
        "template-not-a-map": review({**base, "template": "nope"}),
        "deeply-nested-template": review({**base, "template": nested}),
        "too-many-sources": review(
            {
                **base,
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "b", "envFrom": [{"configMapRef": {"name": f"c{i}"}} for i in range(5000)]}
                        ]
                    }
                },
            }
        ),
    }
    bad_requests = {
        "not-json": b"{" * 10,
        "nested-beyond-the-parser": b"[" * 200_000 + b"]" * 200_000,
        "not-utf8": b"\xff\xfe\x00",
        "a-list": b"[]",
        "no-request": json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).encode(),
        "other-resource": review(base).replace(b'"appreleases"', b'"pods"'),
        "huge-number": review({**base, "replicas": int("9" * 4000)}).replace(b"9" * 4000, b"9" * 100_000),
    }
    with install.client(kube) as client:
        for name, body in answers.items():
            response = client.post("/validate", content=body, headers={"Content-Type": "application/json"})
            assert response.status_code == 200, (name, response.text[:300])
            result = response.json()["response"]
            assert result["uid"] == "u-1"
            assert result["allowed"] is (name == "huge-settings"), (name, result)  # unknown names are ignored
            assert len(result.get("status", {}).get("message", "")) <= 1024
        for name, body in bad_requests.items():
            response = client.post("/validate", content=body, headers={"Content-Type": "application/json"})
            assert response.status_code == 400, (name, response.status_code, response.text[:300])
        too_big = client.post("/validate", content=b" " * (5 * 1024 * 1024))
        assert too_big.status_code == 413
    assert operator.process is not None and operator.process.poll() is None
    assert operator.probe("/healthz") == 200 and operator.probe("/readyz") == 200
    code, stderr = apply(kube, namespace, release("after-hostile", settings={"PORT": "0"}))
    assert code != 0 and "PORT" in stderr  # still answering


def test_admission_latency_seen_by_kubectl(
    kube: ControlPlane, webhook: tuple[str, OperatorInstall, OperatorProcess]
) -> None:
    """Figures for the notes (never asserted): `kubectl apply` of a changed release, webhook answering, median of 20;
    and the same in a namespace the webhook does not cover."""
    namespace, _, _ = webhook
    uncovered = kube.create_namespace("plain")
    timings: dict[str, list[float]] = {namespace: [], uncovered: []}
    for target in timings:
        for replicas in range(20):
            started = time.monotonic()
            code, stderr = apply(kube, target, release("timed", replicas=replicas))
            timings[target].append(time.monotonic() - started)
            assert code == 0, stderr
    print(
        f"\nkubectl apply median of 20: {statistics.median(timings[namespace]) * 1000:.0f} ms with the webhook, "
        f"{statistics.median(timings[uncovered]) * 1000:.0f} ms without"
    )


def test_a_webhook_that_is_down(kube: ControlPlane, webhook: tuple[str, OperatorInstall, OperatorProcess]) -> None:
    """failurePolicy Ignore (the chart's default): with no operator answering, releases are accepted and the operator
    reports a bad one Invalid once it runs. Fail: refused until it answers; deletion works either way."""
    namespace, install, operator = webhook
    operator.stop()
    try:
        code, stderr = apply(kube, namespace, release("while-down", settings={"DB_POOL_SIZE": "many"}))
        assert code == 0, stderr
        kube.kubectl(
            "patch", "validatingwebhookconfiguration", install.configuration, "--type=json",
            "-p", '[{"op": "replace", "path": "/webhooks/0/failurePolicy", "value": "Fail"}]',
        )  # fmt: skip
        code, stderr = apply(kube, namespace, release("refused-while-down"))
        assert code != 0 and f'failed calling webhook "{WEBHOOK}"' in stderr, stderr
        deleted = kube.kubectl("delete", "apprelease", "while-down", "-n", namespace, "--timeout=30s", check=False)
        assert deleted.returncode == 0, deleted.stderr
        assert get(kube, namespace, "apprelease", "while-down") is None
    finally:
        kube.kubectl(
            "patch", "validatingwebhookconfiguration", install.configuration, "--type=json",
            "-p", '[{"op": "replace", "path": "/webhooks/0/failurePolicy", "value": "Ignore"}]',
        )  # fmt: skip
        operator.start()
    assert apply(kube, namespace, release("while-down", settings={"DB_POOL_SIZE": "many"}))[0] != 0


def test_an_accepted_bad_release_still_turns_invalid(
    kube: ControlPlane, webhook: tuple[str, OperatorInstall, OperatorProcess]
) -> None:
    """What the webhook let through while it was down is caught by the reconciler."""
    namespace, _, operator = webhook
    operator.stop()
    try:
        assert apply(kube, namespace, release("slipped", settings={"PORT": "99999"}))[0] == 0
    finally:
        operator.start()
    body = wait_for(kube, namespace, phase("Invalid"), "slipped")
    assert "PORT" in condition(body, "Valid")["message"]
    assert body["spec"]["image"] == IMAGE
