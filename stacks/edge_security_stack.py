"""EdgeSecurityStack: what CloudFront can only read from us-east-1, published for the file store
stack as SSM parameters (stacks/constructs/edge_references.py), never as exports."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnDeletionPolicy, CfnOutput, Stack
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.constructs.edge_references import EdgeReferenceSource, replacement_fingerprint
from stacks.constructs.firewall import Firewall
from stacks.settings import log_retention, removal_policy

#: The output name file store stacks deployed before the front door read (``Fn::GetStackOutput``).
LEGACY_WEB_ACL_OUTPUT = "PublishOutputFnGetAttFirewallWebAcl5A849C4EArn15889963"
#: ... and, with a custom domain, the certificate's (CDK's name for ``Ref`` of ``Certificate``).
LEGACY_CERTIFICATE_OUTPUT = "PublishOutputRefCertificate4E7ABB08FF286F7F"


class EdgeSecurityStack(Stack):
    """The CLOUDFRONT-scope WebACL, and the ACM certificate when a custom domain is set; their ARNs
    in ``/<prefix>/edge/web-acl-arn`` and ``/<prefix>/edge/certificate-arn``; ``references`` says
    where (and the fingerprint that makes the file store stack read them again)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.firewall = Firewall(
            self,
            "Firewall",
            name_prefix=config.prefix,
            web_acl_name=config.web_acl_name,
            rate_limit=config.waf_rate_limit,
            api_rate_limit=config.waf_api_rate_limit,
            api_max_body_bytes=config.waf_api_max_body_bytes,
            log_retention=log_retention(config),
            removal_policy=removal_policy(config),
        )
        ssm.StringParameter(
            self, "WebAclArnParameter",
            parameter_name=config.web_acl_arn_parameter,
            string_value=self.firewall.web_acl_arn,
            description=f"{config.prefix}: the CloudFront WebACL's ARN, read by the file store stack",
        )
        # The WebACL's ARN as a plain output (no Export: nothing can lock it), under the logical id CDK's
        # weak cross-region reference gave it before the front door: a file store stack deployed before
        # then reads it with Fn::GetStackOutput, and must still find it if its upgrade rolls back.
        legacy = CfnOutput(self, "WebAclArnForEarlierFileStores", value=self.firewall.web_acl_arn,
                           description="The WebACL's ARN for file store stacks deployed before the front door "
                                       "(rollback of their upgrade); current ones read the SSM parameter")
        legacy.override_logical_id(LEGACY_WEB_ACL_OUTPUT)
        self.certificate: acm.Certificate | None = None
        cfn_certificate: acm.CfnCertificate | None = None
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
            # Replaced, the old certificate is still on the distribution while this stack cleans up.
            default_child = self.certificate.node.default_child
            assert isinstance(default_child, acm.CfnCertificate)
            cfn_certificate = default_child
            cfn_certificate.apply_removal_policy(removal_policy(config))
            cfn_certificate.cfn_options.update_replace_policy = CfnDeletionPolicy.RETAIN
            legacy_certificate = CfnOutput(
                self, "CertificateArnForEarlierFileStores", value=self.certificate.certificate_arn,
                description="The certificate's ARN for file store stacks deployed before the front door "
                            "(rollback of their upgrade); current ones read the SSM parameter")
            legacy_certificate.override_logical_id(LEGACY_CERTIFICATE_OUTPUT)
            ssm.StringParameter(
                self, "CertificateArnParameter",
                parameter_name=config.certificate_arn_parameter,
                string_value=self.certificate.certificate_arn,
                description=f"{config.prefix}: the CloudFront certificate's ARN, read by the file store stack",
            )
        certificate_parameter = config.certificate_arn_parameter if cfn_certificate is not None else None
        self.references = EdgeReferenceSource(
            region=self.region,
            web_acl_arn_parameter=config.web_acl_arn_parameter,
            certificate_arn_parameter=certificate_parameter,
            fingerprint=replacement_fingerprint(
                web_acl=self.firewall.web_acl,
                certificate=cfn_certificate,
                parameter_names=(config.web_acl_arn_parameter,
                                 *((certificate_parameter,) if certificate_parameter else ())),
            ),
        )
