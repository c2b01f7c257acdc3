"""CloudFront's signed-URL and signed-cookie checks, written from CloudFront's documentation.

This is deliberately a second implementation: it shares no code with the signer in
``filegate.domain.cloudfront``, so the local edge and the minting Lambda check each other.
What CloudFront documents, and what is checked here:

* A signed URL carries ``Expires`` (canned policy) or ``Policy`` (custom policy, CloudFront
  base64), ``Signature`` and ``Key-Pair-Id``, and optionally ``Hash-Algorithm`` (``SHA1`` when
  absent, or ``SHA256``). Signed cookies carry the same as ``CloudFront-Expires`` /
  ``CloudFront-Policy``, ``CloudFront-Signature``, ``CloudFront-Key-Pair-Id`` and
  ``CloudFront-Hash-Algorithm``. URL parameters win over cookies.
* CloudFront base64 replaces ``+`` ``=`` ``/`` with ``-`` ``_`` ``~``.
* The key id must belong to a public key in the behaviour's trusted key group.
* The signature is over the policy statement's exact bytes: for a canned policy the statement
  CloudFront rebuilds from the request URL (the URL without the five signing parameters) and
  ``Expires``, with no white space; for a custom policy the decoded ``Policy`` itself. RSA keys
  verify PKCS#1 v1.5, ECDSA keys verify a DER signature, over SHA-1 or SHA-256.
* Policy conditions: ``DateLessThan`` (required; the request must come before it),
  ``DateGreaterThan`` (optional; on or after it) and ``IpAddress``/``AWS:SourceIp`` (optional;
  an IPv4 CIDR range). ``Resource`` may use ``*`` (any characters) and ``?`` (one character);
  a custom policy without ``Resource`` applies to every URL.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

SIGNING_PARAMETERS = ("Expires", "Policy", "Signature", "Key-Pair-Id", "Hash-Algorithm")
COOKIE_PREFIX = "CloudFront-"
_HASHES: Mapping[str, type[hashes.HashAlgorithm]] = {"SHA1": hashes.SHA1, "SHA256": hashes.SHA256}

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


class Denied(Exception):
    """CloudFront's 403: ``code`` and ``message`` as in its XML body; ``reason`` is ours."""

    def __init__(self, code: str, message: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.message = message
        self.reason = reason


def _denied(reason: str) -> Denied:
    return Denied("AccessDenied", "Access denied", reason)


def load_key_group(pems: Mapping[str, str]) -> dict[str, PublicKey]:
    group: dict[str, PublicKey] = {}
    for key_id, pem in pems.items():
        key = serialization.load_pem_public_key(pem.encode("ascii"))
        if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise ValueError(f"{key_id}: CloudFront takes RSA or ECDSA public keys only")
        group[key_id] = key
    return group


def decode_cloudfront_base64(text: str) -> bytes:
    try:
        return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"), validate=True)
    except (binascii.Error, ValueError) as error:
        raise _denied("malformed-base64") from error


def split_query(raw_query: str) -> tuple[str, dict[str, str]]:
    """The query without the signing parameters (order kept, raw), and the signing parameters."""
    kept: list[str] = []
    signing: dict[str, str] = {}
    for part in raw_query.split("&") if raw_query else []:
        name, _, value = part.partition("=")
        if name in SIGNING_PARAMETERS:
            if name in signing:
                raise _denied("duplicate-signing-parameter")
            signing[name] = unquote(value)  # CloudFront reads query parameters URL-decoded
        elif part:
            kept.append(part)
    return "&".join(kept), signing


def resource_matches(pattern: str, url: str) -> bool:
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, url, flags=re.DOTALL) is not None


def _epoch(condition: Any, name: str, *, required: bool) -> int | None:
    if not isinstance(condition, dict) or name not in condition:
        if required:
            raise _denied("policy-without-date-less-than")
        return None
    value = condition[name]
    if not isinstance(value, dict) or not isinstance(value.get("AWS:EpochTime"), int) \
            or isinstance(value.get("AWS:EpochTime"), bool):
        raise _denied("malformed-policy")
    return int(value["AWS:EpochTime"])


