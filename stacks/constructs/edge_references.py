"""What the file store stack reads from the edge stack, without a locked cross-region reference
(docs/front-door.md, "No locked cross-region references").

```
EdgeSecurityStack (us-east-1)                 FileStoreStack (home region)
  WebACL ─► SSM /<prefix>/edge/web-acl-arn ◄── EdgeReferences: ssm:GetParameter (us-east-1)
  certificate ─► /<prefix>/edge/certificate-arn ◄┘   physical id = fingerprint of what replaces them
```

No export, no ``Fn::ImportValue``, no CDK export writer or reader: the edge stack can replace its
WebACL or certificate without a consumer blocking it. The readers' physical id is a SHA-256 over
the properties whose change replaces the WebACL (``Name``, ``Scope``) or the certificate (all of
them) and over the parameter names, so a replacement changes the home template and the value is
read again in the same deployment (the edge stack deploys first: the store depends on it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from aws_cdk import CfnResource, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from stacks.nag import BASIC_EXECUTION_REASON, acknowledge, acknowledge_inline_policy, acknowledge_outside_vpc

#: CDK's one Lambda behind every AwsCustomResource of a stack (a fixed construct id).
AWS_CUSTOM_RESOURCE_FUNCTION_ID = "AWS679f53fac002430cb0da5b7982bd2287"

#: CDK's function behind the readers: what the checks find on it, and why each is accepted.
READER_INVOCATION_REASON = (
    "CDK's AwsCustomResource function is invoked synchronously by CloudFormation, only during deployments, to read "
    "the edge stack's SSM parameters; an error fails (and rolls back) the deployment, so a dead-letter queue would "
    "never receive anything."
)
READER_NO_VPC_REASON = (
    "Calls one AWS API, ssm:GetParameter in us-east-1, over TLS with SigV4, and reaches no private network "
    "resource; a VPC would need a NAT gateway to reach another region's endpoint without narrowing any data path."
)
READER_CONCURRENCY_REASON = (
    "Runs once per edge reference and deployment, invoked by CloudFormation; reserving concurrency for it would "
    "take capacity from the account for a function that never runs outside a deployment."
)
READER_TRACING_REASON = (
    "CDK's AwsCustomResource construct does not expose the function's tracing setting; the function runs only "
    "during deployments and CloudFormation's events and the encrypted log group record each call."
)


#: One GetParameter call: CDK's default (128 MB) is below what its Node.js SDK loads comfortably.
READER_MEMORY_MB = 256


@dataclass(frozen=True)
class EdgeReferenceSource:
    """Where the edge stack puts its ARNs, and the fingerprint of what would replace them."""

    region: str
    web_acl_arn_parameter: str
    certificate_arn_parameter: str | None
    fingerprint: str


def replacement_fingerprint(*, web_acl: CfnResource, certificate: CfnResource | None,
                            parameter_names: tuple[str, ...]) -> str:
    """SHA-256 (hex) of the WebACL's ``Name`` and ``Scope``, every certificate property and the
    parameter names: what changes whenever an ARN the store reads can change."""
    stack = Stack.of(web_acl)
    acl = stack.resolve(web_acl._render_properties(web_acl._cfn_properties))  # CDK's own rendering (protected)
    inputs: dict[str, Any] = {
        "web_acl": {"Name": acl["Name"], "Scope": acl["Scope"]},
        "certificate": (stack.resolve(certificate._render_properties(certificate._cfn_properties))
                        if certificate is not None else None),
        "parameters": list(parameter_names),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class EdgeReferences(Construct):
    """``web_acl_arn`` and, with a certificate parameter, ``certificate_arn``: read from the edge
    stack's SSM parameters at deploy time, one ``AwsCustomResource`` each, each allowed to read
    its parameter only."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        source: EdgeReferenceSource,
        log_retention: logs.RetentionDays,
        log_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self._source = source
        self._log_group = logs.LogGroup(self, "ReaderLogs", retention=log_retention, encryption_key=log_key,
                                        removal_policy=RemovalPolicy.DESTROY)
        self.web_acl_arn = self._read("WebAclArn", source.web_acl_arn_parameter)
        self.certificate_arn = (self._read("CertificateArn", source.certificate_arn_parameter)
                                if source.certificate_arn_parameter else None)
        self._acknowledge_function()

    def _read(self, construct_id: str, parameter_name: str) -> str:
        stack = Stack.of(self)
        call = cr.AwsSdkCall(
            service="SSM", action="getParameter", parameters={"Name": parameter_name},
            region=self._source.region,
            physical_resource_id=cr.PhysicalResourceId.of(self._source.fingerprint),
            output_paths=["Parameter.Value"],
        )
        parameter_arn = stack.format_arn(service="ssm", region=self._source.region, resource="parameter",
                                         resource_name=parameter_name.lstrip("/"))
        reader = cr.AwsCustomResource(
            self, construct_id,
            resource_type="Custom::EdgeReference",
            on_create=call,
            on_update=call,
            policy=cr.AwsCustomResourcePolicy.from_statements([
                iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[parameter_arn]),
            ]),
            install_latest_aws_sdk=False,
            log_group=self._log_group,
            memory_size=READER_MEMORY_MB,
        )
        acknowledge_inline_policy(reader.node.find_child("CustomResourcePolicy"), xray_wildcard=False)
        return reader.get_response_field("Parameter.Value")

    def _acknowledge_function(self) -> None:
        function = Stack.of(self).node.find_child(AWS_CUSTOM_RESOURCE_FUNCTION_ID)
        acknowledge(function, READER_INVOCATION_REASON,
                    "NIST.800.53.R5-LambdaDLQ", "HIPAA.Security-LambdaDLQ", "Serverless-LambdaDLQ")
        acknowledge_outside_vpc(function, READER_NO_VPC_REASON, python=False)
        acknowledge(function, READER_CONCURRENCY_REASON,
                    "NIST.800.53.R5-LambdaConcurrency", "HIPAA.Security-LambdaConcurrency")
        acknowledge(function, READER_TRACING_REASON, "Serverless-LambdaTracing")
        acknowledge(function.node.find_child("ServiceRole"), BASIC_EXECUTION_REASON,
                    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AWSLambdaBasicExecutionRole]")
