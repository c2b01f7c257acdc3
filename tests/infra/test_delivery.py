"""The distribution: one OAC origin, signed by default, public/* open (DESIGN.md decision 2)."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match

from stacks.edge_headers import CONTENT_SECURITY_POLICY, HSTS_SECONDS, REMOVE_HEADERS_QUOTA
from tests.infra.conftest import Synthesized

#: CloudFront refuses these in a remove list ("Headers that you can't remove", response headers
#: policies guide); X-Amz-Cf-* and X-Edge-* are prefixes there.
NOT_REMOVABLE = {"connection", "content-encoding", "content-length", "expect", "host", "keep-alive",
                 "proxy-authenticate", "proxy-authorization", "proxy-connection", "trailer", "transfer-encoding",
                 "upgrade", "via", "warning", "x-accel-buffering", "x-accel-charset", "x-accel-limit-rate",
                 "x-accel-redirect", "x-amzn-auth", "x-amzn-cf-billing", "x-amzn-cf-id", "x-amzn-cf-xff",
                 "x-amzn-errortype", "x-amzn-fle-profile", "x-amzn-header-count", "x-amzn-header-order",
                 "x-amzn-lambda-integration-tag", "x-amzn-requestid", "x-cache", "x-forwarded-proto", "x-real-ip"}


def _distribution(synth: Synthesized, env: str) -> dict[str, Any]:
    resources = synth.template(env, "FileStore").find_resources("AWS::CloudFront::Distribution")
    assert len(resources) == 1
    return next(iter(resources.values()))["Properties"]["DistributionConfig"]


def _behaviour(config: dict[str, Any], pattern: str) -> dict[str, Any]:
    (behaviour,) = [b for b in config["CacheBehaviors"] if b["PathPattern"] == pattern]
    return behaviour


def _file_behaviours(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The behaviours that serve files (the default and public/*); api/* is the front door's."""
    return [config["DefaultCacheBehavior"], _behaviour(config, "public/*")]


def test_one_s3_origin_with_origin_access_control_shared_by_all_behaviours(app: Synthesized) -> None:
    config = _distribution(app, "prod")
    (origin,) = [o for o in config["Origins"] if "S3OriginConfig" in o]
    assert "OriginAccessControlId" in origin
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    assert {b["TargetOriginId"] for b in _file_behaviours(config)} == {origin["Id"]}
    # The only other origin is the API's (tests/infra/test_front_door.py), and it carries no OAC
    assert [o["Id"] for o in config["Origins"] if o is not origin] == ["api"]
    assert {b["PathPattern"] for b in config["CacheBehaviors"]} == {"public/*", "api/*"}
    app.template("prod", "FileStore").resource_count_is("AWS::CloudFront::OriginAccessControl", 1)
    app.template("prod", "FileStore").has_resource_properties("AWS::CloudFront::OriginAccessControl", {
        "OriginAccessControlConfig": {"OriginAccessControlOriginType": "s3", "SigningBehavior": "always",
                                      "SigningProtocol": "sigv4"},
    })


def test_default_behaviour_requires_the_key_group_and_public_does_not(app: Synthesized) -> None:
    for env in ("dev", "prod"):
        config = _distribution(app, env)
        default = config["DefaultCacheBehavior"]
        assert len(default["TrustedKeyGroups"]) == 1
        public = _behaviour(config, "public/*")
        assert "TrustedKeyGroups" not in public
        assert "TrustedSigners" not in public and "TrustedSigners" not in default
        for behaviour in (default, public):
            assert behaviour["ViewerProtocolPolicy"] == "https-only"
            assert behaviour["AllowedMethods"] == ["GET", "HEAD"]


