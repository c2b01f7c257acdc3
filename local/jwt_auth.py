"""Verifies bearer tokens the way API Gateway's HTTP API JWT authorizer does.

Per the HTTP API documentation: the token comes from the ``Authorization`` header (a
``Bearer `` prefix is optional); its ``kid`` must be in the issuer's JWKS (found through
``{issuer}/.well-known/openid-configuration``); only RSA signatures; ``iss`` must equal the
configured issuer; ``aud`` — or, when absent, ``client_id`` — must be one of the configured
audiences; ``exp`` must be in the future and ``nbf``/``iat`` not in the future; and the
token's ``scope``/``scp`` must hold one of the route's required scopes (else 403, not 401).
Claims go to ``requestContext.authorizer.jwt.claims`` as API Gateway writes them: every
value a string, arrays as ``[a b]``.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt

ALGORITHMS = ["RS256", "RS384", "RS512"]


class AuthError(Exception):
    """``status`` 401 (no or invalid token) or 403 (valid token lacking a required scope)."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


@dataclass(frozen=True)
class Verified:
    claims: dict[str, str]
    scopes: list[str]


def api_gateway_claim(value: Any) -> str:
    """How API Gateway hands a claim to the integration: strings as-is, arrays as ``[a b]``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(api_gateway_claim(item) for item in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


class JwtAuthorizer:
    def __init__(self, issuer: str, audience: Sequence[str], scopes: Sequence[str]) -> None:
        self.issuer = issuer
        self.audience = list(audience)
        self.scopes = list(scopes)
        self._jwks: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def _jwks_client(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._jwks is None:
                url = f"{self.issuer}/.well-known/openid-configuration"
                with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - the configured issuer
                    jwks_uri = json.load(response)["jwks_uri"]
                self._jwks = jwt.PyJWKClient(jwks_uri, cache_keys=True, lifespan=300, timeout=5)
            return self._jwks

    def verify(self, authorization: str | None) -> Verified:
        if not authorization or not authorization.strip():
            raise AuthError(401, "missing authorization token")
        token = authorization.strip()
        if token[:7].lower() == "bearer ":
            token = token[7:].strip()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise AuthError(401, "invalid token") from error
        if header.get("alg") not in ALGORITHMS:
            raise AuthError(401, "unsupported signing algorithm")
        try:
            signing_key = self._jwks_client().get_signing_key_from_jwt(token)
        except jwt.PyJWKClientError as error:
            raise AuthError(401, "signing key not found in the issuer's JWKS") from error
        try:
            claims = jwt.decode(
                token, signing_key.key, algorithms=ALGORITHMS, issuer=self.issuer,
                options={"verify_aud": False, "require": ["exp", "iss"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise AuthError(401, "the token has expired") from error
        except jwt.InvalidIssuerError as error:
            raise AuthError(401, "the token's issuer is not trusted") from error
        except jwt.PyJWTError as error:
            raise AuthError(401, f"invalid token: {error}") from error
        audiences = claims.get("aud", claims.get("client_id"))
        audiences = audiences if isinstance(audiences, list) else [audiences]
        if not any(isinstance(aud, str) and aud in self.audience for aud in audiences):
            raise AuthError(401, "the token's audience is not accepted")
        scope_claim = claims.get("scope", claims.get("scp", ""))
        token_scopes = scope_claim.split() if isinstance(scope_claim, str) else list(scope_claim or [])
        if self.scopes and not set(self.scopes) & set(token_scopes):
            raise AuthError(403, "the token lacks a required scope")
        return Verified(claims={name: api_gateway_claim(value) for name, value in claims.items()},
                        scopes=token_scopes)
