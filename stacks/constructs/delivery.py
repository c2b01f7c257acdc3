"""The CloudFront distribution: one OAC origin, signed-only by default, ``public/*`` open, and
``api/*`` to the HTTP API with the origin-verify header (docs/front-door.md)."""

from __future__ import annotations

from aws_cdk import Duration, SecretValue
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from filegate.domain.front_door import API_STAGE, ORIGIN_VERIFY_HEADER
from stacks.config import DomainSettings
from stacks.edge_headers import CONTENT_SECURITY_POLICY, HSTS_SECONDS, REMOVED_ORIGIN_HEADERS
from stacks.nag import acknowledge

PUBLIC_PATH_PATTERN = "public/*"
#: The front door: CloudFront forwards the viewer's path unchanged, so ``/api/...`` reaches stage ``api``.
API_PATH_PATTERN = f"{API_STAGE}/*"
#: The API origin's id (the one origin that carries ``x-origin-verify``; the local edge reads it there).
API_ORIGIN_ID = "api"
PRICE_CLASSES = {
    "PriceClass_100": cloudfront.PriceClass.PRICE_CLASS_100,
    "PriceClass_200": cloudfront.PriceClass.PRICE_CLASS_200,
    "PriceClass_All": cloudfront.PriceClass.PRICE_CLASS_ALL,
}


class Delivery(Construct):
    """Distribution in front of the private bucket.

    The S3 origin with Origin Access Control is built once and shared by both file behaviours. The
    default behaviour trusts only the signing key group and runs the revocation check
    (``signed_viewer_request``) on every request; ``public/*`` needs no signature. The cache key
    holds no query string, so differently signed URLs for one file share the cache.

    ``api/*`` goes to the HTTP API (``api_domain_name``, HTTPS with TLS 1.2) uncached, with every
    viewer header but Host and every method, plus ``x-origin-verify``: a dynamic reference to
    ``origin_secret``, which CloudFormation resolves at deploy time (no template holds the value).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        bucket: s3.IBucket,
        log_bucket: s3.IBucket,
        key_group: cloudfront.IKeyGroup,
        web_acl_arn: str,
        price_class: str,
        ipv6: bool,
        domain: DomainSettings | None,
        certificate: acm.ICertificate | None,
        signed_viewer_request: cloudfront.FunctionAssociation,
        api_domain_name: str,
        origin_secret: secretsmanager.ISecret,
    ) -> None:
        super().__init__(scope, construct_id)
        origin = origins.S3BucketOrigin.with_origin_access_control(
            bucket, origin_access_levels=[cloudfront.AccessLevel.READ],
        )
        self.cache_policy = cloudfront.CachePolicy(
            self,
            "CachePolicy",
            comment=f"{name_prefix}: CachingOptimized without query strings (signatures stay out of the key)",
            default_ttl=Duration.days(1),
            min_ttl=Duration.seconds(1),
            max_ttl=Duration.days(365),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.none(),
            header_behavior=cloudfront.CacheHeaderBehavior.none(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            enable_accept_encoding_gzip=True,
            enable_accept_encoding_brotli=True,
        )
        self.headers_policy = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment=f"{name_prefix}: security headers on every file; S3 metadata, SSE and version headers removed",
            # No x-amz-meta-* (uploader id, original filename), SSE key ARN or version id reaches
            # a viewer: the same list the local edge removes (stacks/edge_headers.py).
            remove_headers=list(REMOVED_ORIGIN_HEADERS),
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.seconds(HSTS_SECONDS),
                    include_subdomains=True, preload=True, override=True,
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True,
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True,
                ),
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=CONTENT_SECURITY_POLICY, override=True,
                ),
            ),
        )

        def behavior(*, signed: bool) -> cloudfront.BehaviorOptions:
            return cloudfront.BehaviorOptions(
                origin=origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
                cache_policy=self.cache_policy,
                response_headers_policy=self.headers_policy,
                compress=True,
                trusted_key_groups=[key_group] if signed else None,
                # The edge's deny list checks every signed request (URLs and cookies alike);
                # public/* has no issued URLs to revoke.
                function_associations=[signed_viewer_request] if signed else None,
            )

        api_origin = origins.HttpOrigin(
            api_domain_name,
            origin_id=API_ORIGIN_ID,
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
            custom_headers={
                ORIGIN_VERIFY_HEADER: SecretValue.secrets_manager(origin_secret.secret_arn).unsafe_unwrap(),
            },
        )
        api_behavior = cloudfront.BehaviorOptions(
            origin=api_origin,
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
            cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
            origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
            response_headers_policy=self.headers_policy,
        )

        custom_domain = domain is not None and certificate is not None
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"{name_prefix}: private files (signed), public/* (unsigned) and the API (api/*)",
            default_behavior=behavior(signed=True),
            additional_behaviors={PUBLIC_PATH_PATTERN: behavior(signed=False), API_PATH_PATTERN: api_behavior},
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            # Off only where IP-restricted URLs are allowed (their AWS:SourceIp is IPv4-only).
            enable_ipv6=ipv6,
            enable_logging=True,
            log_bucket=log_bucket,
            log_file_prefix="cloudfront/",
            log_includes_cookies=False,
            price_class=PRICE_CLASSES[price_class],
            web_acl_id=web_acl_arn,
            domain_names=[domain.domain_name] if custom_domain and domain else None,
            certificate=certificate if custom_domain else None,
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 if custom_domain else None,
        )
        acknowledge(
            self.distribution,
            "Files are served to a worldwide audience of the product's users; access is already "
            "limited per file by signed URLs, so a country allow-list would add no protection.",
            "AwsSolutions-CFR1",
        )
        if custom_domain and domain:
            zone = route53.HostedZone.from_hosted_zone_attributes(
                self, "Zone", hosted_zone_id=domain.hosted_zone_id, zone_name=domain.hosted_zone_name,
            )
            target = route53.RecordTarget.from_alias(targets.CloudFrontTarget(self.distribution))
            route53.ARecord(self, "AliasA", zone=zone, record_name=domain.domain_name, target=target)
            if ipv6:
                route53.AaaaRecord(self, "AliasAaaa", zone=zone, record_name=domain.domain_name, target=target)
        else:
            acknowledge(
                self.distribution,
                "No custom domain is configured for this environment, so the distribution uses the "
                "default *.cloudfront.net certificate, whose minimum protocol CloudFront fixes at TLSv1; "
                "set `domain` to get TLSv1.2_2021 with an ACM certificate.",
                "AwsSolutions-CFR4",
            )

    @property
    def domain_name(self) -> str:
        return self.distribution.distribution_domain_name

    @property
    def distribution_arn(self) -> str:
        return self.distribution.distribution_arn

    @property
    def distribution_id(self) -> str:
        return self.distribution.distribution_id
