"""CloudFront signed URLs and signed cookies, per CloudFront's documented format.

What is signed is the policy statement, and only it: for a canned policy
``{"Statement":[{"Resource":"URL","Condition":{"DateLessThan":{"AWS:EpochTime":N}}}]}``, for a
custom policy the same shape with optional ``DateGreaterThan`` and ``IpAddress`` conditions;
no white space either way. ``Hash-Algorithm`` is not part of the policy and so is not signed: it
only tells CloudFront which digest to verify with (SHA-256 here; botocore's signer is SHA-1
only). The signature is whatever the key type produces over those bytes (DER-encoded ECDSA
for P-256, PKCS#1 v1.5 for RSA-2048), in CloudFront's URL-safe base64 (``+``→``-``,
``=``→``_``, ``/``→``~``). The signing function is passed in, so this module does no crypto.

A policy longer than ``MAX_POLICY_BYTES`` is refused (400) before it is signed: KMS signs at
most 4096 bytes as a ``RAW`` message and the key policy allows no other message type, so the
limit applies to both signers alike.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from filegate.domain.errors import Reason, Refusal

HASH_ALGORITHM = "SHA256"
#: The longest policy statement either signer signs (KMS's limit for ``MessageType=RAW``).
MAX_POLICY_BYTES = 4096
SignFunction = Callable[[bytes], bytes]

#: The same substitution on bytes (``bytes.translate`` with a 256-byte table: a C loop, no lookups).
_CLOUDFRONT_B64_BYTES = bytes.maketrans(b"+=/", b"-_~")
_FROM_CLOUDFRONT_B64 = str.maketrans({"-": "+", "_": "=", "~": "/"})


def cloudfront_b64encode(data: bytes) -> str:
    return base64.b64encode(data).translate(_CLOUDFRONT_B64_BYTES).decode("ascii")


def cloudfront_b64decode(text: str) -> bytes:
    return base64.b64decode(text.translate(_FROM_CLOUDFRONT_B64), validate=True)


#: Keys ``quote`` leaves as they are: only unreserved characters and ``/`` (every key a rule makes).
_UNESCAPED_KEY = re.compile(r"[A-Za-z0-9/._~-]*")


def resource_url(base_url: str, key: str) -> str:
    """``{base}/{key}`` with the key path-escaped (``/`` kept), as a browser will request it."""
    if _UNESCAPED_KEY.fullmatch(key):
        return f"{base_url}/{key}"  # what quote returns for it, without its per-character pass
    return f"{base_url}/{quote(key, safe='/-._~')}"


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
#: An IPv4 address, or a range with a prefix length: what a request's ``ip`` may be (the request
#: model carries it; ``normalize_ip_range`` reads the result).
IPV4_RANGE_PATTERN = rf"^{_OCTET}(?:\.{_OCTET}){{3}}(?:/(?:3[0-2]|[12]?[0-9]))?$"


def normalize_ip_range(value: str) -> str:
    """An IPv4 address or CIDR range as CloudFront wants it (``a.b.c.d/n``); ValueError otherwise.

    CloudFront's ``AWS:SourceIp`` takes IPv4 ranges; host bits are cleared (``1.2.3.4/24`` →
    ``1.2.3.0/24``) and a bare address becomes ``/32``.
    """
    network = ipaddress.ip_network(value.strip(), strict=False)
    if not isinstance(network, ipaddress.IPv4Network):
        raise ValueError("only IPv4 addresses and ranges are supported")
    return network.with_prefixlen


def canned_policy(resource: str, expires: int) -> str:
    """The canned policy CloudFront rebuilds from ``Expires`` (compact JSON, ASCII-escaped): what
    ``json.dumps`` of ``{"Statement": [{"Resource": ..., "Condition": {"DateLessThan": {...}}}]}``
    writes, spelt out (every download mint builds one)."""
    return (f'{{"Statement":[{{"Resource":{json.dumps(resource, ensure_ascii=True)},'
            f'"Condition":{{"DateLessThan":{{"AWS:EpochTime":{int(expires)}}}}}}}]}}')


def custom_policy(resource: str, *, expires: int, starts: int | None = None, ip_range: str | None = None) -> str:
    """A custom policy statement. ``Resource`` is always named (never omitted: that would open
    every file of every distribution that trusts the key)."""
    if not resource:
        raise ValueError("a custom policy must name its resource")
    condition: dict[str, object] = {"DateLessThan": {"AWS:EpochTime": expires}}
    if starts is not None:
        condition["DateGreaterThan"] = {"AWS:EpochTime": starts}
    if ip_range is not None:
        condition["IpAddress"] = {"AWS:SourceIp": ip_range}
    return json.dumps({"Statement": [{"Resource": resource, "Condition": condition}]},
                      separators=(",", ":"), ensure_ascii=True)


def _signable(policy: str) -> bytes:
    """The policy's bytes, or a 400 when it is too long to sign."""
    encoded = policy.encode("utf-8")
    if len(encoded) > MAX_POLICY_BYTES:
        raise Refusal(Reason.RESOURCE_TOO_LONG, "resource URL too long")
    return encoded


