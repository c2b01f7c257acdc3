"""Environment variables, read once into validated models.

Four models, one per kind of Lambda; the first three share what they all read (bucket, rules,
files table):

- ``Settings``: the API Lambdas (``uploads``, ``downloads``, ``files``), which mint and answer
  requests; built by ``stacks.lambda_settings.minting_environment``. It includes
  ``FILEGATE_ORIGIN_SECRET``, the origin-verify secret every user route checks
  (docs/front-door.md), so that every function behind a user route has it.
- ``VerifierSettings``: the verifier and the sweep, which hold no signing slot but read the
  quarantine, publish events and keep idempotency records; built by
  ``stacks.lambda_settings.verifier_environment``.
- ``LifecycleSettings`` (extends ``Settings``): ``files``, ``deletions``, the erasure worker and
  the revocation expiry (docs/lifecycle.md): the cursor secret, the bus, the edge's revocation
  store, the distribution, the erasures table and queue; built by
  ``stacks.lambda_settings.lifecycle_environment``.
- ``OriginRotationSettings``: the origin-verify secret's rotation function
  (``filegate.handlers.origin_rotation``), which reads only the distribution it updates.

``HANDLER_SETTINGS`` says which model each entry point reads. The CDK stacks and the local mode
set exactly these names (``MINTING_ENVIRONMENT``, ``VERIFIER_ENVIRONMENT``; ``ENVIRONMENT`` is
every name any filegate Lambda reads). A wrong value fails the Lambda's start with a
``SettingsError`` naming the variable.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from functools import cached_property
from typing import Annotated, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from filegate.domain.groups import GroupsClaim, GroupsFormat
from filegate.domain.principals import is_role_arn
from filegate.domain.records import UNUSED_RECORD_SECONDS
from filegate.domain.rules import (
    DEFAULT_PLACEHOLDER_CLAIMS,
    Rule,
    RuleConfigError,
    check_groups_claim,
    check_placeholder_claims,
    parse_rules,
    rules_by_name,
)

_BASE_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")
_PUBLIC_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
#: DynamoDB table names (3-255 of A-Z a-z 0-9 _ . -).
_TABLE_NAME = r"^[A-Za-z0-9_.-]{3,255}$"
#: An EventBridge bus name, or its ARN.
_EVENT_BUS = r"^(arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/)?[A-Za-z0-9._/-]{1,256}$"
#: A Secrets Manager secret: its name, or its ARN.
_SECRETS_MANAGER_ID = (r"^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}"
           r"|[A-Za-z0-9/_+=.@-]{1,512})$")
#: A CloudFront KeyValueStore ARN (global: no region).
_KEY_VALUE_STORE_ARN = r"^arn:aws[a-z-]*:cloudfront::\d{12}:key-value-store/[A-Za-z0-9-]{1,64}$"
#: A CloudFront distribution id.
_DISTRIBUTION_ID = r"^[A-Z0-9]{1,64}$"
#: An SQS queue URL: https, or http only to a loopback host (the local mode's stand-in).
_QUEUE_URL = re.compile(
    r"^(?:https://[A-Za-z0-9.-]+|http://(?:127\.0\.0\.1|localhost))(?::\d{1,5})?/\d{12}/[A-Za-z0-9_-]{1,80}$")

Scanning = Literal["guardduty", "none"]

#: What both kinds of Lambda read.
_SHARED_ENVIRONMENT: Mapping[str, str] = {
    "bucket": "FILEGATE_BUCKET",
    "bucket_kms_key_arn": "FILEGATE_BUCKET_KMS_KEY_ARN",
    "placeholder_claims": "FILEGATE_PLACEHOLDER_CLAIMS",
    "rules": "FILEGATE_RULES",
    "files_table": "FILEGATE_FILES_TABLE",
    "s3_addressing_style": "FILEGATE_S3_ADDRESSING_STYLE",
}
#: Environment variable for each setting of the API Lambdas (``rules`` and friends are JSON).
MINTING_ENVIRONMENT: Mapping[str, str] = {
    **_SHARED_ENVIRONMENT,
    "download_base_url": "FILEGATE_DOWNLOAD_BASE_URL",
    "signer": "FILEGATE_SIGNER",
    "signing_slots": "FILEGATE_SIGNING_SLOTS",
    "active_slot": "FILEGATE_ACTIVE_SLOT",
    "upload_expiry_seconds": "FILEGATE_UPLOAD_EXPIRY_SECONDS",
    "upload_max_expiry_seconds": "FILEGATE_UPLOAD_MAX_EXPIRY_SECONDS",
    "url_default_seconds": "FILEGATE_URL_DEFAULT_SECONDS",
    "url_max_seconds": "FILEGATE_URL_MAX_SECONDS",
    "allow_ip_restriction": "FILEGATE_ALLOW_IP_RESTRICTION",
    "allow_start_time": "FILEGATE_ALLOW_START_TIME",
    "signature_cache_seconds": "FILEGATE_SIGNATURE_CACHE_SECONDS",
    "cookie_domain": "FILEGATE_COOKIE_DOMAIN",
    "backend_principals": "FILEGATE_BACKEND_PRINCIPALS",
    "groups_claim": "FILEGATE_GROUPS_CLAIM",
    "groups_format": "FILEGATE_GROUPS_FORMAT",
    "origin_secret": "FILEGATE_ORIGIN_SECRET",
}
#: Environment variable for each setting of the verifier and the sweep.
VERIFIER_ENVIRONMENT: Mapping[str, str] = {
    **_SHARED_ENVIRONMENT,
    "event_bus": "FILEGATE_EVENT_BUS",
    "idempotency_table": "FILEGATE_IDEMPOTENCY_TABLE",
    "scanning": "FILEGATE_SCANNING",
    "verifying_timeout_seconds": "FILEGATE_VERIFYING_TIMEOUT_SECONDS",
}
#: The six settings of docs/lifecycle.md, beyond the API Lambdas' (``stacks.lambda_settings`` sets them).
LIFECYCLE_VARIABLES: Mapping[str, str] = {
    "cursor_secret": "FILEGATE_CURSOR_SECRET",
    "event_bus": "FILEGATE_EVENT_BUS",
    "revocation_store_arn": "FILEGATE_REVOCATION_STORE_ARN",
    "distribution_id": "FILEGATE_DISTRIBUTION_ID",
    "erasures_table": "FILEGATE_ERASURES_TABLE",
    "erasure_queue_url": "FILEGATE_ERASURE_QUEUE_URL",
}
#: Environment variable for each setting of the lifecycle Lambdas (``LifecycleSettings``).
LIFECYCLE_ENVIRONMENT: Mapping[str, str] = {**MINTING_ENVIRONMENT, **LIFECYCLE_VARIABLES}
#: Environment variable for each setting of the origin-verify secret's rotation function.
ORIGIN_ROTATION_ENVIRONMENT: Mapping[str, str] = {
    "distribution_id": "FILEGATE_DISTRIBUTION_ID",
}
#: Every variable some filegate Lambda reads.
ENVIRONMENT: Mapping[str, str] = {**MINTING_ENVIRONMENT, **VERIFIER_ENVIRONMENT, **LIFECYCLE_ENVIRONMENT,
                                  **ORIGIN_ROTATION_ENVIRONMENT}
_JSON_SETTINGS = frozenset({"rules", "signing_slots", "backend_principals", "placeholder_claims"})
_SEVEN_DAYS = 7 * 24 * 3600
#: The sweep gives up on an undecided record after this long at most: well inside the record's
#: TTL (a day), so that the sweep, not the TTL, decides a stuck upload.
MAX_VERIFYING_TIMEOUT_SECONDS = UNUSED_RECORD_SECONDS // 2


class SettingsError(ValueError):
    """A setting is missing or wrong; the message starts with the environment variable's name."""