def check_policy(policy: Mapping[str, Any], *, url: str, now: float, source_ip: str) -> None:
    statements = policy.get("Statement")
    if not isinstance(statements, list) or len(statements) != 1 or not isinstance(statements[0], dict):
        raise _denied("malformed-policy")
    statement = statements[0]
    resource = statement.get("Resource")
    if resource is not None and (not isinstance(resource, str) or not resource_matches(resource, url)):
        raise _denied("resource-mismatch")
    condition = statement.get("Condition")
    expires = _epoch(condition, "DateLessThan", required=True)
    assert expires is not None
    if now >= expires:
        raise _denied("expired")
    starts = _epoch(condition, "DateGreaterThan", required=False)
    if starts is not None and now < starts:
        raise _denied("not-yet-valid")
    ip_condition = condition.get("IpAddress") if isinstance(condition, dict) else None
    if ip_condition is not None:
        source = ip_condition.get("AWS:SourceIp") if isinstance(ip_condition, dict) else None
        try:
            network = ipaddress.IPv4Network(source, strict=False) if isinstance(source, str) else None
            address = ipaddress.ip_address(source_ip)
        except ValueError as error:
            raise _denied("malformed-policy") from error
        if network is None or address not in network:
            raise _denied("ip-mismatch")


def verify_signature(key: PublicKey, signature: bytes, message: bytes, hash_name: str) -> None:
    algorithm = _HASHES[hash_name]()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PKCS1v15(), algorithm)
        else:
            key.verify(signature, message, ec.ECDSA(algorithm))
    except InvalidSignature as error:
        raise _denied("bad-signature") from error


def canned_statement(url: str, expires: int) -> bytes:
    return ('{"Statement":[{"Resource":"' + url + '","Condition":{"DateLessThan":{"AWS:EpochTime":'
            + str(expires) + "}}}]}").encode("utf-8")


def signing_values(signing: Mapping[str, str], cookies: Mapping[str, str]) -> dict[str, str]:
    """The signing parameters of a request: from the URL when it has any, else from the cookies."""
    if any(name in signing for name in ("Expires", "Policy", "Signature", "Key-Pair-Id")):
        return dict(signing)
    return {name.removeprefix(COOKIE_PREFIX): value for name, value in cookies.items()
            if name.startswith(COOKIE_PREFIX)}


def signed_policy(values: Mapping[str, str], url: str) -> tuple[bytes, dict[str, Any]]:
    """The exact bytes that were signed, and the policy they state."""
    if "Policy" in values and "Expires" in values:
        raise _denied("both-expires-and-policy")
    if "Policy" in values:
        message = decode_cloudfront_base64(values["Policy"])
        try:
            policy = json.loads(message)
        except ValueError:
            policy = None
        return message, policy if isinstance(policy, dict) else {}
    if "Expires" not in values:
        raise _denied("missing-policy")
    if not re.fullmatch(r"\d{1,12}", values["Expires"]):
        raise _denied("malformed-expires")
    if re.search(r'["\\\x00-\x1f]', url):
        raise _denied("malformed-url")
    message = canned_statement(url, int(values["Expires"]))
    return message, json.loads(message)


def authorize(*, url: str, signing: Mapping[str, str], cookies: Mapping[str, str],
              key_group: Mapping[str, PublicKey], now: float, source_ip: str) -> str:
    """Raise ``Denied`` unless the request carries a valid signature; return the key id used.

    ``url`` is ``scheme://host/path[?query]`` as the viewer asked for it, without the signing
    parameters; ``signing`` holds those parameters (from the URL), ``cookies`` the request's.
    The signature is checked before the policy is believed.
    """
    values = signing_values(signing, cookies)
    key_id = values.get("Key-Pair-Id", "")
    if not key_id:
        raise Denied("MissingKey", "Missing Key-Pair-Id query parameter or cookie value", "missing-key-pair-id")
    key = key_group.get(key_id)
    if key is None:
        raise Denied("InvalidKey", "Unknown Key", "unknown-key-pair-id")
    hash_name = values.get("Hash-Algorithm", "SHA1")
    if hash_name not in _HASHES:
        raise _denied("unsupported-hash-algorithm")
    if not values.get("Signature"):
        raise _denied("missing-signature")
    signature = decode_cloudfront_base64(values["Signature"])
    message, policy = signed_policy(values, url)
    verify_signature(key, signature, message, hash_name)
    if not policy:
        raise _denied("malformed-policy")
    check_policy(policy, url=url, now=now, source_ip=source_ip)
    return key_id