@dataclass(frozen=True, slots=True)
class SigningKey:
    """What a signed URL needs from the signer: the signing function and the key's ids."""

    sign: SignFunction
    key_pair_id: str
    hash_algorithm: str = HASH_ALGORITHM


def signed_url(resource: str, *, expires: int, key: SigningKey, starts: int | None = None,
               ip_range: str | None = None) -> str:
    """A signed URL for one resource: canned policy unless a start time or IP range is asked for."""
    separator = "&" if "?" in resource else "?"
    if starts is None and ip_range is None:
        signature = cloudfront_b64encode(key.sign(_signable(canned_policy(resource, expires))))
        query = f"Expires={expires}&Signature={signature}"
    else:
        encoded = _signable(custom_policy(resource, expires=expires, starts=starts, ip_range=ip_range))
        query = f"Policy={cloudfront_b64encode(encoded)}&Signature={cloudfront_b64encode(key.sign(encoded))}"
    return f"{resource}{separator}{query}&Key-Pair-Id={key.key_pair_id}&Hash-Algorithm={key.hash_algorithm}"


def signed_cookies(resource_pattern: str, *, expires: int, key: SigningKey, starts: int | None = None,
                   ip_range: str | None = None) -> dict[str, str]:
    """The four signed-cookie values for a wildcard resource (always a custom policy)."""
    encoded = _signable(custom_policy(resource_pattern, expires=expires, starts=starts, ip_range=ip_range))
    return {
        "CloudFront-Policy": cloudfront_b64encode(encoded),
        "CloudFront-Signature": cloudfront_b64encode(key.sign(encoded)),
        "CloudFront-Key-Pair-Id": key.key_pair_id,
        "CloudFront-Hash-Algorithm": key.hash_algorithm,
    }


def url_lifetime(*, requested: int | None, rule_lifetime: int | None, default: int, maximum: int) -> int:
    """Seconds a URL lives: the request's wish, else the rule's, else the default; never above the
    rule's lifetime (when it sets one) or the configured maximum."""
    cap = min(rule_lifetime, maximum) if rule_lifetime is not None else maximum
    wanted = requested if requested is not None else (rule_lifetime if rule_lifetime is not None else default)
    return max(1, min(wanted, cap))


def rounded_expiry(now: float, lifetime: int, *, window: int, maximum: int) -> int:
    """Absolute expiry, rounded up to a multiple of ``window`` so that repeated requests for the
    same file within a window produce the same policy (and a cached signature can be reused).

    Rounding never carries the expiry past ``now + maximum``; then it rounds down instead, and
    when that would leave less than the asked-for lifetime's half, it does not round at all.
    """
    exact = math.ceil(now + lifetime)
    if window <= 0:
        return exact
    up = math.ceil(exact / window) * window
    if up <= now + maximum:
        return up
    down = (exact // window) * window
    return down if down - now >= lifetime / 2 else exact
