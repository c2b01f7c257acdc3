"""The minting Lambdas' environment, built from an environment config.

One function for both places that run the handlers: the CDK stack (values may be deploy-time
tokens) and the local mode (plain values). The names are the ones ``filegate.settings`` reads.
Kept free of CDK imports so the local mode can use it.
"""

from __future__ import annotations

import json

from stacks.config import EnvironmentConfig


def minting_environment(
    config: EnvironmentConfig,
    *,
    bucket: str,
    bucket_kms_key_arn: str | None,
    download_base_url: str,
    signing_slots_json: str,
    s3_addressing_style: str = "virtual",
) -> dict[str, str]:
    urls = config.urls
    environment = {
        "FILEGATE_BUCKET": bucket,
        "FILEGATE_RULES": json.dumps([rule.model_dump(mode="json", exclude_none=True) for rule in config.rules],
                                     separators=(",", ":")),
        "FILEGATE_DOWNLOAD_BASE_URL": download_base_url,
        "FILEGATE_SIGNER": config.signing.signer,
        "FILEGATE_SIGNING_SLOTS": signing_slots_json,
        "FILEGATE_ACTIVE_SLOT": config.signing.active_slot,
        "FILEGATE_UPLOAD_EXPIRY_SECONDS": str(urls.upload_expiry_seconds),
        "FILEGATE_UPLOAD_MAX_EXPIRY_SECONDS": str(urls.upload_max_expiry_seconds),
        "FILEGATE_URL_DEFAULT_SECONDS": str(urls.default_seconds),
        "FILEGATE_URL_MAX_SECONDS": str(urls.max_seconds),
        "FILEGATE_ALLOW_IP_RESTRICTION": str(urls.allow_ip_restriction).lower(),
        "FILEGATE_ALLOW_START_TIME": str(urls.allow_start_time).lower(),
        "FILEGATE_SIGNATURE_CACHE_SECONDS": str(urls.signature_cache_seconds),
        "FILEGATE_S3_ADDRESSING_STYLE": s3_addressing_style,
        "FILEGATE_BACKEND_PRINCIPALS": json.dumps(list(config.backend_principal_arns), separators=(",", ":")),
        "FILEGATE_PLACEHOLDER_CLAIMS": json.dumps(list(config.placeholder_claims), separators=(",", ":")),
        "FILEGATE_GROUPS_CLAIM": config.groups_claim.name,
        "FILEGATE_GROUPS_FORMAT": config.groups_claim.format,
        "POWERTOOLS_SERVICE_NAME": "filegate",
        "POWERTOOLS_METRICS_NAMESPACE": "filegate",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
    if bucket_kms_key_arn:
        environment["FILEGATE_BUCKET_KMS_KEY_ARN"] = bucket_kms_key_arn
    if config.cookie_domain:
        environment["FILEGATE_COOKIE_DOMAIN"] = config.cookie_domain
    return environment
