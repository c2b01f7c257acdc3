"""The files bucket and the log bucket (DESIGN.md decision 3)."""

from __future__ import annotations

from aws_cdk.assertions import Match

from tests.infra.conftest import Synthesized


def _files_bucket(app: Synthesized, env: str = "prod") -> dict:
    buckets = app.template(env, "FileStore").find_resources("AWS::S3::Bucket", {
        "Properties": {"OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}},
    })
    assert len(buckets) == 1, "exactly one files bucket (BucketOwnerEnforced)"
    return next(iter(buckets.values()))["Properties"]


def test_files_bucket_is_private_encrypted_versioned_and_logged(app: Synthesized) -> None:
    # Given the prod file store / When its files bucket is read
    bucket = _files_bucket(app)
    # Then every public-access block is on, KMS encryption with a bucket key, versioning, access logs
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
    }
    sse = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert "KMSMasterKeyID" in sse["ServerSideEncryptionByDefault"]
    assert sse["BucketKeyEnabled"] is True
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["LoggingConfiguration"]["LogFilePrefix"] == "s3-access/"


def test_lifecycle_aborts_incomplete_uploads_and_expires_noncurrent_versions(app: Synthesized) -> None:
    rules = {rule["Id"]: rule for rule in _files_bucket(app)["LifecycleConfiguration"]["Rules"]}
    assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30


def test_cors_allows_only_presigned_post_from_configured_origins(app: Synthesized) -> None:
    for env in ("dev", "prod"):
        config = app.environments[env].config
        (rule,) = _files_bucket(app, env)["CorsConfiguration"]["CorsRules"]
        assert rule["AllowedMethods"] == ["POST"]
        assert rule["AllowedOrigins"] == list(config.frontend_origins)
        assert "*" not in rule["AllowedOrigins"]


def test_log_bucket_accepts_cloudfront_standard_logs_and_blocks_public_access(app: Synthesized) -> None:
    template = app.template("prod", "FileStore")
    template.has_resource_properties("AWS::S3::Bucket", {
        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]},
        "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        },
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
    })


def test_every_bucket_policy_refuses_plain_http(app: Synthesized) -> None:
    for env in ("dev", "prod"):
        policies = app.template(env, "FileStore").find_resources("AWS::S3::BucketPolicy")
        assert len(policies) == 2
        for policy in policies.values():
            statements = policy["Properties"]["PolicyDocument"]["Statement"]
            assert any(
                s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
                for s in statements
            )


def test_retained_in_prod_destroyed_only_in_the_throwaway_dev(app: Synthesized) -> None:
    prod = app.template("prod", "FileStore").find_resources("AWS::S3::Bucket")
    assert all(bucket["DeletionPolicy"] == "Retain" for bucket in prod.values())
    dev = app.template("dev", "FileStore").find_resources("AWS::S3::Bucket")
    assert all(bucket["DeletionPolicy"] == "Delete" for bucket in dev.values())
    app.template("prod", "FileStore").resource_count_is("Custom::S3AutoDeleteObjects", 0)
    app.template("prod", "FileStore").has_resource("AWS::KMS::Key", {"DeletionPolicy": "Retain",
                                                                      "Properties": Match.any_value()})
