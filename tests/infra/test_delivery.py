"""The distribution: one OAC origin, signed by default, public/* open (DESIGN.md decision 2)."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match

from stacks.edge_headers import CONTENT_SECURITY_POLICY, HSTS_SECONDS
from tests.infra.conftest import Synthesized


def _distribution(synth: Synthesized, env: str) -> dict[str, Any]:
    resources = synth.template(env, "FileStore").find_resources("AWS::CloudFront::Distribution")
    assert len(resources) == 1
    return next(iter(resources.values()))["Properties"]["DistributionConfig"]


def test_one_s3_origin_with_origin_access_control_shared_by_all_behaviours(app: Synthesized) -> None:
    config = _distribution(app, "prod")
    (origin,) = config["Origins"]
    assert "OriginAccessControlId" in origin
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    behaviours = [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]
    assert {b["TargetOriginId"] for b in behaviours} == {origin["Id"]}
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
        (public,) = config["CacheBehaviors"]
        assert public["PathPattern"] == "public/*"
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
    policies = {config["DefaultCacheBehavior"]["CachePolicyId"]["Ref"],
                config["CacheBehaviors"][0]["CachePolicyId"]["Ref"]}
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
    default, public = config["DefaultCacheBehavior"], config["CacheBehaviors"][0]
    assert default["ResponseHeadersPolicyId"] == public["ResponseHeadersPolicyId"]


def test_http2_and_3_standard_logging_waf_and_price_class(app: Synthesized) -> None:
    config = _distribution(app, "prod")
    assert config["HttpVersion"] == "http2and3"
    assert config["Logging"]["Prefix"] == "cloudfront/"
    assert config["Logging"]["IncludeCookies"] is False
    assert config["PriceClass"] == "PriceClass_All"
    assert "WebACLId" in config
    # The WebACL ARN comes from us-east-1 through CDK's cross-region references, not a copied ARN.
    reference = config["WebACLId"]["Fn::GetStackOutput"]
    assert reference["Region"] == "us-east-1" and reference["StackName"] == "FilegateProdEdgeSecurity"
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
    store.has_resource_properties("AWS::Route53::RecordSet", {"Type": "AAAA", "Name": "files.example.org."})
    variant.template("edge", "EdgeSecurity").has_resource_properties("AWS::CertificateManager::Certificate", {
        "DomainName": "files.example.org", "ValidationMethod": "DNS",
        "DomainValidationOptions": Match.any_value(),
    })


def test_without_a_domain_no_certificate_is_made(app: Synthesized) -> None:
    app.template("prod", "EdgeSecurity").resource_count_is("AWS::CertificateManager::Certificate", 0)
    assert "Aliases" not in _distribution(app, "prod")
