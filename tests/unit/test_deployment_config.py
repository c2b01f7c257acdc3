"""``pipeline`` and ``github`` config: a mistake fails synthesis with a message naming the setting."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stacks.config import CONTEXT_KEY, ConfigError, deployment_from_context, read_context

CONNECTION = "arn:aws:codeconnections:eu-west-1:111111111111:connection/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


@pytest.fixture
def context() -> dict[str, Any]:
    context = copy.deepcopy(read_context()[CONTEXT_KEY])
    context["environments"]["dev"]["account"] = "222222222222"
    context["environments"]["prod"]["account"] = "333333333333"
    context["pipeline"] = {"connection_arn": CONNECTION, "repository": "example-org/filegate",
                           "account": "111111111111", "region": "eu-west-1", "stages": ["dev", "prod"]}
    context["github"] = {"repository": "example-org/filegate"}
    return context


def test_cdk_json_configures_neither_so_no_pipeline_is_built() -> None:
    deployment = deployment_from_context(read_context()[CONTEXT_KEY])
    assert deployment.pipeline is None and deployment.github is None
    assert deployment.pipeline_stages() == () and deployment.github_environments() == ()


def test_defaults_gate_prod_and_list_every_environment(context: dict[str, Any]) -> None:
    # Given a pipeline and GitHub with only the required settings
    deployment = deployment_from_context(context)
    # Then prod is the approval stage and protected environment; GitHub deploys every environment
    assert deployment.pipeline is not None and deployment.pipeline.approvals == ("prod",)
    assert deployment.pipeline.branch == "main" and deployment.pipeline.drift_schedule == "cron(0 6 * * ? *)"
    assert deployment.github_environments() == ("dev", "prod")
    assert deployment.github_protected() == ("prod",)


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c["environments"]["prod"].pop("account"), "environments.prod.account: required"),
    (lambda c: c["pipeline"].update(stages=["dev", "qa"]), "pipeline.stages[1]: unknown environment 'qa'"),
    (lambda c: c["pipeline"].update(stages=["dev", "dev"]), "pipeline.stages: ['dev', 'dev'] names an environment"),
    (lambda c: c["pipeline"].update(stages=[]), "pipeline.stages:"),
    (lambda c: c["pipeline"].update(approval_stages=["qa"]), "pipeline.approval_stages: 'qa' is not in stages"),
    (lambda c: c["pipeline"].update(connection_arn="arn:aws:iam::1:role/x"), "pipeline.connection_arn:"),
    (lambda c: c["pipeline"].update(repository="no-slash"), "pipeline.repository: 'no-slash' is not an owner/name"),
    (lambda c: c["pipeline"].update(branch="a..b"), "pipeline.branch:"),
    (lambda c: c["pipeline"].update(account="12345"), "pipeline.account: must be a 12-digit AWS account id"),
    (lambda c: c["pipeline"].update(region="mars"), "pipeline.region: 'mars' is not an AWS region name"),
    (lambda c: c["pipeline"].update(drift_schedule="daily"), "pipeline.drift_schedule: 'daily' is not an"),
    (lambda c: c["pipeline"].update(surprise=1), "pipeline.surprise:"),
    (lambda c: c["github"].update(environments=["staging"]), "github.environments[0]: unknown environment 'staging'"),
    (lambda c: c["github"].update(protected_environments=["qa"]), "github.protected_environments: 'qa' is not in"),
    (lambda c: c["github"].update(repository="x/y/z"), "github.repository:"),
])
def test_each_mistake_names_its_setting(context: dict[str, Any], change: Any, message: str) -> None:
    # Given one wrong deployment setting / When the config is read / Then the error names it
    change(context)
    with pytest.raises(ConfigError) as raised:
        deployment_from_context(context)
    assert str(raised.value).startswith(message), str(raised.value)