def test_cache_key_has_no_query_string_so_signed_urls_share_the_cache(app: Synthesized) -> None:
    app.template("prod", "FileStore").has_resource_properties("AWS::CloudFront::CachePolicy", {
        "CachePolicyConfig": {"ParametersInCacheKeyAndForwardedToOrigin": {
            "QueryStringsConfig": {"QueryStringBehavior": "none"},
            "CookiesConfig": {"CookieBehavior": "none"},
            "HeadersConfig": {"HeaderBehavior": "none"},
        }},
    })
    config = _distribution(app, "prod")
    policies = {behaviour["CachePolicyId"]["Ref"] for behaviour in _file_behaviours(config)}
    assert len(policies) == 1


def test_security_headers_on_both_behaviours(app: Synthesized) -> None:
    app.template("prod", "FileStore").has_resource_properties("AWS::CloudFront::ResponseHeadersPolicy", {
        "ResponseHeadersPolicyConfig": {"SecurityHeadersConfig": {
            "StrictTransportSecurity": {"AccessControlMaxAgeSec": HSTS_SECONDS, "IncludeSubdomains": True,
                                        "Preload": True, "Override": True},
            "ContentTypeOptions": {"Override": True},
            "FrameOptions": {"FrameOption": "DENY", "Override": True},
            "ReferrerPolicy": {"ReferrerPolicy": "no-referrer", "Override": True},
            "ContentSecurityPolicy": {"ContentSecurityPolicy": CONTENT_SECURITY_POLICY, "Override": True},
        }},
    })
    config = _distribution(app, "prod")
    assert "ResponseHeadersPolicyId" in config["DefaultCacheBehavior"]
    default, public = _file_behaviours(config)
    assert default["ResponseHeadersPolicyId"] == public["ResponseHeadersPolicyId"]


def test_http2_and_3_standard_logging_waf_and_price_class(app: Synthesized) -> None:
    config = _distribution(app, "prod")
    assert config["HttpVersion"] == "http2and3"
    assert config["Logging"]["Prefix"] == "cloudfront/"
    assert config["Logging"]["IncludeCookies"] is False
    assert config["PriceClass"] == "PriceClass_All"
    assert "WebACLId" in config
    # The WebACL ARN is read from the edge stack's SSM parameter in us-east-1 at deploy time (never a
    # copied ARN, never a cross-region export: tests/infra/test_front_door.py)
    reader, attribute = config["WebACLId"]["Fn::GetAtt"]
    store = app.template_json("prod", "FileStore")
    assert store["Resources"][reader]["Type"] == "Custom::EdgeReference" and attribute == "Parameter.Value"
    assert '"/filegate-prod/edge/web-acl-arn"' in store["Resources"][reader]["Properties"]["Create"]
    assert _distribution(app, "dev")["PriceClass"] == "PriceClass_100"


def test_custom_domain_gets_its_certificate_tls12_2021_and_alias_records(variant: Synthesized) -> None:
    config = _distribution(variant, "edge")
    assert config["Aliases"] == ["files.example.org"]
    viewer = config["ViewerCertificate"]
    assert viewer["MinimumProtocolVersion"] == "TLSv1.2_2021"
    assert viewer["SslSupportMethod"] == "sni-only"
    assert "AcmCertificateArn" in viewer
    store = variant.template("edge", "FileStore")
    store.has_resource_properties("AWS::Route53::RecordSet", {"Type": "A", "Name": "files.example.org."})
    # No AAAA: the variant allows IP-restricted URLs, so it is IPv4 only (finding 3, tested below)
    variant.template("edge", "EdgeSecurity").has_resource_properties("AWS::CertificateManager::Certificate", {
        "DomainName": "files.example.org", "ValidationMethod": "DNS",
        "DomainValidationOptions": Match.any_value(),
    })


def test_without_a_domain_no_certificate_is_made(app: Synthesized) -> None:
    app.template("prod", "EdgeSecurity").resource_count_is("AWS::CertificateManager::Certificate", 0)
    assert "Aliases" not in _distribution(app, "prod")


def _stored_header_fields_of_every_upload(synth: Synthesized, env: str) -> set[str]:
    """The x-amz-meta-* and SSE field names in the presigned POSTs the uploads really produce,
    for every upload rule of the environment: S3 stores each as an object header that it
    returns on GET. Read from boto3's output, not from any list of names, so this oracle stays
    independent of the list under test."""
    import boto3

    from filegate.adapters.s3_presigner import S3Presigner, s3_client
    from filegate.domain.identity import Identity
    from filegate.domain.uploads import plan_upload

    session = boto3.session.Session(aws_access_key_id="AKIAEXAMPLEEXAMPLE00", aws_secret_access_key="x" * 40,
                                    region_name="eu-west-1")
    presigner = S3Presigner(session, s3_client(session, region="eu-west-1", addressing_style="virtual"), "bucket")
    names: set[str] = set()
    rules = [rule for rule in synth.environments[env].config.rules if rule.allows("upload")]
    assert rules
    for rule in rules:
        claims = {segment.value: "claimvalue" for segment in rule.segments if segment.kind == "claim"}
        identity = Identity(sub="user-1", groups=frozenset(rule.groups), claims=claims)
        for content_type in rule.content_types:
            plan = plan_upload(rule, identity, content_type=content_type, size=1, filename="A file.bin",
                               file_id="0" * 32, kms_key_arn="arn:aws:kms:eu-west-1:123456789012:key/k")
            _, fields = presigner.presign_post(key=plan.key, fields=plan.fields, conditions=plan.conditions,
                                               expires_in=60)
            names |= {name.lower() for name in fields
                      if name.lower().startswith(("x-amz-meta-", "x-amz-server-side-encryption"))}
    return names


def test_finding5_every_stored_upload_header_is_removed_on_both_behaviours(app: Synthesized) -> None:
    for env in ("dev", "prod"):
        # Given the object headers the uploads write (metadata: uploader id, filename, rule; SSE)
        written = _stored_header_fields_of_every_upload(app, env)
        assert {"x-amz-meta-uploader", "x-amz-meta-original-filename", "x-amz-server-side-encryption",
                "x-amz-server-side-encryption-aws-kms-key-id"} <= written
        # Then the distribution's response headers policy removes each one, and the version id
        (policy,) = app.template(env, "FileStore").find_resources("AWS::CloudFront::ResponseHeadersPolicy").items()
        logical_id, resource = policy
        items = resource["Properties"]["ResponseHeadersPolicyConfig"]["RemoveHeadersConfig"]["Items"]
        removed = [item["Header"].lower() for item in items]
        assert written <= set(removed), sorted(written - set(removed))
        assert {"x-amz-version-id", "x-amz-server-side-encryption-bucket-key-enabled"} <= set(removed)
        # And the list is one CloudFront accepts: exact names, no duplicates, none it refuses,
        # within the quota
        assert len(removed) == len(set(removed)) <= REMOVE_HEADERS_QUOTA
        assert not any("*" in name or name in NOT_REMOVABLE or name.startswith(("x-amz-cf-", "x-edge-"))
                       for name in removed)
        # And both behaviours (signed default and public/*) use that policy
        config = _distribution(app, env)
        for behaviour in (config["DefaultCacheBehavior"], *config["CacheBehaviors"]):
            assert behaviour["ResponseHeadersPolicyId"] == {"Ref": logical_id}


def test_finding3_ipv6_is_off_exactly_where_ip_restricted_urls_are_allowed(app: Synthesized,
                                                                           variant: Synthesized) -> None:
    # Given cdk.json (IP restriction off) / Then the distribution stays dual-stack
    for env in ("dev", "prod"):
        assert _distribution(app, env)["IPV6Enabled"] is True
    # Given IP-restricted URLs allowed (urls.allow_ip_restriction, ipv6: false) / Then IPv4 only,
    # and no AAAA alias that would send dual-stack viewers over IPv6 anyway
    assert _distribution(variant, "edge")["IPV6Enabled"] is False
    records = variant.template("edge", "FileStore").find_resources("AWS::Route53::RecordSet")
    assert records and {record["Properties"]["Type"] for record in records.values()} == {"A"}
