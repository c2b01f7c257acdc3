"""The files bucket and the log bucket (DESIGN.md decision 3)."""

from __future__ import annotations

from aws_cdk.assertions import Match

from tests.infra import iam_policy_eval
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


# --- Finding 4 (issue 7): signed URLs in CloudFront standard logs cannot be read back ------------

FAKE_ACCOUNT = "111122223333"
LOG_READS = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTorrent", "s3:GetObjectVersionTorrent",
             "s3:GetObjectVersionForReplication"]
TLS = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}


def _bucket_policy(synth: Synthesized, env: str, ownership: str) -> tuple[iam_policy_eval.Fakes, str, dict]:
    config = synth.environments[env].config
    template = synth.template_json(env, "FileStore")
    fakes = iam_policy_eval.Fakes(template, account=config.account or FAKE_ACCOUNT, region=config.region)
    (bucket_id,) = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::S3::Bucket"
                    and r["Properties"]["OwnershipControls"]["Rules"] == [{"ObjectOwnership": ownership}]]
    (policy,) = [r["Properties"]["PolicyDocument"] for r in template["Resources"].values()
                 if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": bucket_id}]
    return fakes, fakes.get_att(bucket_id, "Arn"), fakes.resolve(policy)


def test_finding4_signed_urls_in_cloudfront_logs_cannot_be_read_back(app: Synthesized, variant: Synthesized) -> None:
    decision = iam_policy_eval.Decision
    for synth, env in ((app, "dev"), (app, "prod"), (variant, "edge")):
        config = synth.environments[env].config
        fakes, log_bucket, policy = _bucket_policy(synth, env, "BucketOwnerPreferred")
        files_bucket = _bucket_policy(synth, env, "BucketOwnerEnforced")[1]

        def decide(caller: iam_policy_eval.Caller, action: str, resource: str, identity: dict | None = None,
                   context: dict | None = None, *, _policy: dict = policy, _account: str = fakes.account) -> object:
            request = iam_policy_eval.Request(caller, action, resource, {**TLS, **(context or {})})
            return iam_policy_eval.evaluate(request, resource_policy=_policy, policy_account=_account,
                                            identity_policies=[identity] if identity else [])

        cloudfront_log = f"{log_bucket}/cloudfront/E2QWRUHAPOMQZL.2026-01-01-00.0123abcd.gz"
        access_log = f"{log_bucket}/s3-access/2026-01-01-00-00-00-0123456789ABCDEF"
        admin = iam_policy_eval.Caller.role(f"arn:aws:iam::{fakes.account}:role/Administrator")
        for action in LOG_READS:
            for log_object in (cloudfront_log, access_log):
                assert decide(admin, action, log_object, iam_policy_eval.allow_all("s3:*")) is \
                    decision.EXPLICIT_DENY, (env, action, log_object)
        for reader in config.log_reader_role_arns:
            caller = iam_policy_eval.Caller.role(reader)
            assert decide(caller, "s3:GetObject", cloudfront_log, iam_policy_eval.allow_all("s3:GetObject")) is \
                decision.ALLOW, (env, reader)
        # The writers still write: S3 server access logging (bucket policy), CloudFront's log delivery
        # account (its ACL grant; no Deny here names a write), and an administrator may still manage.
        s3_logging = iam_policy_eval.Caller.aws_service("logging.s3.amazonaws.com")
        assert decide(s3_logging, "s3:PutObject", access_log,
                      context={"aws:SourceArn": files_bucket, "aws:SourceAccount": fakes.account}) is decision.ALLOW
        delivery = iam_policy_eval.Caller.role("arn:aws:iam::162777425019:role/awslogsdelivery")
        assert decide(delivery, "s3:PutObject", cloudfront_log) is not decision.EXPLICIT_DENY
        for action in ("s3:ListBucket", "s3:DeleteObjectVersion", "s3:PutBucketPolicy", "s3:PutLifecycleConfiguration"):
            resource = log_bucket if action != "s3:DeleteObjectVersion" else cloudfront_log
            assert decide(admin, action, resource, iam_policy_eval.allow_all("s3:*")) is decision.ALLOW, (env, action)
    assert variant.environments["edge"].config.log_reader_role_arns, "the variant configures a log reader"
    assert not app.environments["prod"].config.log_reader_role_arns, "cdk.json names no log reader: nobody reads"
