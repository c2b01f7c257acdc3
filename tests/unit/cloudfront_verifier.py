"""An independent CloudFront signed-URL/cookie verifier, written from CloudFront's documentation.

It does not import filegate: it rebuilds the string CloudFront verifies (the canned policy from
the URL and ``Expires``, or the decoded ``Policy``) and checks the signature with a public key.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa


def cf_b64decode(text: str) -> bytes:
    return base64.b64decode(text.replace("-", "+").replace("_", "=").replace("~", "/"), validate=True)


@dataclass
class Verified:
    policy: dict[str, Any]
    policy_bytes: bytes
    params: dict[str, str]
    param_order: list[str]
    canned: bool


def _verify_signature(public_key_der: bytes, signature: bytes, message: bytes) -> None:
    public_key = serialization.load_der_public_key(public_key_der)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))  # DER-encoded (r, s)
    elif isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    else:  # pragma: no cover
        raise TypeError(type(public_key))


def verify_url(url: str, public_key_der: bytes) -> Verified:
    """Raises (InvalidSignature, KeyError, ValueError) unless ``url`` is a valid SHA-256 signed URL."""
    parts = urlsplit(url)
    pairs = [pair.split("=", 1) for pair in parts.query.split("&")]
    params = dict(pairs)
    order = [name for name, _ in pairs]
    resource = f"{parts.scheme}://{parts.netloc}{parts.path}"
    assert params["Hash-Algorithm"] == "SHA256"
    signature = cf_b64decode(params["Signature"])
    if "Expires" in params:
        assert order == ["Expires", "Signature", "Key-Pair-Id", "Hash-Algorithm"], order
        policy_bytes = ('{"Statement":[{"Resource":"' + resource + '","Condition":{"DateLessThan":'
                        '{"AWS:EpochTime":' + params["Expires"] + "}}}]}").encode()
        canned = True
    else:
        assert order == ["Policy", "Signature", "Key-Pair-Id", "Hash-Algorithm"], order
        policy_bytes = cf_b64decode(params["Policy"])
        canned = False
    _verify_signature(public_key_der, signature, policy_bytes)
    policy = json.loads(policy_bytes)
    assert policy["Statement"][0]["Resource"] in {resource, url.split("?", maxsplit=1)[0]}
    return Verified(policy=policy, policy_bytes=policy_bytes, params=params, param_order=order, canned=canned)


def verify_cookies(cookies: dict[str, str], public_key_der: bytes) -> dict[str, Any]:
    policy_bytes = cf_b64decode(cookies["CloudFront-Policy"])
    _verify_signature(public_key_der, cf_b64decode(cookies["CloudFront-Signature"]), policy_bytes)
    assert cookies["CloudFront-Hash-Algorithm"] == "SHA256"
    policy: dict[str, Any] = json.loads(policy_bytes)
    return policy
