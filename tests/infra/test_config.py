"""Environment config: every bad value fails synthesis with a message that names the setting."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from stacks.config import CONTEXT_KEY, ConfigError, environment_from_context, read_context


def _private_key_pem() -> str:
    """A private key generated at test time: what an operator might paste by mistake."""
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


@pytest.fixture(scope="module")
def context() -> dict[str, Any]:
    return read_context()[CONTEXT_KEY]


def _with(context: dict[str, Any], env: str, **override: Any) -> dict[str, Any]:
    changed = copy.deepcopy(context)
    changed["environments"][env].update(override)
    return changed


def test_committed_environments_load(context: dict[str, Any]) -> None:
    # Given cdk.json / When each environment is loaded / Then defaults and overrides merge
    dev = environment_from_context(context, "dev")
    prod = environment_from_context(context, "prod")
    assert dev.region == prod.region == "ap-southeast-1"
    assert dev.removal_policy == "destroy" and prod.removal_policy == "retain"
    assert [rule.name for rule in prod.rules] == ["cv", "certificate", "business-registration", "marketing"]
    assert prod.signing.active_slot in prod.signing.slot_names
    assert prod.urls.default_seconds <= prod.urls.max_seconds


@pytest.mark.parametrize(("override", "setting"), [
    ({"region": "mars-north-1x"}, "environments.prod.region"),
    ({"account": "12345"}, "environments.prod.account"),
    ({"frontend_origins": ["http://evil.example.com"]}, "environments.prod.frontend_origins"),
    ({"frontend_origins": ["https://app.example.com/path"]}, "environments.prod.frontend_origins"),
    ({"frontend_origins": ["*"]}, "environments.prod.frontend_origins"),
    ({"frontend_origins": []}, "environments.prod.frontend_origins"),
    ({"price_class": "PriceClass_1"}, "environments.prod.price_class"),
    ({"waf_rate_limit": 5}, "environments.prod.waf_rate_limit"),
    ({"log_retention_days": 42}, "environments.prod.log_retention_days"),
    ({"removal_policy": "snapshot"}, "environments.prod.removal_policy"),
    ({"urls": {"default_seconds": 7200, "max_seconds": 3600}}, "environments.prod.urls"),
    ({"urls": {"upload_expiry_seconds": 5}}, "environments.prod.urls.upload_expiry_seconds"),
    ({"jwt": {"issuer": "http://login.example.com", "audience": ["a"]}}, "environments.prod.jwt.issuer"),
    ({"jwt": {"issuer": "https://login.example.com", "audience": []}}, "environments.prod.jwt.audience"),
    ({"jwt": {"issuer": "https://login.example.com", "audience": ["a"]}}, "environments.prod.jwt.scopes"),
    ({"cookie_domain": "example.org"}, "environments.prod"),
    ({"domain": {"domain_name": "files.example.org", "hosted_zone_id": "Z123", "hosted_zone_name": "example.org"},
      "cookie_domain": "other.org"}, "environments.prod"),
    ({"backend_principal_arns": ["*"]}, "environments.prod.backend_principal_arns"),
    ({"signing": {"signer": "kms", "slots": [{"name": "a"}], "active_slot": "b"}}, "environments.prod.signing"),
    ({"signing": {"signer": "hsm", "slots": [{"name": "a"}], "active_slot": "a"}}, "environments.prod.signing.signer"),
    ({"signing": {"signer": "kms", "slots": [{"name": "Bad_Slot"}], "active_slot": "Bad_Slot"}},
     "environments.prod.signing.slots[0].name"),
    ({"signing": {"signer": "secret", "slots": [{"name": "a"}], "active_slot": "a"}}, "environments.prod.signing"),
    ({"signing": {"signer": "secret", "slots": [{"name": "a", "secret_name": "s",
                                                 "public_key_pem": _private_key_pem()}],
                  "active_slot": "a"}}, "environments.prod.signing.slots[0].public_key_pem"),
    ({"domain": {"domain_name": "files.other.org", "hosted_zone_id": "Z123", "hosted_zone_name": "example.org"}},
     "environments.prod.domain"),
    ({"read_exception_role_arns": ["arn:aws:iam::123:user/x"]}, "environments.prod.read_exception_role_arns"),
    ({"lambda_reserved_concurrency": 0}, "environments.prod.lambda_reserved_concurrency"),
    ({"unknown_setting": 1}, "environments.prod.unknown_setting"),
])
def test_bad_values_name_the_setting(context: dict[str, Any], override: dict[str, Any], setting: str) -> None:
    # Given one wrong value / When the environment is loaded / Then the error starts with its path
    with pytest.raises(ConfigError, match=rf"^{re.escape(setting)}\b"):
        environment_from_context(_with(context, "prod", **override), "prod")


@pytest.mark.parametrize("rules", [
    "not a list",
    [{"name": "x"}],
    [{"name": "svg", "key_template": "public/x/{file}", "groups": ["g"], "actions": ["upload"],
      "content_types": ["image/svg+xml"], "max_bytes": 10}],
])
def test_bad_rules_fail_with_the_rules_path(context: dict[str, Any], rules: Any) -> None:
    with pytest.raises(ConfigError, match=r"^environments\.prod\.rules"):
        environment_from_context(_with(context, "prod", rules=rules), "prod")


def test_unknown_environment_names_the_choices(context: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"^env: unknown environment 'staging'.*'dev', 'prod'"):
        environment_from_context(context, "staging")


# --- security review (issue 7) -----------------------------------------------------------------

def test_finding3_ip_restriction_is_off_by_default_and_needs_ipv6_off(context: dict[str, Any]) -> None:
    # Given cdk.json / Then no environment lets callers bind URLs to an IPv4 range by default
    for env in ("dev", "prod"):
        config = environment_from_context(context, env)
        assert config.urls.allow_ip_restriction is False and config.ipv6 is True
    # When one turns it on with the distribution dual-stack / Then synthesis names both settings
    with pytest.raises(ConfigError, match=r"^environments\.prod\.urls\.allow_ip_restriction: .*`ipv6: false`"):
        environment_from_context(_with(context, "prod", urls={"allow_ip_restriction": True}), "prod")
    # And with IPv6 off it is accepted
    config = environment_from_context(_with(context, "prod", urls={"allow_ip_restriction": True}, ipv6=False), "prod")
    assert config.urls.allow_ip_restriction and not config.ipv6


@pytest.mark.parametrize(("override", "setting"), [
    ({"frontend_origins": ["http://127.0.0.1:8080"]}, "environments.prod.frontend_origins[0]"),
    ({"cognito_callback_urls": ["http://127.0.0.1:8080/"]}, "environments.prod.cognito_callback_urls[0]"),
    ({"cognito_callback_urls": ["http://app.example.com/"]}, "environments.prod.cognito_callback_urls[0]"),
    ({"cognito_callback_urls": ["https://app.example.com/#x"]}, "environments.prod.cognito_callback_urls[0]"),
    ({"cognito_callback_urls": ["https://app.example.com/"], "cognito_logout_urls": ["http://10.0.0.1/"]},
     "environments.prod.cognito_logout_urls[0]"),
    ({"cognito_callback_urls": []}, "environments.prod.cognito_callback_urls"),
])
def test_finding7_cognito_callback_and_logout_urls_follow_cognitos_rules(
        context: dict[str, Any], override: dict[str, Any], setting: str) -> None:
    # Given a callback or sign-out URL Cognito refuses (HTTPS, or http://localhost only)
    # Then synthesis fails naming the setting, instead of the deployment failing in Cognito
    with pytest.raises(ConfigError, match=rf"^{re.escape(setting)}:"):
        environment_from_context(_with(context, "prod", **override), "prod")


def test_finding7_dev_deploys_with_urls_cognito_accepts(context: dict[str, Any]) -> None:
    # Given the committed dev environment (its demo origin is http://127.0.0.1:8080)
    dev = environment_from_context(context, "dev")
    # Then its app client URLs are ones Cognito accepts: https, or plain http to localhost only
    for url in (*dev.callback_urls, *dev.logout_urls):
        scheme_host = url.split("/", 3)[:3]
        assert scheme_host[0] == "https:" or (scheme_host[0] == "http:" and
                                              scheme_host[2].split(":")[0] == "localhost"), url


def _rule_with(template: str) -> dict[str, Any]:
    return {"name": "x", "key_template": template, "groups": ["g"], "actions": ["upload", "download"],
            "content_types": ["application/pdf"], "max_bytes": 10}


@pytest.mark.parametrize("claim", ["email", "preferred_username", "name", "tenant"])
def test_finding8_templates_name_only_allowed_placeholder_claims(context: dict[str, Any], claim: str) -> None:
    # Given a rule keyed by a claim that is not on the allow-list (default sub, org_id)
    rules = [_rule_with(f"private/by-{claim}/{{{claim}}}/{{file}}")]
    # Then synthesis refuses it, naming the rule's template and the allow-list setting
    with pytest.raises(ConfigError, match=r"^environments\.prod\.rules\[0\]\.key_template: .*placeholder_claims"):
        environment_from_context(_with(context, "prod", rules=rules), "prod")


def test_finding8_the_allow_list_can_grow_but_never_to_user_editable_claims(context: dict[str, Any]) -> None:
    # Given an operator who adds an administrator-set claim / Then rules may name it
    rules = [_rule_with("private/tenants/{tenant}/{file}")]
    config = environment_from_context(
        _with(context, "prod", rules=rules, placeholder_claims=["sub", "org_id", "tenant"]), "prod")
    assert config.rules[0].claim_names == ("tenant",)
    # But never a claim users edit themselves at most issuers
    for claim in ("email", "preferred_username", "file", "Bad-Name"):
        with pytest.raises(ConfigError, match=r"^environments\.prod\.placeholder_claims\[2\]: "):
            environment_from_context(_with(context, "prod", placeholder_claims=["sub", "org_id", claim]), "prod")


@pytest.mark.parametrize("arn", [
    "arn:aws:iam::123456789012:role/caf\u00e9",                     # a Unicode word character
    "arn:aws:iam::123456789012:role/" + "r" * 65,                   # a role name over 64 characters
    "arn:aws:iam::123456789012:role/rails/",                        # a trailing slash: no name
    "arn:aws:iam::123456789012:role/a//b",
])
def test_finding6_synthesis_refuses_role_arns_the_lambdas_refuse(context: dict[str, Any], arn: str) -> None:
    for setting in ("backend_principal_arns", "read_exception_role_arns"):
        with pytest.raises(ConfigError, match=rf"^environments\.prod\.{setting}"):
            environment_from_context(_with(context, "prod", **{setting: [arn]}), "prod")


@pytest.mark.parametrize("url", ["http://localhost/\n", "https://app.example.com/\x01", "https://app.example.com/ x"])
def test_finding7_control_characters_and_spaces_are_refused(context: dict[str, Any], url: str) -> None:
    with pytest.raises(ConfigError, match=r"^environments\.prod\.cognito_callback_urls\[0\]:"):
        environment_from_context(_with(context, "prod", cognito_callback_urls=[url]), "prod")


@pytest.mark.parametrize("claim", ["sub", "org_id", "nickname", "email", " groups", "has space", "\u00fcnicode",
                                   "g" * 129])
def test_finding2_the_groups_claim_is_a_claim_name_no_user_can_write(context: dict[str, Any], claim: str) -> None:
    # Given an external issuer whose groups claim is the subject, a key placeholder, a claim users
    # edit, or not a claim name at all / Then synthesis refuses it, naming the setting
    jwt = {"issuer": "https://login.example.org", "audience": ["a"], "scopes": ["files"],
           "groups_claim": claim, "groups_format": "array"}
    with pytest.raises(ConfigError, match=r"^environments\.prod\.jwt\.groups_claim: "):
        environment_from_context(_with(context, "prod", jwt=jwt), "prod")


# --- verified uploads (issue 8) ------------------------------------------------------------------

def test_verification_defaults_from_cdk_json(context: dict[str, Any]) -> None:
    # Given cdk.json / Then GuardDuty scans every environment, rejected files expire, nobody reviews them
    for env in ("dev", "prod"):
        config = environment_from_context(context, env)
        assert config.scanning == "guardduty"
        assert config.security_role_arns == ()
        assert config.events.webhook_url is None
    assert environment_from_context(context, "prod").verification.rejected_retention_days == 30
    assert environment_from_context(context, "dev").verification.rejected_retention_days == 7


@pytest.mark.parametrize(("override", "setting"), [
    ({"scanning": "clamav"}, "environments.prod.scanning"),
    ({"security_role_arns": ["arn:aws:iam::123456789012:user/auditor"]}, "environments.prod.security_role_arns"),
    ({"verification": {"rejected_retention_days": 0}}, "environments.prod.verification.rejected_retention_days"),
    ({"verification": {"verifier_concurrency": 1}}, "environments.prod.verification.verifier_concurrency"),
    ({"verification": {"verifying_timeout_seconds": 90000}},
     "environments.prod.verification.verifying_timeout_seconds"),
    ({"verification": {"verifier_timeout_seconds": 900}}, "environments.prod.verification"),
    ({"verification": {"unknown": 1}}, "environments.prod.verification.unknown"),
    ({"events": {"webhook_url": "http://rails.example.org/hook", "webhook_secret_name": "s"}},
     "environments.prod.events.webhook_url"),
    ({"events": {"webhook_url": "https://rails.example.org/hook"}}, "environments.prod.events.webhook_secret_name"),
    ({"events": {"archive_retention_days": -1}}, "environments.prod.events.archive_retention_days"),
])
def test_bad_verification_values_name_the_setting(context: dict[str, Any], override: dict[str, Any],
                                                  setting: str) -> None:
    # Given one wrong value / When the environment is loaded / Then the error starts with its path
    with pytest.raises(ConfigError, match=rf"^{re.escape(setting)}\b"):
        environment_from_context(_with(context, "prod", **override), "prod")


def test_a_rule_larger_than_the_verifier_can_hold_is_refused_naming_both_settings(context: dict[str, Any]) -> None:
    # Given a rule of 200 MiB with the default verifier memory
    rules = copy.deepcopy(context["defaults"]["rules"])
    rules[2]["max_bytes"] = 200 * 1024 * 1024
    # When the environment is loaded / Then synthesis refuses it, naming the rule and the memory setting
    refused = r"^environments\.prod\.rules\[2\]\.max_bytes: .*verification\.verifier_memory_mb"
    with pytest.raises(ConfigError, match=refused):
        environment_from_context(_with(context, "prod", rules=rules), "prod")
    # And with enough memory it is accepted
    config = environment_from_context(_with(context, "prod", rules=rules, verification={"verifier_memory_mb": 3072}),
                                      "prod")
    assert config.rules[2].max_bytes == 200 * 1024 * 1024


# --- the front door (DESIGN.md decision 13, docs/front-door.md) -----------------------------------

def test_front_door_defaults_and_known_names(context: dict[str, Any]) -> None:
    # Given cdk.json / When each environment is loaded
    for env in ("dev", "prod"):
        config = environment_from_context(context, env)
        # Then the WAF's API limits, the WebACL name and the origin secret follow the contract
        assert (config.waf_api_rate_limit, config.waf_api_max_body_bytes) == (1000, 8192)
        assert config.waf_web_acl_name is None and config.web_acl_name == f"filegate-{env}-edge"
        assert config.origin_secret_rotation_days == 30
        assert config.origin_secret_name == f"filegate-{env}-origin-verify"
        assert config.web_acl_arn_parameter == f"/filegate-{env}/edge/web-acl-arn"
        assert config.certificate_arn_parameter == f"/filegate-{env}/edge/certificate-arn"


def test_front_door_values_at_their_bounds_are_accepted(context: dict[str, Any]) -> None:
    # Given the largest body WAF inspects behind CloudFront, the lowest rate and a 128-character name
    name = "A_b-" + "c" * 124
    config = environment_from_context(_with(context, "prod", waf_api_max_body_bytes=16384, waf_api_rate_limit=10,
                                            waf_web_acl_name=name, origin_secret_rotation_days=365), "prod")
    # Then they load as given, and the WebACL takes the configured name
    assert (config.waf_api_max_body_bytes, config.waf_api_rate_limit, config.origin_secret_rotation_days) == (
        16384, 10, 365)
    assert config.web_acl_name == name


@pytest.mark.parametrize(("override", "setting"), [
    ({"waf_api_rate_limit": 9}, "environments.prod.waf_api_rate_limit"),
    ({"waf_api_max_body_bytes": 0}, "environments.prod.waf_api_max_body_bytes"),
    ({"waf_api_max_body_bytes": 16385}, "environments.prod.waf_api_max_body_bytes"),
    ({"waf_web_acl_name": ""}, "environments.prod.waf_web_acl_name"),
    ({"waf_web_acl_name": "has space"}, "environments.prod.waf_web_acl_name"),
    ({"waf_web_acl_name": "dotted.name"}, "environments.prod.waf_web_acl_name"),
    ({"waf_web_acl_name": "edge\n"}, "environments.prod.waf_web_acl_name"),
    ({"waf_web_acl_name": "\u00e9dge"}, "environments.prod.waf_web_acl_name"),
    ({"waf_web_acl_name": "a" * 129}, "environments.prod.waf_web_acl_name"),
    ({"origin_secret_rotation_days": 0}, "environments.prod.origin_secret_rotation_days"),
    ({"origin_secret_rotation_days": 366}, "environments.prod.origin_secret_rotation_days"),
])
def test_bad_front_door_values_name_the_setting(context: dict[str, Any], override: dict[str, Any],
                                                setting: str) -> None:
    # Given one wrong value / When the environment is loaded / Then the error starts with its path
    with pytest.raises(ConfigError, match=rf"^{re.escape(setting)}\b"):
        environment_from_context(_with(context, "prod", **override), "prod")


# --- Lambda SnapStart (issue 12) ----------------------------------------------------------------

def test_snap_start_is_on_in_prod_only(context: dict[str, Any]) -> None:
    # Given cdk.json / When each environment is loaded / Then prod restores snapshots, dev starts cold
    assert environment_from_context(context, "prod").snap_start is True
    assert environment_from_context(context, "dev").snap_start is False


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, None, ["true"]])
def test_snap_start_takes_a_json_boolean_only(context: dict[str, Any], value: Any) -> None:
    # Given snap_start as anything but true/false (pydantic would otherwise read "yes" or 1 as true)
    # When the environment is loaded / Then synthesis fails naming the setting
    with pytest.raises(ConfigError, match=rf"^{re.escape('environments.prod.snap_start')}\b"):
        environment_from_context(_with(context, "prod", snap_start=value), "prod")
