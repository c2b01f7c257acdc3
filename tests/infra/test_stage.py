"""One way to build an environment (``FilegateStage``) and the deployment verifier's role."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk.assertions import Template

from stacks.config import (
    EDGE_REGION,
    DeploymentConfig,
    GithubConfig,
    PipelineConfig,
    verifier_role_name,
)
from stacks.constructs.deployment_verifier import DeploymentVerifierAccess
from stacks.stage import VERIFIER_OUTPUT_VARIABLES, FilegateStage, stage_id
from tests.infra.conftest import Synthesized, joined

CONNECTION = "arn:aws:codeconnections:eu-west-1:111111111111:connection/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def test_each_environment_is_one_stage_of_three_stacks_with_explicit_places(app: Synthesized) -> None:
    for env, built in app.environments.items():
        # Given an environment of cdk.json / Then it is a FilegateStage at the app's top level
        assert isinstance(built.stage, FilegateStage)
        assert built.stage.node.path == stage_id(built.config) == env.title()
        # And its three stacks keep the names they had before stages, each in its region
        stacks = {stack.node.id: stack for stack in built.stage.node.children if isinstance(stack, Stack)}
        assert {kind: stack.stack_name for kind, stack in stacks.items()} == {
            kind: f"Filegate{env.title()}{kind}" for kind in ("EdgeSecurity", "FileStore", "FileApi")}
        assert stacks["EdgeSecurity"].region == EDGE_REGION
        assert stacks["FileStore"].region == stacks["FileApi"].region == built.config.region


def test_the_variant_names_its_account_on_every_stack(variant: Synthesized) -> None:
    # Given an environment with an account / Then no stack is environment-agnostic about it
    built = variant.environments["edge"]
    for stack in (built.edge, built.store, built.api):
        assert stack.account == "123456789012"


def test_the_stage_hands_the_verifier_every_output_it_reads(app: Synthesized) -> None:
    for env, built in app.environments.items():
        outputs = app.template_json(env, "FileStore")["Outputs"]
        # Given the pipeline's env_from_cfn_outputs / Then each variable is one of the store's outputs
        assert set(built.stage.verifier_outputs) == set(VERIFIER_OUTPUT_VARIABLES)
        for variable, output in built.stage.verifier_outputs.items():
            assert output.node.scope is built.store, variable
            assert output.node.id == VERIFIER_OUTPUT_VARIABLES[variable] and output.node.id in outputs


def _role(template: dict[str, Any], name: str) -> dict[str, Any]:
    (role,) = [r["Properties"] for r in template["Resources"].values()
               if r["Type"] == "AWS::IAM::Role" and r["Properties"].get("RoleName") == name]
    return role


def test_the_verifier_role_may_call_backend_routes_and_nothing_else(app: Synthesized) -> None:
    for env, built in app.environments.items():
        template = app.template_json(env, "FileStore")
        role_id = next(k for k, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"
                       and r["Properties"].get("RoleName") == verifier_role_name(built.config))
        statements = [statement for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
                      and {"Ref": role_id} in r["Properties"]["Roles"]
                      for statement in r["Properties"]["PolicyDocument"]["Statement"]]
        # Given the verifier's role / Then its one grant is execute-api:Invoke on /backend/ of this API
        assert [s["Action"] for s in statements] == ["execute-api:Invoke"]
        parts = statements[0]["Resource"]["Fn::Join"][1]
        assert parts[-1] == "/api/*/backend/*" and parts[-2]["Ref"].startswith("FrontDoorHttpApi")
        # And without a pipeline or GitHub config only this account may assume it (operators)
        trust = _role(template, verifier_role_name(built.config))["AssumeRolePolicyDocument"]["Statement"]
        assert [joined(s["Principal"]["AWS"]) for s in trust] == ["arn:aws:iam::<AWS::AccountId>:root"]
        assert _role(template, verifier_role_name(built.config))["MaxSessionDuration"] == 3600


def test_the_verifier_role_is_a_backend_principal_of_every_api_function(app: Synthesized) -> None:
    for env, built in app.environments.items():
        for resource in app.template_json(env, "FileApi")["Resources"].values():
            variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
            if resource["Type"] == "AWS::Lambda::Function" and "FILEGATE_BACKEND_PRINCIPALS" in variables:
                # Given a handler of the API / Then the verifier's role (by its known name) is allowed
                principals = json.dumps(variables["FILEGATE_BACKEND_PRINCIPALS"])
                assert f":role/{verifier_role_name(built.config)}" in principals


def _verifier_trust(deployment: DeploymentConfig, env: str = "prod") -> list[dict[str, Any]]:
    """The trust policy ``DeploymentVerifierAccess`` writes for ``env`` under ``deployment``."""
    from stacks.config import load_environment

    config = load_environment(env)
    stack = Stack(App(), "Trust")
    DeploymentVerifierAccess(stack, "Verifier", config=config, deployment=deployment,
                             http_api=apigw.HttpApi(stack, "Api"))
    template = Template.from_stack(stack).to_json()
    role = _role(template, verifier_role_name(config))
    statements: list[dict[str, Any]] = role["AssumeRolePolicyDocument"]["Statement"]
    return statements


@pytest.fixture(scope="module")
def pipeline() -> PipelineConfig:
    return PipelineConfig(connection_arn=CONNECTION, repository="example-org/filegate", account="111111111111",
                          region="eu-west-1", stages=("dev", "prod"))


def test_the_pipeline_verify_role_is_trusted_only_for_staged_environments(pipeline: PipelineConfig) -> None:
    # Given a pipeline that deploys prod / Then prod's verifier role trusts the pipeline's verify role
    trust = _verifier_trust(DeploymentConfig(pipeline=pipeline, environment_names=("dev", "prod")))
    principals = [json.dumps(s["Principal"]) for s in trust]
    assert any("arn:aws:iam::111111111111:role/filegate-pipeline-verify" in p or
               '":iam::111111111111:role/filegate-pipeline-verify"' in p for p in principals), principals
    # Given a pipeline that does not stage prod / Then prod's role does not trust it
    dev_only = pipeline.model_copy(update={"stages": ("dev",)})
    trust = _verifier_trust(DeploymentConfig(pipeline=dev_only, environment_names=("dev", "prod")))
    assert "filegate-pipeline-verify" not in json.dumps(trust)


def test_the_github_job_of_the_environment_alone_may_assume_it_by_web_identity() -> None:
    # Given the workflow deploys prod / When prod's verifier role is built
    github = GithubConfig(repository="example-org/filegate")
    trust = _verifier_trust(DeploymentConfig(github=github, environment_names=("dev", "prod")))
    (web,) = [s for s in trust if s["Action"] == "sts:AssumeRoleWithWebIdentity"]
    # Then the token must be for STS and name exactly this repository's prod environment
    assert web["Condition"] == {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": "repo:example-org/filegate:environment:prod"}}
    assert "oidc-provider/token.actions.githubusercontent.com" in json.dumps(web["Principal"])
    # And an environment the workflow does not deploy gets no web-identity trust at all
    trust = _verifier_trust(DeploymentConfig(github=github.model_copy(update={"environments": ("dev",)}),
                                             environment_names=("dev", "prod")))
    assert all(s["Action"] != "sts:AssumeRoleWithWebIdentity" for s in trust)