class SigningSlot(BaseModel):
    """One signing key slot: the CloudFront public key id and where its private half lives."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    public_key_id: str
    kms_key_id: str | None = None
    secret_name: str | None = None
    #: KMS slots are ``ECC_NIST_P256`` keys (the only kind the stack makes, and the only
    #: algorithm the key policy allows): kept as a field so that any other value fails at start.
    kms_signing_algorithm: Literal["ECDSA_SHA_256"] = "ECDSA_SHA_256"

    @field_validator("public_key_id")
    @classmethod
    def _key_id(cls, value: str) -> str:
        if not _PUBLIC_KEY_ID.match(value):
            raise ValueError(f"{value!r} is not a CloudFront public key id")
        return value


class _FromEnvironment(BaseModel):
    """How a settings model is read from the environment (its ``ENVIRONMENT`` names, plus the region)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    #: setting name -> environment variable, for the model's own fields.
    ENVIRONMENT: ClassVar[Mapping[str, str]] = {}

    region: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Self:
        env = os.environ if environ is None else environ
        raw: dict[str, object] = {}
        for setting, variable in cls.ENVIRONMENT.items():
            value = env.get(variable)
            if value is None or value.strip() == "":
                continue  # unset (or empty, as CloudFormation writes an absent optional): default
            if setting in _JSON_SETTINGS:
                try:
                    raw[setting] = json.loads(value)
                except json.JSONDecodeError as error:
                    raise SettingsError(f"{variable}: not valid JSON ({error.msg})") from error
            else:
                raw[setting] = value.strip()
        raw["region"] = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
        try:
            return cls.model_validate(raw)
        except RuleConfigError as error:
            raise SettingsError(str(error)) from error
        except ValidationError as error:
            first = error.errors()[0]
            cause = first.get("ctx", {}).get("error")
            if isinstance(cause, RuleConfigError):
                raise SettingsError(str(cause)) from error
            message = str(first["msg"]).removeprefix("Value error, ")
            loc = [str(part) for part in first["loc"]]
            if not loc and ":" in message:  # model-level check: "setting: message"
                setting, message = message.split(":", 1)
                loc, message = [setting], message.strip()
            variable = cls.ENVIRONMENT.get(loc[0], loc[0]) if loc else "settings"
            suffix = "".join(f"[{part}]" for part in loc[1:])
            raise SettingsError(f"{variable}{suffix}: {message}") from error


