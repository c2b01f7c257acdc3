"""Request and response bodies of the minting API (DESIGN.md decision 5), as pydantic models.

Strict and closed: unknown fields, wrong JSON types and out-of-range numbers are 400s. The
OpenAPI document (``docs/openapi.json``) is generated from these through the resolvers.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from filegate.domain.errors import ErrorCode
from filegate.domain.records import RejectReason, Status

_SEVEN_DAYS = 7 * 24 * 3600


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class OnBehalfOf(_Body):
    """The end user a trusted backend acts for; the rules are evaluated with these claims."""

    sub: Annotated[str, Field(min_length=1, max_length=256, description="The end user's subject")]
    groups: Annotated[list[Annotated[str, Field(min_length=1, max_length=128)]], Field(max_length=100)] = []
    org_id: Annotated[str | None, Field(min_length=1, max_length=256)] = None


class UploadRequest(_Body):
    rule: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,40}$", description="Name of the rule to upload under",
                               examples=["cv"])]
    content_type: Annotated[str, Field(min_length=1, max_length=255, examples=["application/pdf"],
                                       description="MIME type of the file; must be one the rule allows")]
    size: Annotated[int, Field(ge=1, description="Size of the file in bytes", examples=[48213])]
    filename: Annotated[str | None, Field(max_length=1024, examples=["My CV.pdf"],
                                          description="Original filename; kept only as metadata")] = None
    expires_in: Annotated[int | None, Field(ge=1, le=_SEVEN_DAYS,
                                            description="Wanted lifetime of the POST in seconds (capped)")] = None


class BackendUploadRequest(UploadRequest):
    on_behalf_of: OnBehalfOf


class DownloadRequest(_Body):
    key: Annotated[str, Field(min_length=1, max_length=1024, description="Key of the file to download")]
    expires_in: Annotated[int | None, Field(ge=1, le=_SEVEN_DAYS,
                                            description="Wanted lifetime in seconds (capped by the rule)")] = None
    ip: Annotated[str | None, Field(min_length=1, max_length=64, examples=["203.0.113.0/24"],
                                    description="Restrict the URL to this IPv4 address or range")] = None
    starts_at: Annotated[int | None, Field(ge=0, le=2**40,
                                           description="Epoch seconds before which the URL is not valid")] = None


def _printable(value: str) -> str:
    if not value.isprintable():
        raise ValueError("must hold printable characters only")
    return value


PrintableText = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_printable)]


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
    reason: Annotated[PrintableText | None, Field(description="Why the viewer may see the file (audited)")] = None
    grant_lifetime: Annotated[int | None, Field(ge=1, le=_SEVEN_DAYS,
                                                description="Caps the URL's lifetime (seconds)")] = None

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
    prefix: Annotated[str, Field(min_length=2, max_length=1024, examples=["private/users/abc/"],
                                 description="Key prefix (ending with '/') the caller owns")]
    expires_in: Annotated[int | None, Field(ge=1, le=_SEVEN_DAYS)] = None


class UploadResponse(BaseModel):
    file_id: str = Field(description="The file's id: `GET /files/{file_id}` tells its verification status")
    key: str = Field(description="The file's final key: downloadable once its record is `clean`")
    url: str = Field(description="Where to POST the form")
    fields: dict[str, str] = Field(description="Form fields to send, before the file")
    expires_at: int = Field(description="Epoch seconds after which S3 refuses the POST")
    max_bytes: int


class DownloadResponse(BaseModel):
    url: str
    expires_at: int = Field(description="Epoch seconds after which CloudFront refuses the URL")


class CookiesResponse(BaseModel):
    cookies: dict[str, str] = Field(description="CloudFront-Policy, -Signature, -Key-Pair-Id, -Hash-Algorithm")
    expires_at: int


class FileResponse(BaseModel):
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


class FileListResponse(BaseModel):
    files: list[FileResponse]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: no more")


class Owner(BaseModel):
    sub: str
    org_id: str | None = None


class BackendFileResponse(FileResponse):
    owner: Owner


class BackendFileListResponse(BaseModel):
    files: list[BackendFileResponse]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: no more")


class RevocationRequest(_Body):
    """Exactly one: a final key, or a prefix ending with ``/`` (at most 512 bytes, under ``private/``)."""

    key: Annotated[str | None, Field(min_length=1, max_length=512)] = None
    prefix: Annotated[str | None, Field(min_length=2, max_length=512)] = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.key is None) == (self.prefix is None):
            raise ValueError("name exactly one of key or prefix")
        return self


class RevocationResponse(BaseModel):
    revoked: str
    kind: Literal["key", "prefix"]
    until: int = Field(description="Epoch seconds until which the edge refuses every request for it")


class ErasureRequest(_Body):
    """Exactly one subject: a user's ``sub`` or an org's ``org_id``."""

    sub: Annotated[str | None, Field(min_length=1, max_length=256)] = None
    org_id: Annotated[str | None, Field(min_length=1, max_length=256)] = None


class ErasureAccepted(BaseModel):
    erasure_id: str
    status: Literal["running", "done"]


class ErasureSubject(BaseModel):
    sub: str | None = None
    org_id: str | None = None


class ErasureResponse(BaseModel):
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


class ErrorBody(BaseModel):
    code: ErrorCode
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody
