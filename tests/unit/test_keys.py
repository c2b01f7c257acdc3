"""Key construction from claims, key matching, prefix ownership, filename neutralising."""

from __future__ import annotations

from typing import Any

import pytest

from filegate.domain.errors import Reason, Refusal
from filegate.domain.identity import Identity
from filegate.domain.keys import (
    build_key,
    content_disposition,
    key_in_rule,
    rule_for_key,
    rules_for_prefix,
    sanitize_filename,
    well_formed_key,
)
from filegate.domain.rules import parse_rules

FILE_ID = "0123456789abcdef0123456789abcdef"
ALICE = Identity(sub="alice-1", groups=frozenset({"careers"}))
ORG_USER = Identity(sub="bob", groups=frozenset({"org"}), claims={"org_id": "acme"})


@pytest.fixture
def rules(seed_rules: list[dict[str, Any]]) -> Any:
    return parse_rules(seed_rules)


def test_key_comes_from_template_claims_and_server_file_name(rules: Any) -> None:
    # Given the cv rule and a careers user / When a key is built / Then only claims and server values appear
    key = build_key(rules[0], ALICE, file_id=FILE_ID, content_type="application/pdf")
    assert key == f"private/users/alice-1/cv/{FILE_ID}.pdf"
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert build_key(rules[0], ALICE, file_id=FILE_ID, content_type=docx).endswith(".docx")
    assert build_key(rules[2], ORG_USER, file_id=FILE_ID, content_type="application/pdf") == (
        f"private/orgs/acme/registration/{FILE_ID}.pdf")


@pytest.mark.parametrize(("identity", "reason"), [
    (Identity(sub="bob", groups=frozenset({"org"})), Reason.CLAIM_MISSING),
    (Identity(sub="bob", groups=frozenset({"org"}), claims={"org_id": ""}), Reason.CLAIM_MISSING),
    (Identity(sub="bob", groups=frozenset({"org"}), claims={"org_id": "../x"}), Reason.CLAIM_UNUSABLE),
    (Identity(sub="bob", groups=frozenset({"org"}), claims={"org_id": ".."}), Reason.CLAIM_UNUSABLE),
    (Identity(sub="bob", groups=frozenset({"org"}), claims={"org_id": "a/b"}), Reason.CLAIM_UNUSABLE),
])
def test_missing_or_unusable_claims_are_refused(rules: Any, identity: Identity, reason: Reason) -> None:
    with pytest.raises(Refusal) as refused:
        build_key(rules[2], identity, file_id=FILE_ID, content_type="application/pdf")
    assert refused.value.reason is reason and refused.value.status == 403


def test_file_id_must_be_server_shaped(rules: Any) -> None:
    with pytest.raises(ValueError, match="file_id"):
        build_key(rules[0], ALICE, file_id="../../etc", content_type="application/pdf")


def test_download_needs_the_callers_own_key(rules: Any) -> None:
    key = f"private/users/alice-1/cv/{FILE_ID}.pdf"
    assert rule_for_key(rules, ALICE, key).name == "cv"
    # Another careers user asking for Alice's key is refused
    with pytest.raises(Refusal) as refused:
        rule_for_key(rules, Identity(sub="mallory", groups=frozenset({"careers"})), key)
    assert refused.value.reason is Reason.KEY_OUTSIDE_RULES
    # Alice without the group is refused with a reason that says so
    with pytest.raises(Refusal) as refused:
        rule_for_key(rules, Identity(sub="alice-1"), key)
    assert refused.value.reason is Reason.NOT_IN_GROUP


@pytest.mark.parametrize("key", [
    f"private/users/alice-1/cv/{FILE_ID}.exe",          # extension of no allowed type
    f"private/users/alice-1/cv/{FILE_ID}.png",          # allowed elsewhere, not in cv
    "private/users/alice-1/cv/MyCV.pdf",                 # not a server file name
    f"private/users/alice-1/cv/x/{FILE_ID}.pdf",        # deeper than the template
    f"public/marketing/{FILE_ID}.png",                  # public: served unsigned, never minted
])
def test_keys_outside_rules_are_refused(rules: Any, key: str) -> None:
    with pytest.raises(Refusal) as refused:
        rule_for_key(rules, Identity(sub="alice-1", groups=frozenset({"careers", "marketing"})), key)
    assert refused.value.status == 403


