"""A real JWKS endpoint on loopback, serving keys generated in the test."""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://issuer.test"


@dataclass
class SigningKey:
    kid: str
    algorithm: str
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    def public_jwk(self) -> dict[str, object]:
        public = self.private_key.public_key()
        encoded = RSAAlgorithm.to_jwk(public) if isinstance(public, rsa.RSAPublicKey) else ECAlgorithm.to_jwk(public)
        jwk: dict[str, object] = json.loads(encoded)
        jwk.update(kid=self.kid, alg=self.algorithm, use="sig")
        return jwk


def new_rsa_key(kid: str) -> SigningKey:
    return SigningKey(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


def new_ec_key(kid: str) -> SigningKey:
    return SigningKey(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


@dataclass
class JWKSServer:
    """The served key set (mutable: tests add keys to simulate rotation) and a request counter."""

    url: str
    keys: list[SigningKey]
    requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sign(self, key: SigningKey | None = None, **claims: object) -> str:
        """A token signed with key (default: the first), with sensible default claims."""
        key = key or self.keys[0]
        now = int(time.time())
        payload: dict[str, object] = {"iss": ISSUER, "sub": "user_1", "iat": now, "exp": now + 300}
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, key.private_key, algorithm=key.algorithm, headers={"kid": key.kid})


@contextmanager
def jwks_server(keys: list[SigningKey]) -> Iterator[JWKSServer]:
    """Serve {"keys": [...]} at /.well-known/jwks.json on a free loopback port."""
    state = JWKSServer(url="", keys=keys)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with state._lock:
                state.requests += 1
                body = json.dumps({"keys": [k.public_jwk() for k in state.keys]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
