"""S3 reads, copies and deletes of quarantined objects (docs/verification.md).

- ``read_version``: one quarantined object *by version id*, pinned to the scanned ETag, and never
  more than a cap into memory: the real size (``ContentLength``) is checked before the body is read.
- ``promote_copy``: a server-side copy to the final key pinned to that version and ETag
  (``CopySourceVersionId``, ``CopySourceIfMatch``), ``MetadataDirective=REPLACE`` with a
  server-set ``Content-Type``, ``Content-Disposition`` and only the metadata the edge strips,
  encrypted with the bucket's KMS key (bucket key on).
- ``promote_bytes``: the same headers, for bytes the verifier produced (re-encoded images).
- ``copy_to_rejected``: a pinned copy to ``rejected/<final key>``, upload metadata kept for review.

Copies never carry tags (``TaggingDirective=REPLACE`` with none): the verdict lives in the record,
and no tag permission is needed.
- ``delete_all_versions``: every version and delete marker of one exact key.
- ``delete_other_versions``: the same, but for one version kept (the one a clean record serves).
- ``delete_key_versions`` (lifecycle): ``delete_all_versions`` whose every failure is an
  ``ObjectStoreError``; ``delete_page_under``: one ``ListObjectVersions`` page (1000) under a
  prefix, every version and delete marker listed deleted.

The client is built once per execution environment (``s3_client``): SigV4, an explicit region,
the configured addressing style, standard retries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from filegate.adapters.unavailable import LifecycleUnavailable
from filegate.domain.verification import FinalHeaders

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: S3 error codes meaning "that version of that object is not there (or not with that ETag)".
_MISSING = frozenset({"NoSuchKey", "NoSuchVersion", "404", "PreconditionFailed", "412", "InvalidArgument"})
_DELETE_BATCH = 1000


class ObjectMissing(Exception):
    """The pinned version (with its ETag) does not exist: nothing to verify or copy."""


class ObjectStoreError(LifecycleUnavailable):
    """S3 answered a bulk delete with per-object errors (or, for the lifecycle's deletes, failed
    at all); the caller retries."""


@dataclass(frozen=True, slots=True)
class StoredObject:
    size: int
    etag: str
    #: The bytes, or None when the object is larger than the cap it was read with (not read).
    data: bytes | None


@dataclass(frozen=True, slots=True)
class ObjectVersion:
    version_id: str
    etag: str
    size: int
    last_modified: float


def s3_client(session: boto3.session.Session, *, region: str | None,
              addressing_style: Literal["virtual", "path"]) -> S3Client:
    """SigV4, an explicit region and the configured addressing style (as every S3 client here),
    with standard retries and timeouts that fit the verifier's Lambda timeout."""
    return session.client("s3", region_name=region, config=Config(
        signature_version="s3v4", s3={"addressing_style": addressing_style},
        retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=5, read_timeout=30))


