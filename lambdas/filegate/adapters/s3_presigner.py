"""Presigned POSTs from boto3, with a client built the way every region needs it.

A presigned POST is signed with the function's credentials and S3 refuses it once those
credentials expire, whatever the POST's own expiry says. So a POST should never outlive them:

- Refreshable credentials (assumed-role and SSO sessions, container credentials, and
  environment credentials with ``AWS_CREDENTIAL_EXPIRATION``, which botocore turns into
  refreshable ones) know their expiry. botocore keeps it in the private ``_expiry_time``
  attribute (there is no public accessor); ``credentials_expire_at`` reads it and the upload
  handler caps the POST's life at it, less a margin.
- In Lambda the execution role's credentials arrive as static environment variables
  (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``) and Lambda documents
  no variable holding their expiry, so there is nothing to read. There the bound is
  ``upload_max_expiry_seconds`` (default 900 s, the 15-minute POST), and that is enough:
  the execution role's session lasts hours, and Lambda rotates the credentials it hands an
  execution environment with ample margin before they expire, long before a 15-minute POST
  signed with them could outlive them. ``credentials_expire_at`` returns None for them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import boto3
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError

from filegate.adapters.signer import SignerUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class PresignerUnavailable(SignerUnavailable):
    """No credentials to sign with (e.g. they could not be refreshed); the client may retry."""


def s3_client(session: boto3.session.Session, *, region: str | None,
              addressing_style: Literal["virtual", "path"]) -> S3Client:
    """SigV4 and an explicit region: botocore's defaults sign presigned POSTs with SigV2 in
    us-east-1, which newer regions refuse. The endpoint comes from boto3's standard
    ``AWS_ENDPOINT_URL_S3`` when set (the local mode's S3)."""
    return session.client("s3", region_name=region,
                          config=Config(signature_version="s3v4", s3={"addressing_style": addressing_style}))


class S3Presigner:
    def __init__(self, session: boto3.session.Session, client: S3Client, bucket: str) -> None:
        self._session = session
        self._client = client
        self.bucket = bucket

    def credentials_expire_at(self) -> float | None:
        """When the credentials that sign the POST expire (epoch seconds), when that is known.

        None for static credentials, in particular Lambda's execution-role environment
        credentials, whose bound is ``upload_max_expiry_seconds`` (see the module docstring).
        """
        credentials = self._session.get_credentials()
        if credentials is None:
            return None
        try:
            credentials.get_frozen_credentials()  # refreshes when close to expiry
        except (BotoCoreError, ClientError) as error:
            raise PresignerUnavailable(f"refreshing credentials failed: {type(error).__name__}") from error
        if isinstance(credentials, RefreshableCredentials):
            expiry = getattr(credentials, "_expiry_time", None)  # botocore keeps it private
            return expiry.timestamp() if isinstance(expiry, datetime) else None
        return None

    def presign_post(self, *, key: str, fields: dict[str, str], conditions: list[Any],
                     expires_in: int) -> tuple[str, dict[str, str]]:
        try:
            post = self._client.generate_presigned_post(
                Bucket=self.bucket, Key=key, Fields=fields, Conditions=conditions, ExpiresIn=expires_in)
        except (BotoCoreError, ClientError) as error:
            raise PresignerUnavailable(f"presigning failed: {type(error).__name__}") from error
        return post["url"], {name: str(value) for name, value in post["fields"].items()}
