"""Request and response bodies of the minting API (DESIGN.md decision 5), as pydantic models.

Strict and closed: unknown fields, wrong JSON types and out-of-range numbers are 400s. An
integer field takes an integral JSON number too (``48213.0`` is ``48213``; ``48213.5``, booleans,
strings, NaN and infinities are 400), as JSON does not tell the two apart. Every string the
handlers constrain carries its ``pattern`` and lengths here (the domain's own patterns), so the
document says exactly what the handler accepts, and the handler refuses what it says it refuses.
The OpenAPI document (``docs/openapi.json``) is generated from these through the resolvers.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from filegate.domain.cloudfront import IPV4_RANGE_PATTERN
from filegate.domain.errors import ErrorCode
from filegate.domain.keys import CLAIM_VALUE_PATTERN, KEY_PATTERN, MAX_KEY_CHARS, PREFIX_PATTERN, SEGMENT_PATTERN
from filegate.domain.records import RejectReason, Status
from filegate.domain.rules import MAX_CLAIM_CHARS
from filegate.domain.uploads import CONTENT_TYPE_PATTERN, MAX_CONTENT_TYPE_CHARS

_SEVEN_DAYS = 7 * 24 * 3600
#: A revoked name's limits (``POST /backend/revocations``): at most this many bytes, a prefix at
#: least this many segments (one owner's or one org's space: nothing lifts a revocation early).
MAX_REVOCATION_NAME_BYTES = 512
MIN_REVOKED_PREFIX_SEGMENTS = 3
#: A revocation names a final key or prefix under ``private/`` (public files are invalidated).
REVOKED_KEY_PATTERN = rf"^private/{SEGMENT_PATTERN}(?:/{SEGMENT_PATTERN})*$"
REVOKED_PREFIX_PATTERN = rf"^private/(?:{SEGMENT_PATTERN}/){{{MIN_REVOKED_PREFIX_SEGMENTS - 1},}}$"
#: Free text that is audited (a viewer, a reason): no control characters, no line or paragraph
#: separators, no invisible or bidirectional formatting characters (they disguise a log line).
PRINTABLE_TEXT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]+$"


def _integral(value: object) -> object:
    """An integral float is its integer; any other float is refused here, and anything else is
    left to the strict ``int`` check (which refuses booleans and strings)."""
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        raise ValueError("must be an integer")
    return value


#: Goes after the field's constraints (``Annotated[int, Field(ge=1), INTEGRAL]``): placed before
#: them, pydantic would write ``ge`` instead of ``minimum`` in the document.
INTEGRAL = BeforeValidator(_integral)


class _Reply(BaseModel):
    """A response body. Built on first use (``defer_build``): each function uses few of these
    models, and building one's validator costs milliseconds of a cold start."""

    model_config = ConfigDict(defer_build=True)


