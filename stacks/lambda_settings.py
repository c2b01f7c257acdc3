"""The Lambdas' environments, built from an environment config.

One builder per settings model of ``filegate.settings``, for both places that run the handlers:
the CDK stack (values may be deploy-time tokens) and the local mode (plain values).

- ``minting_environment``: the API Lambdas (``uploads``, ``downloads``, ``files``), read as
  ``filegate.settings.Settings`` (``MINTING_ENVIRONMENT``).
- ``verifier_environment``: the verifier and the sweep, read as ``VerifierSettings``
  (``VERIFIER_ENVIRONMENT``).
- ``lifecycle_environment``: the minting environment plus the six lifecycle names, for ``files``,
  ``deletions``, ``erasure_worker`` and ``revocation_expiry``, read as ``LifecycleSettings``
  (docs/lifecycle.md, "Settings").
- ``origin_rotation_environment``: the origin-verify secret's rotation function, read as
  ``OriginRotationSettings`` (docs/front-door.md, "The origin-verify secret").

``filegate.settings.HANDLER_SETTINGS`` says which entry point reads which. Table, bus and secret
names default to the config's known names (``files_table_name``, ``origin_secret_name``...); the
stack may pass tokens instead.
Kept free of CDK imports so the local mode can use it.
"""

from __future__ import annotations

import json

from stacks.config import ConfigError, EnvironmentConfig

# isort: split
# stacks.config has put lambdas/ on the path: the variable names are the settings' own.
from filegate.settings import LIFECYCLE_VARIABLES, MINTING_ENVIRONMENT, ORIGIN_ROTATION_ENVIRONMENT

#: Lambda refuses a function whose environment variables (names and values) exceed 4 KB: the
#: deployment would fail after synthesis passed. A deploy-time token (an ARN, a key id) is
#: counted as this many bytes, more than any of ours resolves to.
LAMBDA_ENVIRONMENT_LIMIT = 4096
TOKEN_ALLOWANCE = 160


#: The signing slots are one token standing for a JSON object: about this much per slot
#: (a public key id, a KMS key ARN or a secret name, and the JSON around them).
SLOT_ALLOWANCE = 240


def environment_size(environment: dict[str, str], *, slots: int = 1) -> int:
    """Bytes Lambda counts, with each unresolved token at its allowance."""
    def value_size(name: str, value: str) -> int:
        if "${Token[" not in value:
            return len(value.encode())
        if name == "FILEGATE_SIGNING_SLOTS":
            return SLOT_ALLOWANCE * slots
        return TOKEN_ALLOWANCE * value.count("${Token[")
    return sum(len(name.encode()) + value_size(name, value) for name, value in environment.items())


def _within_lambda_limit(config: EnvironmentConfig, environment: dict[str, str]) -> dict[str, str]:
    size = environment_size(environment, slots=len(config.signing.slots))
    if size > LAMBDA_ENVIRONMENT_LIMIT:
        raise ConfigError(
            f"environments.{config.name}.rules: the Lambdas' environment variables would take about {size} bytes, "
            f"over Lambda's {LAMBDA_ENVIRONMENT_LIMIT}-byte limit (the rules are most of it): fewer or shorter rules")
    return environment


_POWERTOOLS = {
    "POWERTOOLS_SERVICE_NAME": "filegate",
    "POWERTOOLS_METRICS_NAMESPACE": "filegate",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}


def _shared_environment(config: EnvironmentConfig, *, bucket: str, files_table: str | None,
                        s3_addressing_style: str) -> dict[str, str]:
    """What every filegate Lambda reads (``filegate.settings._SHARED_ENVIRONMENT``)."""
    return {
        "FILEGATE_BUCKET": bucket,
        "FILEGATE_RULES": json.dumps([rule.model_dump(mode="json", exclude_none=True) for rule in config.rules],
                                     separators=(",", ":")),
        "FILEGATE_PLACEHOLDER_CLAIMS": json.dumps(list(config.placeholder_claims), separators=(",", ":")),
        "FILEGATE_FILES_TABLE": files_table or config.files_table_name,
        "FILEGATE_S3_ADDRESSING_STYLE": s3_addressing_style,
    }


def minting_environment(
    config: EnvironmentConfig,
    *,
    bucket: str,
    bucket_kms_key_arn: str | None,
    download_base_url: str,
    signing_slots_json: str,
    s3_addressing_style: str = "virtual",
    files_table: str | None = None,
    origin_secret: str | None = None,
    extra_backend_principals: tuple[str, ...] = (),
) -> dict[str, str]:
    """The API Lambdas' environment (``filegate.settings.Settings``). ``origin_secret``: the
    origin-verify secret the user routes check ``x-origin-verify`` against (by default its name).
    ``extra_backend_principals``: roles the stacks add to ``backend_principal_arns`` (the deployment
    verifier's, docs/deployment.md), possibly deploy-time tokens."""
    urls = config.urls
    environment = {
        **_shared_environment(config, bucket=bucket, files_table=files_table, s3_addressing_style=s3_addressing_style),
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
        "FILEGATE_BACKEND_PRINCIPALS": json.dumps([*config.backend_principal_arns, *extra_backend_principals],
                                                  separators=(",", ":")),
        "FILEGATE_GROUPS_CLAIM": config.groups_claim.name,
        "FILEGATE_GROUPS_FORMAT": config.groups_claim.format,
        MINTING_ENVIRONMENT["origin_secret"]: origin_secret or config.origin_secret_name,
        **_POWERTOOLS,
    }
    if bucket_kms_key_arn:
        environment["FILEGATE_BUCKET_KMS_KEY_ARN"] = bucket_kms_key_arn
    if config.cookie_domain:
        environment["FILEGATE_COOKIE_DOMAIN"] = config.cookie_domain
    return _within_lambda_limit(config, environment)


def verifier_environment(
    config: EnvironmentConfig,
    *,
    bucket: str,
    bucket_kms_key_arn: str | None,
    files_table: str | None = None,
    idempotency_table: str | None = None,
    event_bus: str | None = None,
    s3_addressing_style: str = "virtual",
) -> dict[str, str]:
    """The verifier's and the sweep's environment (``filegate.settings.VerifierSettings``)."""
    environment = {
        **_shared_environment(config, bucket=bucket, files_table=files_table, s3_addressing_style=s3_addressing_style),
        "FILEGATE_EVENT_BUS": event_bus or config.event_bus_name,
        "FILEGATE_IDEMPOTENCY_TABLE": idempotency_table or config.idempotency_table_name,
        "FILEGATE_SCANNING": config.scanning,
        "FILEGATE_VERIFYING_TIMEOUT_SECONDS": str(config.verification.verifying_timeout_seconds),
        **_POWERTOOLS,
    }
    if bucket_kms_key_arn:
        environment["FILEGATE_BUCKET_KMS_KEY_ARN"] = bucket_kms_key_arn
    return _within_lambda_limit(config, environment)


def lifecycle_environment(
    config: EnvironmentConfig,
    *,
    bucket: str,
    bucket_kms_key_arn: str | None,
    download_base_url: str,
    signing_slots_json: str,
    revocation_store_arn: str,
    distribution_id: str,
    erasure_queue_url: str,
    s3_addressing_style: str = "virtual",
    files_table: str | None = None,
    cursor_secret: str | None = None,
    event_bus: str | None = None,
    erasures_table: str | None = None,
    origin_secret: str | None = None,
    extra_backend_principals: tuple[str, ...] = (),
) -> dict[str, str]:
    """The minting environment plus what listing, deleting, erasing and revoking read.

    The store ARN, the distribution id and the queue URL exist only once deployed (tokens in the
    stack, plain values locally); the secret, bus and table default to the config's known names.
    """
    environment = {
        **minting_environment(config, bucket=bucket, bucket_kms_key_arn=bucket_kms_key_arn,
                              download_base_url=download_base_url, signing_slots_json=signing_slots_json,
                              s3_addressing_style=s3_addressing_style, files_table=files_table,
                              origin_secret=origin_secret, extra_backend_principals=extra_backend_principals),
        LIFECYCLE_VARIABLES["cursor_secret"]: cursor_secret or config.cursor_secret_name,
        LIFECYCLE_VARIABLES["event_bus"]: event_bus or config.event_bus_name,
        LIFECYCLE_VARIABLES["revocation_store_arn"]: revocation_store_arn,
        LIFECYCLE_VARIABLES["distribution_id"]: distribution_id,
        LIFECYCLE_VARIABLES["erasures_table"]: erasures_table or config.erasures_table_name,
        LIFECYCLE_VARIABLES["erasure_queue_url"]: erasure_queue_url,
    }
    return _within_lambda_limit(config, environment)


def origin_rotation_environment(config: EnvironmentConfig, *, distribution_id: str) -> dict[str, str]:
    """The rotation function's environment (``filegate.settings.OriginRotationSettings``): the
    distribution whose ``x-origin-verify`` origins it updates. Secrets Manager names the secret in
    every rotation event, so the function is given nothing else."""
    environment = {
        ORIGIN_ROTATION_ENVIRONMENT["distribution_id"]: distribution_id,
        **_POWERTOOLS,
    }
    return _within_lambda_limit(config, environment)
