"""Signing key slots, the public-key custom resource and the key group (DESIGN.md decision 4)."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match

from tests.infra.conftest import Synthesized


def test_each_slot_is_an_ecc_p256_signing_key_only_the_download_role_may_use(app: Synthesized) -> None:
    config = app.environments["prod"].config
    template = app.template("prod", "FileStore")
    keys = template.find_resources("AWS::KMS::Key", {"Properties": {"KeySpec": "ECC_NIST_P256"}})
    assert len(keys) == len(config.signing.slots)
    for key in keys.values():
        properties = key["Properties"]
        assert properties["KeyUsage"] == "SIGN_VERIFY"
        statements = {s["Sid"]: s for s in properties["KeyPolicy"]["Statement"]}
        assert set(statements) == {"KeyAdministrationWithoutUse", "SignOnlyAsTheDownloadRole"}
        admin = statements["KeyAdministrationWithoutUse"]
        assert "kms:Sign" not in admin["Action"] and "kms:*" not in admin["Action"]
        sign = statements["SignOnlyAsTheDownloadRole"]
        assert sign["Action"] == "kms:Sign"
        assert config.download_role_name in str(sign["Condition"]["ArnEquals"]["aws:PrincipalArn"])
        assert sign["Condition"]["StringEquals"] == {"kms:SigningAlgorithm": "ECDSA_SHA_256", "kms:MessageType": "RAW"}


def test_a_custom_resource_feeds_each_slot_public_key_into_the_key_group(app: Synthesized) -> None:
    config = app.environments["prod"].config
    template = app.template_json("prod", "FileStore")
    readers = {k: r for k, r in template["Resources"].items() if r["Type"] == "Custom::KmsPublicKeyPem"}
    public_keys = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::CloudFront::PublicKey"}
    assert len(readers) == len(public_keys) == len(config.signing.slots)
    for public_key in public_keys.values():
        encoded = public_key["Properties"]["PublicKeyConfig"]["EncodedKey"]
        assert encoded["Fn::GetAtt"][0] in readers and encoded["Fn::GetAtt"][1] == "Pem"
    (group,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudFront::KeyGroup"]
    assert sorted(item["Ref"] for item in group["Properties"]["KeyGroupConfig"]["Items"]) == sorted(public_keys)


def test_public_key_logical_ids_are_per_slot_so_rotation_never_edits_a_key(app: Synthesized) -> None:
    # AWS::CloudFront::PublicKey cannot change its key in place (aws-cdk#15301).
    config = app.environments["prod"].config
    template = app.template_json("prod", "FileStore")
    ids = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::CloudFront::PublicKey"]
    for slot in config.signing.slot_names:
        assert any(f"PublicKey{slot}" in logical_id for logical_id in ids)


def test_public_key_reader_is_python_313_arm64_and_may_only_read_public_keys(app: Synthesized) -> None:
    template = app.template("prod", "FileStore")
    template.has_resource_properties("AWS::Lambda::Function", {
        "Handler": "kms_public_key.handler.on_event", "Runtime": "python3.13", "Architectures": ["arm64"],
    })
    template.has_resource_properties("AWS::IAM::Policy", {
        "PolicyDocument": {"Statement": Match.array_with([Match.object_like({
            "Action": "kms:GetPublicKey", "Effect": "Allow",
        })])},
    })


def test_secret_signer_slots_use_configured_public_keys_and_no_kms_keys(variant: Synthesized) -> None:
    template = variant.template("edge", "FileStore")
    template.resource_count_is("AWS::CloudFront::PublicKey", 2)
    template.resource_count_is("Custom::KmsPublicKeyPem", 0)
    assert not template.find_resources("AWS::KMS::Key", {"Properties": {"KeySpec": "ECC_NIST_P256"}})
    policies = variant.template("edge", "FileApi").find_resources("AWS::IAM::Policy")
    secret_reads = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]
                    if "secretsmanager:GetSecretValue" in s["Action"]]
    resources = json.dumps([s["Resource"] for s in secret_reads])
    assert "secret:filegate/edge/old-" in resources and "secret:filegate/edge/new-" in resources