class _Body(BaseModel):
    """A request body: strict, closed, immutable; built on first use (or by ``Router.prepare``)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


class OnBehalfOf(_Body):
    """The end user a trusted backend acts for; the rules are evaluated with these claims."""

    sub: Annotated[str, Field(min_length=1, max_length=256, description="The end user's subject")]
    groups: Annotated[list[Annotated[str, Field(min_length=1, max_length=128)]], Field(max_length=100)] = []
    org_id: Annotated[str | None, Field(min_length=1, max_length=256)] = None


class UploadRequest(_Body):
    rule: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9-]{1,40}$",
                               description="Name of the rule to upload under", examples=["cv"])]
    content_type: Annotated[str, Field(min_length=1, max_length=MAX_CONTENT_TYPE_CHARS, pattern=CONTENT_TYPE_PATTERN,
                                       examples=["application/pdf"],
                                       description="MIME type of the file (any case); must be one the rule allows")]
    size: Annotated[int, Field(ge=1, description="Size of the file in bytes", examples=[48213]), INTEGRAL]
    filename: Annotated[str | None, Field(max_length=1024, examples=["My CV.pdf"],
                                          description="Original filename; kept only as metadata")] = None
    expires_in: Annotated[Annotated[int, Field(ge=1, le=_SEVEN_DAYS), INTEGRAL] | None,
                          Field(description="Wanted lifetime of the POST in seconds (capped)")] = None


class BackendUploadRequest(UploadRequest):
    on_behalf_of: OnBehalfOf


class DownloadRequest(_Body):
    key: Annotated[str, Field(min_length=1, max_length=MAX_KEY_CHARS, pattern=KEY_PATTERN,
                              description="Key of the file to download")]
    expires_in: Annotated[Annotated[int, Field(ge=1, le=_SEVEN_DAYS), INTEGRAL] | None,
                          Field(description="Wanted lifetime in seconds (capped by the rule)")] = None
    ip: Annotated[str | None, Field(min_length=7, max_length=18, pattern=IPV4_RANGE_PATTERN,
                                    examples=["203.0.113.0/24"],
                                    description="Restrict the URL to this IPv4 address or range (a.b.c.d/n)")] = None
    starts_at: Annotated[Annotated[int, Field(ge=0, le=2**40), INTEGRAL] | None,
                         Field(description="Epoch seconds before which the URL is not valid")] = None


def _printable(value: str) -> str:
    """``str.isprintable`` as well as the pattern: the pattern is what a client can read in the
    document; this also refuses the invisible and unassigned characters no short pattern lists."""
    if not value.isprintable():
        raise ValueError("must hold printable characters only")
    return value


PRINTABLE_TEXT_DESCRIPTION = ("Printable text (audited): besides the pattern, every character printable as Python's "
                              "str.isprintable says (no control, format or unassigned character; no separator but "
                              "the space)")
PrintableText = Annotated[str, Field(min_length=1, max_length=256, pattern=PRINTABLE_TEXT_PATTERN,
                                     description=PRINTABLE_TEXT_DESCRIPTION), AfterValidator(_printable)]


class Viewer(_Body):
    """Who will view the file, as the backend names them (audited; the rules are not evaluated
    for them: the backend decided the relation)."""

    sub: PrintableText
    org_id: PrintableText | None = None


class BackendDownloadRequest(DownloadRequest):
    """Exactly one of ``on_behalf_of`` (the rules decide for that user) or ``viewer`` with a
    ``reason`` (a grant the backend decided, audited as owner, viewer, reason, principal)."""

    on_behalf_of: OnBehalfOf | None = None
    viewer: Viewer | None = None
    reason: Annotated[PrintableText | None, Field(description="Why the viewer may see the file. "
                                                              + PRINTABLE_TEXT_DESCRIPTION)] = None
    grant_lifetime: Annotated[Annotated[int, Field(ge=1, le=_SEVEN_DAYS), INTEGRAL] | None,
                              Field(description="Caps the URL's lifetime (seconds)")] = None

    @model_validator(mode="after")
    def _one_grantee(self) -> Self:
        if (self.on_behalf_of is None) == (self.viewer is None):
            raise ValueError("name exactly one of on_behalf_of or viewer")
        if self.viewer is not None and self.reason is None:
            raise ValueError("reason is required with viewer")
        if self.viewer is None and self.reason is not None:
            raise ValueError("reason goes with viewer only")
        return self


class CookiesRequest(_Body):
    prefix: Annotated[str, Field(min_length=2, max_length=MAX_KEY_CHARS, pattern=PREFIX_PATTERN,
                                 examples=["private/users/abc/"],
                                 description="Key prefix (ending with '/') the caller owns")]
    expires_in: Annotated[int, Field(ge=1, le=_SEVEN_DAYS), INTEGRAL] | None = None


class UploadResponse(_Reply):
    file_id: str = Field(description="The file's id: `GET /files/{file_id}` tells its verification status")
    key: str = Field(description="The file's final key: downloadable once its record is `clean`")
    url: str = Field(description="Where to POST the form")
    fields: dict[str, str] = Field(description="Form fields to send, before the file")
    expires_at: int = Field(description="Epoch seconds after which S3 refuses the POST")
    max_bytes: int


class DownloadResponse(_Reply):
    url: str
    expires_at: int = Field(description="Epoch seconds after which CloudFront refuses the URL")


class CookiesResponse(_Reply):
    cookies: dict[str, str] = Field(description="CloudFront-Policy, -Signature, -Key-Pair-Id, -Hash-Algorithm")
    expires_at: int


class FileResponse(_Reply):
    """A file record's public fields (docs/verification.md): never a URL or an owner id."""

    file_id: str
    key: str
    rule: str
    filename: str = Field(description="The sanitized original filename")
    content_type: str = Field(description="The declared content type")
    size: int = Field(description="Bytes served once verified; before that, the declared size")
    status: Status
    reason: RejectReason | None = Field(default=None, description="Why it was rejected (only when `rejected`)")
    created_at: int = Field(description="Epoch seconds the upload was minted")
    verified_at: int | None = Field(default=None, description="Epoch seconds it was decided (once decided)")


