"""``FilegateGithubAccess<account>``: what GitHub Actions may do in one account (docs/deployment.md).

One stack per AWS account among the environments ``github.environments`` lists, in that account and
the region of its first such environment (IAM is global; the region only says where the stack
lives). It only composes ``GithubDeployAccess``; its outputs are the roles' ARNs, which the GitHub
environments' variables name (``FILEGATE_DEPLOY_ROLE_ARN``; the repository's ``FILEGATE_DIFF_ROLE_ARN``).

Deployed by an operator (``cdk deploy FilegateGithubAccess<account>``), never by the workflow: the
workflow's roles may not change IAM themselves.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import App, CfnOutput, Environment, Stack, Tags
from constructs import Construct

from stacks.config import DeploymentConfig, EnvironmentConfig
from stacks.constructs.github_deploy import GithubDeployAccess, environment_id

GITHUB_ACCESS_STACK_PREFIX = "FilegateGithubAccess"


def github_access_stack_name(account: str) -> str:
    return f"{GITHUB_ACCESS_STACK_PREFIX}{account}"


class FilegateGithubAccessStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *,
        repository: str, environments: list[str], create_oidc_provider: bool, **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.access = GithubDeployAccess(
            self, "GithubDeployAccess", repository=repository, account_environments=environments,
            create_oidc_provider=create_oidc_provider)
        for environment, role in self.access.deploy_roles.items():
            CfnOutput(self, f"DeployRoleArn{environment_id(environment)}", value=role.role_arn,
                      description=f"GitHub environment {environment}: variable FILEGATE_DEPLOY_ROLE_ARN")
        CfnOutput(self, "DiffRoleArn", value=self.access.diff_role.role_arn,
                  description="Repository variable FILEGATE_DIFF_ROLE_ARN (pull-request cdk diff)")
        Tags.of(self).add("project", "filegate")


def add_github_access(
    app: App, *, deployment: DeploymentConfig, configs: dict[str, EnvironmentConfig],
) -> list[Stack]:
    """One ``FilegateGithubAccess<account>`` per account of the GitHub environments in ``configs``.

    Built only when every listed environment is synthesized: a stack narrowed by ``-c env=...``
    would lack the other environments' roles, and deploying it would delete them (as the pipeline
    is synthesized only with all its stages)."""
    github = deployment.github
    listed = list(deployment.github_environments())
    if github is None or not listed or any(name not in configs for name in listed):
        return []
    by_account: dict[str, list[str]] = {}
    for name in listed:
        account = configs[name].account
        if account is None:  # deployment_from_context refuses this; never guess an account
            raise ValueError(f"environments.{name}.account: required by github.environments")
        by_account.setdefault(account, []).append(name)
    stacks: list[Stack] = []
    for account, names in by_account.items():
        name = github_access_stack_name(account)
        stacks.append(FilegateGithubAccessStack(
            app, name, stack_name=name, repository=github.repository, environments=names,
            create_oidc_provider=github.create_oidc_provider,
            env=Environment(account=account, region=configs[names[0]].region),
            description=f"filegate: GitHub Actions OIDC deploy roles ({', '.join(names)}) and the "
                        "pull-request diff role of this account",
        ))
    return stacks
