"""The operator's state, owned by one object made at start-up and closed at shutdown: the API client, one lock per
release (dropped when the release goes), the probes' view of the apiserver, the webhook and the resync loop."""

import asyncio
import base64
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from lightkube import ALL_NS, AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.admissionregistration_v1 import ValidatingWebhookConfiguration
from lightkube.types import PatchType

from bosun_operator import admission, health, metrics
from bosun_operator.certificates import ServingCertificate, make_serving_certificate, service_names
from bosun_operator.reconcile import reconcile
from bosun_operator.resources import FIELD_MANAGER, AppRelease
from bosun_operator.validation import observe_environment, release_problem

logger = logging.getLogger(__name__)
# How long one admission check may read the API: the webhook's timeout (a few seconds) bounds the apiserver's wait.
ADMISSION_READ_SECONDS = 4.0


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int


@dataclass(frozen=True)
class WebhookOptions:
    listen: Endpoint
    service_namespace: str
    service_name: str
    configuration: str  # the ValidatingWebhookConfiguration whose caBundle the operator keeps


@dataclass(frozen=True)
class Options:
    namespaces: tuple[str, ...]  # empty: every namespace
    probes: Endpoint | None = None
    liveness_path: str = "/healthz"
    webhook: WebhookOptions | None = None
    # A backstop for anything a watch missed (and the retry after errors); changes arrive as watch events.
    resync_seconds: float = 15.0
    check_seconds: float = 5.0
    unhealthy_after: float = 120.0


@dataclass
class Operator:
    options: Options
    client: AsyncClient
    health: health.ApiHealth
    certificate: ServingCertificate | None = None
    _locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)
    _runners: list[web.AppRunner] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def start(cls, options: Options) -> "Operator":
        """Serve the probes (and the webhook), then start checking the apiserver and resyncing releases."""
        operator = cls(
            options,
            AsyncClient(field_manager=FIELD_MANAGER),
            health.ApiHealth(options.check_seconds, options.unhealthy_after, webhook_ready=options.webhook is None),
        )
        loop = asyncio.get_running_loop()
        if options.probes is not None:
            app = health.application(operator.health, options.liveness_path, loop.time)
            await operator._serve(app, options.probes)
        if options.webhook is not None:
            webhook = options.webhook
            operator.certificate = make_serving_certificate(
                service_names(webhook.service_name, webhook.service_namespace)
            )
            context = operator.certificate.server_context()
            await operator._serve(admission.application(operator.admit), webhook.listen, context)
        operator._spawn(operator._check_api_forever())
        operator._spawn(operator._resync_forever())
        return operator

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for runner in self._runners:
            await runner.cleanup()
        await self.client.close()

    async def reconcile(self, namespace: str, name: str) -> None:
        """One reconciliation at a time per release (watch events and the resync may arrive together)."""
        async with self._locks.setdefault((namespace, name), asyncio.Lock()):
            try:
                result = await reconcile(self.client, namespace, name)
            except Exception:
                metrics.RECONCILIATIONS.labels("error").inc()
                raise
            metrics.RECONCILIATIONS.labels(result).inc()

    def forget(self, namespace: str, name: str) -> None:
        """The release was deleted: drop its lock and its phase series."""
        lock = self._locks.get((namespace, name))
        if lock is not None and not lock.locked():
            del self._locks[(namespace, name)]
        metrics.forget_release(namespace, name)

    @property
    def tracked(self) -> int:
        """Releases holding a lock (for tests: deleted ones are dropped)."""
        return len(self._locks)

    async def admit(self, review: admission.Review) -> str | None:
        """The admission check: the reconciler's own check of the release, over its environment read the same way."""
        async with asyncio.timeout(ADMISSION_READ_SECONDS):
            environment = await observe_environment(self.client, review.namespace, review.spec)
        return release_problem(review.spec, environment)

    async def _serve(self, app: web.Application, where: Endpoint, context: Any = None) -> None:
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        self._runners.append(runner)
        await web.TCPSite(runner, where.host, where.port, ssl_context=context).start()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(work))

    async def _check_api_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                async with asyncio.timeout(self.options.check_seconds):
                    await self._check_api()
            except Exception as exc:
                if self.health.failing_since is None:
                    logger.warning("the apiserver does not answer: %s: %s", type(exc).__name__, exc)
                self.health.failed(loop.time(), f"{type(exc).__name__}: {exc}"[:300])
            else:
                if self.health.failing_since is not None:
                    logger.info("the apiserver answers again")
                self.health.succeeded(loop.time())
            await asyncio.sleep(self.options.check_seconds)

    async def _check_api(self) -> None:
        """One round trip with the watches' own credentials and scope; and the webhook's CA bundle kept in place."""
        namespace = self.options.namespaces[0] if self.options.namespaces else ALL_NS
        async for _ in self.client.list(AppRelease, namespace=namespace, chunk_size=1):
            break
        if self.options.webhook is not None:
            self.health.webhook_ready = await self._ensure_ca_bundle(self.options.webhook)

    async def _ensure_ca_bundle(self, webhook: WebhookOptions) -> bool:
        """Set the CA bundle of the configuration's webhooks that call our Service; False when it is missing."""
        assert self.certificate is not None
        try:
            configuration = await self.client.get(ValidatingWebhookConfiguration, webhook.configuration)
        except ApiError as exc:
            if exc.status.code == 404:
                if self.health.webhook_ready:
                    logger.warning("ValidatingWebhookConfiguration %s does not exist", webhook.configuration)
                return False
            raise
        bundle = base64.b64encode(self.certificate.ca_pem).decode()
        stale = [
            item.name
            for item in configuration.webhooks or []
            if item.clientConfig.service is not None
            and (item.clientConfig.service.namespace, item.clientConfig.service.name)
            == (webhook.service_namespace, webhook.service_name)
            and item.clientConfig.caBundle != bundle
        ]
        if stale:
            patch = {"webhooks": [{"name": name, "clientConfig": {"caBundle": bundle}} for name in stale]}
            await self.client.patch(
                ValidatingWebhookConfiguration, webhook.configuration, patch, patch_type=PatchType.STRATEGIC
            )
            logger.info("set the CA bundle of %s for %s", webhook.configuration, ", ".join(stale))
        return True

    async def _resync_forever(self) -> None:
        while True:
            await asyncio.sleep(self.options.resync_seconds)
            for namespace in self.options.namespaces or (ALL_NS,):
                try:
                    releases = [
                        (item.metadata.namespace, item.metadata.name)
                        async for item in self.client.list(AppRelease, namespace=namespace)
                        if item.metadata is not None
                    ]
                except Exception as exc:
                    logger.warning("resync: cannot list AppReleases: %s: %s", type(exc).__name__, exc)
                    continue
                for release_namespace, name in releases:
                    if release_namespace is None or name is None:
                        continue
                    try:
                        await self.reconcile(release_namespace, name)
                    except Exception:
                        logger.exception("resync of %s/%s failed", release_namespace, name)
