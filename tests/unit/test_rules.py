"""Access rules: parsing, validation messages that name the setting, authorisation decisions."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from filegate.domain.errors import Reason, Refusal
from filegate.domain.identity import Identity
from filegate.domain.rules import Rule, RuleConfigError, authorize, parse_rules, rules_by_name


def _with(rules: list[dict[str, Any]], index: int, **changes: Any) -> list[dict[str, Any]]:
    changed = [dict(rule) for rule in rules]
    changed[index].update(changes)
    return changed


def test_seed_rules_parse_and_round_trip(seed_rules: list[dict[str, Any]]) -> None:
    # Given the seed rules / When parsed, dumped as the CDK app does and parsed again
    rules = parse_rules(seed_rules)
    dumped = json.dumps([rule.model_dump(mode="json", exclude_none=True) for rule in rules])
    # Then nothing changes, and defaults are filled in
    assert parse_rules(json.loads(dumped)) == rules
    assert [rule.name for rule in rules] == ["cv", "certificate", "business-registration", "marketing"]
    assert rules[1].disposition == "attachment" and rules[1].url_lifetime_seconds is None


def test_key_prefix_pattern_replaces_every_placeholder(seed_rules: list[dict[str, Any]]) -> None:
    rules = parse_rules(seed_rules)
    assert [rule.key_prefix_pattern for rule in rules] == [
        "private/users/*/cv/*", "private/users/*/certificates/*", "private/orgs/*/registration/*",
        "public/marketing/*",
    ]


def test_rules_is_importable_without_boto3_or_powertools() -> None:
    # Given a fresh interpreter / When the CDK app imports the rules module / Then nothing heavy comes along
    import subprocess
    import sys
    code = ("import sys; sys.path.insert(0, 'lambdas'); import filegate.domain.rules; "
            "bad = [m for m in ('boto3', 'botocore', 'aws_lambda_powertools') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(__import__("pathlib").Path(__file__).parents[2]))


@pytest.mark.parametrize(("change", "message"), [
    ({"content_types": ["application/pdf", "image/svg+xml"]},
     r"rules[0].content_types[1]: 'image/svg+xml' is not allowed (SVG carries script)"),
    ({"content_types": ["text/html"]}, r"rules[0].content_types[0]: 'text/html' is not allowed"),
    ({"content_types": ["application/xhtml+xml"]}, r"rules[0].content_types[0]: 'application/xhtml+xml' is not"),
    ({"content_types": ["text/javascript"]}, r"rules[0].content_types[0]: 'text/javascript' is not allowed (script)"),
    ({"content_types": ["application/x-unknown"]}, r"rules[0].content_types[0]: 'application/x-unknown' is not a"),
    ({"content_types": ["Application/PDF"]},
     r"rules[0].content_types[0]: 'Application/PDF' must be a lowercase MIME type"),
    ({"content_types": []}, r"rules[0].content_types: "),
    ({"content_types": ["application/pdf", "application/pdf"]}, r"rules[0].content_types: must not repeat"),
    ({"name": "CV"}, r"rules[0].name: "),
    ({"name": "x" * 41}, r"rules[0].name: "),
    ({"groups": []}, r"rules[0].groups: "),
    ({"groups": ["careers,ops"]}, r"rules[0].groups[0]: 'careers,ops' is not a group name"),
    ({"groups": ["careers", "hr team"]}, r"rules[0].groups[1]: 'hr team' is not a group name"),
    ({"groups": ["[careers]"]}, r"rules[0].groups[0]: "),
    ({"groups": ['"careers"']}, r"rules[0].groups[0]: "),
    ({"groups": ["x" * 129]}, r"rules[0].groups[0]: "),
    ({"actions": ["upload", "erase"]}, r"rules[0].actions[1]: "),
    ({"max_bytes": 0}, r"rules[0].max_bytes: "),
    ({"max_bytes": 5 * 1024**3 + 1}, r"rules[0].max_bytes: "),
    ({"max_bytes": True}, r"rules[0].max_bytes: "),
    ({"disposition": "inline"}, r"rules[0].disposition: 'inline' is only allowed for safe raster images"),
    ({"key_template": "users/{sub}/{file}"}, r"rules[0].key_template: 'users/{sub}/{file}' must start with"),
    ({"key_template": "private/{sub}/../{file}"}, r"rules[0].key_template: 'private/{sub}/../{file}' must not"),
    ({"key_template": "private//{sub}/{file}"}, r"rules[0].key_template: 'private//{sub}/{file}' must not contain"),
    ({"key_template": "private/{sub}/{file}/x"}, r"rules[0].key_template: 'private/{sub}/{file}/x' must end with"),
    ({"key_template": "private/{file}/{file}"}, r"rules[0].key_template: "),
    ({"key_template": "private/{sub}"}, r"rules[0].key_template: "),
    ({"key_template": "private/u-{sub}/{file}"}, r"rules[0].key_template: 'private/u-{sub}/{file}': segment"),
    ({"key_template": "private/{sub}/{sub}/{file}"},
     r"rules[0].key_template: 'private/{sub}/{sub}/{file}': {sub}"),
    ({"key_template": "private/{groups}/{file}"}, r"rules[0].key_template: 'private/{groups}/{file}': {groups}"),
    ({"key_template": "private/*/{file}"}, r"rules[0].key_template: 'private/*/{file}': segment"),
    ({"key_template": "private/a\\b/{file}"}, r"rules[0].key_template: "),
    ({"url_lifetime_seconds": 0}, r"rules[0].url_lifetime_seconds: "),
    ({"surprise": 1}, r"rules[0].surprise: "),
])
def test_bad_rules_name_the_setting(seed_rules: list[dict[str, Any]], change: dict[str, Any], message: str) -> None:
    # Given one wrong value / When parsed / Then the error starts with the setting's path
    with pytest.raises(RuleConfigError, match="^" + re.escape(message)):
        parse_rules(_with(seed_rules, 0, **change))


def test_public_rules_cannot_download(seed_rules: list[dict[str, Any]]) -> None:
    with pytest.raises(RuleConfigError, match=r"^rules\[3\]\.actions: a public/ rule cannot have 'download'"):
        parse_rules(_with(seed_rules, 3, actions=["upload", "download"]))


def test_inline_is_allowed_for_safe_images_only(seed_rules: list[dict[str, Any]]) -> None:
    rules = parse_rules(_with(seed_rules, 3, disposition="inline"))
    assert rules[3].inline


@pytest.mark.parametrize(("raw", "message"), [
    ("cv", "rules: must be a list of rule objects"),
    ([], "rules: at least one rule is required"),
    (["cv"], "rules[0]: must be an object"),
])
def test_rule_set_shape(raw: object, message: str) -> None:
    with pytest.raises(RuleConfigError, match="^" + re.escape(message)):
        parse_rules(raw)


def test_setting_name_prefixes_messages(seed_rules: list[dict[str, Any]]) -> None:
    with pytest.raises(RuleConfigError, match=r"^FILEGATE_RULES\[0\]\.max_bytes: "):
        parse_rules(_with(seed_rules, 0, max_bytes=-1), setting="FILEGATE_RULES")


def test_duplicate_names_are_refused(seed_rules: list[dict[str, Any]]) -> None:
    with pytest.raises(RuleConfigError, match=r"^rules\[1\]\.name: duplicate rule name 'cv'"):
        parse_rules(_with(seed_rules, 1, name="cv"))


@pytest.mark.parametrize("template", [
    "private/users/{org_id}/cv/{file}",   # an org id equal to a user's sub would share the folder
    "private/users/admin/cv/{file}",      # a user whose sub is "admin" would share it
])
def test_templates_that_could_collide_across_identities_are_refused(
        seed_rules: list[dict[str, Any]], template: str) -> None:
    with pytest.raises(RuleConfigError, match=r"^rules\[1\]\.key_template: .* can produce the same keys as rule 'cv'"):
        parse_rules(_with(seed_rules, 1, key_template=template))


def test_identical_templates_are_one_space(seed_rules: list[dict[str, Any]]) -> None:
    # Given a second rule on the cv folder for another group / Then it is accepted (same owner per key)
    extra = dict(seed_rules[0], name="cv-recruiters", groups=["recruiters"], actions=["download"])
    assert len(parse_rules([*seed_rules, extra])) == 5


class TestAuthorize:
    rules = rules_by_name(parse_rules([
        {"name": "cv", "key_template": "private/users/{sub}/cv/{file}", "groups": ["careers"],
         "actions": ["upload", "download"], "content_types": ["application/pdf"], "max_bytes": 10},
        {"name": "archive", "key_template": "private/archive/{sub}/{file}", "groups": ["careers"],
         "actions": ["download"], "content_types": ["application/pdf"], "max_bytes": 10},
    ]))

    def test_member_may_use_the_rule(self) -> None:
        rule = authorize(self.rules, Identity(sub="u1", groups=frozenset({"careers"})), "upload", "cv")
        assert isinstance(rule, Rule) and rule.name == "cv"

    @pytest.mark.parametrize(("groups", "action", "name", "reason"), [
        ({"careers"}, "upload", "nope", Reason.NO_SUCH_RULE),
        ({"careers"}, "upload", "archive", Reason.ACTION_NOT_ALLOWED),
        ({"org"}, "upload", "cv", Reason.NOT_IN_GROUP),
        (set(), "download", "cv", Reason.NOT_IN_GROUP),
    ])
    def test_refusals_carry_a_reason_and_403(self, groups: set[str], action: Any, name: str, reason: Reason) -> None:
        with pytest.raises(Refusal) as refused:
            authorize(self.rules, Identity(sub="u1", groups=frozenset(groups)), action, name)
        assert refused.value.reason is reason and refused.value.status == 403


def test_a_template_whose_keys_could_not_be_revoked_at_the_edge_is_refused(seed_rules: list[dict[str, Any]]) -> None:
    # Given a template whose longest key (claims at 128 characters) passes 512 bytes: such a key
    # could be uploaded but never named in the edge's deny list, so never deleted
    long = "a" * 128
    rule = {**seed_rules[0], "key_template": f"private/{long}/{long}/{long}/{{sub}}/{{file}}"}
    # Then synthesis and Lambda start refuse it, naming the setting
    with pytest.raises(RuleConfigError, match=r"^rules\[0\]\.key_template: its keys can be \d+ bytes long"):
        parse_rules([rule])
    # And the longest key the check computes is what a real one measures (claims at their longest)
    from filegate.domain.identity import Identity as Caller
    from filegate.domain.keys import build_key

    fits = Rule.model_validate({**seed_rules[0], "key_template": f"private/{long}/{{sub}}/{{file}}",
                                "content_types": ("application/pdf",), "groups": ("careers",),
                                "actions": ("upload",)})
    key = build_key(fits, Caller(sub="s" * 128, groups=frozenset({"careers"}), claims={"sub": "s" * 128}),
                    file_id="0" * 32, content_type="application/pdf")
    assert len(key) <= fits.longest_key_bytes <= 512
