"""`bosun-operator` refuses a bad start in one line on stderr with exit code 1."""

import json
import subprocess
from pathlib import Path

import pytest

from harness.operator import BIN
from harness.ports import free_port


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args], env=env or {"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60
    )


def unreachable_kubeconfig(tmp_path: Path) -> str:
    path = tmp_path / "kubeconfig"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "c", "cluster": {"server": f"https://127.0.0.1:{free_port()}", "insecure-skip-tls-verify": True}}
        ],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path.write_text(json.dumps(config))
    return str(path)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ([], {}, "one of the arguments --namespace/-n --all-namespaces/-A is required"),
        (["-n", "a", "--all-namespaces"], {}, "not allowed with argument"),
        (["--namespace", "Not_A_Namespace"], {}, "is not a namespace name"),
        (["--namespace", "a\x01b"], {}, "is not a namespace name"),
        (["--namespace", "x" * 64], {}, "is not a namespace name"),
        (["--namespace", ""], {}, "is not a namespace name"),
        (["-A", "--liveness", "ftp://0.0.0.0:8080/healthz"], {}, "must look like http://host:port/path"),
        (["-A", "--liveness", "http://0.0.0.0:99999/healthz"], {}, "must look like http://host:port/path"),
        (["-A", "--bogus"], {}, "unrecognized arguments: --bogus"),
        (["-A"], {"LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be one of"),
        (["-A"], {"METRICS_PORT": "-1"}, "METRICS_PORT must be a port number"),
        (["-A"], {"METRICS_PORT": "65536"}, "METRICS_PORT must be a port number"),
        (["-A"], {"KUBECONFIG": "/nonexistent/kubeconfig"}, "no Kubernetes credentials"),
        (["-A", "--liveness", "http://0.0.0.0:8080/readyz"], {}, "(not /readyz)"),
        (["-A", "--unhealthy-after", "0"], {}, "must be between 1 and 86400 seconds"),
        (["-A", "--unhealthy-after", "soon"], {}, "is not a number of seconds"),
        (["-A", "--unhealthy-after", "nan"], {}, "must be between 1 and 86400 seconds"),
        (["-A", "--webhook-listen", "0.0.0.0:9443"], {}, "go together"),
        (
            ["-A", "--webhook-listen", "0.0.0.0:99999", "--webhook-service", "a/b", "--webhook-configuration", "c"],
            {},
            "must look like HOST:PORT",
        ),
        (
            ["-A", "--webhook-listen", ":9443", "--webhook-service", "a/b", "--webhook-configuration", "c"],
            {},
            "must look like HOST:PORT",
        ),
        (
            ["-A", "--webhook-listen", "h:9443", "--webhook-service", "Not/Valid", "--webhook-configuration", "c"],
            {},
            "must look like NAMESPACE/NAME",
        ),
        (
            ["-A", "--webhook-listen", "h:9443", "--webhook-service", "a/b", "--webhook-configuration", "x" * 300],
            {},
            "is not an object name",
        ),
    ],
)
def test_bad_starts_are_one_line(args: list[str], env: dict[str, str], message: str) -> None:
    result = run(*args, env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", **env})
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("bosun-operator: "), result.stderr
    assert message in result.stderr


def test_an_unreachable_apiserver_is_one_line(tmp_path: Path) -> None:
    result = run("-A", env={"PATH": "/usr/bin:/bin", "KUBECONFIG": unreachable_kubeconfig(tmp_path)})
    assert result.returncode == 1
    assert (
        result.stderr.startswith("bosun-operator: cannot reach the Kubernetes API") and result.stderr.count("\n") == 1
    )
