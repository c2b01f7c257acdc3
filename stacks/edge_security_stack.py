"""EdgeSecurityStack: what CloudFront can only read from us-east-1."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_route53 as route53
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.firewall import Firewall
from stacks.settings import log_retention, removal_policy


class EdgeSecurityStack(Stack):
    """The CLOUDFRONT-scope WebACL, and the ACM certificate when a custom domain is set."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.firewall = Firewall(
            self,
            "Firewall",
            name_prefix=config.prefix,
            rate_limit=config.waf_rate_limit,
            log_retention=log_retention(config),
            removal_policy=removal_policy(config),
        )
        self.web_acl_arn = self.firewall.web_acl_arn
        self.certificate: acm.ICertificate | None = None
        if config.domain is not None:
            zone = route53.HostedZone.from_hosted_zone_attributes(
                self, "Zone",
                hosted_zone_id=config.domain.hosted_zone_id,
                zone_name=config.domain.hosted_zone_name,
            )
            self.certificate = acm.Certificate(
                self, "Certificate",
                domain_name=config.domain.domain_name,
                validation=acm.CertificateValidation.from_dns(zone),
            )
