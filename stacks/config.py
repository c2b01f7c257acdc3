"""Typed, validated environment configuration.

Every environment lives in ``cdk.json`` under ``context.filegate``: ``defaults`` holds the shared
values and ``environments.<name>`` overrides them (a shallow merge per top-level key, with nested
objects such as ``urls`` merged one level deeper). A wrong value fails synthesis with a
``ConfigError`` whose message names the setting, e.g. ``environments.prod.urls.max_seconds``.
The access rules are parsed by the same function the Lambdas use at start-up, so a rule that
would be refused at run time is refused at synthesis first.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "lambdas") not in sys.path:
    sys.path.insert(0, str(ROOT / "lambdas"))

from filegate.domain.rules import Rule, RuleConfigError, parse_rules  # noqa: E402

DEFAULT_CONTEXT_FILE = ROOT / "cdk.json"
CONTEXT_KEY = "filegate"
EDGE_REGION = "us-east-1"  # CloudFront reads its WebACL and certificate from here only.

# CloudWatch Logs accepts only these retention values.
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
_ACCOUNT = re.compile(r"^\d{12}$")
_ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{1,15}$")
_SLOT = re.compile(r"^[a-z][a-z0-9]{0,19}$")
_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_ORIGIN = re.compile(r"^(https://[a-z0-9.-]+(:\d{1,5})?|http://(localhost|127\.0\.0\.1)(:\d{1,5})?)$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")


class ConfigError(ValueError):
    """A configuration value is wrong; the message starts with the setting's path."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UrlSettings(_Strict):
    """Lifetimes of minted URLs, in seconds."""

    upload_expiry_seconds: int = Field(300, ge=10, le=3600)
    upload_max_expiry_seconds: int = Field(900, ge=10, le=3600)
    default_seconds: int = Field(300, ge=10, le=7 * 24 * 3600)
    max_seconds: int = Field(3600, ge=10, le=7 * 24 * 3600)
    allow_ip_restriction: bool = True
    allow_start_time: bool = True
    signature_cache_seconds: int = Field(60, ge=0, le=3600)

    @model_validator(mode="after")
    def _defaults_within_max(self) -> UrlSettings:
        if self.upload_expiry_seconds > self.upload_max_expiry_seconds:
            raise ValueError("upload_expiry_seconds must not exceed upload_max_expiry_seconds")
        if self.default_seconds > self.max_seconds:
            raise ValueError("default_seconds must not exceed max_seconds")
        if self.signature_cache_seconds >= self.max_seconds:
            raise ValueError("signature_cache_seconds must be shorter than max_seconds")
        return self


class ApiThrottle(_Strict):
    rate_limit: int = Field(50, ge=1, le=10_000)
    burst_limit: int = Field(100, ge=1, le=5_000)


class JwtSettings(_Strict):
    """An external OpenID issuer; without one a Cognito user pool is provisioned."""

    issuer: str
    audience: tuple[str, ...] = Field(min_length=1)
    # Scopes the access token must carry on every user route: without them ID tokens (which
    # carry no scope) would pass where access tokens are meant.
    scopes: tuple[str, ...] = Field(min_length=1)

    @field_validator("issuer")
    @classmethod
    def _https_issuer(cls, value: str) -> str:
        if not re.match(r"^https://[^\s/]+(/[^\s]*)?$", value) or value.endswith("/"):
            raise ValueError("must be an https URL without a trailing slash")
        return value


class DomainSettings(_Strict):
    domain_name: str
    hosted_zone_id: str = Field(pattern=r"^Z[A-Z0-9]{1,31}$")
    hosted_zone_name: str

    @field_validator("domain_name", "hosted_zone_name")
    @classmethod
    def _valid_domain(cls, value: str) -> str:
        if not _DOMAIN.match(value):
            raise ValueError(f"{value!r} is not a lower-case DNS name")
        return value

    @model_validator(mode="after")
    def _inside_zone(self) -> DomainSettings:
        if not (self.domain_name == self.hosted_zone_name
                or self.domain_name.endswith("." + self.hosted_zone_name)):
            raise ValueError("domain_name must lie inside hosted_zone_name")
        return self


