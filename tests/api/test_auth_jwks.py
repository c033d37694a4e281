"""Managed auth (AUTH_MODE=jwks): tokens verified against a real JWKS endpoint on loopback."""

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from harness.api import AppFactory, assert_problem
from harness.jwks import ISSUER, JWKSServer, jwks_server, new_ec_key, new_rsa_key


@pytest.fixture
def jwks() -> Iterator[JWKSServer]:
    with jwks_server([new_rsa_key("rsa-1"), new_ec_key("ec-1")]) as server:
        yield server


@pytest.fixture
async def managed(make_client: AppFactory, jwks: JWKSServer) -> httpx.AsyncClient:
    return await make_client(
        AUTH_MODE="jwks",
        JWKS_URL=jwks.url,
        JWT_ISSUER=ISSUER,
        JWT_AUDIENCE="bosun-api",
        JWT_AUTHORIZED_PARTIES=["https://app.example.com"],
        JWKS_REFRESH_COOLDOWN_SECONDS=0,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def good_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": "user_2abc",
        "email": "Managed@Example.com",
        "name": "Managed User",
        "aud": "bosun-api",
        "azp": "https://app.example.com",
    }
    claims.update(overrides)
    return claims


async def test_first_token_provisions_the_user_once(managed: httpx.AsyncClient, jwks: JWKSServer) -> None:
    token = jwks.sign(**good_claims())
    first = await managed.get("/api/v1/users/me", headers=bearer(token))
    assert first.status_code == 200, first.text
    assert first.json()["email"] == "managed@example.com"
    assert first.json()["full_name"] == "Managed User"
    second = await managed.get("/api/v1/users/me", headers=bearer(token))
    assert second.json()["id"] == first.json()["id"]
    # ES256 keys work as well, and the same subject is the same user.
    ec_token = jwks.sign(jwks.keys[1], **good_claims())
    third = await managed.get("/api/v1/users/me", headers=bearer(ec_token))
    assert third.json()["id"] == first.json()["id"]
    # Keys are cached: one fetch served all three requests.
    assert jwks.requests == 1


async def test_unknown_kid_refreshes_the_key_set(managed: httpx.AsyncClient, jwks: JWKSServer) -> None:
    assert (await managed.get("/api/v1/users/me", headers=bearer(jwks.sign(**good_claims())))).status_code == 200
    rotated = new_rsa_key("rsa-2")
    jwks.keys.append(rotated)
    response = await managed.get("/api/v1/users/me", headers=bearer(jwks.sign(rotated, **good_claims())))
    assert response.status_code == 200, response.text
    assert jwks.requests == 2


@pytest.mark.parametrize(
    ("claims", "detail"),
    [
        (good_claims(iss="https://evil.test"), "issuer"),
        (good_claims(aud="another-api"), "audience"),
        (good_claims(aud=None), "aud"),
        (good_claims(azp="https://evil.example.com"), "party"),
        (good_claims(exp=1_000_000), "expired"),
        (good_claims(sub=None), "sub"),
        (good_claims(sub=""), "sub"),
        (good_claims(sub="   "), "sub"),
        (good_claims(sub="a\u0000b"), "sub"),
        (good_claims(sub="a\ud800b"), "sub"),
        (good_claims(sub="s" * 10_000), "sub"),
        (good_claims(sub=42), "sub"),
        (good_claims(email="a\u0000b@example.com"), "email"),
        (good_claims(email="x" * 1000 + "@example.com"), "email"),
        (good_claims(email="not-an-email"), "email"),
        (good_claims(name="n" * 1000), "name"),
        (good_claims(name="a\u0000b"), "name"),
        (good_claims(name="a\ud800b"), "name"),
        (good_claims(email="a\ud800b@example.com"), "email"),
        (good_claims(email_verified=False), "email_verified"),
        (good_claims(email_verified="false"), "email_verified"),
        (good_claims(email_verified="False"), "email_verified"),
        (good_claims(email_verified="FALSE"), "email_verified"),
        (good_claims(email_verified=0), "email_verified"),
        (good_claims(email_verified=1), "email_verified"),
        (good_claims(email_verified="no"), "email_verified"),
        (good_claims(email_verified=""), "email_verified"),
        (good_claims(email_verified=[True]), "email_verified"),
    ],
)
async def test_invalid_claims_are_refused(
    managed: httpx.AsyncClient, jwks: JWKSServer, claims: dict[str, Any], detail: str
) -> None:
    response = await managed.get("/api/v1/users/me", headers=bearer(jwks.sign(**claims)))
    assert_problem(response, 401, detail)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_token_signed_by_an_unknown_key(managed: httpx.AsyncClient, jwks: JWKSServer) -> None:
    stranger = new_rsa_key("rsa-1")  # same kid, different key: the signature must fail
    assert_problem(await managed.get("/api/v1/users/me", headers=bearer(jwks.sign(stranger, **good_claims()))), 401)
    unknown_kid = new_rsa_key("nobody")
    assert_problem(
        await managed.get("/api/v1/users/me", headers=bearer(jwks.sign(unknown_kid, **good_claims()))), 401, "key"
    )


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_alg_none_is_refused(managed: httpx.AsyncClient) -> None:
    token = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': 'rsa-1'})}.{_b64(good_claims(iss=ISSUER, exp=2**31))}."
    assert_problem(await managed.get("/api/v1/users/me", headers=bearer(token)), 401, "algorithm")


