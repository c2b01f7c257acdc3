"""GitHub Actions' access (``FilegateGithubAccess<account>``, docs/deployment.md "GitHub"): the OIDC
provider, the deploy roles that may only assume the CDK bootstrap roles, the pull-request diff role
that may only assume the lookup role, and the verifier roles' matching web-identity trust."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk.assertions import Template

from stacks.config import (
    CONTEXT_KEY,
    GITHUB_DIFF_ROLE_NAME,
    GITHUB_OIDC_HOST,
    deployment_from_context,
    environment_from_context,
    github_deploy_role_name,
    verifier_role_name,
)
from stacks.constructs.github_deploy import GithubDeployAccess
from stacks.github_access_stack import add_github_access
from tests.infra.conftest import Synthesized, synthesize

REPOSITORY = "example-org/filegate"
ACCOUNTS = {"dev": "111111111111", "prod": "222222222222"}
BOOTSTRAP_KINDS = ("deploy", "file-publishing", "image-publishing", "lookup")
AUD = f"{GITHUB_OIDC_HOST}:aud"
SUB = f"{GITHUB_OIDC_HOST}:sub"


def _github_context(cdk_context: dict[str, Any], accounts: dict[str, str], **github: Any) -> dict[str, Any]:
    context = copy.deepcopy(cdk_context)
    for env, account in accounts.items():
        context[CONTEXT_KEY]["environments"][env]["account"] = account
    context[CONTEXT_KEY]["github"] = {"repository": REPOSITORY, "environments": ["dev", "prod"],
                                      "protected_environments": ["prod"], **github}
    return context


@pytest.fixture(scope="session")
def github_app(cdk_context: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The whole app with the workflow configured: dev and prod in two accounts."""
    return synthesize(_github_context(cdk_context, ACCOUNTS, create_oidc_provider=True),
                      tmp_path_factory.mktemp("cdk.out-github"))


def _access(synth: Synthesized, account: str) -> dict[str, Any]:
    return synth.raw[f"FilegateGithubAccess{account}"]


