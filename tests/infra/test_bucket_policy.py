"""Only the distribution reads objects; only the upload role writes them."""

from __future__ import annotations

from typing import Any

from tests.infra.conftest import Synthesized


def _files_bucket_statements(app: Synthesized, env: str) -> list[dict[str, Any]]:
    template = app.template_json(env, "FileStore")
    bucket_id = next(
        logical_id for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::S3::Bucket"
        and resource["Properties"].get("OwnershipControls", {}).get("Rules")
        == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    )
    (policy,) = [
        resource for resource in template["Resources"].values()
        if resource["Type"] == "AWS::S3::BucketPolicy" and resource["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    return policy["Properties"]["PolicyDocument"]["Statement"]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement.get("Action", [])
    return [actions] if isinstance(actions, str) else actions


def _distribution_arn_ref(app: Synthesized, env: str) -> str:
    template = app.template_json(env, "FileStore")
    return next(k for k, r in template["Resources"].items() if r["Type"] == "AWS::CloudFront::Distribution")


def test_object_reads_are_allowed_only_to_cloudfront_for_this_distribution(app: Synthesized) -> None:
    for env in ("dev", "prod"):
        distribution_id = _distribution_arn_ref(app, env)
        allows = [s for s in _files_bucket_statements(app, env)
                  if s["Effect"] == "Allow" and any(a.startswith("s3:GetObject") or a in {"s3:Get*", "s3:*", "*"}
                                                    for a in _actions(s))]
        assert len(allows) == 1
        (allow,) = allows
        assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
        assert _actions(allow) == ["s3:GetObject"]
        source_arn = allow["Condition"]["StringEquals"]["AWS:SourceArn"]
        assert distribution_id in str(source_arn)


def test_object_reads_are_explicitly_denied_to_every_other_principal(app: Synthesized) -> None:
    # An Allow alone would let identity policies in the account (an administrator's presigned GET) read.
    for env in ("dev", "prod"):
        distribution_id = _distribution_arn_ref(app, env)
        (deny,) = [s for s in _files_bucket_statements(app, env)
                   if s["Effect"] == "Deny" and "s3:GetObject" in _actions(s)]
        assert deny["Principal"] == {"AWS": "*"}
        assert set(_actions(deny)) == {"s3:GetObject", "s3:GetObjectVersion"}
        assert distribution_id in str(deny["Condition"]["StringNotEquals"]["aws:SourceArn"])
        assert "ArnNotEquals" not in deny["Condition"], "no read exceptions are configured in cdk.json"


def test_configured_reader_roles_are_excepted_by_condition_only(variant: Synthesized) -> None:
    (deny,) = [s for s in _files_bucket_statements(variant, "edge")
               if s["Effect"] == "Deny" and "s3:GetObject" in _actions(s)]
    assert deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == ["arn:aws:iam::123456789012:role/malware-scanner"]


def test_object_writes_are_denied_to_everyone_but_the_upload_role(app: Synthesized) -> None:
    for env in ("dev", "prod"):
        config = app.environments[env].config
        (deny,) = [s for s in _files_bucket_statements(app, env)
                   if s["Effect"] == "Deny" and _actions(s) == ["s3:PutObject"]]
        assert config.upload_role_name in str(deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"])
