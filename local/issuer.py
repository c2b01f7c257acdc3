"""A dev OpenID issuer: a JWKS, an OpenID configuration, and ``POST /token`` for demo users.

It stands in for the Cognito user pool (or the external issuer) of a deployment. Tokens look
like the pool's access tokens: RS256, ``iss`` = this issuer's URL, ``aud`` and ``client_id`` =
the configured audience, ``token_use: access``, ``scope`` = the scope the routes require,
``cognito:groups``, and ``org_id`` for org users (what the pre-token trigger adds).

Local-only and unauthenticated on purpose: anyone on this machine can mint any identity.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from local.httpserver import LocalRequestHandler


def _sub(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://filegate.local/users/{name}"))


@dataclass(frozen=True)
class DemoUser:
    id: str
    label: str
    groups: tuple[str, ...]
    org_id: str | None = None

    @property
    def sub(self) -> str:
        return _sub(self.id)

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "label": self.label, "sub": self.sub, "groups": list(self.groups)}
        if self.org_id:
            body["org_id"] = self.org_id
        return body


#: The demo page's users (stable subs, so keys stay readable across runs).
DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("alice", "Alice (careers: job seeker)", ("careers",)),
    DemoUser("carol", "Carol (careers: another job seeker)", ("careers",)),
    DemoUser("bob", "Bob (org: Acme Ltd)", ("org",), org_id="acme"),
    DemoUser("mia", "Mia (marketing)", ("marketing",)),
)

MAX_TOKEN_SECONDS = 24 * 3600


class DevIssuer:
    def __init__(self, url: str, *, audience: Sequence[str], scopes: Sequence[str]) -> None:
        self.url = url
        self.audience = list(audience)
        self.scopes = list(scopes)
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(8)

    def jwks(self) -> dict[str, Any]:
        jwk = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return {"keys": [jwk]}

    def openid_configuration(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/.well-known/jwks.json",
            "token_endpoint": f"{self.url}/token",
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": self.scopes,
        }

    def mint(self, *, sub: str, groups: Sequence[str] = (), org_id: str | None = None,
             scope: str | None = None, expires_in: int = 3600, audience: str | None = None,
             extra: dict[str, Any] | None = None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "sub": sub,
            "aud": audience or self.audience[0],
            "client_id": audience or self.audience[0],
            "token_use": "access",
            "scope": " ".join(self.scopes) if scope is None else scope,
            "auth_time": now,
            "iat": now,
            "exp": now + expires_in,
            "jti": str(uuid.uuid4()),
            "username": sub,
            "cognito:groups": list(groups),
        }
        if org_id:
            claims["org_id"] = org_id
        claims.update(extra or {})
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})


class TokenRequestError(ValueError):
    pass


def cognito_group_name(name: str) -> bool:
    """Cognito's GroupName pattern ``[\\p{L}\\p{M}\\p{S}\\p{N}\\p{P}]+``, 1-128 characters: the dev
    issuer stands in for Cognito, so it issues no group Cognito could not hold."""
    return 0 < len(name) <= 128 and all(unicodedata.category(char)[0] in "LMSNP" for char in name)


def _token_request(issuer: DevIssuer, body: Any) -> str:
    if not isinstance(body, dict):
        raise TokenRequestError("the body must be a JSON object")
    if isinstance(body.get("user"), str):  # shorthand: one of DEMO_USERS by id
        user = next((u for u in DEMO_USERS if u.id == body["user"]), None)
        if user is None:
            raise TokenRequestError(f"unknown demo user {body['user']!r}")
        body = {**user.as_json(), **{k: v for k, v in body.items() if k != "user"}}
    sub = body.get("sub")
    groups = body.get("groups", [])
    org_id = body.get("org_id")
    expires_in = body.get("expires_in", 3600)
    if not isinstance(sub, str) or not sub:
        raise TokenRequestError("sub: a non-empty string is required")
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise TokenRequestError("groups: a list of strings")
    for group in groups:
        if not cognito_group_name(group):
            raise TokenRequestError(f"groups: {group[:40]!r} is not a name Cognito allows (1-128 letters, marks, "
                                    "symbols, numbers or punctuation: no white space)")
    if org_id is not None and not isinstance(org_id, str):
        raise TokenRequestError("org_id: a string")
    # Negative lifetimes are allowed (down to -1 h) so that tests can get an expired token.
    if not isinstance(expires_in, int) or not -3600 <= expires_in <= MAX_TOKEN_SECONDS:
        raise TokenRequestError(f"expires_in: an integer between -3600 and {MAX_TOKEN_SECONDS}")
    scope = body.get("scope")
    audience = body.get("aud")
    if scope is not None and not isinstance(scope, str):
        raise TokenRequestError("scope: a space-separated string")
    if audience is not None and not isinstance(audience, str):
        raise TokenRequestError("aud: a string")
    return issuer.mint(sub=sub, groups=groups, org_id=org_id, scope=scope, expires_in=expires_in,
                       audience=audience)


def make_server(issuer: DevIssuer, port: int) -> ThreadingHTTPServer:
    class Handler(LocalRequestHandler):
        server_version = "filegate-dev-issuer"

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            # A dev tool: any local page (the demo page, a Vite dev server) may ask for tokens.
            self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
            self.send_header("Vary", "Origin")
            self.end_headers()
            self.wfile.write(data)

        def do_OPTIONS(self) -> None:
            self.send_response(204)
            self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
            self.send_header("Access-Control-Allow-Methods", "GET, POST")
            self.send_header("Access-Control-Allow-Headers", "content-type")
            self.send_header("Access-Control-Max-Age", "600")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/.well-known/jwks.json":
                self._send(200, issuer.jwks())
            elif path == "/.well-known/openid-configuration":
                self._send(200, issuer.openid_configuration())
            elif path == "/demo-users":
                self._send(200, {"users": [user.as_json() for user in DEMO_USERS]})
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            if self.path.split("?", 1)[0] != "/token":
                self._send(404, {"error": "not found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(min(length, 65536)) if length else b""
            try:
                token = _token_request(issuer, json.loads(raw or b"null"))
            except (ValueError, TokenRequestError) as error:
                self._send(400, {"error": str(error)})
                return
            self._send(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def serve_in_thread(server: ThreadingHTTPServer, name: str) -> threading.Thread:
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    return thread
