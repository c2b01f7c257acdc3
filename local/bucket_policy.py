"""The local bucket's users and policy: radosgw enforces the quarantine (DESIGN.md decision 9).

Each AWS principal that touches the bucket has a radosgw user of its own, so the policy can name
it (``arn:aws:iam:::user/<uid>``, radosgw's form for users of the default tenant):

* ``filegate-admin``, the account's administrator (owns the bucket): configures the bucket;
  reads or writes no object.
* ``filegate-uploader``, the upload role (presigned POSTs): writes ``incoming/*`` only.
* ``filegate-edge``, CloudFront (OAC): reads ``private/*`` and ``public/*``; never ``incoming/*``
  or ``rejected/*``.
* ``filegate-scanner``, GuardDuty Malware Protection's role: reads and tags ``incoming/*``
  (versions too), lists versions.
* ``filegate-verifier``, the verifier Lambda's role: reads and deletes ``incoming/*``; writes (and
  deletes) final keys and ``rejected/*``, never reads them.
* ``filegate-deleter``, the deletions and erasure worker Lambdas' roles (docs/lifecycle.md): lists
  versions and deletes every version and delete marker under ``private/*``, ``public/*``,
  ``incoming/*`` and ``rejected/*``; reads, writes and tags nothing.

A user that is not the owner has no access but what the policy allows; explicit Denies name every
other user for what must never happen (quarantined or rejected reads, tag writes, final-key
writes), as the deployed policy denies every principal but the named roles. Deny wins over the
owner's ACL in radosgw too, so even the bucket owner cannot read an object. ``rejected/*`` is read by
nobody here (in AWS: only the security roles named in the config).
"""

from __future__ import annotations

from typing import Any

from filegate.domain.quarantine import QUARANTINE_PREFIX, REJECTED_PREFIX

ADMIN = "filegate-admin"
UPLOADER = "filegate-uploader"
EDGE = "filegate-edge"
SCANNER = "filegate-scanner"
VERIFIER = "filegate-verifier"
DELETER = "filegate-deleter"
USERS = (ADMIN, UPLOADER, EDGE, SCANNER, VERIFIER, DELETER)
#: The prefixes objects are served from (the rules' templates start with one of them).
SERVED_PREFIXES = ("private/", "public/")

READ_ACTIONS = ["s3:GetObject", "s3:GetObjectVersion"]
TAG_READ_ACTIONS = ["s3:GetObjectTagging", "s3:GetObjectVersionTagging"]
TAG_WRITE_ACTIONS = ["s3:PutObjectTagging", "s3:PutObjectVersionTagging", "s3:DeleteObjectTagging",
                     "s3:DeleteObjectVersionTagging"]


def user_arn(uid: str) -> str:
    return f"arn:aws:iam:::user/{uid}"


def _principals(*uids: str) -> dict[str, list[str]]:
    return {"AWS": [user_arn(uid) for uid in uids]}