def _quoted(etag: str) -> str:
    bare = etag.strip().strip('"')
    return f'"{bare}"'


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class ObjectStore:
    def __init__(self, client: S3Client, bucket: str, *, kms_key_arn: str | None) -> None:
        self._client = client
        self.bucket = bucket
        self._kms_key_arn = kms_key_arn

    def _encryption(self) -> dict[str, Any]:
        if not self._kms_key_arn:
            return {}  # the bucket's default encryption applies
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self._kms_key_arn, "BucketKeyEnabled": True}

    def read_version(self, key: str, *, version_id: str, etag: str, max_bytes: int) -> StoredObject:
        """The object's bytes when it is at most ``max_bytes`` long; only its size otherwise."""
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key, VersionId=version_id,
                                               IfMatch=_quoted(etag))
        except ClientError as error:
            if _code(error) in _MISSING:
                raise ObjectMissing(f"{key} version {version_id} with that ETag: {_code(error)}") from error
            raise
        body = response["Body"]
        try:
            size = int(response["ContentLength"])
            if size > max_bytes:
                return StoredObject(size=size, etag=response.get("ETag", etag), data=None)
            data = body.read(max_bytes + 1)
        finally:
            body.close()
        if len(data) > max_bytes:  # a ContentLength that lied: never more than the cap
            return StoredObject(size=len(data), etag=response.get("ETag", etag), data=None)
        return StoredObject(size=len(data), etag=response.get("ETag", etag), data=data)

    def promote_copy(self, source_key: str, *, version_id: str, etag: str, final_key: str,
                     headers: FinalHeaders) -> str | None:
        """Copy; the version id the copy got at the final key."""
        try:
            response = self._client.copy_object(
                Bucket=self.bucket, Key=final_key,
                CopySource={"Bucket": self.bucket, "Key": source_key, "VersionId": version_id},
                CopySourceIfMatch=_quoted(etag), MetadataDirective="REPLACE", TaggingDirective="REPLACE",
                ContentType=headers.content_type, ContentDisposition=headers.content_disposition,
                Metadata=headers.metadata, **self._encryption())
        except ClientError as error:
            if _code(error) in _MISSING:
                raise ObjectMissing(f"{source_key} version {version_id}: {_code(error)}") from error
            raise
        return response.get("VersionId")

    def promote_bytes(self, final_key: str, data: bytes, headers: FinalHeaders) -> str | None:
        """Put; the version id the object got at the final key."""
        response = self._client.put_object(Bucket=self.bucket, Key=final_key, Body=data,
                                           ContentType=headers.content_type,
                                           ContentDisposition=headers.content_disposition,
                                           Metadata=headers.metadata, **self._encryption())
        return response.get("VersionId")

    def delete_version(self, key: str, version_id: str) -> None:
        """Delete one version (the key's previous version, if any, becomes current again)."""
        self._client.delete_object(Bucket=self.bucket, Key=key, VersionId=version_id)

    def copy_to_rejected(self, source_key: str, *, version_id: str, etag: str, rejected_key: str) -> None:
        try:
            self._client.copy_object(
                Bucket=self.bucket, Key=rejected_key,
                CopySource={"Bucket": self.bucket, "Key": source_key, "VersionId": version_id},
                CopySourceIfMatch=_quoted(etag), MetadataDirective="COPY", TaggingDirective="REPLACE",
                **self._encryption())
        except ClientError as error:
            if _code(error) in _MISSING:
                raise ObjectMissing(f"{source_key} version {version_id}: {_code(error)}") from error
            raise

    def _listing(self, key: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        versions: list[dict[str, Any]] = []
        markers: list[dict[str, Any]] = []
        paginator = self._client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=key):
            versions.extend(item for item in page.get("Versions", []) if item.get("Key") == key)  # type: ignore[misc]
            markers.extend(item for item in page.get("DeleteMarkers", []) if item.get("Key") == key)  # type: ignore[misc]
        return versions, markers

    def listed(self, prefix: str, *, modified_before: float, limit: int) -> list[str]:
        """Keys of current objects under ``prefix`` last modified before the given time (at most
        ``limit``): the sweep's view of the quarantine, which verified files leave at once."""
        found: list[str] = []
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                modified = item.get("LastModified")
                if isinstance(modified, datetime) and modified.timestamp() < modified_before:
                    found.append(str(item["Key"]))
                    if len(found) >= limit:
                        return found
        return found

    def versions(self, key: str) -> list[ObjectVersion]:
        """The object versions of exactly ``key`` (no delete markers), newest first."""
        versions, _ = self._listing(key)
        found = [ObjectVersion(version_id=str(item["VersionId"]), etag=str(item.get("ETag", "")),
                               size=int(item.get("Size", 0)),
                               last_modified=item["LastModified"].timestamp()
                               if isinstance(item.get("LastModified"), datetime) else 0.0)
                 for item in versions]
        return sorted(found, key=lambda version: version.last_modified, reverse=True)

    def delete_all_versions(self, key: str) -> int:
        """Delete every version and delete marker of exactly ``key``; the number deleted."""
        return self._delete_versions(key, keep=None)

    def delete_other_versions(self, key: str, keep: str) -> int:
        """Delete every version and delete marker of exactly ``key`` but version ``keep`` (which
        thereby is the current one); the number deleted."""
        return self._delete_versions(key, keep=keep)

    def _delete_versions(self, key: str, *, keep: str | None) -> int:
        versions, markers = self._listing(key)
        targets = [{"Key": key, "VersionId": str(item["VersionId"])} for item in [*versions, *markers]
                   if keep is None or str(item["VersionId"]) != keep]
        self._delete_targets(targets)
        return len(targets)

    def _delete_targets(self, targets: list[dict[str, str]]) -> None:
        for start in range(0, len(targets), _DELETE_BATCH):
            batch = targets[start:start + _DELETE_BATCH]
            response = self._client.delete_objects(Bucket=self.bucket,
                                                   Delete={"Objects": batch, "Quiet": True})  # type: ignore[typeddict-item]
            errors = response.get("Errors", [])
            if errors:
                raise ObjectStoreError(f"deleting {len(errors)} version(s) failed: {errors[0].get('Code', '?')}")

    def has_versions(self, key: str) -> bool:
        """Whether exactly ``key`` has an object version (delete markers aside): for a delete, an
        upload that landed in the quarantine and that the verifier will act on."""
        try:
            versions, _ = self._listing(key)
        except (BotoCoreError, ClientError) as error:
            raise ObjectStoreError(f"listing the versions of a key failed: {type(error).__name__}") from error
        return bool(versions)

    def delete_key_versions(self, key: str) -> int:
        """Every version and delete marker of exactly ``key`` (a deleted file); the number deleted."""
        try:
            return self._delete_versions(key, keep=None)
        except (BotoCoreError, ClientError) as error:
            raise ObjectStoreError(f"deleting the versions of a key failed: {type(error).__name__}") from error

    def delete_page_under(self, prefix: str) -> tuple[int, bool]:
        """One listing page (at most 1000 entries) of versions and delete markers under ``prefix``,
        all deleted; the number deleted, and whether the listing had more (list again: what was
        listed is gone, so the next listing starts where this one ended)."""
        try:
            page = self._client.list_object_versions(Bucket=self.bucket, Prefix=prefix, MaxKeys=_DELETE_BATCH)
            targets = [{"Key": str(item["Key"]), "VersionId": str(item["VersionId"])}
                       for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]]
            self._delete_targets(targets)
        except (BotoCoreError, ClientError) as error:
            raise ObjectStoreError(f"deleting under a prefix failed: {type(error).__name__}") from error
        return len(targets), bool(page.get("IsTruncated"))
