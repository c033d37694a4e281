"""Password hashing and access tokens: local HS256 tokens and managed-auth (JWKS) tokens."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache

import jwt
from pwdlib import PasswordHash

from app.core.addresses import MAX_EMAIL_LENGTH, normalize_email
from app.core.config import Settings
from app.core.errors import NotAuthenticated
from app.core.text import unstorable_reason

password_hash = PasswordHash.recommended()


@cache
def _dummy_hash() -> str:
    """Verified against when the user is unknown, so unknown emails take as long as wrong passwords.

    Made on first use, not at import: hashing costs about 0.1 s of CPU, which start-up need not pay.
    """
    return password_hash.hash("bosun-dummy-password-for-timing")


LOCAL_ALGORITHM = "HS256"
MANAGED_ALGORITHMS = ["RS256", "ES256"]


# Argon2 takes about 0.1 s of CPU by design: it runs in a worker thread (it releases the GIL), so a login does
# not stall every other request of the process's event loop.


async def hash_password(password: str) -> str:
    """Argon2 hash of a password."""
    return await asyncio.to_thread(password_hash.hash, password)


def _verify(password: str, hashed: str | None) -> tuple[bool, str | None]:
    if hashed is None:
        password_hash.verify(password, _dummy_hash())
        return False, None
    return password_hash.verify_and_update(password, hashed)


async def verify_password(password: str, hashed: str | None) -> tuple[bool, str | None]:
    """Check a password; returns (valid, new hash if the stored one should be upgraded)."""
    return await asyncio.to_thread(_verify, password, hashed)


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in: int


def create_access_token(subject: str, settings: Settings, token_version: int = 0) -> AccessToken:
    """A signed HS256 token for a local user id and the user's current token version."""
    lifetime = timedelta(minutes=settings.ACCESS_TOKEN_EXPIRE_MINUTES)
    now = datetime.now(UTC)
    claims = {"sub": subject, "iat": now, "exp": now + lifetime, "type": "access", "ver": token_version}
    token = jwt.encode(claims, settings.SECRET_KEY.get_secret_value(), algorithm=LOCAL_ALGORITHM)
    return AccessToken(token=token, expires_in=int(lifetime.total_seconds()))


@dataclass(frozen=True)
class LocalToken:
    """What a valid local token says: whose it is, and which of their token versions it belongs to."""

    subject: str
    version: int


def wall_clock() -> float:
    """Seconds since the epoch (replaceable in tests)."""
    return time.time()


def decode_local_token(token: str, settings: Settings) -> LocalToken:
    """The claims of a valid local token; NotAuthenticated otherwise."""
    claims, expires_at = _verified_local_token(token, settings.SECRET_KEY.get_secret_value())
    if expires_at <= wall_clock():  # as PyJWT's own check: expired at the second `exp` names
        raise NotAuthenticated("The access token has expired.")
    return claims


# Tokens whose signature and claims were checked, with their expiry: a client sends the same token with every
# request, and checking it again (HMAC, base64, JSON, claims) cost ~55 µs of each one. Only valid tokens (signed
# with our key) are kept, so a flood of forged ones cannot fill it; the expiry is checked on every use.
VERIFIED_TOKENS_KEPT = 4096