class _EnvironmentSettings(_FromEnvironment):
    """What every filegate Lambda but the origin secret's rotation reads."""

    ENVIRONMENT: ClassVar[Mapping[str, str]] = _SHARED_ENVIRONMENT

    bucket: Annotated[str, Field(min_length=3, max_length=63)]
    bucket_kms_key_arn: str | None = None
    #: Declared before ``rules``: the rules are checked against it.
    placeholder_claims: tuple[str, ...] = DEFAULT_PLACEHOLDER_CLAIMS
    rules: tuple[Rule, ...]
    #: The file records (docs/verification.md): one item per file, keyed by ``file_id``.
    files_table: Annotated[str, Field(pattern=_TABLE_NAME)]
    s3_addressing_style: Literal["virtual", "path"] = "virtual"

    @field_validator("placeholder_claims", mode="before")
    @classmethod
    def _placeholder_claims(cls, value: object) -> tuple[str, ...]:
        return check_placeholder_claims(value, setting=ENVIRONMENT["placeholder_claims"])

    @field_validator("rules", mode="before")
    @classmethod
    def _rules(cls, value: object, info: ValidationInfo) -> tuple[Rule, ...]:
        claims = info.data.get("placeholder_claims")
        if claims is None:  # placeholder_claims failed its own check; that error is reported
            raise ValueError("not checked: FILEGATE_PLACEHOLDER_CLAIMS is invalid")
        return parse_rules(value, setting=ENVIRONMENT["rules"], placeholder_claims=claims)

    @property
    def rules_by_name(self) -> dict[str, Rule]:
        return rules_by_name(self.rules)


