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
from hypothesis import given, settings
from hypothesis import strategies as st

from filegate.settings import Settings
from stacks.config import CONTEXT_KEY, ConfigError, environment_from_context, read_context
from stacks.lambda_settings import minting_environment

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
