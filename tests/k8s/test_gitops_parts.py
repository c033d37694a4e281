"""The pure parts of Argo CD on the node (harness.gitops.argocd), checked with plain values and no cluster."""

import base64
import json

import pytest

from harness import ci_tools
from harness.gitops import argocd

ARGOCD, REDIS = "localhost/argocd:v3.6.1-abc", "localhost/argocd-redis:def"


def workload(kind: str, *images: tuple[str, str]) -> str:
    containers = [
        {"name": f"c{i}", "image": image, "imagePullPolicy": policy} for i, (image, policy) in enumerate(images)
    ]
    pod = {"initContainers": containers[:1], "containers": containers[1:]}
    return json.dumps({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": kind.lower()},
                       "spec": {"template": {"spec": pod}}})  # fmt: skip


def test_only_images_and_forced_pulls_change_in_the_install_manifest() -> None:
    manifest = "\n---\n".join([
        workload("Deployment", ("quay.io/argoproj/argocd:v3.6.1", "IfNotPresent"),
                 ("public.ecr.aws/docker/library/redis:8.10.1-alpine", "Always")),
        workload("StatefulSet", ("quay.io/argoproj/argocd:v3.6.1", "Always"),
                 ("quay.io/argoproj/argocd:v3.6.1", "Always")),
        json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-cm"}, "data": {"a": "b"}}),
    ])  # fmt: skip
    deployment, statefulset, config_map = argocd.install_objects(manifest, ARGOCD, REDIS)
    pod = deployment["spec"]["template"]["spec"]
    assert [(c["image"], c["imagePullPolicy"]) for c in [*pod["initContainers"], *pod["containers"]]] == [
        (ARGOCD, "IfNotPresent"), (REDIS, "IfNotPresent")]  # fmt: skip
    pod = statefulset["spec"]["template"]["spec"]
    assert {c["image"] for c in [*pod["initContainers"], *pod["containers"]]} == {ARGOCD}
    assert config_map == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "argocd-cm"},
        "data": {"a": "b"},
    }


def test_an_image_this_machine_cannot_provide_is_refused() -> None:
    manifest = workload(
        "Deployment", ("quay.io/argoproj/argocd:v3.6.1", "Always"), ("ghcr.io/dexidp/dex:v2.46.0", "Always")
    )
    with pytest.raises(argocd.ManifestError, match=r"ghcr\.io/dexidp/dex"):
        argocd.install_objects(manifest, ARGOCD, REDIS)


def test_the_real_core_install_manifest_is_adapted_whole() -> None:
    path = ci_tools.argocd_dir() / "core-install.yaml"
    if not path.is_file():
        pytest.skip("Argo CD not built: run `uv run poe ci-tools`")
    objects = argocd.install_objects(path.read_text(), ARGOCD, REDIS)
    pods = [o["spec"]["template"]["spec"] for o in objects if o["kind"] in argocd.WORKLOAD_KINDS]
    containers = [c for pod in pods for c in [*pod.get("initContainers", []), *pod["containers"]]]
    assert {c["image"] for c in containers} == {ARGOCD, REDIS}
    assert all(c.get("imagePullPolicy", "IfNotPresent") == "IfNotPresent" for c in containers)
    names = {o["metadata"]["name"] for o in objects if o["kind"] in argocd.WORKLOAD_KINDS}
    assert names == {"argocd-application-controller", "argocd-repo-server", "argocd-redis",
                     "argocd-applicationset-controller"}  # fmt: skip


def test_a_cluster_is_registered_like_argocd_cluster_add() -> None:
    secret = argocd.cluster_secret("staging", "https://10.96.0.1:443", "token-x", b"-----BEGIN CERTIFICATE-----\n")
    assert secret["metadata"]["labels"] == {"argocd.argoproj.io/secret-type": "cluster"}
    assert secret["metadata"]["namespace"] == "argocd"
    data = secret["stringData"]
    assert (data["name"], data["server"]) == ("staging", "https://10.96.0.1:443")
    config = json.loads(data["config"])
    assert config["bearerToken"] == "token-x"
    assert base64.b64decode(config["tlsClientConfig"]["caData"]) == b"-----BEGIN CERTIFICATE-----\n"
    assert config["tlsClientConfig"]["insecure"] is False


def test_one_machine_keeps_the_environments_apart() -> None:
    values = argocd.one_machine_values("git://10.244.0.1:9418/bosun.git")
    assert values["repoURL"] == "git://10.244.0.1:9418/bosun.git"
    staging, production = values["environments"]["staging"], values["environments"]["production"]
    namespaces = [e[k] for e in (staging, production) for k in ("namespace", "operatorNamespace")]
    assert len(set(namespaces)) == 4
    assert staging["operator"]["releaseName"] != production["operator"]["releaseName"]
    assert [staging["operator"]["installCRD"], production["operator"]["installCRD"]] == [True, False]  # one CRD owner
    assert len(set(argocd.CLUSTER_SERVERS.values())) == 2  # Argo CD tells clusters apart by address
    for environment in (staging, production):
        assert environment["service"]["values"]["ingress"] == {"enabled": False}
        assert "image" not in environment["service"]["values"]  # releases come from Git, never from here


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({}, argocd.ApplicationState("Unknown", "Unknown", "", "")),
        ({"sync": {"status": "Synced", "revision": "abc"}, "health": {"status": "Healthy"}},
         argocd.ApplicationState("Synced", "Healthy", "", "abc")),
        ({"sync": {"status": "OutOfSync"}, "health": {"status": "Healthy"},
          "operationState": {"message": "admission webhook denied the request"}},
         argocd.ApplicationState("OutOfSync", "Healthy", "admission webhook denied the request", "")),
        ({"sync": {"status": "Synced"}, "health": {"status": "Degraded", "message": "Invalid: CORS_ORIGINS"},
          "operationState": {"message": "successfully synced"}},
         argocd.ApplicationState("Synced", "Degraded", "Invalid: CORS_ORIGINS", "")),
    ],
)  # fmt: skip
def test_what_an_application_says_of_itself(status: dict[str, object], expected: argocd.ApplicationState) -> None:
    state = argocd.application_state({"status": status})
    assert state == expected
    assert state.settled is (expected.sync == "Synced" and expected.health == "Healthy")
