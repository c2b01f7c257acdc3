"""The deployment verifier's role (docs/deployment.md): what ``make verify`` acts as in an environment.

The verifier proves from outside that a live deployment keeps the seed's promises. It calls the
``/backend/`` routes for a synthetic test subject (so the role is one of the handlers' backend
principals) and nothing else: like every identity policy here, it grants no object read (the
invariant "only CloudFront reads objects"); the presigned-GET check uses the caller's own
credentials, which for an operator with administrator rights means the bucket policy alone refuses.
"""

from __future__ import annotations

from aws_cdk import Aws, CfnElement, CfnOutput, Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_iam as iam
from constructs import Construct

from filegate.domain.front_door import API_STAGE
from stacks.config import (
    GITHUB_OIDC_HOST,
    PIPELINE_VERIFY_ROLE_NAME,
    DeploymentConfig,
    EnvironmentConfig,
    verifier_role_name,
)
from stacks.nag import acknowledge, acknowledge_inline_policy
from stacks.settings import role_arn


def verifier_role_arn(config: EnvironmentConfig) -> str:
    """The role's ARN by its known name (the handlers' backend principals list it before it exists)."""
    return role_arn(verifier_role_name(config))


def github_subject(repository: str, environment: str) -> str:
    """The ``sub`` claim GitHub's OIDC token carries for a job that runs in a GitHub environment."""
    return f"repo:{repository}:environment:{environment}"


def _trusted_principals(config: EnvironmentConfig, deployment: DeploymentConfig) -> list[iam.IPrincipal]:
    """Who may assume the role: operators of this account (granted ``sts:AssumeRole`` on it by IAM),
    the pipeline's verifier steps when the pipeline deploys this environment, and the GitHub job of
    this environment when the workflow deploys it."""
    principals: list[iam.IPrincipal] = [iam.AccountRootPrincipal()]
    pipeline = deployment.pipeline
    if pipeline is not None and config.name in pipeline.stages:
        principals.append(iam.ArnPrincipal(
            f"arn:{Aws.PARTITION}:iam::{pipeline.account}:role/{PIPELINE_VERIFY_ROLE_NAME}"))
    github = deployment.github
    if github is not None and config.name in deployment.github_environments():
        provider = f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:oidc-provider/{GITHUB_OIDC_HOST}"
        principals.append(iam.WebIdentityPrincipal(provider, conditions={
            "StringEquals": {
                f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com",
                f"{GITHUB_OIDC_HOST}:sub": github_subject(github.repository, config.name),
            },
        }))
    return principals


class DeploymentVerifierAccess(Construct):
    """The role ``<prefix>-deployment-verifier`` and its output ``VerifierRoleArn``."""

    def __init__(
        self, scope: Construct, construct_id: str, *,
        config: EnvironmentConfig, deployment: DeploymentConfig, http_api: apigw.HttpApi,
    ) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self, "Role",
            role_name=verifier_role_name(config),
            assumed_by=iam.CompositePrincipal(*_trusted_principals(config, deployment)),
            max_session_duration=Duration.hours(1),
            description=f"filegate {config.name}: make verify (deployment verifier): backend routes for a "
                        "synthetic subject; an IAM-allowed S3 read the bucket policy must refuse",
        )
        backend_routes = (f"arn:{Aws.PARTITION}:execute-api:{Aws.REGION}:{Aws.ACCOUNT_ID}:"
                          f"{http_api.api_id}/{API_STAGE}/*/backend/*")
        api_child = http_api.node.default_child
        assert isinstance(api_child, CfnElement)
        api_id = Stack.of(self).get_logical_id(api_child)
        policy = iam.Policy(self, "Policy", statements=[
            iam.PolicyStatement(sid="CallBackendRoutes", actions=["execute-api:Invoke"], resources=[backend_routes]),
        ])
        self.role.attach_inline_policy(policy)
        acknowledge_inline_policy(policy, xray_wildcard=False)
        acknowledge(
            policy,
            "The deployment verifier calls the /backend/ routes of this one API (stage api), any method, "
            "to mint, list, delete and erase the files of the synthetic subject it creates for one "
            "verification run (docs/deployment.md); the wildcard covers those routes and no other API.",
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:"
            f"<{api_id}>/{API_STAGE}/*/backend/*]",
        )
        self.output = CfnOutput(
            scope, "VerifierRoleArn", value=self.role.role_arn,
            description="The role make verify assumes (deployment verifier, docs/deployment.md)")
