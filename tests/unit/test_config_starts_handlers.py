"""Finding 6 of the security review: every config synthesis accepts also starts the handlers.

Both handlers validate their settings at import, so a value that ``stacks/config.py`` accepts
but ``filegate.settings`` refuses would take every route down after a green deployment. The
generated configs here vary the settings the two sides both check; for each one the config
either fails synthesis (a ``ConfigError``) or yields an environment the handlers start with.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import hypothesis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filegate.settings import MINTING_ENVIRONMENT, VERIFIER_ENVIRONMENT, Settings, VerifierSettings
from stacks.config import CONTEXT_KEY, ConfigError, environment_from_context, read_context
from stacks.lambda_settings import LAMBDA_ENVIRONMENT_LIMIT, environment_size, minting_environment, verifier_environment

CONTEXT = read_context()[CONTEXT_KEY]
ROLE_PREFIX = "arn:aws:iam::123456789012:role/"

role_name_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=0, max_size=70)
plausible_role_arns = st.builds(lambda path, name: f"{ROLE_PREFIX}{path}{name}",
                                st.sampled_from(["", "service/", "a/b/"]),
                                st.from_regex(r"[\w+=,.@-]{1,70}", fullmatch=True))
role_arns = st.one_of(
    plausible_role_arns, plausible_role_arns,
    st.builds(lambda name: ROLE_PREFIX + name, role_name_text),
    st.builds(lambda path, name: f"{ROLE_PREFIX}{path}/{name}",
              st.from_regex(r"[A-Za-z0-9_+=,.@/-]{0,20}", fullmatch=True),
              st.from_regex(r"[\w+=,.@-]{0,70}", fullmatch=True)),
    st.sampled_from([ROLE_PREFIX + "caf\u00e9", ROLE_PREFIX + "r" * 64, ROLE_PREFIX + "r" * 65, ROLE_PREFIX + "a/",
                     "arn:aws-cn:iam::123456789012:role/app", "arn:aws:iam::123456789012:role/ops/app",
                     "arn:aws:sts::123456789012:assumed-role/app/s"]),
)
claim_names = st.one_of(st.sampled_from(["sub", "org_id", "tenant", "tenant_id"]),
                        st.sampled_from(["email", "groups", "file", "a" * 41, "Org", "x-y"]), st.text(max_size=12))


@st.composite
def environments(draw: st.DrawFn) -> dict[str, Any]:
    override: dict[str, Any] = {}
    for setting in ("backend_principal_arns", "read_exception_role_arns"):
        if draw(st.booleans()):
            override[setting] = draw(st.lists(role_arns, max_size=3))
    if draw(st.booleans()):
        override["placeholder_claims"] = ["sub", "org_id", *draw(st.lists(claim_names, max_size=2))]
    if draw(st.booleans()):
        override["jwt"] = {"issuer": "https://login.example.org", "audience": ["api"], "scopes": ["files"],
                           "groups_claim": draw(st.one_of(st.sampled_from(["groups", "roles", "cognito:groups",
                                                                           "https://x.org/groups"]),
                                                          st.text(max_size=20))),
                           "groups_format": draw(st.sampled_from(["array", "json_string", "array", "csv"]))}
    if draw(st.booleans()):
        override["urls"] = {"allow_ip_restriction": draw(st.booleans()),
                            "max_seconds": draw(st.integers(300, 8 * 24 * 3600)),
                            "signature_cache_seconds": draw(st.integers(0, 299))}
        override["ipv6"] = draw(st.booleans())
    return override


@settings(deadline=None)
@given(override=environments())
def test_finding6_every_config_synthesis_accepts_starts_the_handlers(override: dict[str, Any]) -> None:
    # Given a generated environment
    context = copy.deepcopy(CONTEXT)
    context["environments"]["prod"].update(override)
    try:
        config = environment_from_context(context, "prod")
    except ConfigError:
        hypothesis.event("refused at synthesis")
        return  # synthesis refuses it: nothing is deployed
    hypothesis.event("accepted at synthesis")
    # When synthesis accepts it, the Lambdas get the environment the stack would give them
    environment = minting_environment(
        config, bucket="filegate-prod-files-123456789012-ap-southeast-1",
        bucket_kms_key_arn="arn:aws:kms:ap-southeast-1:123456789012:key/0e1f",
        download_base_url="https://d111111abcdef8.cloudfront.net",
        signing_slots_json=json.dumps({slot: {"public_key_id": "K2JCJMDEHXQW5F", "kms_key_id": "arn:aws:kms:x"}
                                       for slot in config.signing.slot_names}))
    # Then the handlers' settings accept it too
    loaded = Settings.from_environ({**environment, "AWS_REGION": config.region})
    assert loaded.backend_principals == config.backend_principal_arns
    assert loaded.groups == config.groups_claim
    assert loaded.placeholder_claims == config.placeholder_claims
    # And so do the verifier's and the sweep's, from their own builder
    verifier = VerifierSettings.from_environ({**verifier_environment(
        config, bucket="filegate-prod-files-123456789012-ap-southeast-1",
        bucket_kms_key_arn="arn:aws:kms:ap-southeast-1:123456789012:key/0e1f"), "AWS_REGION": config.region})
    assert verifier.scanning == config.scanning and verifier.files_table == loaded.files_table
    assert verifier.verifying_timeout_seconds == config.verification.verifying_timeout_seconds


def test_each_builder_sets_exactly_the_names_its_model_reads() -> None:
    # Given the prod config / When both environments are built
    config = environment_from_context(CONTEXT, "prod")
    minting = minting_environment(config, bucket="b" * 10, bucket_kms_key_arn="arn:aws:kms:x",
                                  download_base_url="https://d1.cloudfront.net", signing_slots_json="{}")
    verifier = verifier_environment(config, bucket="b" * 10, bucket_kms_key_arn="arn:aws:kms:x")
    # Then every FILEGATE_ name is one the model of those Lambdas reads, and the verifier gets no
    # signing or API setting at all
    assert {name for name in minting if name.startswith("FILEGATE_")} <= set(MINTING_ENVIRONMENT.values())
    assert {name for name in verifier if name.startswith("FILEGATE_")} <= set(VERIFIER_ENVIRONMENT.values())
    assert not {"FILEGATE_SIGNING_SLOTS", "FILEGATE_DOWNLOAD_BASE_URL", "FILEGATE_BACKEND_PRINCIPALS"} & set(verifier)
    # And both name the environment's known tables and bus
    assert minting["FILEGATE_FILES_TABLE"] == verifier["FILEGATE_FILES_TABLE"] == config.files_table_name
    assert verifier["FILEGATE_EVENT_BUS"] == config.event_bus_name
    assert verifier["FILEGATE_IDEMPOTENCY_TABLE"] == config.idempotency_table_name


def test_review_a_rule_set_too_large_for_lambdas_environment_fails_synthesis() -> None:
    # Given 20 rules (synthesis accepted them before; Lambda's 4 KB environment limit refused
    # the deployment) / Then building the Lambdas' environment fails, naming the rules
    context = copy.deepcopy(CONTEXT)
    rules = [{"name": f"rule-{n}", "key_template": f"private/users/{{sub}}/documents-{n}/{{file}}",
              "groups": ["careers"], "actions": ["upload", "download"],
              "content_types": ["application/pdf", "image/png", "image/jpeg"], "max_bytes": 10485760}
             for n in range(20)]
    context["environments"]["prod"]["rules"] = rules
    config = environment_from_context(context, "prod")
    with pytest.raises(ConfigError, match=r"^environments\.prod\.rules: .*4096-byte limit"):
        minting_environment(config, bucket="b" * 60, bucket_kms_key_arn="arn:aws:kms:x", download_base_url="https://d",
                            signing_slots_json="{}")
    # And the committed environments fit, with room to spare
    for env in ("dev", "prod"):
        committed = environment_from_context(CONTEXT, env)
        environment = minting_environment(committed, bucket="${Token[TOKEN.1]}", bucket_kms_key_arn="${Token[TOKEN.2]}",
                                          download_base_url="https://${Token[TOKEN.3]}",
                                          signing_slots_json="${Token[TOKEN.4]}")
        assert environment_size(environment) < LAMBDA_ENVIRONMENT_LIMIT * 0.75, env