class FileListResponse(_Reply):
    files: list[FileResponse]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: no more")


class Owner(_Reply):
    sub: str
    org_id: str | None = None


class BackendFileResponse(FileResponse):
    owner: Owner


class BackendFileListResponse(_Reply):
    files: list[BackendFileResponse]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: no more")


class RevocationRequest(_Body):
    """Exactly one: a final key, or a prefix ending with ``/`` (at most 512 bytes, under ``private/``,
    at least three segments)."""

    key: Annotated[str | None, Field(min_length=1, max_length=MAX_REVOCATION_NAME_BYTES,
                                     pattern=REVOKED_KEY_PATTERN)] = None
    prefix: Annotated[str | None, Field(min_length=2, max_length=MAX_REVOCATION_NAME_BYTES,
                                        pattern=REVOKED_PREFIX_PATTERN)] = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.key is None) == (self.prefix is None):
            raise ValueError("name exactly one of key or prefix")
        return self


class RevocationResponse(_Reply):
    revoked: str
    kind: Literal["key", "prefix"]
    until: int = Field(description="Epoch seconds until which the edge refuses every request for it")


class ErasureRequest(_Body):
    """Exactly one subject: a user's ``sub`` or an org's ``org_id``."""

    sub: Annotated[str | None, Field(min_length=1, max_length=MAX_CLAIM_CHARS, pattern=CLAIM_VALUE_PATTERN)] = None
    org_id: Annotated[str | None, Field(min_length=1, max_length=MAX_CLAIM_CHARS, pattern=CLAIM_VALUE_PATTERN)] = None


class ErasureAccepted(_Reply):
    erasure_id: str
    status: Literal["running", "done"]


class ErasureSubject(_Reply):
    sub: str | None = None
    org_id: str | None = None


class ErasureResponse(_Reply):
    erasure_id: str
    status: Literal["running", "done"]
    subject: ErasureSubject
    deleted_files: int
    deleted_versions: int
    revoked_prefixes: int
    waiting_files: int = Field(description="Records being verified that the erasure waits for")
    runs: int
    started_at: int = Field(description="When the latest run started")
    finished_at: int | None = Field(default=None, description="When the latest run finished")


class ErrorBody(_Reply):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    code: ErrorCode
    message: str


class ErrorResponse(_Reply):
    """Every error the API sends, the WebACL's refusals included (`request_blocked`,
    `request_too_large`, `rate_limited`)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    error: ErrorBody


class GatewayMessage(_Reply):
    """API Gateway's own answer, before or instead of the handler's: the authorizers' 401 and 403,
    the throttle's 429, no route's 404, an unhandled error's 500, and 503."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    message: str
