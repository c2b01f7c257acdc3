"""GitHub Actions' way into one AWS account (docs/deployment.md, "GitHub"): OIDC, no stored keys.

``.github/workflows/deploy.yml`` authenticates with GitHub's OIDC token. In each account of the
environments it deploys, this construct makes:

- the OIDC provider ``token.actions.githubusercontent.com`` (audience ``sts.amazonaws.com``), unless
  the account already has one (``github.create_oidc_provider: false``: it is referenced by ARN);
- per environment, ``filegate-github-deploy-<env>``: trusted only by a job of this repository running
  in the GitHub environment ``<env>`` (exact ``sub``, no wildcard; the environment's protection rules
  are what gate it), allowed only to assume this account's CDK bootstrap roles. Everything the CDK
  CLI does (publish assets, change stacks, read the deployed templates) it does as those roles;
- ``filegate-github-diff``: trusted by this repository's pull-request jobs, allowed only to assume the
  bootstrap lookup role (read-only): ``cdk diff --method=template`` reads deployed templates with it.

Neither role may do anything itself: every action in the account is one a bootstrap role is
allowed (and CloudFormation's execution role, which only the deploy role passes). The deployment
verifier is not among them: the workflow assumes ``<prefix>-deployment-verifier`` by web identity
directly, which trusts the same provider for the same ``sub`` (stacks/constructs/deployment_verifier.py).
"""

from __future__ import annotations

from aws_cdk import Aws, DefaultStackSynthesizer, Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.config import GITHUB_DIFF_ROLE_NAME, GITHUB_OIDC_HOST, github_deploy_role_name
from stacks.constructs.deployment_verifier import github_subject
from stacks.nag import acknowledge, acknowledge_inline_policy

#: The audience configure-aws-credentials asks GitHub for (its default).
GITHUB_AUDIENCE = "sts.amazonaws.com"
#: The ``sub`` of a pull-request job that names no GitHub environment.
PULL_REQUEST_SUBJECT = "repo:{repository}:pull_request"
#: The CDK bootstrap roles (DefaultStackSynthesizer, default qualifier) the CLI assumes.
BOOTSTRAP_ROLE_KINDS = ("deploy", "file-publishing", "image-publishing", "lookup")
#: A deploy can outlast an hour (a CloudFront distribution, three stacks, a rollback); the CLI
#: re-assumes the bootstrap roles with the workflow's session, which must still be valid then.
DEPLOY_SESSION = Duration.hours(2)


def pull_request_subject(repository: str) -> str:
    return PULL_REQUEST_SUBJECT.format(repository=repository)


def bootstrap_role_arn(kind: str, account: str, partition: str = Aws.PARTITION) -> str:
    """Every region's bootstrap role of one kind in ``account`` (the edge stack deploys in us-east-1,
    the others in the environment's region): ``cdk-<qualifier>-<kind>-role-<account>-*``."""
    qualifier = DefaultStackSynthesizer.DEFAULT_QUALIFIER
    return f"arn:{partition}:iam::{account}:role/cdk-{qualifier}-{kind}-role-{account}-*"


def oidc_provider_arn(account: str, partition: str = Aws.PARTITION) -> str:
    return f"arn:{partition}:iam::{account}:oidc-provider/{GITHUB_OIDC_HOST}"


class GithubDeployAccess(Construct):
    """The OIDC provider, one deploy role per environment and the pull-request diff role of one account."""

    def __init__(
        self, scope: Construct, construct_id: str, *,
        repository: str, account_environments: list[str], create_oidc_provider: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        if not account_environments:
            raise ValueError("GithubDeployAccess needs at least one environment")
        stack = Stack.of(self)
        account = stack.account
        self.repository = repository
        if create_oidc_provider:
            self.provider: iam.IOidcProvider = iam.OidcProviderNative(
                self, "Provider", url=f"https://{GITHUB_OIDC_HOST}", client_ids=[GITHUB_AUDIENCE])
        else:
            self.provider = iam.OidcProviderNative.from_oidc_provider_arn(
                self, "Provider", oidc_provider_arn(account))
        self.account = account
        self.deploy_roles: dict[str, iam.Role] = {}
        for environment in account_environments:
            self.deploy_roles[environment] = self._role(
                f"Deploy{environment_id(environment)}",
                role_name=github_deploy_role_name(environment),
                subject=github_subject(repository, environment),
                bootstrap_kinds=BOOTSTRAP_ROLE_KINDS,
                max_session=DEPLOY_SESSION,
                description=f"filegate: GitHub Actions deploys {environment} ({repository}, GitHub "
                            f"environment {environment}): may only assume the CDK bootstrap roles",
                purpose=f"deploys the {environment} environment with the CDK CLI",
            )
        self.diff_role = self._role(
            "Diff",
            role_name=GITHUB_DIFF_ROLE_NAME,
            subject=pull_request_subject(repository),
            bootstrap_kinds=("lookup",),
            max_session=Duration.hours(1),
            description=f"filegate: GitHub Actions pull-request cdk diff ({repository}): may only "
                        "assume the read-only CDK lookup role",
            purpose="runs cdk diff --method=template for a pull request (reads deployed templates)",
            sid="AssumeCdkLookupRole",
        )

    def _role(
        self, construct_id: str, *, role_name: str, subject: str, bootstrap_kinds: tuple[str, ...],
        max_session: Duration, description: str, purpose: str, sid: str = "AssumeCdkBootstrapRoles",
    ) -> iam.Role:
        role = iam.Role(
            self, construct_id,
            role_name=role_name,
            assumed_by=iam.WebIdentityPrincipal(self.provider.oidc_provider_arn, conditions={
                "StringEquals": {
                    f"{GITHUB_OIDC_HOST}:aud": GITHUB_AUDIENCE,
                    f"{GITHUB_OIDC_HOST}:sub": subject,
                },
            }),
            max_session_duration=max_session,
            description=description,
        )
        bootstrap_roles = [bootstrap_role_arn(kind, self.account) for kind in bootstrap_kinds]
        policy = iam.Policy(self, f"{construct_id}Policy", statements=[
            iam.PolicyStatement(sid=sid, actions=["sts:AssumeRole"], resources=bootstrap_roles),
        ])
        role.attach_inline_policy(policy)
        acknowledge_inline_policy(policy, xray_wildcard=False)
        acknowledge(
            policy,
            f"The GitHub job that {purpose} may only assume this account's CDK bootstrap roles "
            f"({', '.join(bootstrap_kinds)}); "
            "the trailing wildcard is the region part of their names (the edge stack deploys in us-east-1, "
            "the others in the environment's region), never another role or account.",
            *(f"AwsSolutions-IAM5[Resource::{_as_nag_renders(arn)}]" for arn in bootstrap_roles),
        )
        return role


def environment_id(environment: str) -> str:
    """``staging-2`` -> ``Staging2`` (construct and output ids)."""
    return environment.title().replace("-", "")


def _as_nag_renders(arn: str) -> str:
    """An ARN as cdk-nag writes it in a finding id: pseudo parameters as ``<AWS::Partition>``."""
    return arn.replace(Aws.PARTITION, "<AWS::Partition>").replace(Aws.ACCOUNT_ID, "<AWS::AccountId>")
