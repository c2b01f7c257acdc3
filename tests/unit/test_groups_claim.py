"""Finding 2 of the security review: group names are never split into other groups.

API Gateway's JWT authorizer passes an array claim as the string ``[a b]``. A name that holds a
space, a bracket or a quote cannot survive that form, so the handlers read groups from one
configured claim, in a configured format, and refuse a claim they cannot read unambiguously.
The oracles here are the groups the issuer put in the token, never a re-parse of the string.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from conftest import Minting, api_event, body, create_kms_key, filegate_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CV = {"rule": "cv", "content_type": "application/pdf", "size": 48213}
#: Rule group names as DESIGN.md states them.
DESIGN_GROUP = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")
REUSES_FIXTURE = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def api_gateway_renders(names: list[str]) -> str:
    """How the HTTP API JWT authorizer hands an array claim to the integration."""
    return "[" + " ".join(names) + "]"


def upload_as(minting: Minting, claims: dict[str, Any]) -> tuple[int, str | None]:
    response = minting.upload(api_event("/uploads", CV, claims={"sub": "mallory", **claims}))
    code = body(response).get("error", {}).get("code") if response["statusCode"] >= 400 else None
    return response["statusCode"], code


@pytest.fixture
def json_string_minting(configure: Any) -> Minting:
    """An external issuer whose mapper writes groups as a JSON array inside a string claim."""
    minting: Minting = configure(**filegate_env(kms_key_id=create_kms_key(), FILEGATE_GROUPS_CLAIM="groups",
                                                FILEGATE_GROUPS_FORMAT="json_string"))
    return minting


@pytest.mark.parametrize("issued", [['"careers"'], ["careers]"], ["[careers"], ["x", '"careers"'],
                                    ['["careers"]'], ["careers,ops"], ["careers\t"]])
def test_finding2_a_rendered_name_that_is_no_group_name_refuses_the_claim(minting: Minting,
                                                                         issued: list[str]) -> None:
    # Given a Cognito token whose only groups are names Cognito allows but rule groups cannot be
    # (quotes, brackets, commas), as API Gateway renders them
    status, code = upload_as(minting, {"cognito:groups": api_gateway_renders(issued)})
    # Then the caller is not in careers: the claim is refused, never read as something else
    assert (status, code) == (403, "not_allowed"), issued


def test_finding2_a_name_with_spaces_is_one_group_in_the_json_string_format(json_string_minting: Minting) -> None:
    # Given an external issuer's token whose only group is "no careers access", as its mapper
    # writes it (a JSON string) and as API Gateway would render it were it an array
    for claim in (json.dumps(["no careers access"]), api_gateway_renders(["no careers access"])):
        status, code = upload_as(json_string_minting, {"groups": claim})
        # Then that one group admits nothing (splitting "[no careers access]" on spaces minted)
        assert (status, code) == (403, "not_allowed"), claim
    # And a real careers member of the same issuer still uploads
    assert upload_as(json_string_minting, {"groups": json.dumps(["All Staff", "careers"])})[0] == 201


@pytest.mark.parametrize("value", ["[careers org]", "careers", ["careers"], "{\"careers\": 1}", '"careers"'])
def test_finding2_the_json_string_format_refuses_any_other_shape(json_string_minting: Minting, value: object) -> None:
    # Given a claim that is not a JSON array in a string (a misconfigured issuer) / Then no mint
    status, _ = upload_as(json_string_minting, {"groups": value})
    assert status == (201 if value == ["careers"] else 403), value  # a real array is unambiguous


@pytest.mark.parametrize(("claims", "status"), [
    ({"cognito:groups": "[careers]"}, 201),
    ({"cognito:groups": "[org careers]"}, 201),
    ({"cognito:groups": ["org", "careers"]}, 201),
    ({"cognito:groups": "careers"}, 201),            # a single-name string claim
    ({"cognito:groups": "[]"}, 403),
    ({"cognito:groups": "org careers"}, 403),        # a bare string with a space: not API Gateway's form
    ({"cognito:groups": "[org  careers]"}, 403),     # two spaces: an empty name
    ({"cognito:groups": "[org\tcareers]"}, 403),
    ({"cognito:groups": 7}, 403),
    ({"groups": "[careers]"}, 403),                  # not the configured claim: never read
])
def test_finding2_only_the_configured_claim_in_api_gateways_form(minting: Minting, claims: dict[str, Any],
                                                                 status: int) -> None:
    assert upload_as(minting, claims)[0] == status, claims


any_group = st.one_of(st.sampled_from(["careers", "org", "marketing", "no careers access", "careers ", " careers",
                                       '"careers"', "[careers]", "careers,org", "Careers", ""]),
                      st.text(max_size=16))


@REUSES_FIXTURE
@given(issued=st.lists(any_group, max_size=4))
def test_finding2_json_string_groups_are_exactly_the_issued_names(json_string_minting: Minting,
                                                                  issued: list[str]) -> None:
    # Given any names at all (spaces, brackets, quotes), written by the issuer as a JSON string
    status, _ = upload_as(json_string_minting, {"groups": json.dumps(issued)})
    # Then the cv rule admits the caller exactly when "careers" itself was issued
    assert (status == 201) is ("careers" in issued), issued


cognito_name = st.text(st.characters(categories=["L", "M", "S", "N", "P"]), min_size=1, max_size=12)


@REUSES_FIXTURE
@given(issued=st.lists(st.one_of(cognito_name, st.sampled_from(["careers", "org", '"careers"', "careers]"])),
                       max_size=4))
def test_finding2_rendered_cognito_groups_grant_only_issued_names(minting: Minting, issued: list[str]) -> None:
    # Given any groups Cognito can hold (no white space), rendered by API Gateway as "[a b]"
    status, _ = upload_as(minting, {"cognito:groups": api_gateway_renders(issued)})
    # Then careers is granted only when issued, and only when every name is unambiguous
    unambiguous = all(DESIGN_GROUP.fullmatch(name) for name in issued)
    assert (status == 201) is (unambiguous and "careers" in issued), issued
