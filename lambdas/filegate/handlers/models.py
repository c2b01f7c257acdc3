"""Request and response bodies of the minting API (DESIGN.md decision 5), as pydantic models.

Strict and closed: unknown fields, wrong JSON types and out-of-range numbers are 400s. The
OpenAPI document (``docs/openapi.json``) is generated from these through the resolvers.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

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


class BackendDownloadRequest(DownloadRequest):
    on_behalf_of: OnBehalfOf


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


class ErrorBody(BaseModel):
    code: ErrorCode
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody
