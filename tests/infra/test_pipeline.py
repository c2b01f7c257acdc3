"""The AWS-native pipeline (``FilegatePipeline``, docs/deployment.md "Pipeline"): its stages in order, the
approvals before prod, the verifier after every stage, the synth step, cross-account keys, the drift
schedule and its role; cdk-nag and cfn-lint on everything the pipeline adds."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, CfnOutput, CfnResource, Environment, Stack, Stage
from aws_cdk.assertions import Template

from stacks.app_builder import build_app
from stacks.config import (
    CONTEXT_KEY,
    PIPELINE_VERIFY_ROLE_NAME,
    ConfigError,
    PipelineConfig,
    environment_from_context,
    verifier_role_name,
)
from stacks.constructs.pipeline import BUILD_IMAGE, DeliveryPipeline, DriftCheck, PipelineStage
from stacks.nag import PACKS
from stacks.pipeline_stack import PIPELINE_STACK_NAME, FilegatePipelineStack
from stacks.stage import VERIFIER_OUTPUT_VARIABLES
from tests.infra.conftest import Synthesized, synthesize

CONNECTION = "arn:aws:codeconnections:eu-west-1:111111111111:connection/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
TOOLING = "111111111111"
ACCOUNTS = {"dev": "222222222222", "prod": "333333333333"}
SCHEDULE = "cron(30 5 * * ? *)"
PIPELINE = {
    "connection_arn": CONNECTION,
    "repository": "example-org/filegate",
    "branch": "main",
    "account": TOOLING,
    "region": "eu-west-1",
    "stages": ["dev", "prod"],
    "approval_stages": ["prod"],
    "drift_schedule": SCHEDULE,
    "run_e2e": True,
}


def _pipeline_context(cdk_context: dict[str, Any], **pipeline: Any) -> dict[str, Any]:
    context = copy.deepcopy(cdk_context)
    for env, account in ACCOUNTS.items():
        context[CONTEXT_KEY]["environments"][env]["account"] = account
    context[CONTEXT_KEY]["pipeline"] = {**PIPELINE, **pipeline}
    return context


@pytest.fixture(scope="session")
def pipeline_app(cdk_context: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The whole app with the pipeline configured: dev and prod in two accounts, the pipeline in a third."""
    return synthesize(_pipeline_context(cdk_context), tmp_path_factory.mktemp("cdk.out-pipeline"))


def _template(synth: Synthesized) -> dict[str, Any]:
    return synth.raw[PIPELINE_STACK_NAME]


def _resources(template: Mapping[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {key: resource for key, resource in template["Resources"].items() if resource["Type"] == kind}


def _stages(template: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    (pipeline,) = _resources(template, "AWS::CodePipeline::Pipeline").values()
    return {stage["Name"]: stage["Actions"] for stage in pipeline["Properties"]["Stages"]}


def _project(template: Mapping[str, Any], action: Mapping[str, Any]) -> dict[str, Any]:
    """The CodeBuild project a CodeBuild action runs."""
    project: dict[str, Any] = template["Resources"][action["Configuration"]["ProjectName"]["Ref"]]["Properties"]
    return project


def _buildspec(synth: Synthesized, project: Mapping[str, Any]) -> dict[str, Any]:
    """A project's buildspec, inline or (when CDK Pipelines writes it beside the template) from cdk.out."""
    spec = project["Source"]["BuildSpec"]
    if isinstance(spec, dict):  # an Fn::Join around a reference: the literal parts are what is run
        spec = "".join(part if isinstance(part, str) else "<ref>" for part in spec["Fn::Join"][1])
    if spec.endswith(".yaml"):
        import yaml

        loaded: dict[str, Any] = yaml.safe_load((synth.outdir / spec).read_text())
        return loaded
    parsed: dict[str, Any] = json.loads(spec)
    return parsed


def _commands(spec: Mapping[str, Any], phase: str) -> list[str]:
    return list(spec["phases"][phase]["commands"])


def _is_deploy(action: Mapping[str, Any]) -> bool:
    kind = action["ActionTypeId"]
    return bool(kind["Category"] == "Deploy" and kind["Provider"] == "CloudFormation")


def _resolve(value: Any) -> Any:
    """The intrinsics these statements use, in the aws partition; a resource reference stays as is."""
    if isinstance(value, dict):
        if value == {"Ref": "AWS::Partition"}:
            return "aws"
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return separator.join(str(_resolve(part)) for part in parts)
        return value
    if isinstance(value, list):
        return [_resolve(item) for item in value]
    return value


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _role_statements(template: Mapping[str, Any], role_key: str) -> list[dict[str, Any]]:
    return [statement for policy in _resources(template, "AWS::IAM::Policy").values()
            if {"Ref": role_key} in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]]


def _assume_role_targets(template: Mapping[str, Any], role_key: str) -> set[str]:
    return {_resolve(resource) for statement in _role_statements(template, role_key)
            if "sts:AssumeRole" in _as_list(statement["Action"]) for resource in _as_list(statement["Resource"])}


def test_the_pipeline_stack_is_in_the_tooling_account_and_holds_the_staged_environments(
    pipeline_app: Synthesized,
) -> None:
    # Given the pipeline staging dev and prod / When the app is synthesized
    manifest = json.loads((pipeline_app.outdir / "manifest.json").read_text())["artifacts"]
    # Then FilegatePipeline is in the tooling account and region
    assert manifest[PIPELINE_STACK_NAME]["environment"] == f"aws://{TOOLING}/eu-west-1"
    # And each staged environment's stage lives inside it (never also at the top level), same stack names
    for env, built in pipeline_app.environments.items():
        assert built.stage.node.path == f"{PIPELINE_STACK_NAME}/{env.title()}"
        assert built.store.stack_name == f"Filegate{env.title()}FileStore"
        assert built.store.account == ACCOUNTS[env]
    assemblies = {name for name, artifact in manifest.items() if artifact["type"] == "cdk:cloud-assembly"}
    assert assemblies == {f"assembly-{PIPELINE_STACK_NAME}-{env.title()}" for env in ACCOUNTS}
    # And the stack hands the app its stages by environment, in the configured order
    stack = pipeline_app.environments["dev"].stage.node.scope
    assert isinstance(stack, FilegatePipelineStack)
    assert list(stack.stages) == PIPELINE["stages"]
    assert {env: stage.node.path for env, stage in stack.stages.items()} == {
        env: built.stage.node.path for env, built in pipeline_app.environments.items()}


def test_the_stages_run_in_order_source_build_self_mutation_assets_then_the_environments(
    pipeline_app: Synthesized,
) -> None:
    # Given the pipeline's CodePipeline / When its stages are read
    template = _template(pipeline_app)
    names = list(_stages(template))
    # Then the source, synth, self-mutation and assets come first, then dev, then prod
    assert names == ["Source", "Build", "UpdatePipeline", "Assets", "Dev", "Prod"]
    (pipeline,) = _resources(template, "AWS::CodePipeline::Pipeline").values()
    assert pipeline["Properties"]["PipelineType"] == "V2"
    # And the source is the connection's repository and branch
    (source,) = _stages(template)["Source"]
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert source["Configuration"] == {"ConnectionArn": CONNECTION, "FullRepositoryId": "example-org/filegate",
                                       "BranchName": "main"}
    # And the pipeline mutates itself with the CDK CLI package.json pins
    (mutate,) = _stages(template)["UpdatePipeline"]
    pinned = json.loads(Path("package.json").read_text())["dependencies"]["aws-cdk"]
    assert f"npm install -g aws-cdk@{pinned}" in _commands(_buildspec(pipeline_app, _project(template, mutate)),
                                                            "install")


def test_prod_is_confirmed_for_broadening_and_approved_before_anything_deploys(pipeline_app: Synthesized) -> None:
    # Given the approval stage prod / When its actions are ordered by RunOrder
    template = _template(pipeline_app)
    actions = _stages(template)["Prod"]
    first_deploy = min(action["RunOrder"] for action in actions if _is_deploy(action))
    check = [a for a in actions if a["Name"] == "CheckBroadening.Check"]
    approvals = [a for a in actions if a["ActionTypeId"]["Category"] == "Approval"]
    # Then the broadening check (CodeBuild: cdk diff --security-only) runs first
    assert len(check) == 1 and check[0]["ActionTypeId"]["Provider"] == "CodeBuild"
    assert "--security-only" in json.dumps(_project(template, check[0])["Source"]["BuildSpec"])
    # And then its confirmation and the manual approval ApproveProd, all before any stack deploys
    assert {a["Name"] for a in approvals} == {"CheckBroadening.Confirm", "ApproveProd"}
    approve = next(a for a in approvals if a["Name"] == "ApproveProd")
    assert check[0]["RunOrder"] < approve["RunOrder"] < first_deploy
    assert all(a["RunOrder"] < first_deploy for a in approvals)
    # And dev, not an approval stage, deploys without either
    assert not [a for a in _stages(template)["Dev"]
                if a["ActionTypeId"]["Category"] == "Approval" or a["Name"].startswith("CheckBroadening")]


def test_every_stage_deploys_its_three_stacks_in_their_accounts_and_regions(pipeline_app: Synthesized) -> None:
    for env, actions in ((env, _stages(_template(pipeline_app))[env.title()]) for env in ACCOUNTS):
        # Given a stage's CloudFormation actions / Then the edge stack first (us-east-1), then store, then API
        deploys = sorted((a for a in actions if _is_deploy(a)), key=lambda a: a["RunOrder"])
        stacks = list(dict.fromkeys(a["Configuration"]["StackName"] for a in deploys))
        assert stacks == [f"Filegate{env.title()}{kind}" for kind in ("EdgeSecurity", "FileStore", "FileApi")]
        assert deploys[0]["Region"] == "us-east-1"
        # And as the environment account's CDK deploy role
        assert all(f":iam::{ACCOUNTS[env]}:role/cdk-hnb659fds-deploy-role-" in json.dumps(a["RoleArn"])
                   for a in deploys)


def test_the_verifier_runs_after_each_stage_with_the_stage_outputs(pipeline_app: Synthesized) -> None:
    template = _template(pipeline_app)
    for env in ACCOUNTS:
        # Given a stage's actions / Then Verify (CodeBuild) comes after the stage's last deploy action
        actions = _stages(template)[env.title()]
        (verify,) = [a for a in actions if a["Name"] == "Verify"]
        assert verify["ActionTypeId"]["Provider"] == "CodeBuild"
        assert verify["RunOrder"] > max(a["RunOrder"] for a in actions if _is_deploy(a))
        # And its project runs the verifier on the pipeline's outputs
        project = _project(template, verify)
        spec = _buildspec(pipeline_app, project)
        assert _commands(spec, "build") == [f"make verify ENV={env} OUTPUTS=env"]
        # And every FILEGATE_* variable comes from the FileStore stack's output of the same name
        variables = {v["name"]: v["value"] for v in json.loads(verify["Configuration"]["EnvironmentVariables"])}
        store = pipeline_app.environments[env].store.artifact_id
        assert {name: value for name, value in variables.items() if name.startswith("FILEGATE_")} == {
            name: f"#{{{store}.{output}}}" for name, output in VERIFIER_OUTPUT_VARIABLES.items()}
        # And it builds on the Debian image, as filegate-pipeline-verify
        assert project["Environment"]["Image"] == BUILD_IMAGE
        roles = {key for key, r in _resources(template, "AWS::IAM::Role").items()
                 if r["Properties"].get("RoleName") == PIPELINE_VERIFY_ROLE_NAME}
        assert [project["ServiceRole"]] == [{"Fn::GetAtt": [key, "Arn"]} for key in roles]


def test_one_verify_role_may_assume_only_the_staged_environments_verifier_roles(pipeline_app: Synthesized) -> None:
    # Given the pipeline's template / Then exactly one role is named filegate-pipeline-verify
    template = _template(pipeline_app)
    (key,) = [key for key, r in _resources(template, "AWS::IAM::Role").items()
              if r["Properties"].get("RoleName") == PIPELINE_VERIFY_ROLE_NAME]
    role = template["Resources"][key]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "codebuild.amazonaws.com"}
    # And the only roles it may assume are each staged environment's deployment verifier
    assert _assume_role_targets(template, key) == {
        f"arn:aws:iam::{ACCOUNTS[env]}:role/{verifier_role_name(built.config)}"
        for env, built in pipeline_app.environments.items()}


def test_the_synth_step_lints_tests_and_synthesizes_with_node_22_on_debian(pipeline_app: Synthesized) -> None:
    # Given the Build stage's Synth action / When its project's buildspec is read
    template = _template(pipeline_app)
    (synth,) = _stages(template)["Build"]
    assert synth["Name"] == "Synth"
    project = _project(template, synth)
    spec = _buildspec(pipeline_app, project)
    # Then Node 22 and the CDK CLI come from package.json (npm ci), checked to be Node 22
    install = _commands(spec, "install")
    assert any(command.startswith("npm ci") for command in install)
    assert any("node_modules/.bin/node" in command and '"22"' in command for command in install)
    # And it lints and runs every test layer before it synthesizes cdk.out, in this order
    assert _commands(spec, "build") == ["make lint", "make test-unit", "make test-infra", "make test-e2e",
                                        "make synth"]
    assert spec["artifacts"]["base-directory"] == "cdk.out"
    # And on Debian with Python 3.13 (what e2e's apt packages and the Makefile need), unprivileged
    environment = project["Environment"]
    assert environment["Image"] == BUILD_IMAGE
    assert {"Name": "PYTHON313", "Type": "PLAINTEXT", "Value": "/usr/local/bin/python3.13"} in \
        environment["EnvironmentVariables"]
    assert environment["PrivilegedMode"] is False
    assert spec["env"]["shell"] == "bash"


def test_cross_account_stages_get_a_rotated_kms_key_on_the_artifact_bucket(pipeline_app: Synthesized) -> None:
    # Given stages in accounts other than the tooling account
    template = _template(pipeline_app)
    (pipeline,) = _resources(template, "AWS::CodePipeline::Pipeline").values()
    stores = {store["Region"]: store["ArtifactStore"] for store in pipeline["Properties"]["ArtifactStores"]}
    # Then the pipeline's own region's store is its bucket, encrypted with a customer key of this stack
    # (which rotates), and the pipeline encrypts artifacts with that key
    home = stores.pop("eu-west-1")
    bucket = template["Resources"][home["Location"]["Ref"]]["Properties"]
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    key_ref = rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert home["EncryptionKey"] == {"Id": key_ref, "Type": "KMS"}
    key = template["Resources"][key_ref["Fn::GetAtt"][0]]
    assert key["Type"] == "AWS::KMS::Key" and key["Properties"]["EnableKeyRotation"] is True
    # And the other regions' stores (the edge in us-east-1, the environments' region) have KMS keys too
    assert set(stores) == {"us-east-1", *(b.config.region for b in pipeline_app.environments.values())}
    assert all(store["EncryptionKey"]["Type"] == "KMS" for store in stores.values())
    # And the bucket keeps versions and its server access logs
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert "DestinationBucketName" in bucket["LoggingConfiguration"]


def test_the_drift_schedule_starts_the_drift_check_of_every_stage(pipeline_app: Synthesized) -> None:
    # Given the configured drift schedule / Then one rule runs on it, and starts the drift project
    template = _template(pipeline_app)
    (rule,) = _resources(template, "AWS::Events::Rule").values()
    assert rule["Properties"]["ScheduleExpression"] == SCHEDULE
    (target,) = rule["Properties"]["Targets"]
    project_id = target["Arn"]["Fn::GetAtt"][0]
    project = template["Resources"][project_id]
    assert project["Type"] == "AWS::CodeBuild::Project"
    # And the project runs `make drift` for each stage, in order, failing if any drifted
    spec = _buildspec(pipeline_app, project["Properties"])
    build = _commands(spec, "build")
    drift = [command for command in build if "make drift" in command]
    assert [command.split("make drift ")[1].split(" ")[0] for command in drift] == ["ENV=dev", "ENV=prod"]
    assert "exit 1" in build[-1]
    # And clones the repository's branch through the connection, never on a push (no webhook)
    source = project["Properties"]["Source"]
    assert source["Type"] == "GITHUB" and source["Location"] == "https://github.com/example-org/filegate.git"
    assert source["Auth"] == {"Type": "CODECONNECTIONS", "Resource": CONNECTION}
    assert project["Properties"]["SourceVersion"] == "main"
    assert "Triggers" not in project["Properties"]


def test_the_drift_role_may_assume_only_the_stage_accounts_cdk_lookup_roles(pipeline_app: Synthesized) -> None:
    # Given the drift project's role (cdk drift reads stacks with its own credentials: no bootstrap
    # role of its own, so the build runs it as each account's read-only lookup role)
    template = _template(pipeline_app)
    (rule,) = _resources(template, "AWS::Events::Rule").values()
    project = template["Resources"][rule["Properties"]["Targets"][0]["Arn"]["Fn::GetAtt"][0]]["Properties"]
    role_key = project["ServiceRole"]["Fn::GetAtt"][0]
    # Then it may assume each staged account's lookup role in the environment's region, nothing else
    regions = {env: built.config.region for env, built in pipeline_app.environments.items()}
    assert _assume_role_targets(template, role_key) == {
        f"arn:aws:iam::{account}:role/cdk-hnb659fds-lookup-role-{account}-{regions[env]}"
        for env, account in ACCOUNTS.items()}
    # And the build assumes them through profiles named after the environments
    build = json.dumps(project["Source"]["BuildSpec"])
    for env in ACCOUNTS:
        assert f"AWS_PROFILE=filegate-drift-{env} make drift ENV={env}" in build
    # And besides that it may only clone through the connection (and write its logs)
    other = {action for statement in _role_statements(template, role_key)
             for action in _as_list(statement["Action"]) if action != "sts:AssumeRole"}
    assert {action for action in other if not action.startswith(("logs:", "codebuild:", "kms:"))} == {
        "codeconnections:GetConnectionToken", "codeconnections:GetConnection"}


def test_the_pipeline_adds_no_unacknowledged_finding_and_reasoned_acknowledgements(
    pipeline_app: Synthesized,
) -> None:
    # Given the five packs' report of the app with the pipeline / Then nothing is left unacknowledged
    report = pipeline_app.validation_report  # a plugin with no violation is left out of it
    failures = [(plugin["pluginName"], violation["ruleName"], construct["constructPath"])
                for plugin in report["pluginReports"] for violation in plugin.get("violations", [])
                for construct in violation["violatingConstructs"]]
    assert failures == []
    # And the acknowledgements are in the pipeline's templates: one resource each, a named rule, a reason
    pipeline_stacks = [name for name in pipeline_app.raw if name.startswith(PIPELINE_STACK_NAME)]
    assert len(pipeline_stacks) == 3, pipeline_stacks  # the stack and its two regions' support stacks
    acknowledged = [(resource["Metadata"].get("aws:cdk:path", ""), rule["id"], rule["reason"])
                    for name in pipeline_stacks for resource in pipeline_app.raw[name]["Resources"].values()
                    for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])]
    assert acknowledged
    assert {rule_id.split("-")[0] for _, rule_id, _ in acknowledged} <= set(PACKS)
    for path, rule_id, reason in acknowledged:
        assert path.endswith("/Resource"), f"{rule_id} acknowledged above a resource: {path}"
        assert "*" not in rule_id.split("[")[0], rule_id
        assert len(reason) >= 60, f"{path} {rule_id}: reason too thin for an auditor"
    # And the stages inside the pipeline carry their acknowledgements too (given before CDK Pipelines
    # synthesizes them, which happens once, when they are added)
    for env in ACCOUNTS:
        for kind in ("FileStore", "FileApi"):
            assert any(r.get("Metadata", {}).get("cdk_nag") for r in
                       pipeline_app.template_json(env, kind)["Resources"].values()), (env, kind)


def test_cfn_lint_accepts_every_template_of_the_pipeline_app(pipeline_app: Synthesized) -> None:
    # Given the pipeline stack, its support stacks and the stages it deploys / When cfn-lint reads them
    templates = sorted(str(path) for path in pipeline_app.outdir.glob("**/*.template.json"))
    assert len(templates) == 3 + 3 * len(ACCOUNTS)
    result = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", *templates],
                            capture_output=True, text=True, check=False)
    # Then it reports nothing: no error, no warning
    assert result.stdout.strip() == "" and result.returncode == 0, result.stdout + result.stderr


def test_without_a_pipeline_config_there_is_no_pipeline_stack(app: Synthesized) -> None:
    # Given cdk.json as committed (no pipeline) / Then no FilegatePipeline stack, stages at the top level
    assert not [name for name in app.raw if name.startswith(PIPELINE_STACK_NAME)]
    assert all(built.stage.node.path == env.title() for env, built in app.environments.items())


@pytest.mark.parametrize(("change", "setting"), [
    (lambda f: f["environments"]["dev"].pop("account"), "environments.dev.account"),
    (lambda f: f["pipeline"].update(approval_stages=["staging"]), "approval_stages"),
    (lambda f: f["pipeline"].update(stages=["dev", "qa"], approval_stages=[]), "pipeline.stages[1]"),
    (lambda f: f["pipeline"].update(drift_schedule="every day"), "pipeline.drift_schedule"),
    (lambda f: f["pipeline"].pop("account"), "pipeline.account"),
])
def test_a_wrong_pipeline_config_fails_synthesis_naming_the_setting(
    cdk_context: dict[str, Any], change: Any, setting: str,
) -> None:
    # Given the pipeline config with one thing wrong
    context = _pipeline_context(cdk_context)
    change(context[CONTEXT_KEY])
    # When the app is built / Then it fails before any construct, naming the setting
    with pytest.raises(ConfigError) as error:
        build_app(App(context=context))
    assert setting in str(error.value)


# The branches the whole-app synthesis does not take, on the pipeline's constructs alone: stand-in
# stages of one stack each (a FilegateStage's outputs, nothing else), so no environment is built.

class _StandInStage(Stage):
    def __init__(self, scope: Stack, construct_id: str, *, account: str, region: str) -> None:
        super().__init__(scope, construct_id, env=Environment(account=account, region=region))
        stack = Stack(self, "FileStore", stack_name=f"Filegate{construct_id}FileStore")
        CfnResource(stack, "Handle", type="AWS::CloudFormation::WaitConditionHandle")
        self.verifier_outputs = {name: CfnOutput(stack, output, value="x")
                                 for name, output in VERIFIER_OUTPUT_VARIABLES.items()}


def _stand_in_pipeline(cdk_context: dict[str, Any], accounts: dict[str, str], **pipeline: Any) -> dict[str, Any]:
    filegate = copy.deepcopy(cdk_context[CONTEXT_KEY])
    config = PipelineConfig.model_validate({**PIPELINE, "stages": list(accounts), **pipeline})
    flags = {key: value for key, value in cdk_context.items() if key != CONTEXT_KEY}  # cdk.json's feature flags
    stack = Stack(App(context=flags), "Pipeline", env=Environment(account=config.account, region=config.region))
    stages = []
    for env, account in accounts.items():
        filegate["environments"][env]["account"] = account
        environment = environment_from_context(filegate, env)
        stages.append(PipelineStage(config=environment, stage=_StandInStage(  # type: ignore[arg-type]
            stack, env.title(), account=account, region=environment.region)))
    delivery = DeliveryPipeline(stack, "Delivery", pipeline=config, stages=stages)
    DriftCheck(stack, "Drift", pipeline=config, stages=stages, logs_key=delivery.key)
    template: dict[str, Any] = dict(Template.from_stack(stack).to_json())
    return template


def test_stages_in_the_tooling_account_need_no_cross_account_key(cdk_context: dict[str, Any]) -> None:
    # Given every stage in the pipeline's own account, no approval stage and no e2e
    template = _stand_in_pipeline(cdk_context, {"dev": TOOLING, "prod": TOOLING}, approval_stages=[], run_e2e=False)
    (pipeline,) = _resources(template, "AWS::CodePipeline::Pipeline").values()
    home = next(s["ArtifactStore"] for s in pipeline["Properties"]["ArtifactStores"] if s["Region"] == "eu-west-1")
    assert "EncryptionKey" not in home
    bucket = template["Resources"][home["Location"]["Ref"]]["Properties"]
    # Then the artifact bucket uses S3's managed KMS key, and the pipeline makes no artifacts key
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms"}
    assert not [k for k in _resources(template, "AWS::KMS::Key") if "ArtifactsBucketEncryptionKey" in k]
    # And no stage waits for an approval, and the synth step skips the end-to-end tests
    assert not [a for actions in _stages(template).values() for a in actions
                if a["ActionTypeId"]["Category"] == "Approval"]
    (synth,) = _stages(template)["Build"]
    commands = json.loads(_project(template, synth)["Source"]["BuildSpec"])["phases"]["build"]["commands"]
    assert commands == ["make lint", "make test-unit", "make test-infra", "make synth"]


def test_one_stage_in_another_account_is_enough_for_cross_account_keys(cdk_context: dict[str, Any]) -> None:
    # Given dev in the tooling account and prod in another / Then the artifact bucket has the pipeline's key
    template = _stand_in_pipeline(cdk_context, {"dev": TOOLING, "prod": ACCOUNTS["prod"]})
    assert [k for k in _resources(template, "AWS::KMS::Key") if "ArtifactsBucketEncryptionKey" in k]
