"""`bosun-operator`: run the AppRelease operator against the cluster of KUBECONFIG (or the in-cluster account).

    bosun-operator [--standalone] [--liveness URL] [--unhealthy-after SECONDS]
                   [--webhook-listen HOST:PORT --webhook-service NAMESPACE/NAME --webhook-configuration NAME]
                   (--namespace NS ... | --all-namespaces)

Its own configuration is its flags and two variables, LOG_LEVEL and METRICS_PORT (0 turns metrics off). A bad flag,
a bad variable or an apiserver it cannot reach is one line on stderr and exit code 1.
"""

import argparse
import asyncio
import logging
import os
import re
import sys
from collections.abc import Sequence
from typing import NoReturn
from urllib.parse import urlsplit

import kopf
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError, ConfigError
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from prometheus_client import start_http_server

from bosun_operator.resources import GROUP, PLURAL
from bosun_operator.state import Endpoint, Options, WebhookOptions

CRD_NAME = f"{PLURAL}.{GROUP}"
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class UsageError(Exception):
    """A mistake in how the operator was started: one line, exit 1."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bosun-operator", description="Gate every AppRelease rollout on its migration Job.")
    parser.add_argument("--standalone", action="store_true", help="run alone, without kopf peering")
    parser.add_argument(
        "--liveness",
        metavar="URL",
        help="serve the liveness probe here, e.g. http://0.0.0.0:8080/healthz (readiness: /readyz on that port)",
    )
    parser.add_argument(
        "--unhealthy-after",
        metavar="SECONDS",
        type=_seconds,
        default=120.0,
        help="liveness fails once the apiserver has not answered for this long (default 120)",
    )
    parser.add_argument("--webhook-listen", metavar="HOST:PORT", help="serve the admission webhook (TLS) here")
    parser.add_argument(
        "--webhook-service", metavar="NAMESPACE/NAME", help="the Service the apiserver calls the webhook through"
    )
    parser.add_argument(
        "--webhook-configuration",
        metavar="NAME",
        help="the ValidatingWebhookConfiguration whose CA bundle the operator keeps set",
    )
    scope = parser.add_mutually_exclusive_group(required=True)
    scope.add_argument(
        "--namespace", "-n", metavar="NS", action="append", dest="namespaces", help="a namespace to watch (repeatable)"
    )
    scope.add_argument("--all-namespaces", "-A", action="store_true", help="watch every namespace")
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a number of seconds") from None
    if not 1 <= value <= 86400:
        raise argparse.ArgumentTypeError(f"{text[:20]!r} must be between 1 and 86400 seconds")
    return value


def _endpoint(flag: str, text: str) -> Endpoint:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise UsageError(f"{flag} {text[:80]!r} must look like HOST:PORT")
    return Endpoint(host.strip("[]"), int(port))


def _webhook(args: argparse.Namespace) -> WebhookOptions | None:
    given = [args.webhook_listen, args.webhook_service, args.webhook_configuration]
    if not any(given):
        return None
    if not all(given):
        raise UsageError("--webhook-listen, --webhook-service and --webhook-configuration go together")
    namespace, _, service = str(args.webhook_service).partition("/")
    if not _NAMESPACE.match(namespace) or not _NAMESPACE.match(service):
        raise UsageError(f"--webhook-service {args.webhook_service[:80]!r} must look like NAMESPACE/NAME")
    if not _DNS_NAME.match(args.webhook_configuration):
        raise UsageError(f"--webhook-configuration {args.webhook_configuration[:80]!r} is not an object name")
    return WebhookOptions(
        _endpoint("--webhook-listen", args.webhook_listen), namespace, service, args.webhook_configuration
    )


def options_of(args: argparse.Namespace) -> Options:
    """The running operator's options, from checked arguments."""
    probes, path = None, "/healthz"
    if args.liveness is not None:
        parts = urlsplit(args.liveness)
        probes = Endpoint(parts.hostname or "", parts.port or 0)
        path = parts.path or "/healthz"
    return Options(
        namespaces=tuple(args.namespaces or ()),
        probes=probes,
        liveness_path=path,
        webhook=_webhook(args),
        unhealthy_after=args.unhealthy_after,
    )


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    for namespace in args.namespaces or []:
        if not _NAMESPACE.match(namespace):
            raise UsageError(
                f"--namespace {namespace!r} is not a namespace name (lower case, digits and -, at most 63)"
            )
    if args.liveness is not None:
        parts = urlsplit(args.liveness)
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme != "http" or not parts.hostname or not port or parts.path == "/readyz":
            raise UsageError(f"--liveness {args.liveness!r} must look like http://host:port/path (not /readyz)")
    _webhook(args)
    return args


def _environment() -> tuple[int, int]:
    """LOG_LEVEL and METRICS_PORT, checked."""
    level = os.environ.get("LOG_LEVEL", "INFO").strip().upper()
    if level not in _LEVELS:
        raise UsageError(f"LOG_LEVEL must be one of {', '.join(_LEVELS)}")
    raw_port = os.environ.get("METRICS_PORT", "9110").strip()
    if not raw_port.isdigit() or int(raw_port) > 65535:
        raise UsageError(f"METRICS_PORT must be a port number (0 turns metrics off), not {raw_port[:20]!r}")
    return getattr(logging, level), int(raw_port)


async def check_api() -> None:
    """Fail early, in one line, when the apiserver is unreachable or the AppRelease CRD is missing."""
    try:
        client = AsyncClient()
    except ConfigError as exc:
        raise UsageError(f"no Kubernetes credentials (KUBECONFIG or in-cluster): {exc}") from None
    try:
        found = [crd async for crd in client.list(CustomResourceDefinition, fields={"metadata.name": CRD_NAME})]
    except ApiError as exc:
        raise UsageError(f"the Kubernetes API refused the check for the {CRD_NAME} CRD: {exc.status.message}") from None
    except Exception as exc:
        raise UsageError(f"cannot reach the Kubernetes API: {type(exc).__name__}: {exc}") from None
    finally:
        await client.close()
    if not found:
        raise UsageError(f"the {CRD_NAME} CRD is not installed (it ships in the bosun-operator chart's crds/)")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `bosun-operator` console script."""
    try:
        args = parse_arguments(argv)
        level, metrics_port = _environment()
        asyncio.run(check_api())
        if metrics_port:
            try:
                start_http_server(metrics_port)
            except OSError as exc:
                raise UsageError(f"METRICS_PORT {metrics_port}: {exc.strerror}") from None
    except UsageError as exc:
        print(f"bosun-operator: {exc}", file=sys.stderr)
        sys.exit(1)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpx2", "httpcore", "httpcore2"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    import bosun_operator.handlers  # noqa: F401  (registers the handlers with kopf)

    kopf.run(
        standalone=args.standalone,
        clusterwide=args.all_namespaces,
        namespaces=args.namespaces or (),
        memo=kopf.Memo(options=options_of(args)),
    )
