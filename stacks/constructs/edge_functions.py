"""The edge's deny list: a CloudFront KeyValueStore and the viewer-request function that reads it
(DESIGN.md decision 12, docs/lifecycle.md "Revocations").

```
viewer ─► CloudFront ─► revocation function (cloudfront-js-2.0, viewer request) ─► cache / S3
                              └─ reads <prefix>-revocations (KeyValueStore): a key or prefix
                                 whose `until` is later than now answers 403, URL signed or not
```

The function is ``edge/revocation.js`` as it is (the local edge runs the same file under Node).
It goes on the signed (default) behaviour only: ``public/*`` has no issued URLs to revoke, and a
deleted public file is invalidated instead. The Lambdas that delete, erase and expire entries
write the store through the ``cloudfront-keyvaluestore`` API (their grants: FileApiStack._grant).
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import aws_cloudfront as cloudfront
from constructs import Construct

ROOT = Path(__file__).resolve().parents[2]
REVOCATION_FUNCTION_SOURCE = ROOT / "edge" / "revocation.js"
#: CloudFront Functions take at most 10 KB of code (a quota that cannot be raised).
MAX_FUNCTION_CODE_BYTES = 10 * 1024


class EdgeFunctions(Construct):
    """``<prefix>-revocations`` (the store) and ``<prefix>-revocation`` (the function, store associated)."""

    def __init__(self, scope: Construct, construct_id: str, *, name_prefix: str, revocation_store_name: str) -> None:
        super().__init__(scope, construct_id)
        if not REVOCATION_FUNCTION_SOURCE.is_file():
            raise FileNotFoundError(f"{REVOCATION_FUNCTION_SOURCE}: the edge revocation function is missing")
        size = REVOCATION_FUNCTION_SOURCE.stat().st_size
        if size > MAX_FUNCTION_CODE_BYTES:
            raise ValueError(f"{REVOCATION_FUNCTION_SOURCE}: {size} bytes, over CloudFront Functions' "
                             f"{MAX_FUNCTION_CODE_BYTES}-byte code limit")
        self.revocations = cloudfront.KeyValueStore(
            self, "Revocations",
            key_value_store_name=revocation_store_name,
            comment=f"{name_prefix}: revoked keys and prefixes (value: until, epoch seconds)",
        )
        self.revocation_function = cloudfront.Function(
            self, "RevocationFunction",
            function_name=f"{name_prefix}-revocation",
            comment=f"{name_prefix}: refuses revoked keys and prefixes on the signed behaviour",
            code=cloudfront.FunctionCode.from_file(file_path=str(REVOCATION_FUNCTION_SOURCE)),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            key_value_store=self.revocations,
            auto_publish=True,
        )

    @property
    def revocation_store_arn(self) -> str:
        return self.revocations.key_value_store_arn

    def viewer_request(self) -> cloudfront.FunctionAssociation:
        """The association the signed behaviour takes."""
        return cloudfront.FunctionAssociation(event_type=cloudfront.FunctionEventType.VIEWER_REQUEST,
                                              function=self.revocation_function)