@lru_cache(maxsize=VERIFIED_TOKENS_KEPT)
def _verified_local_token(token: str, secret: str) -> tuple[LocalToken, int]:
    """What a token signed with `secret` says, and when it expires (a UNIX time); NotAuthenticated when invalid."""
    try:
        claims = jwt.decode(token, secret, algorithms=[LOCAL_ALGORITHM], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError as exc:
        raise NotAuthenticated("The access token has expired.") from exc
    except jwt.PyJWTError as exc:
        raise NotAuthenticated("The access token is not valid.") from exc
    version = claims.get("ver", 0)  # tokens from before versions existed belong to version 0
    if claims.get("type") != "access" or type(version) is not int:
        raise NotAuthenticated("The access token is not valid.")
    return LocalToken(subject=str(claims["sub"]), version=version), int(claims["exp"])  # PyJWT compares int(exp)


@dataclass(frozen=True)
class ExternalIdentity:
    """Who a managed-auth token says the caller is."""

    subject: str
    email: str | None
    full_name: str | None
    # False only when the token says so; providers that only issue verified emails leave the claim out.
    email_verified: bool = True


# The columns these claims are stored in (users.external_id, users.email, users.full_name).
MAX_SUBJECT_LENGTH = 255
MAX_NAME_LENGTH = 200


def _claim_text(claims: dict[str, object], name: str, max_length: int, *, required: bool) -> str | None:
    """A string claim that fits its column; NotAuthenticated naming the claim otherwise.

    Identity providers let users choose their names: a claim is input like any other.
    """
    value = claims.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_length or unstorable_reason(value):
        raise NotAuthenticated(
            f"The access token's {name} claim must be a non-empty string of at most {max_length} characters "
            "of valid Unicode without NUL."
        )
    return value


def _claim_email(claims: dict[str, object]) -> str | None:
    email = _claim_text(claims, "email", MAX_EMAIL_LENGTH, required=False)
    if email is None:
        return None
    try:
        return normalize_email(email)
    except ValueError as exc:
        raise NotAuthenticated("The access token's email claim is not a valid email address.") from exc


def _email_verified(claims: dict[str, object]) -> bool:
    """Whether the token vouches for its email: JSON true or the string "true" (any case) only.

    A missing claim counts as verified (providers that only issue verified emails leave it out); anything else sent
    ("False", 0, "no", null) does not, so an unverified address never provisions an account.
    """
    if "email_verified" not in claims:
        return True
    value = claims["email_verified"]
    return value is True or (isinstance(value, str) and value.lower() == "true")


def identity_from_claims(claims: dict[str, object]) -> ExternalIdentity:
    """The caller a verified token describes: `sub` required, `email` and `name` checked when present."""
    subject = _claim_text(claims, "sub", MAX_SUBJECT_LENGTH, required=True)
    assert subject is not None
    return ExternalIdentity(
        subject=subject,
        email=_claim_email(claims),
        full_name=_claim_text(claims, "name", MAX_NAME_LENGTH, required=False),
        email_verified=_email_verified(claims),
    )


class JWKSVerifier:
    """Verifies managed-auth tokens (Clerk, PropelAuth, any OIDC issuer) against a JWKS endpoint."""

    def __init__(self, settings: Settings) -> None:
        assert settings.JWKS_URL is not None
        self._settings = settings
        # PyJWKClient caches the key set and refetches it for an unknown kid (at most once per cooldown,
        # so random kids cannot make us hammer the provider).
        self._client = jwt.PyJWKClient(
            settings.JWKS_URL,
            lifespan=settings.JWKS_CACHE_SECONDS,
            timeout=5,
            cooldown_duration=settings.JWKS_REFRESH_COOLDOWN_SECONDS,
        )

    async def verify(self, token: str) -> ExternalIdentity:
        """Verify signature, issuer, audience, expiry and authorized party."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise NotAuthenticated("The access token is not valid.") from exc
        if header.get("alg") not in MANAGED_ALGORITHMS:
            raise NotAuthenticated("The access token uses an algorithm that is not accepted.")
        try:
            # Fetching keys is blocking network I/O: keep it off the event loop.
            signing_key = await asyncio.to_thread(self._client.get_signing_key_from_jwt, token)
        except jwt.PyJWKClientConnectionError as exc:
            raise NotAuthenticated("The signing keys could not be fetched.") from exc
        except jwt.PyJWTError as exc:
            raise NotAuthenticated("The access token's signing key is unknown.") from exc
        settings = self._settings
        try:
            claims = jwt.decode(
                token,
                signing_key,
                algorithms=MANAGED_ALGORITHMS,
                issuer=settings.JWT_ISSUER,
                audience=settings.JWT_AUDIENCE,
                options={
                    "require": ["exp", "sub", "iss"],
                    "verify_aud": settings.JWT_AUDIENCE is not None,
                },
            )
        except jwt.ExpiredSignatureError as exc:
            raise NotAuthenticated("The access token has expired.") from exc
        except jwt.PyJWTError as exc:
            raise NotAuthenticated(f"The access token is not valid: {exc}.") from exc
        parties = settings.JWT_AUTHORIZED_PARTIES
        if parties and claims.get("azp") not in parties:
            raise NotAuthenticated("The access token was issued to a party that is not allowed.")
        return identity_from_claims(claims)