@pytest.mark.parametrize("key", [
    "", "/private/x", "private//x", "private/../x", "private/./x", "private/x/", "private\\x", "private/x\x00",
    "private/\u202ex", "private/ x", "private/x?y", "private/*", "p" * 1025,
])
def test_malformed_keys_are_invalid_requests(rules: Any, key: str) -> None:
    assert not well_formed_key(key)
    with pytest.raises(Refusal) as refused:
        rule_for_key(rules, ALICE, key)
    assert refused.value.reason is Reason.INVALID_KEY and refused.value.status == 400


def test_key_in_rule_compares_whole_segments(rules: Any) -> None:
    assert not key_in_rule(rules[0], Identity(sub="alice"), f"private/users/alice-1/cv/{FILE_ID}.pdf")


class TestPrefixOwnership:
    def test_own_user_folder_covers_cv_and_certificates(self, rules: Any) -> None:
        granted = rules_for_prefix(rules, ALICE, "private/users/alice-1/")
        assert [rule.name for rule in granted] == ["cv", "certificate"]

    def test_own_cv_folder_covers_cv_only(self, rules: Any) -> None:
        assert [rule.name for rule in rules_for_prefix(rules, ALICE, "private/users/alice-1/cv/")] == ["cv"]

    @pytest.mark.parametrize("prefix", [
        "private/", "private/users/", "private/users/mallory/", "public/", "public/marketing/", "private/orgs/",
        "private/users/alice-1/cv/x/",
    ])
    def test_prefixes_holding_others_files_are_refused(self, rules: Any, prefix: str) -> None:
        with pytest.raises(Refusal) as refused:
            rules_for_prefix(rules, ALICE, prefix)
        assert refused.value.status == 403

    @pytest.mark.parametrize("prefix", ["private/users/alice-1", "private/users/../", "/private/", "private//"])
    def test_malformed_prefixes_are_invalid(self, rules: Any, prefix: str) -> None:
        with pytest.raises(Refusal) as refused:
            rules_for_prefix(rules, ALICE, prefix)
        assert refused.value.status == 400

    def test_org_member_owns_the_org_folder(self, rules: Any) -> None:
        assert [rule.name for rule in rules_for_prefix(rules, ORG_USER, "private/orgs/acme/")] == [
            "business-registration"]


@pytest.mark.parametrize(("name", "content_type", "expected"), [
    ("My CV.pdf", "application/pdf", "My CV.pdf"),
    ("My CV.PDF", "application/pdf", "My CV.pdf"),
    ("../../etc/passwd", "application/pdf", "_.._etc_passwd.pdf"),
    ("..\\..\\boot.ini", "application/pdf", "_.._boot.ini.pdf"),
    ("evil.html", "application/pdf", "evil.html.pdf"),
    ("photo.jpeg", "image/jpeg", "photo.jpeg"),
    ("a\x00b\x07c.pdf", "application/pdf", "abc.pdf"),
    ("invoice\u202efdp.exe", "application/pdf", "invoicefdp.exe.pdf"),
    ("\uff0e\uff0e\uff0fsecret", "application/pdf", "_secret.pdf"),     # full-width ../ (NFKC)
    ("zero\u200bwidth.pdf", "application/pdf", "zerowidth.pdf"),
    ("", "application/pdf", "file.pdf"),
    (None, "image/png", "file.png"),
    ("...", "application/pdf", "file.pdf"),
    (".pdf", "application/pdf", "pdf.pdf"),
    ("line\nbreak\t.pdf", "application/pdf", "linebreak.pdf"),
])
def test_filenames_are_neutralised(name: str | None, content_type: str, expected: str) -> None:
    assert sanitize_filename(name, content_type) == expected


def test_long_filenames_are_shortened_keeping_the_extension() -> None:
    name = sanitize_filename("x" * 10_000 + ".pdf", "application/pdf")
    assert len(name) <= 120 and name.endswith(".pdf")


def test_content_disposition_is_ascii_with_utf8_name() -> None:
    header = content_disposition("attachment", 'Lebenslauf "Müller".pdf')
    assert header == ("attachment; filename=\"Lebenslauf _Muller_.pdf\"; "
                      "filename*=UTF-8''Lebenslauf%20%22M%C3%BCller%22.pdf")
    assert header.isascii()
