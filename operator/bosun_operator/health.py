"""Probes that tell the truth: readiness while the operator reaches the apiserver (and its webhook is set up),
liveness until it has failed to for longer than `unhealthy_after` (then a restart may help: new DNS, new token)."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

READINESS_PATH = "/readyz"


@dataclass
class ApiHealth:
    """What the last checks of the apiserver found (times from the event loop's monotonic clock)."""

    check_interval: float
    unhealthy_after: float
    last_check: float | None = None
    failing_since: float | None = None
    last_error: str = ""
    webhook_ready: bool = True  # False while a configured webhook is not serving with its CA bundle in place

    def succeeded(self, now: float) -> None:
        self.last_check, self.failing_since, self.last_error = now, None, ""

    def failed(self, now: float, error: str) -> None:
        self.last_check = now
        self.failing_since = self.failing_since if self.failing_since is not None else now
        self.last_error = error

    def ready(self, now: float) -> tuple[bool, str]:
        """Whether to take webhook traffic, and why not."""
        if self.last_check is None:
            return False, "the apiserver has not been checked yet"
        if now - self.last_check > 3 * self.check_interval:
            return False, "the apiserver checks stopped"
        if self.failing_since is not None:
            return False, f"the apiserver does not answer: {self.last_error}"
        if not self.webhook_ready:
            return False, "the admission webhook is not set up yet"
        return True, "ok"

    def alive(self, now: float) -> tuple[bool, str]:
        """False once the apiserver has been unreachable for longer than unhealthy_after (or checks stopped)."""
        if self.last_check is not None and now - self.last_check > max(self.unhealthy_after, 3 * self.check_interval):
            return False, "the apiserver checks stopped"
        if self.failing_since is not None and now - self.failing_since > self.unhealthy_after:
            return False, f"the apiserver has not answered for {now - self.failing_since:.0f}s: {self.last_error}"
        return True, "ok"


Probe = Callable[[float], tuple[bool, str]]


def application(health: ApiHealth, liveness_path: str, clock: Callable[[], float]) -> web.Application:
    """GET <liveness_path> and GET /readyz: 200 or 503 with the reason."""

    def probe(check: Probe) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(_: web.Request) -> web.Response:
            ok, reason = check(clock())
            return web.json_response({"status": "ok" if ok else "failing", "reason": reason}, status=200 if ok else 503)

        return handler

    app = web.Application()
    app.router.add_get(liveness_path, probe(health.alive))
    app.router.add_get(READINESS_PATH, probe(health.ready))
    return app