async def test_hs256_signed_with_the_public_key_is_refused(managed: httpx.AsyncClient, jwks: JWKSServer) -> None:
    """The classic key-confusion attack: HMAC keyed with the server's public RSA key."""
    public_pem = (
        jwks.keys[0]
        .private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    claims = good_claims(iss=ISSUER, exp=2**31)
    header = _b64({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"})
    payload = _b64(claims)
    import hashlib
    import hmac

    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    token = f"{header}.{payload}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    assert_problem(await managed.get("/api/v1/users/me", headers=bearer(token)), 401, "algorithm")


async def test_null_email_verified_is_refused(managed: httpx.AsyncClient, jwks: JWKSServer) -> None:
    key = jwks.keys[0]  # jwks.sign drops None claims: this token carries "email_verified": null
    claims = good_claims(iss=ISSUER, exp=2**31, email_verified=None)
    token = jwt.encode(claims, key.private_key, algorithm=key.algorithm, headers={"kid": key.kid})
    assert_problem(await managed.get("/api/v1/users/me", headers=bearer(token)), 401, "email_verified")


@pytest.mark.parametrize("verified", [True, "true", "True", "TRUE", "absent"])
async def test_verified_email_provisions(managed: httpx.AsyncClient, jwks: JWKSServer, verified: object) -> None:
    """JSON true, the string "true" in any case, or no claim at all (providers that only issue verified emails)."""
    claims = good_claims() if verified == "absent" else good_claims(email_verified=verified)
    token = jwks.sign(**claims)
    assert (await managed.get("/api/v1/users/me", headers=bearer(token))).status_code == 200


async def test_token_without_email_cannot_provision(managed: httpx.AsyncClient, jwks: JWKSServer) -> None:
    assert_problem(await managed.get("/api/v1/users/me", headers=bearer(jwks.sign(**good_claims(email=None)))), 401)


async def test_email_owned_by_another_account_is_conflict(managed: httpx.AsyncClient, jwks: JWKSServer) -> None:
    assert (await managed.get("/api/v1/users/me", headers=bearer(jwks.sign(**good_claims())))).status_code == 200
    other = jwks.sign(**good_claims(sub="user_other"))
    assert_problem(await managed.get("/api/v1/users/me", headers=bearer(other)), 409, "another account")


async def test_local_auth_routes_are_absent(managed: httpx.AsyncClient, jwks: JWKSServer) -> None:
    signup = await managed.post("/api/v1/auth/signup", json={"email": "a@example.com", "password": "longenough"})
    assert_problem(signup, 404, "managed identity provider")
    token = await managed.post("/api/v1/auth/token", data={"username": "a@example.com", "password": "x"})
    assert_problem(token, 404)
    change = await managed.put(
        "/api/v1/users/me/password",
        json={"current_password": "x", "new_password": "longenough"},
        headers=bearer(jwks.sign(**good_claims())),
    )
    assert_problem(change, 404)


async def test_unreachable_jwks_endpoint_is_401(make_client: AppFactory, jwks: JWKSServer) -> None:
    client = await make_client(AUTH_MODE="jwks", JWKS_URL="http://127.0.0.1:9/jwks.json", JWT_ISSUER=ISSUER)
    assert_problem(await client.get("/api/v1/users/me", headers=bearer(jwks.sign(**good_claims()))), 401, "fetched")


async def test_managed_users_work_with_teams(managed: httpx.AsyncClient, jwks: JWKSServer) -> None:
    headers = bearer(jwks.sign(**good_claims()))
    team = await managed.post("/api/v1/teams", json={"name": "Managed"}, headers=headers)
    assert team.status_code == 201
    assert (await managed.get("/api/v1/teams", headers=headers)).json()["total"] == 1


def test_jwt_library_refuses_none_by_default() -> None:
    """Guard against a library change: PyJWT must not accept alg=none when algorithms are given."""
    token = jwt.encode({"sub": "x"}, "", algorithm="none")
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(token, "key", algorithms=["RS256"])
