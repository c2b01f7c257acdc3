"""The headers CloudFront adds to, and removes from, every response (the local edge does the same).

Kept free of CDK imports so the local edge can use it without loading the CDK. The metadata
names come from the Lambda package, which writes them (``filegate.domain.uploads``).
"""

import sys
from pathlib import Path

_LAMBDAS = str(Path(__file__).resolve().parent.parent / "lambdas")
if _LAMBDAS not in sys.path:
    sys.path.insert(0, _LAMBDAS)

from filegate.domain.uploads import METADATA_FIELDS  # noqa: E402

HSTS_SECONDS = 63_072_000  # two years, the preload list's minimum is one
# Files are data, never pages: a sandboxed, script-free policy defuses HTML or SVG that slipped in.
CONTENT_SECURITY_POLICY = "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox"
REFERRER_POLICY = "no-referrer"

SECURITY_HEADERS: dict[str, str] = {
    "Strict-Transport-Security": f"max-age={HSTS_SECONDS}; includeSubDomains; preload",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": REFERRER_POLICY,
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
}

#: How many names one response headers policy may remove. The CloudFront API refuses a longer
#: list (``TooManyRemoveHeadersInResponseHeadersPolicy``, "see Quotas"); the Quotas page gives
#: no separate figure for removed headers, only 10 custom headers per policy, so the list stays
#: within 10 until a larger quota is granted to the account.
REMOVE_HEADERS_QUOTA = 10

#: S3 response headers that reveal internals, removed from every viewer response (exact names:
#: CloudFront takes no prefixes). In priority order, because of the quota:
#: 1. the metadata every upload writes: the uploader's user id, the original filename, the rule;
#: 2. SSE details: the KMS key ARN (with the account id), the algorithm, the bucket-key flag
#:    (the bucket uses S3 Bucket Keys, so S3 sends it on every object);
#: 3. the version id (the bucket is versioned): a handle on one version of a file;
#: 4. the tag count (the malware scan tags every object) and S3's request ids.
#: Not listed, because this bucket never makes S3 send them on a GET/HEAD: ``x-amz-expiration``
#: (no current-version expiration rule), ``x-amz-storage-class`` (STANDARD only, no
#: transitions), ``x-amz-replication-status`` (no replication), SSE-C and encryption-context
#: headers (not used / not returned by GET). CloudFront itself drops none of these.
REMOVED_ORIGIN_HEADERS: tuple[str, ...] = (
    *METADATA_FIELDS,
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-bucket-key-enabled",
    "x-amz-version-id",
    "x-amz-tagging-count",
    "x-amz-request-id",
    "x-amz-id-2",
)
if len(REMOVED_ORIGIN_HEADERS) > REMOVE_HEADERS_QUOTA:  # a new metadata field must displace a name
    raise RuntimeError(f"{len(REMOVED_ORIGIN_HEADERS)} headers to remove; a response headers policy takes "
                       f"{REMOVE_HEADERS_QUOTA}: write less metadata or drop a lower-priority name")