def _resources(template: Mapping[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {key: resource for key, resource in template["Resources"].items() if resource["Type"] == kind}


def _role(template: Mapping[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    (found,) = [(key, r["Properties"]) for key, r in _resources(template, "AWS::IAM::Role").items()
                if r["Properties"].get("RoleName") == name]
    return found


def _resolve(value: Any, account: str | None = None) -> Any:
    """The few intrinsics these templates use, in the aws partition (and the stack's ``account``);
    anything else fails the test."""
    if isinstance(value, dict):
        if value == {"Ref": "AWS::Partition"}:
            return "aws"
        if value == {"Ref": "AWS::AccountId"} and account is not None:
            return account
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return separator.join(_resolve(part, account) for part in parts)
        if set(value) == {"Ref"} or set(value) == {"Fn::GetAtt"}:
            return value  # a reference to a resource of the template: compared as such
        raise AssertionError(f"unexpected intrinsic {value}")
    if isinstance(value, list):
        return [_resolve(item, account) for item in value]
    return value


def _identity_statements(template: Mapping[str, Any], role_key: str, role: dict[str, Any]) -> list[dict[str, Any]]:
    """Every identity-policy statement the role has: its inline policies and the policies attached to it."""
    assert "ManagedPolicyArns" not in role, "a managed policy could grant anything"
    statements = [s for policy in role.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]
    for policy in _resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role_key} in policy["Properties"].get("Roles", []):
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    assert not _resources(template, "AWS::IAM::ManagedPolicy"), "no managed policy in the access stack"
    return statements


def _allowed(statements: list[dict[str, Any]]) -> tuple[set[str], set[str]]:
    actions: set[str] = set()
    resources: set[str] = set()
    for statement in statements:
        assert statement["Effect"] == "Allow" and "Condition" not in statement and "NotAction" not in statement
        actions.update(statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
        listed = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        resources.update(_resolve(resource) for resource in listed)
    return actions, resources


def _bootstrap_arn(kind: str, account: str) -> str:
    return f"arn:aws:iam::{account}:role/cdk-hnb659fds-{kind}-role-{account}-*"


def _web_identity_trust(role: Mapping[str, Any]) -> dict[str, Any]:
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert set(statement["Principal"]) == {"Federated"}
    return statement  # type: ignore[no-any-return]


def test_one_access_stack_with_one_provider_in_each_account(github_app: Synthesized) -> None:
    # Given dev and prod in two accounts / When the app is synthesized
    manifest = json.loads((github_app.outdir / "manifest.json").read_text())["artifacts"]
    access = {name for name in github_app.raw if name.startswith("FilegateGithubAccess")}
    # Then each account has one access stack, in that account and its environment's region
    assert access == {f"FilegateGithubAccess{account}" for account in ACCOUNTS.values()}
    for env, account in ACCOUNTS.items():
        region = github_app.environments[env].config.region
        assert manifest[f"FilegateGithubAccess{account}"]["environment"] == f"aws://{account}/{region}"
        # And one OIDC provider for GitHub's issuer, for STS's audience only
        providers = _resources(_access(github_app, account), "AWS::IAM::OIDCProvider")
        assert [p["Properties"]["Url"] for p in providers.values()] == [f"https://{GITHUB_OIDC_HOST}"]
        assert [p["Properties"]["ClientIdList"] for p in providers.values()] == [["sts.amazonaws.com"]]


def test_each_deploy_role_trusts_only_its_environments_job_of_this_repository(github_app: Synthesized) -> None:
    for env, account in ACCOUNTS.items():
        template = _access(github_app, account)
        (provider,) = _resources(template, "AWS::IAM::OIDCProvider")
        # Given the account of one environment / Then its deploy role is there, and no other environment's
        names = {r["Properties"]["RoleName"] for r in _resources(template, "AWS::IAM::Role").values()}
        assert names == {github_deploy_role_name(env), GITHUB_DIFF_ROLE_NAME}
        _, role = _role(template, github_deploy_role_name(env))
        trust = _web_identity_trust(role)
        # And only a token from this account's provider, for STS, naming exactly the GitHub environment
        assert trust["Principal"]["Federated"] == {"Ref": provider}
        assert trust["Condition"] == {"StringEquals": {AUD: "sts.amazonaws.com",
                                                       SUB: f"repo:{REPOSITORY}:environment:{env}"}}
        assert "StringLike" not in json.dumps(role) and "*" not in json.dumps(trust)


def test_each_deploy_role_may_only_assume_the_cdk_bootstrap_roles_of_its_account(github_app: Synthesized) -> None:
    for env, account in ACCOUNTS.items():
        # Given an environment's deploy role / When its identity policies are read
        template = _access(github_app, account)
        key, role = _role(template, github_deploy_role_name(env))
        actions, resources = _allowed(_identity_statements(template, key, role))
        # Then it may do one thing: assume the four bootstrap roles of its own account (any region)
        assert actions == {"sts:AssumeRole"}
        assert resources == {_bootstrap_arn(kind, account) for kind in BOOTSTRAP_KINDS}
        # And a deploy may outlast the default hour (configure-aws-credentials asks for 7200 s)
        assert role["MaxSessionDuration"] == 7200


def test_the_diff_role_trusts_pull_requests_and_may_only_assume_the_lookup_role(github_app: Synthesized) -> None:
    for account in ACCOUNTS.values():
        # Given an account's diff role
        template = _access(github_app, account)
        key, role = _role(template, GITHUB_DIFF_ROLE_NAME)
        # Then a pull-request job of this repository (no GitHub environment) may assume it
        trust = _web_identity_trust(role)
        assert trust["Condition"] == {"StringEquals": {AUD: "sts.amazonaws.com",
                                                       SUB: f"repo:{REPOSITORY}:pull_request"}}
        # And it may only assume the read-only lookup role: no deploy, no asset publishing
        actions, resources = _allowed(_identity_statements(template, key, role))
        assert actions == {"sts:AssumeRole"}
        assert resources == {_bootstrap_arn("lookup", account)}


def test_the_verifier_role_trusts_the_same_provider_for_its_environment(github_app: Synthesized) -> None:
    for env, account in ACCOUNTS.items():
        # Given the environment's deployment verifier role (in its file store stack)
        config = github_app.environments[env].config
        template = github_app.template_json(env, "FileStore")
        _, role = _role(template, verifier_role_name(config))
        (web,) = [s for s in role["AssumeRolePolicyDocument"]["Statement"]
                  if s["Action"] == "sts:AssumeRoleWithWebIdentity"]
        # Then GitHub's job of exactly this environment may assume it by web identity
        assert web["Condition"] == {"StringEquals": {AUD: "sts.amazonaws.com",
                                                     SUB: f"repo:{REPOSITORY}:environment:{env}"}}
        # And through the provider the access stack creates in the same account (IAM names a
        # provider's ARN after its issuer's host)
        assert _resolve(web["Principal"]["Federated"], account) == \
            f"arn:aws:iam::{account}:oidc-provider/{GITHUB_OIDC_HOST}"


def test_the_access_stacks_have_no_unacknowledged_finding_and_reasoned_acknowledgements(
    github_app: Synthesized,
) -> None:
    # Given the five packs' report of the app / Then nothing in an access stack is left unacknowledged
    report = github_app.validation_report  # a plugin with no violation is left out of it
    failures = [(plugin["pluginName"], violation["ruleName"], construct["constructPath"])
                for plugin in report["pluginReports"] for violation in plugin.get("violations", [])
                for construct in violation["violatingConstructs"]
                if construct["constructPath"].startswith("FilegateGithubAccess")]
    assert failures == []
    # And what was acknowledged is in the templates, on the policies only, each with a real reason
    for account in ACCOUNTS.values():
        acknowledged = [(resource["Type"], rule["id"], rule["reason"])
                        for resource in _access(github_app, account)["Resources"].values()
                        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])]
        assert acknowledged
        assert {kind for kind, _, _ in acknowledged} == {"AWS::IAM::Policy"}
        iam5 = {rule for _, rule, _ in acknowledged if rule.startswith("AwsSolutions-IAM5")}
        assert iam5 == {f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iam::{account}:role/"
                        f"cdk-hnb659fds-{kind}-role-{account}-*]" for kind in BOOTSTRAP_KINDS}
        assert all(len(reason) >= 60 for _, _, reason in acknowledged)


def test_cfn_lint_accepts_the_access_stacks(github_app: Synthesized) -> None:
    # Given the access stacks' templates / When cfn-lint reads them / Then it reports nothing
    templates = sorted(str(path) for path in github_app.outdir.glob("FilegateGithubAccess*.template.json"))
    assert len(templates) == len(ACCOUNTS)
    result = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", *templates],
                            capture_output=True, text=True, check=False)
    assert result.stdout.strip() == "" and result.returncode == 0, result.stdout + result.stderr


# The branches the whole-app synthesis does not take, on the access stacks alone (no stage is built).

def _access_stacks(cdk_context: dict[str, Any], accounts: dict[str, str], selected: tuple[str, ...] = ("dev", "prod"),
                   **github: Any) -> list[Stack]:
    filegate = _github_context(cdk_context, accounts, **github)[CONTEXT_KEY]
    app = App()
    return add_github_access(app, deployment=deployment_from_context(filegate),
                             configs={name: environment_from_context(filegate, name) for name in selected})


def test_environments_sharing_an_account_share_one_stack_and_one_provider(cdk_context: dict[str, Any]) -> None:
    # Given dev and prod in one account / When the access stacks are built
    (stack,) = _access_stacks(cdk_context, {"dev": "333333333333", "prod": "333333333333"})
    template = Template.from_stack(stack).to_json()
    # Then one stack holds both deploy roles and one diff role, with one provider
    assert stack.stack_name == "FilegateGithubAccess333333333333"
    assert sorted(r["Properties"]["RoleName"] for r in _resources(template, "AWS::IAM::Role").values()) == sorted([
        GITHUB_DIFF_ROLE_NAME, github_deploy_role_name("dev"), github_deploy_role_name("prod")])
    assert len(_resources(template, "AWS::IAM::OIDCProvider")) == 1
    # And each deploy role still names only its own environment
    for env in ("dev", "prod"):
        assert _web_identity_trust(_role(template, github_deploy_role_name(env))[1])["Condition"]["StringEquals"][SUB] \
            == f"repo:{REPOSITORY}:environment:{env}"


def test_an_existing_provider_is_referenced_by_its_arn_not_created(cdk_context: dict[str, Any]) -> None:
    # Given create_oidc_provider false / When the access stacks are built
    stacks = _access_stacks(cdk_context, ACCOUNTS, create_oidc_provider=False)
    for stack in stacks:
        template = Template.from_stack(stack).to_json()
        # Then no provider is created, and every role trusts the account's existing one by ARN
        assert not _resources(template, "AWS::IAM::OIDCProvider")
        for role in _resources(template, "AWS::IAM::Role").values():
            federated = _resolve(_web_identity_trust(role["Properties"])["Principal"]["Federated"])
            assert federated == f"arn:aws:iam::{stack.account}:oidc-provider/{GITHUB_OIDC_HOST}"


def test_a_narrowed_synthesis_builds_no_access_stack_that_would_drop_a_role(cdk_context: dict[str, Any]) -> None:
    # Given only dev synthesized (-c env=dev) while the workflow deploys dev and prod
    # Then no access stack is built: deploying one without prod's role would delete that role
    assert _access_stacks(cdk_context, {"dev": "111111111111", "prod": "111111111111"}, selected=("dev",)) == []
    # And with the workflow listing dev alone, dev's stack is built from dev alone
    (stack,) = _access_stacks(cdk_context, {"dev": "111111111111"}, selected=("dev",), environments=["dev"],
                              protected_environments=[])
    names = {r["Properties"]["RoleName"]
             for r in _resources(Template.from_stack(stack).to_json(), "AWS::IAM::Role").values()}
    assert names == {github_deploy_role_name("dev"), GITHUB_DIFF_ROLE_NAME}


def test_the_construct_refuses_an_account_without_environments() -> None:
    # Given no environment / Then there is nothing to trust, and the construct says so
    stack = Stack(App(), "Empty", env=Environment(account="111111111111", region="eu-west-1"))
    with pytest.raises(ValueError, match="at least one environment"):
        GithubDeployAccess(stack, "Access", repository=REPOSITORY, account_environments=[], create_oidc_provider=True)
