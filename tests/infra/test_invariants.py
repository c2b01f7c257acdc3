"""Invariants over every template of every variant (DESIGN.md, "Invariants every change keeps")."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import Synthesized

POLICY_TYPES = {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::Role", "AWS::S3::BucketPolicy",
                "AWS::KMS::Key", "AWS::SNS::TopicPolicy", "AWS::Logs::ResourcePolicy"}
# A PEM private key: the BEGIN line followed by a base64 body (a library's bare marker string is not a key).
_PRIVATE = b"PRIVATE" + b" KEY"  # spelled in two parts so this file holds no key marker itself
PRIVATE_KEY = re.compile(rb"-----BEGIN [A-Z ]*" + _PRIVATE + rb"-----(\\n|\s)+[A-Za-z0-9+/=\s\\n]{40,}-----END")
ACCESS_KEY_ID = re.compile(rb"\b(AKIA|ASIA)[0-9A-Z]{16}\b")


def _statements(document: Any) -> Iterator[dict[str, Any]]:
    if isinstance(document, dict):
        if "Statement" in document and isinstance(document["Statement"], list):
            yield from document["Statement"]
        for value in document.values():
            yield from _statements(value)
    elif isinstance(document, list):
        for item in document:
            yield from _statements(item)


def _all_statements(synth: Synthesized) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for stack, template in synth.raw.items():
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] in POLICY_TYPES:
                for statement in _statements(resource.get("Properties", {})):
                    yield stack, logical_id, statement


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.fixture(params=["app", "variant"])
def synth(request: pytest.FixtureRequest) -> Synthesized:
    return request.getfixturevalue(request.param)


def test_no_allow_statement_has_a_wildcard_principal(synth: Synthesized) -> None:
    offenders = [
        (stack, logical_id) for stack, logical_id, s in _all_statements(synth)
        if s.get("Effect") == "Allow" and (s.get("Principal") == "*" or "*" in _as_list(
            s.get("Principal", {}).get("AWS", []) if isinstance(s.get("Principal"), dict) else []))
    ]
    assert offenders == []


def _quarantine_only(resources: Any) -> bool:
    """Every resource is an object pattern under the quarantine prefix (``<bucket>/incoming/...``)."""
    for resource in _as_list(resources):
        parts = resource.get("Fn::Join", ["", []])[1] if isinstance(resource, dict) else [resource]
        last = parts[-1] if parts else None
        if not (isinstance(last, str) and "/" in last and last.split("/", 1)[1].startswith("incoming/")):
            return False
    return True


def test_no_identity_policy_grants_object_reads(synth: Synthesized) -> None:
    # Only the bucket policy (to CloudFront for this distribution) may allow s3:GetObject of a servable
    # object; identity policies may read only the quarantine (the scanner's and the verifier's roles).
    read_actions = re.compile(r"^(s3:\*|s3:Get\*|s3:GetObject.*|\*)$")
    offenders = [
        (stack, logical_id, s.get("Action")) for stack, logical_id, s in _all_statements(synth)
        if s.get("Effect") == "Allow" and "Principal" not in s
        and any(read_actions.match(action) for action in _as_list(s.get("Action", [])))
        and not _quarantine_only(s.get("Resource"))
    ]
    assert offenders == []


def test_the_only_allowed_object_reader_is_cloudfront(synth: Synthesized) -> None:
    readers = [
        s.get("Principal") for _, _, s in _all_statements(synth)
        if s.get("Effect") == "Allow" and "Principal" in s
        and any(str(a).startswith("s3:GetObject") or a in ("s3:*", "*") for a in _as_list(s.get("Action", [])))
    ]
    assert readers, "the OAC read grant must exist"
    assert all(reader == {"Service": "cloudfront.amazonaws.com"} for reader in readers)


def test_no_private_key_or_credential_anywhere_in_cdk_out(synth: Synthesized) -> None:
    # Templates, manifests and every bundled Lambda asset.
    scanned = 0
    for path in Path(synth.outdir).rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        scanned += 1
        assert not PRIVATE_KEY.search(data), f"private key material in {path}"
        assert not ACCESS_KEY_ID.search(data), f"AWS access key id in {path}"
        if path.suffix == ".json":
            assert b"aws_secret_access_key" not in data.lower(), f"secret access key in {path}"
    assert scanned > 50


def test_only_public_keys_reach_cloudfront(variant: Synthesized) -> None:
    keys = [r["Properties"]["PublicKeyConfig"]["EncodedKey"] for t in variant.raw.values()
            for r in t["Resources"].values() if r["Type"] == "AWS::CloudFront::PublicKey"]
    assert len(keys) == 2
    assert all(key.startswith("-----BEGIN PUBLIC KEY-----") for key in keys)


def test_the_private_key_detector_detects_real_keys_raw_and_json_escaped() -> None:
    # The scan above must be able to fail: a real PEM (and its JSON-escaped form) is caught.
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert PRIVATE_KEY.search(pem)
    assert PRIVATE_KEY.search(json.dumps({"k": pem.decode()}).encode())
    assert not PRIVATE_KEY.search(b'_SK_START = b"-----BEGIN OPENSSH ' + _PRIVATE + b'-----"')
