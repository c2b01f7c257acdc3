"""Presigned POST plans: the exact fields and conditions S3 must enforce for one upload.

The plan pins the key (boto3 adds the ``key`` and ``bucket`` conditions from its arguments): the
*quarantine* key ``incoming/<final key>`` (``upload_key``), never the final key, which only the
verifier writes (docs/verification.md). It pins
``Content-Type`` equal to the declared, allowed type (never ``starts-with``: that admits SVG),
a ``content-length-range`` of [1, rule max], the metadata, ``Content-Disposition``,
``success_action_status`` 201 and, for a KMS-encrypted bucket, the encryption fields. It never
has a ``tagging`` field: an uploader must not be able to write the tag the scanner writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from filegate.domain.errors import Reason, Refusal
from filegate.domain.identity import Identity
from filegate.domain.keys import build_key, content_disposition, metadata_filename, sanitize_filename
from filegate.domain.quarantine import quarantine_key
from filegate.domain.rules import Rule

#: The object metadata every upload writes, as presigned POST field names. Named once, here:
#: the distribution's response headers policy and the local edge remove each of them
#: (stacks/edge_headers.py builds its list from METADATA_FIELDS), since CloudFront's remove list
#: takes exact header names, not prefixes. A new ``x-amz-meta-*`` field is added here or not at
#: all: every name costs one of the policy's few remove-header slots.
META_ORIGINAL_FILENAME = "x-amz-meta-original-filename"
META_UPLOADER = "x-amz-meta-uploader"
META_RULE = "x-amz-meta-rule"
METADATA_FIELDS: tuple[str, ...] = (META_ORIGINAL_FILENAME, META_UPLOADER, META_RULE)

#: Leave this much of the signing credentials' life unused, so that S3 never sees a policy
#: signed by credentials that expired before the policy did.
CREDENTIALS_MARGIN_SECONDS = 30


@dataclass(frozen=True, slots=True)
class UploadPlan:
    #: The final key: what ``POST /uploads`` returns and the record holds.
    key: str
    #: Where the presigned POST writes: the quarantine key for ``key``.
    upload_key: str
    file_id: str
    content_type: str
    fields: dict[str, str]
    conditions: list[Any]
    max_bytes: int
    filename: str


#: What a request's ``content_type`` may look like at all (RFC 6838 names, optionally padded with
#: spaces or tabs, any case); whether it is allowed is the rule's to say. ASCII only, so that
#: ``normalize_content_type`` lowercases nothing into an ASCII type.
CONTENT_TYPE_PATTERN = r"^[ \t]*[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}[ \t]*$"
MAX_CONTENT_TYPE_CHARS = 255


def normalize_content_type(value: str) -> str:
    """Compare MIME types case-insensitively; parameters (``; charset=``) are not accepted."""
    return value.strip().lower()


def check_upload(rule: Rule, *, content_type: str, size: int) -> str:
    """The canonical content type when the rule admits this type and size; else a ``Refusal``."""
    canonical = normalize_content_type(content_type)
    if canonical not in rule.content_types:
        raise Refusal(Reason.CONTENT_TYPE_NOT_ALLOWED,
                      f"rule {rule.name!r} accepts only: {', '.join(rule.content_types)}")
    if size > rule.max_bytes:
        raise Refusal(Reason.SIZE_OVER_MAX, f"rule {rule.name!r} accepts at most {rule.max_bytes} bytes")
    return canonical


def upload_expiry(*, requested: int | None, default: int, maximum: int, now: float,
                  credentials_expire_at: float | None) -> int:
    """Seconds the presigned POST lives: the request's wish or the default, capped by the
    maximum and by the signing credentials' remaining life (less a margin)."""
    seconds = min(requested if requested is not None else default, maximum)
    if credentials_expire_at is not None:
        remaining = math.floor(credentials_expire_at - now) - CREDENTIALS_MARGIN_SECONDS
        if remaining < 1:
            raise Refusal(Reason.CREDENTIALS_EXPIRING, "signing credentials are being renewed; retry shortly")
        seconds = min(seconds, remaining)
    return max(1, seconds)


def plan_upload(rule: Rule, identity: Identity, *, content_type: str, size: int, filename: str | None,
                file_id: str, kms_key_arn: str | None = None) -> UploadPlan:
    """Everything a presigned POST for this upload must pin. ``rule`` is already authorised."""
    canonical = check_upload(rule, content_type=content_type, size=size)
    key = build_key(rule, identity, file_id=file_id, content_type=canonical)
    display_name = sanitize_filename(filename, canonical)
    fields = {
        "Content-Type": canonical,
        "Content-Disposition": content_disposition(rule.disposition, display_name),
        "success_action_status": "201",
        META_ORIGINAL_FILENAME: metadata_filename(display_name),
        META_UPLOADER: quote(identity.sub, safe="@|+:=-._~"),
        META_RULE: rule.name,
    }
    if kms_key_arn:
        fields["x-amz-server-side-encryption"] = "aws:kms"
        fields["x-amz-server-side-encryption-aws-kms-key-id"] = kms_key_arn
    conditions: list[Any] = [{name: value} for name, value in fields.items()]
    conditions.append(["content-length-range", 1, rule.max_bytes])
    return UploadPlan(key=key, upload_key=quarantine_key(key), file_id=file_id, content_type=canonical,
                      fields=fields, conditions=conditions, max_bytes=rule.max_bytes, filename=display_name)
