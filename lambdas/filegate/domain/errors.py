"""Error codes every client-facing refusal uses, and the exception that carries them.

A refusal has two parts: ``code`` is the stable, client-facing error code (it maps to one
HTTP status); ``reason`` is a finer, fixed-vocabulary label for metrics and the audit trail
(never a client-supplied string, so it is safe as a metric dimension).
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID_REQUEST = "invalid_request"
    UNAUTHENTICATED = "unauthenticated"
    NOT_ALLOWED = "not_allowed"
    BACKEND_NOT_ALLOWED = "backend_not_allowed"
    NOT_FOUND = "not_found"
    NOT_READY = "not_ready"
    REJECTED = "rejected"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    QUOTA_EXCEEDED = "quota_exceeded"
    TEMPORARILY_UNAVAILABLE = "temporarily_unavailable"
    INTERNAL_ERROR = "internal_error"
    #: A user route called without CloudFront's origin header (docs/front-door.md).
    ORIGIN_NOT_VERIFIED = "origin_not_verified"
    # The WebACL's answers (``filegate.domain.front_door.WAF_RESPONSES``): listed so that the API's
    # document names every code a client can see; the handlers never raise them.
    REQUEST_BLOCKED = "request_blocked"
    REQUEST_TOO_LARGE = "request_too_large"
    RATE_LIMITED = "rate_limited"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.NOT_ALLOWED: 403,
    ErrorCode.BACKEND_NOT_ALLOWED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.NOT_READY: 409,
    ErrorCode.REJECTED: 403,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.QUOTA_EXCEEDED: 409,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.TEMPORARILY_UNAVAILABLE: 503,
    ErrorCode.ORIGIN_NOT_VERIFIED: 403,
    ErrorCode.REQUEST_BLOCKED: 403,
    ErrorCode.REQUEST_TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
}

#: Codes a client may retry unchanged (after a short back-off).
RETRYABLE: frozenset[ErrorCode] = frozenset({ErrorCode.TEMPORARILY_UNAVAILABLE, ErrorCode.NOT_READY})


class Reason(StrEnum):
    """Why a request was refused: a fixed vocabulary for metrics and audit records."""

    INVALID_BODY = "invalid_body"
    INVALID_KEY = "invalid_key"
    INVALID_FILENAME = "invalid_filename"
    INVALID_IP = "invalid_ip"
    IP_RESTRICTION_DISABLED = "ip_restriction_disabled"
    START_TIME_DISABLED = "start_time_disabled"
    START_AFTER_EXPIRY = "start_after_expiry"
    RESOURCE_TOO_LONG = "resource_too_long"
    NO_IDENTITY = "no_identity"
    BACKEND_NOT_ALLOWED = "backend_not_allowed"
    NO_SUCH_RULE = "no_such_rule"
    ACTION_NOT_ALLOWED = "action_not_allowed"
    NOT_IN_GROUP = "not_in_group"
    GROUPS_UNUSABLE = "groups_unusable"
    CLAIM_MISSING = "claim_missing"
    CLAIM_UNUSABLE = "claim_unusable"
    KEY_OUTSIDE_RULES = "key_outside_rules"
    PREFIX_NOT_OWNED = "prefix_not_owned"
    SIZE_OVER_MAX = "size_over_max"
    CONTENT_TYPE_NOT_ALLOWED = "content_type_not_allowed"
    ROUTE_NOT_FOUND = "route_not_found"
    NO_SUCH_FILE = "no_such_file"
    FILE_NOT_READY = "file_not_ready"
    FILE_REJECTED = "file_rejected"
    SIGNER_UNAVAILABLE = "signer_unavailable"
    CREDENTIALS_EXPIRING = "credentials_expiring"
    RECORDS_UNAVAILABLE = "records_unavailable"
    QUOTA_EXCEEDED = "quota_exceeded"
    INVALID_CURSOR = "invalid_cursor"
    INVALID_QUERY = "invalid_query"
    NO_SUCH_ERASURE = "no_such_erasure"
    INVALID_SUBJECT = "invalid_subject"
    LIFECYCLE_UNAVAILABLE = "lifecycle_unavailable"
    ORIGIN_NOT_VERIFIED = "origin_not_verified"
    ORIGIN_CHECK_UNAVAILABLE = "origin_check_unavailable"
    INTERNAL_ERROR = "internal_error"


_DEFAULT_CODE: dict[Reason, ErrorCode] = {
    Reason.INVALID_BODY: ErrorCode.INVALID_REQUEST,
    Reason.INVALID_KEY: ErrorCode.INVALID_REQUEST,
    Reason.INVALID_FILENAME: ErrorCode.INVALID_REQUEST,
    Reason.INVALID_IP: ErrorCode.INVALID_REQUEST,
    Reason.IP_RESTRICTION_DISABLED: ErrorCode.INVALID_REQUEST,
    Reason.START_TIME_DISABLED: ErrorCode.INVALID_REQUEST,
    Reason.START_AFTER_EXPIRY: ErrorCode.INVALID_REQUEST,
    Reason.RESOURCE_TOO_LONG: ErrorCode.INVALID_REQUEST,
    Reason.NO_IDENTITY: ErrorCode.UNAUTHENTICATED,
    Reason.BACKEND_NOT_ALLOWED: ErrorCode.BACKEND_NOT_ALLOWED,
    Reason.NO_SUCH_RULE: ErrorCode.NOT_ALLOWED,
    Reason.ACTION_NOT_ALLOWED: ErrorCode.NOT_ALLOWED,
    Reason.NOT_IN_GROUP: ErrorCode.NOT_ALLOWED,
    Reason.GROUPS_UNUSABLE: ErrorCode.NOT_ALLOWED,
    Reason.CLAIM_MISSING: ErrorCode.NOT_ALLOWED,
    Reason.CLAIM_UNUSABLE: ErrorCode.NOT_ALLOWED,
    Reason.KEY_OUTSIDE_RULES: ErrorCode.NOT_ALLOWED,
    Reason.PREFIX_NOT_OWNED: ErrorCode.NOT_ALLOWED,
    Reason.SIZE_OVER_MAX: ErrorCode.PAYLOAD_TOO_LARGE,
    Reason.CONTENT_TYPE_NOT_ALLOWED: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    Reason.ROUTE_NOT_FOUND: ErrorCode.NOT_FOUND,
    Reason.NO_SUCH_FILE: ErrorCode.NOT_FOUND,
    Reason.FILE_NOT_READY: ErrorCode.NOT_READY,
    Reason.FILE_REJECTED: ErrorCode.REJECTED,
    Reason.SIGNER_UNAVAILABLE: ErrorCode.TEMPORARILY_UNAVAILABLE,
    Reason.CREDENTIALS_EXPIRING: ErrorCode.TEMPORARILY_UNAVAILABLE,
    Reason.RECORDS_UNAVAILABLE: ErrorCode.TEMPORARILY_UNAVAILABLE,
    Reason.QUOTA_EXCEEDED: ErrorCode.QUOTA_EXCEEDED,
    Reason.INVALID_CURSOR: ErrorCode.INVALID_REQUEST,
    Reason.INVALID_QUERY: ErrorCode.INVALID_REQUEST,
    Reason.NO_SUCH_ERASURE: ErrorCode.NOT_FOUND,
    Reason.INVALID_SUBJECT: ErrorCode.INVALID_REQUEST,
    Reason.LIFECYCLE_UNAVAILABLE: ErrorCode.TEMPORARILY_UNAVAILABLE,
    Reason.ORIGIN_NOT_VERIFIED: ErrorCode.ORIGIN_NOT_VERIFIED,
    Reason.ORIGIN_CHECK_UNAVAILABLE: ErrorCode.TEMPORARILY_UNAVAILABLE,
    Reason.INTERNAL_ERROR: ErrorCode.INTERNAL_ERROR,
}


class Refusal(Exception):
    """A request the rules (or the input checks) refuse. ``message`` is safe to show the client."""

    def __init__(self, reason: Reason, message: str, *, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.code = code or _DEFAULT_CODE[reason]
        self.message = message

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.code]

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE
