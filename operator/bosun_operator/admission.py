"""The validating admission webhook for AppReleases: `kubectl apply` of a release whose settings the service refuses
fails at once, with the same one-line message the reconciler would write into the `Valid` condition.

Reading a review is pure (`parse_review`, `needs_check`, `answer`); the check itself (`release_problem` over the
environment read like the reconciler reads it) is the operator's, passed in. A body that is not a review gets a 400;
an error while reading the API a 500, which the apiserver treats by the configuration's failurePolicy.
"""

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bosun_operator.resources import GROUP, PLURAL

PATH = "/validate"
# An object is at most about 1.5 MiB (etcd's limit); a review of an update carries two.
MAX_REVIEW_BYTES = 4 * 1024 * 1024
_OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")

logger = logging.getLogger(__name__)


class BadReview(Exception):
    """The body is not an AdmissionReview of an AppRelease."""


@dataclass(frozen=True)
class Review:
    uid: str
    operation: str
    namespace: str
    spec: dict[str, Any]
    old_spec: object  # None on CREATE


Check = Callable[[Review], Awaitable[str | None]]


def parse_review(body: bytes) -> Review:
    """The parts of an admission.k8s.io/v1 AdmissionReview the check needs; BadReview for anything else."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, a number too long, nested too deeply
        raise BadReview("the body is not JSON") from None
    if (
        not isinstance(document, dict)
        or document.get("apiVersion") != "admission.k8s.io/v1"
        or document.get("kind") != "AdmissionReview"
    ):
        raise BadReview("expected an admission.k8s.io/v1 AdmissionReview")
    request = document.get("request")
    if not isinstance(request, dict):
        raise BadReview("the review has no request")
    uid = request.get("uid")
    if not isinstance(uid, str) or not 0 < len(uid) <= 128:
        raise BadReview("the review's request has no uid")
    resource = request.get("resource")
    if not isinstance(resource, dict) or (resource.get("group"), resource.get("resource")) != (GROUP, PLURAL):
        raise BadReview(f"this webhook reviews {PLURAL}.{GROUP} only")
    operation = request.get("operation")
    if operation not in _OPERATIONS:
        raise BadReview("the review's operation is not CREATE, UPDATE, DELETE or CONNECT")
    namespace = request.get("namespace")
    new = request.get("object")
    spec = new.get("spec") if isinstance(new, dict) else None
    if operation in ("CREATE", "UPDATE") and (not isinstance(namespace, str) or not namespace):
        raise BadReview("the review has no namespace")
    if operation in ("CREATE", "UPDATE") and not isinstance(spec, dict):
        raise BadReview("the reviewed object has no spec")
    old = request.get("oldObject")
    return Review(
        uid=uid,
        operation=str(operation),
        namespace=str(namespace or ""),
        spec=spec if isinstance(spec, dict) else {},
        old_spec=old.get("spec") if isinstance(old, dict) else None,
    )


def needs_check(review: Review) -> bool:
    """Only a new or changed spec is checked: a label, an annotation (bosun.dev/retry), a pause or a deletion never
    waits for, nor is refused by, settings that went bad later (a Secret changed)."""
    if review.operation == "CREATE":
        return review.spec.get("paused") is not True
    if review.operation == "UPDATE":
        return review.spec != review.old_spec and review.spec.get("paused") is not True
    return False


def answer(uid: str, problem: str | None) -> dict[str, Any]:
    """The AdmissionReview response: allowed, or refused with the problem as the message `kubectl` prints."""
    response: dict[str, Any] = {"uid": uid, "allowed": problem is None}
    if problem is not None:
        response["status"] = {"code": 422, "reason": "Invalid", "message": problem}
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}


def application(check: Check) -> web.Application:
    """The webhook's HTTP application: POST /validate."""

    async def validate(request: web.Request) -> web.Response:
        body = await request.read()  # larger than MAX_REVIEW_BYTES: 413 from aiohttp
        try:
            review = parse_review(body)
        except BadReview as exc:
            return web.json_response({"message": str(exc)}, status=400)
        try:
            problem = await check(review) if needs_check(review) else None
        except Exception as exc:
            # The release may be fine: the API could not be read. The apiserver applies the failurePolicy.
            logger.warning(
                "admission check of a release in %s failed: %s: %s", review.namespace, type(exc).__name__, exc
            )
            return web.json_response({"message": "the operator could not read the cluster"}, status=500)
        return web.json_response(answer(review.uid, problem))

    app = web.Application(client_max_size=MAX_REVIEW_BYTES)
    app.router.add_post(PATH, validate)
    return app
