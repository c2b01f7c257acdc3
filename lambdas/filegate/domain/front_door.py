"""The front door's shared names (docs/front-door.md): the stacks, the handlers, the local edge and
the OpenAPI document read them from here, so that no two places spell them differently.

Plain Python, no AWS imports: the stacks import it at synthesis, the local edge at start.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

#: The HTTP API's one stage: CloudFront forwards ``/api/...`` unchanged, so the stage is the prefix.
API_STAGE = "api"
#: The origin custom header CloudFront adds (replacing any viewer's header of that name).
ORIGIN_VERIFY_HEADER = "x-origin-verify"
#: A presented value outside the accepted set re-reads the secret at most this often.
ORIGIN_SECRET_REFRESH_SECONDS = 5
#: How long the accepted values are kept before they are read again.
ORIGIN_SECRET_CACHE_SECONDS = 300


@dataclass(frozen=True)
class WafResponse:
    """One WebACL custom response: its status and the ``{"error": {"code", "message"}}`` it sends."""

    status: int
    code: str
    message: str


#: WebACL ``CustomResponseBodies`` key -> the answer its rule sends (the rules in docs/front-door.md).
WAF_RESPONSES: Mapping[str, WafResponse] = MappingProxyType({
    "api-blocked": WafResponse(403, "request_blocked", "the request was blocked by the firewall"),
    "api-body-too-large": WafResponse(413, "request_too_large", "the request body is too large"),
    "api-rate-limited": WafResponse(429, "rate_limited", "too many requests; retry later"),
})


def waf_response_body(key: str) -> str:
    """The exact JSON text of ``WAF_RESPONSES[key]``: compact and deterministic, so that the WebACL,
    the local edge and the tests send and compare the same bytes."""
    response = WAF_RESPONSES[key]
    return json.dumps({"error": {"code": response.code, "message": response.message}},
                      separators=(",", ":"), ensure_ascii=True)


#: API Gateway's own answers (``{"message": ...}``), by status: the authorizers, the throttle, no
#: route, an unhandled Lambda error. The handlers never send these; the document lists them.
GATEWAY_MESSAGES: Mapping[int, str] = MappingProxyType({
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
})