class SigningSlot(_Strict):
    """One CloudFront public key in the key group.

    With the KMS signer the slot is a KMS key made by the stack (its public key is read at
    deploy time). With the secret signer the private key lives in a Secrets Manager secret the
    operator creates, and its *public* half is given here.
    """

    name: str
    public_key_pem: str | None = None
    secret_name: str | None = None

    @field_validator("name")
    @classmethod
    def _slot_name(cls, value: str) -> str:
        if not _SLOT.match(value):
            raise ValueError("must match [a-z][a-z0-9]{0,19} (it becomes part of a logical id)")
        return value

    @field_validator("public_key_pem")
    @classmethod
    def _public_only(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if "PRIVATE KEY" in value:
            raise ValueError("holds a PRIVATE key; give the public key only")
        if not value.strip().startswith("-----BEGIN PUBLIC KEY-----"):
            raise ValueError("must be a PEM 'BEGIN PUBLIC KEY' block")
        return value


class SigningSettings(_Strict):
    signer: Literal["kms", "secret"] = "kms"
    slots: tuple[SigningSlot, ...] = Field(min_length=1, max_length=5)
    active_slot: str

    @property
    def slot_names(self) -> tuple[str, ...]:
        return tuple(slot.name for slot in self.slots)

    @model_validator(mode="after")
    def _consistent(self) -> SigningSettings:
        names = self.slot_names
        if len(set(names)) != len(names):
            raise ValueError("slot names must be unique")
        if self.active_slot not in names:
            raise ValueError(f"active_slot {self.active_slot!r} is not one of the slots {list(names)}")
        for slot in self.slots:
            if self.signer == "secret" and not (slot.public_key_pem and slot.secret_name):
                raise ValueError(f"slot {slot.name!r}: the secret signer needs public_key_pem and secret_name")
            if self.signer == "kms" and (slot.public_key_pem or slot.secret_name):
                raise ValueError(f"slot {slot.name!r}: the kms signer takes no public_key_pem or secret_name")
        return self


class EnvironmentConfig(_Strict):
    """One deployable environment (dev, prod, ...)."""

    name: str
    account: str | None = None
    region: str = "ap-southeast-1"
    domain: DomainSettings | None = None
    frontend_origins: tuple[str, ...] = Field(min_length=1)
    price_class: Literal["PriceClass_100", "PriceClass_200", "PriceClass_All"] = "PriceClass_100"
    waf_rate_limit: int = Field(2000, ge=10, le=2_000_000_000)
    urls: UrlSettings = UrlSettings()
    api_throttle: ApiThrottle = ApiThrottle()
    jwt: JwtSettings | None = None
    rules: tuple[Rule, ...]
    signing: SigningSettings
    log_retention_days: int = 365
    removal_policy: Literal["retain", "destroy"] = "retain"
    lambda_reserved_concurrency: int | None = Field(None, ge=1, le=1000)
    read_exception_role_arns: tuple[str, ...] = ()
    # IAM roles (trusted servers) allowed to call the /backend/ routes on behalf of users.
    backend_principal_arns: tuple[str, ...] = ()
    # Parent domain shared by the app and the file domain, for signed cookies (needs `domain`).
    cookie_domain: str | None = None
    alarm_email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")

    @field_validator("name")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError("must match [a-z][a-z0-9-]{1,15}")
        return value

    @field_validator("account")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        if value is not None and not _ACCOUNT.match(value):
            raise ValueError("must be a 12-digit AWS account id")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION.match(value):
            raise ValueError(f"{value!r} is not an AWS region name")
        return value

    @field_validator("frontend_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if not _ORIGIN.match(origin):
                raise ValueError(
                    f"{origin!r} must be a scheme://host[:port] origin: https, or http only for "
                    "localhost/127.0.0.1; no path, no wildcard")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"{value} is not a CloudWatch Logs retention value {LOG_RETENTION_DAYS}")
        return value

    @field_validator("read_exception_role_arns", "backend_principal_arns")
    @classmethod
    def _role_arns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for arn in value:
            if not _ROLE_ARN.match(arn):
                raise ValueError(f"{arn!r} is not an IAM role ARN")
        return value

    @field_validator("rules", mode="before")
    @classmethod
    def _rules(cls, value: Any) -> tuple[Rule, ...]:
        if isinstance(value, tuple) and all(isinstance(rule, Rule) for rule in value):
            return value
        return parse_rules(value, setting="rules")

    @model_validator(mode="after")
    def _cookie_domain_covers_the_file_domain(self) -> EnvironmentConfig:
        if self.cookie_domain is None:
            return self
        if self.domain is None:
            raise ValueError("cookie_domain needs `domain`: cookies cannot be set for *.cloudfront.net")
        if not _DOMAIN.match(self.cookie_domain) or not (
                self.domain.domain_name == self.cookie_domain
                or self.domain.domain_name.endswith("." + self.cookie_domain)):
            raise ValueError(f"cookie_domain {self.cookie_domain!r} must be a parent of {self.domain.domain_name!r}")
        return self

    @property
    def is_production_like(self) -> bool:
        return self.removal_policy == "retain"

    @property
    def prefix(self) -> str:
        """Physical-name prefix, e.g. ``filegate-prod``."""
        return f"filegate-{self.name}"

    @property
    def download_role_name(self) -> str:
        """Known name of the download Lambda's role.

        The signing keys' key policies name this role (by condition) before the API stack
        creates it, which avoids a cross-stack cycle between the keys and the role.
        """
        return f"{self.prefix}-download-signer"

    @property
    def upload_role_name(self) -> str:
        """Known name of the upload Lambda's role: the only principal the bucket lets write."""
        return f"{self.prefix}-uploader"

    @property
    def jwt_audience(self) -> tuple[str, ...]:
        return self.jwt.audience if self.jwt else ("filegate",)


def _merge(defaults: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(defaults)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _setting_path(env: str, loc: tuple[int | str, ...]) -> str:
    path = f"environments.{env}"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def environment_from_context(filegate_context: Any, env: str) -> EnvironmentConfig:
    """Build one environment's config from the ``filegate`` context object."""
    if not isinstance(filegate_context, dict):
        raise ConfigError("context.filegate: missing or not an object")
    environments = filegate_context.get("environments")
    if not isinstance(environments, dict) or not environments:
        raise ConfigError("context.filegate.environments: missing or empty")
    if env not in environments:
        raise ConfigError(f"env: unknown environment {env!r}; configured: {sorted(environments)}")
    defaults = filegate_context.get("defaults", {})
    if not isinstance(defaults, dict) or not isinstance(environments[env], dict):
        raise ConfigError(f"environments.{env}: must be an object")
    raw = _merge(defaults, environments[env])
    raw["name"] = env
    try:
        return EnvironmentConfig.model_validate(raw)
    except RuleConfigError as error:
        raise ConfigError(f"environments.{env}.{error}") from error
    except ValidationError as error:
        first = error.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if isinstance(first.get("ctx", {}).get("error"), RuleConfigError):
            raise ConfigError(f"environments.{env}.{first['ctx']['error']}") from error
        raise ConfigError(f"{_setting_path(env, tuple(first['loc']))}: {message}") from error


def environment_names(filegate_context: Any) -> list[str]:
    if not isinstance(filegate_context, dict) or not isinstance(filegate_context.get("environments"), dict):
        raise ConfigError("context.filegate.environments: missing or not an object")
    return sorted(filegate_context["environments"])


def read_context(path: Path = DEFAULT_CONTEXT_FILE) -> dict[str, Any]:
    """The whole ``context`` object of cdk.json (feature flags included)."""
    context = json.loads(path.read_text())["context"]
    assert isinstance(context, dict)
    return context


def load_environment(env: str = "dev", path: Path = DEFAULT_CONTEXT_FILE) -> EnvironmentConfig:
    """Load one environment straight from cdk.json (local mode and tests use this)."""
    return environment_from_context(read_context(path).get(CONTEXT_KEY), env)