class Settings(_EnvironmentSettings):
    """The API Lambdas: ``uploads``, ``downloads`` and ``files``."""

    ENVIRONMENT: ClassVar[Mapping[str, str]] = MINTING_ENVIRONMENT

    download_base_url: str
    signer: Literal["kms", "secret"] = "kms"
    signing_slots: dict[str, SigningSlot]
    active_slot: str
    upload_expiry_seconds: Annotated[int, Field(ge=1, le=_SEVEN_DAYS)] = 300
    upload_max_expiry_seconds: Annotated[int, Field(ge=1, le=_SEVEN_DAYS)] = 900
    url_default_seconds: Annotated[int, Field(ge=1, le=_SEVEN_DAYS)] = 300
    url_max_seconds: Annotated[int, Field(ge=1, le=_SEVEN_DAYS)] = 3600
    allow_ip_restriction: bool = False
    allow_start_time: bool = True
    signature_cache_seconds: Annotated[int, Field(ge=0, le=3600)] = 60
    cookie_domain: str | None = None
    #: IAM role ARNs whose sessions may call the ``/backend/`` routes (none: nobody may).
    backend_principals: tuple[str, ...] = ()
    #: The claim that carries the caller's groups, and its format (``filegate.domain.groups``).
    groups_claim: str = "cognito:groups"
    groups_format: GroupsFormat = "array"
    #: The origin-verify secret (name or ARN) whose versions a user route's ``x-origin-verify``
    #: header must match (docs/front-door.md). Required: without it no user route could be served.
    origin_secret: Annotated[str, Field(pattern=_SECRETS_MANAGER_ID)]

    @field_validator("groups_claim")
    @classmethod
    def _groups_claim(cls, value: str, info: ValidationInfo) -> str:
        return check_groups_claim(value, info.data.get("placeholder_claims") or DEFAULT_PLACEHOLDER_CLAIMS)

    @field_validator("backend_principals", mode="before")
    @classmethod
    def _backend_principals(cls, value: object) -> tuple[str, ...]:
        if not isinstance(value, list | tuple):
            raise ValueError("must be a JSON list of IAM role ARNs")
        for index, arn in enumerate(value):
            if not isinstance(arn, str) or not is_role_arn(arn):
                raise ValueError(f"[{index}]: {arn!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
        return tuple(value)

    @field_validator("download_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not _BASE_URL.match(value):
            raise ValueError(f"{value!r} must be scheme://host[:port] with no path and no trailing slash")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        slot = self.signing_slots.get(self.active_slot)
        if slot is None:
            raise ValueError(f"active_slot: {self.active_slot!r} is not one of {sorted(self.signing_slots)}")
        if self.signer == "kms" and not slot.kms_key_id:
            raise ValueError(f"signing_slots: slot {self.active_slot!r} has no kms_key_id for the kms signer")
        if self.signer == "secret" and not slot.secret_name:
            raise ValueError(f"signing_slots: slot {self.active_slot!r} has no secret_name for the secret signer")
        if self.upload_expiry_seconds > self.upload_max_expiry_seconds:
            raise ValueError("upload_expiry_seconds: must not exceed upload_max_expiry_seconds")
        if self.url_default_seconds > self.url_max_seconds:
            raise ValueError("url_default_seconds: must not exceed url_max_seconds")
        return self

    @property
    def slot(self) -> SigningSlot:
        return self.signing_slots[self.active_slot]

    @cached_property
    def groups(self) -> GroupsClaim:
        """Read on every request (``identify``): built once per settings."""
        return GroupsClaim(name=self.groups_claim, format=self.groups_format)


class VerifierSettings(_EnvironmentSettings):
    """The verifier and the sweep: no signing slots, no API settings."""

    ENVIRONMENT: ClassVar[Mapping[str, str]] = VERIFIER_ENVIRONMENT

    #: The product's own EventBridge bus (``File Verified``, ``File Rejected``).
    event_bus: Annotated[str, Field(pattern=_EVENT_BUS)]
    #: Powertools idempotency records (``id`` partition key, TTL ``expiration``).
    idempotency_table: Annotated[str, Field(pattern=_TABLE_NAME)]
    #: ``guardduty``: a file is promoted only with a ``NO_THREATS_FOUND`` verdict; ``none``: after
    #: the content checks alone. No default: which one is deployed is always said out loud.
    scanning: Scanning
    #: How long a record may stay undecided (or decided with its event unpublished) before the
    #: sweep acts on it. Longer than the verifier queue's whole retry budget.
    verifying_timeout_seconds: Annotated[int, Field(ge=60, le=MAX_VERIFYING_TIMEOUT_SECONDS)] = 3600


class LifecycleSettings(Settings):
    """The lifecycle Lambdas (docs/lifecycle.md): ``files``, ``deletions``, the erasure worker and
    the revocation expiry. Every setting here is required."""

    ENVIRONMENT: ClassVar[Mapping[str, str]] = LIFECYCLE_ENVIRONMENT

    #: The Secrets Manager secret (name or ARN) whose SecretString keys the listing cursors' MAC.
    cursor_secret: Annotated[str, Field(pattern=_SECRETS_MANAGER_ID)]
    #: The product's own EventBridge bus (``File Deleted``, ``Subject Erased``).
    event_bus: Annotated[str, Field(pattern=_EVENT_BUS)]
    #: The CloudFront KeyValueStore the edge's revocation function reads.
    revocation_store_arn: Annotated[str, Field(pattern=_KEY_VALUE_STORE_ARN)]
    #: The distribution whose cached copies a delete invalidates.
    distribution_id: Annotated[str, Field(pattern=_DISTRIBUTION_ID)]
    erasures_table: Annotated[str, Field(pattern=_TABLE_NAME)]
    erasure_queue_url: str

    @field_validator("erasure_queue_url")
    @classmethod
    def _queue_url(cls, value: str) -> str:
        if not _QUEUE_URL.match(value):
            raise ValueError(f"{value[:200]!r} is not an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)")
        return value


class OriginRotationSettings(_FromEnvironment):
    """The origin-verify secret's rotation function: Secrets Manager names the secret in each
    event; the function needs only the distribution whose origins carry the header."""

    ENVIRONMENT: ClassVar[Mapping[str, str]] = ORIGIN_ROTATION_ENVIRONMENT

    distribution_id: Annotated[str, Field(pattern=_DISTRIBUTION_ID)]


#: Which settings model each Lambda entry point reads.
HANDLER_SETTINGS: Mapping[str, type[_FromEnvironment]] = {
    "filegate.handlers.uploads.handler": Settings,
    "filegate.handlers.downloads.handler": Settings,
    "filegate.handlers.files.handler": LifecycleSettings,
    "filegate.handlers.deletions.handler": LifecycleSettings,
    "filegate.handlers.erasure_worker.handler": LifecycleSettings,
    "filegate.handlers.revocation_expiry.handler": LifecycleSettings,
    "filegate.handlers.verifier.handler": VerifierSettings,
    "filegate.handlers.sweep.handler": VerifierSettings,
    "filegate.handlers.origin_rotation.handler": OriginRotationSettings,
}