def bucket_policy(bucket: str) -> dict[str, Any]:
    bucket_arn = f"arn:aws:s3:::{bucket}"
    incoming = f"{bucket_arn}/{QUARANTINE_PREFIX}*"
    rejected = f"{bucket_arn}/{REJECTED_PREFIX}*"
    served = [f"{bucket_arn}/{prefix}*" for prefix in SERVED_PREFIXES]
    everything = f"{bucket_arn}/*"
    not_quarantine_readers = (ADMIN, UPLOADER, EDGE, DELETER)
    deletable = [*served, incoming, rejected]
    statements: list[dict[str, Any]] = [
        # --- what each role may do ---
        {"Sid": "UploaderWritesQuarantineOnly", "Effect": "Allow", "Principal": _principals(UPLOADER),
         "Action": "s3:PutObject", "Resource": incoming},
        {"Sid": "EdgeReadsServedObjects", "Effect": "Allow", "Principal": _principals(EDGE),
         "Action": "s3:GetObject", "Resource": served},
        {"Sid": "ScannerReadsAndTagsQuarantine", "Effect": "Allow", "Principal": _principals(SCANNER),
         "Action": [*READ_ACTIONS, *TAG_READ_ACTIONS, "s3:PutObjectTagging", "s3:PutObjectVersionTagging"],
         "Resource": incoming},
        {"Sid": "ScannerListsQuarantine", "Effect": "Allow", "Principal": _principals(SCANNER),
         "Action": "s3:ListBucketVersions", "Resource": bucket_arn},
        {"Sid": "VerifierReadsAndClearsQuarantine", "Effect": "Allow", "Principal": _principals(VERIFIER),
         "Action": [*READ_ACTIONS, *TAG_READ_ACTIONS, "s3:DeleteObject", "s3:DeleteObjectVersion"],
         "Resource": incoming},
        # Writes only: the verifier never reads a final or rejected object back.
        {"Sid": "VerifierWritesFinalAndRejectedKeys", "Effect": "Allow", "Principal": _principals(VERIFIER),
         "Action": ["s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObject", "s3:DeleteObjectVersion"],
         "Resource": [*served, rejected]},
        {"Sid": "VerifierLists", "Effect": "Allow", "Principal": _principals(VERIFIER),
         "Action": "s3:ListBucketVersions", "Resource": bucket_arn},
        # radosgw checks a DeleteObjects (multi-delete) request's s3:DeleteObject on the bucket's
        # ARN first, then each object's s3:DeleteObject(Version) on the object: both are needed.
        {"Sid": "VerifierMultiDelete", "Effect": "Allow", "Principal": _principals(VERIFIER),
         "Action": "s3:DeleteObject", "Resource": bucket_arn},
        # The deletions and erasure worker: every version of a key, in its three forms; no read.
        {"Sid": "DeleterListsVersions", "Effect": "Allow", "Principal": _principals(DELETER),
         "Action": "s3:ListBucketVersions", "Resource": bucket_arn},
        {"Sid": "DeleterDeletesEveryVersion", "Effect": "Allow", "Principal": _principals(DELETER),
         "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"], "Resource": deletable},
        {"Sid": "DeleterMultiDelete", "Effect": "Allow", "Principal": _principals(DELETER),
         "Action": "s3:DeleteObject", "Resource": bucket_arn},
        # --- what nobody else may do, whatever else allows it (the owner's ACL included) ---
        {"Sid": "QuarantineReadOnlyByScannerAndVerifier", "Effect": "Deny",
         "Principal": _principals(*not_quarantine_readers),
         "Action": [*READ_ACTIONS, *TAG_READ_ACTIONS], "Resource": incoming},
        # Rejected objects are for a security role to review (not emulated here): nobody reads them.
        {"Sid": "RejectedReadByNobodyHere", "Effect": "Deny", "Principal": _principals(*USERS),
         "Action": [*READ_ACTIONS, *TAG_READ_ACTIONS], "Resource": rejected},
        {"Sid": "NoObjectReadsByAdminUploaderOrDeleter", "Effect": "Deny",
         "Principal": _principals(ADMIN, UPLOADER, DELETER), "Action": READ_ACTIONS, "Resource": everything},
        {"Sid": "TagsOnlyByScannerAndVerifier", "Effect": "Deny",
         "Principal": _principals(ADMIN, UPLOADER, EDGE, DELETER),
         "Action": TAG_WRITE_ACTIONS, "Resource": everything},
        {"Sid": "NoObjectWritesByAdminOrDeleter", "Effect": "Deny", "Principal": _principals(ADMIN, DELETER),
         "Action": "s3:PutObject", "Resource": everything},
        {"Sid": "FinalKeysOnlyByVerifier", "Effect": "Deny", "Principal": _principals(UPLOADER, EDGE, SCANNER),
         "Action": "s3:PutObject", "Resource": [*served, rejected]},
        {"Sid": "QuarantineWritesOnlyByUploader", "Effect": "Deny",
         "Principal": _principals(EDGE, SCANNER, VERIFIER), "Action": "s3:PutObject", "Resource": incoming},
        {"Sid": "QuarantineDeletesOnlyByVerifier", "Effect": "Deny", "Principal": _principals(ADMIN, UPLOADER, EDGE,
                                                                                              SCANNER),
         "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"], "Resource": [incoming, rejected]},
    ]
    return {"Version": "2012-10-17", "Statement": statements}
