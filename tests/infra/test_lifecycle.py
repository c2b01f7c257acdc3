"""File lifecycle, infrastructure side (DESIGN.md decision 12; docs/lifecycle.md).

Routes and their authorization, the edge's revocation function and store, the listing indexes and
the erasures table, the erasure queue, the schedule, the alarms, each new role's exact grants, and
the files bucket's policy evaluated with the independent evaluator (``tests/infra/iam_policy_eval.py``)
for the deleting roles and for everyone else.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.infra import iam_policy_eval
from tests.infra.conftest import Synthesized, files_bucket

ROOT = Path(__file__).resolve().parents[2]
ALLOW = iam_policy_eval.Decision.ALLOW
EXPLICIT_DENY = iam_policy_eval.Decision.EXPLICIT_DENY
FAKE_ACCOUNT = "111122223333"
TLS = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}
VARIANTS = (("app", "dev"), ("app", "prod"), ("variant", "edge"))

FILES = "filegate.handlers.files.handler"
DELETIONS = "filegate.handlers.deletions.handler"
ERASURE_WORKER = "filegate.handlers.erasure_worker.handler"
REVOCATION_EXPIRY = "filegate.handlers.revocation_expiry.handler"
LIFECYCLE_HANDLERS = (FILES, DELETIONS, ERASURE_WORKER, REVOCATION_EXPIRY)
LIFECYCLE_VARIABLES = ("FILEGATE_CURSOR_SECRET", "FILEGATE_EVENT_BUS", "FILEGATE_REVOCATION_STORE_ARN",
                       "FILEGATE_DISTRIBUTION_ID", "FILEGATE_ERASURES_TABLE", "FILEGATE_ERASURE_QUEUE_URL")
#: docs/lifecycle.md, "Routes": route -> (auth, handler).
ROUTES = {
    "POST /uploads": ("JWT", "filegate.handlers.uploads.handler"),
    "POST /downloads": ("JWT", "filegate.handlers.downloads.handler"),
    "POST /downloads/cookies": ("JWT", "filegate.handlers.downloads.handler"),
    "GET /files": ("JWT", FILES),
    "GET /files/{file_id}": ("JWT", FILES),
    "DELETE /files/{file_id}": ("JWT", DELETIONS),
    "POST /backend/uploads": ("AWS_IAM", "filegate.handlers.uploads.handler"),
    "POST /backend/downloads": ("AWS_IAM", "filegate.handlers.downloads.handler"),
    "GET /backend/files": ("AWS_IAM", FILES),
    "GET /backend/files/{file_id}": ("AWS_IAM", FILES),
    "DELETE /backend/files/{file_id}": ("AWS_IAM", DELETIONS),
    "POST /backend/revocations": ("AWS_IAM", DELETIONS),
    "POST /backend/erasures": ("AWS_IAM", DELETIONS),
    "GET /backend/erasures/{erasure_id}": ("AWS_IAM", DELETIONS),
}
#: What CDK adds to a role beyond our named statements: logs, traces, a queue it consumes or sends to.
CDK_ADDED_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
                     "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                     "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage", "kms:Decrypt", "kms:Encrypt",
                     "kms:GenerateDataKey*", "kms:ReEncrypt*"}


def _resources(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == type_}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _function_id(template: dict[str, Any], handler: str) -> str:
    (logical_id,) = [k for k, r in _resources(template, "AWS::Lambda::Function").items()
                     if r["Properties"].get("Handler") == handler]
    return logical_id


def _function(template: dict[str, Any], handler: str) -> dict[str, Any]:
    return template["Resources"][_function_id(template, handler)]["Properties"]


@pytest.fixture(params=VARIANTS, ids=[env for _, env in VARIANTS])
def deployment(request: pytest.FixtureRequest) -> tuple[Synthesized, str]:
    fixture, env = request.param
    return request.getfixturevalue(fixture), env


# --- routes -----------------------------------------------------------------------------------

def test_every_route_has_its_authorization_and_its_function(deployment: tuple[Synthesized, str]) -> None:
    synth, env = deployment
    template = synth.template_json(env, "FileApi")
    integrations = _resources(template, "AWS::ApiGatewayV2::Integration")
    routes = {r["Properties"]["RouteKey"]: r["Properties"]
              for r in _resources(template, "AWS::ApiGatewayV2::Route").values()}
    # Given the HTTP API / Then exactly the contract's routes exist
    assert set(routes) == set(ROUTES)
    scopes = {tuple(r["AuthorizationScopes"]) for r in routes.values() if r["AuthorizationType"] == "JWT"}
    assert len(scopes) == 1 and all(scopes), "every user route requires the same (non-empty) scopes"
    for key, (auth, handler) in ROUTES.items():
        route = routes[key]
        # And each has its authorization (JWT with scopes, or SigV4) and reaches its function
        assert route["AuthorizationType"] == auth, key
        if auth == "AWS_IAM":
            assert "AuthorizationScopes" not in route, key
        target = route["Target"]["Fn::Join"][1][1]["Ref"]
        uri = integrations[target]["Properties"]["IntegrationUri"]
        # through the function's alias `live` (its published version), never the bare function
        assert set(uri) == {"Ref"}, f"{key}: {uri} names no alias"
        alias = template["Resources"][uri["Ref"]]
        assert alias["Type"] == "AWS::Lambda::Alias" and alias["Properties"]["Name"] == "live", key
        assert alias["Properties"]["FunctionName"] == {"Ref": _function_id(template, handler)}, key


def test_cors_allows_get_post_delete_for_the_configured_origins_only(app: Synthesized) -> None:
    for env in ("dev", "prod"):
        # The HTTP API is the file store stack's (docs/front-door.md); the routes are the API stack's.
        (api,) = _resources(app.template_json(env, "FileStore"), "AWS::ApiGatewayV2::Api").values()
        cors = api["Properties"]["CorsConfiguration"]
        assert set(cors["AllowMethods"]) == {"GET", "POST", "DELETE", "OPTIONS"}
        assert cors["AllowOrigins"] == list(app.environments[env].config.frontend_origins)


def test_the_stage_throttles_and_logs_every_route(app: Synthesized) -> None:
    # Stage-wide settings: no route (new ones included) has an override that lifts the throttle.
    (stage,) = _resources(app.template_json("prod", "FileStore"), "AWS::ApiGatewayV2::Stage").values()
    assert "RouteSettings" not in stage["Properties"]
    assert stage["Properties"]["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    assert stage["Properties"]["AccessLogSettings"]["DestinationArn"]


# --- the edge ---------------------------------------------------------------------------------

def test_the_signed_behaviour_runs_the_revocation_function_and_public_does_not(
        deployment: tuple[Synthesized, str]) -> None:
    synth, env = deployment
    template = synth.template_json(env, "FileStore")
    (function_id,) = _resources(template, "AWS::CloudFront::Function")
    (distribution,) = _resources(template, "AWS::CloudFront::Distribution").values()
    config = distribution["Properties"]["DistributionConfig"]
    # Given the default (signed) behaviour / Then exactly one association: the revocation function, viewer request
    default = config["DefaultCacheBehavior"]
    assert default["TrustedKeyGroups"], "the default behaviour is the signed one"
    assert default["FunctionAssociations"] == [
        {"EventType": "viewer-request", "FunctionARN": {"Fn::GetAtt": [function_id, "FunctionARN"]}}]
    # And public/* runs no function (it has no issued URLs; deleted public files are invalidated)
    (public,) = [behaviour for behaviour in config["CacheBehaviors"] if behaviour["PathPattern"] == "public/*"]
    assert "TrustedKeyGroups" not in public
    assert "FunctionAssociations" not in public and "LambdaFunctionAssociations" not in public


def test_the_function_is_edge_revocation_js_on_js2_with_the_store_associated(
        deployment: tuple[Synthesized, str]) -> None:
    synth, env = deployment
    config = synth.environments[env].config
    template = synth.template_json(env, "FileStore")
    (store_id, store), = _resources(template, "AWS::CloudFront::KeyValueStore").items()
    assert store["Properties"]["Name"] == f"{config.prefix}-revocations"
    (function,) = _resources(template, "AWS::CloudFront::Function").values()
    properties = function["Properties"]
    assert properties["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    assert properties["FunctionConfig"]["KeyValueStoreAssociations"] == [
        {"KeyValueStoreARN": {"Fn::GetAtt": [store_id, "Arn"]}}]
    assert properties["AutoPublish"] is True
    # The code is the repository's file, byte for byte (the local edge runs the same one)
    assert properties["FunctionCode"] == (ROOT / "edge" / "revocation.js").read_text()
    assert len(properties["FunctionCode"].encode()) <= 10 * 1024


def test_outputs_name_the_distribution_the_store_and_the_queue(app: Synthesized) -> None:
    store_outputs = app.template_json("prod", "FileStore")["Outputs"]
    api_outputs = app.template_json("prod", "FileApi")["Outputs"]
    assert {"DistributionId", "RevocationStoreArn", "ErasuresTableName"} <= set(store_outputs)
    assert "ErasureQueueUrl" in api_outputs


# --- tables ------------------------------------------------------------------------------------

def test_the_files_table_has_the_listing_indexes(app: Synthesized) -> None:
    for env in ("dev", "prod"):
        template = app.template_json(env, "FileStore")
        config = app.environments[env].config
        (files,) = [r["Properties"] for r in _resources(template, "AWS::DynamoDB::Table").values()
                    if r["Properties"]["TableName"] == config.files_table_name]
        indexes = {i["IndexName"]: i for i in files["GlobalSecondaryIndexes"]}
        for name, partition in (("owner", "owner_sub"), ("org", "org_scope")):
            assert indexes[name]["KeySchema"] == [{"AttributeName": partition, "KeyType": "HASH"},
                                                  {"AttributeName": "listed_at", "KeyType": "RANGE"}]
            assert indexes[name]["Projection"] == {"ProjectionType": "ALL"}
        types = {a["AttributeName"]: a["AttributeType"] for a in files["AttributeDefinitions"]}
        assert types["owner_sub"] == types["org_scope"] == types["listed_at"] == "S"
        assert "pending" in indexes, "the sweep's index stays"


def test_the_erasures_table_is_protected_like_the_others(app: Synthesized) -> None:
    for env in ("dev", "prod"):
        template = app.template_json(env, "FileStore")
        config = app.environments[env].config
        tables = {r["Properties"]["TableName"]: r for r in _resources(template, "AWS::DynamoDB::Table").values()}
        erasures, files = tables[config.erasures_table_name], tables[config.files_table_name]
        properties = erasures["Properties"]
        assert config.erasures_table_name == f"{config.prefix}-erasures"
        assert properties["KeySchema"] == [{"AttributeName": "erasure_id", "KeyType": "HASH"}]
        assert properties["AttributeDefinitions"] == [{"AttributeName": "erasure_id", "AttributeType": "S"}]
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert properties["SSESpecification"] == files["Properties"]["SSESpecification"], "the records key"
        assert properties["DeletionProtectionEnabled"] == files["Properties"]["DeletionProtectionEnabled"]
        assert properties["DeletionProtectionEnabled"] is (env == "prod")
        assert erasures["DeletionPolicy"] == files["DeletionPolicy"]
        assert "TimeToLiveSpecification" not in properties, "an erasure item is the evidence: it does not expire"


# --- the erasure queue, the worker, the schedule ------------------------------------------------

def test_the_erasure_queue_is_encrypted_tls_only_with_a_dead_letter_queue(deployment: tuple[Synthesized, str]) -> None:
    synth, env = deployment
    config = synth.environments[env].config
    template = synth.template_json(env, "FileApi")
    queues = _resources(template, "AWS::SQS::Queue")
    keys = _resources(template, "AWS::KMS::Key")
    policies = {json.dumps(r["Properties"]["Queues"]): r["Properties"]["PolicyDocument"]["Statement"]
                for r in _resources(template, "AWS::SQS::QueuePolicy").values()}
    (main,) = [q for q in queues.values() if q["Properties"].get("QueueName") == config.erasure_queue_name]
    assert config.erasure_queue_name == f"{config.prefix}-erasures"
    for logical_id, queue in queues.items():
        # Every queue here: a customer key, and a policy refusing plain HTTP
        assert queue["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0] in keys, logical_id
        assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
                   for s in policies[json.dumps([{"Ref": logical_id}])]), logical_id
    redrive = main["Properties"]["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == 5
    assert redrive["deadLetterTargetArn"]["Fn::GetAtt"][0] in queues
    worker = _function(template, ERASURE_WORKER)
    assert main["Properties"]["VisibilityTimeout"] >= 6 * worker["Timeout"]


def test_only_the_deleting_roles_can_enqueue_erasure_steps(deployment: tuple[Synthesized, str]) -> None:
    synth, env = deployment
    config = synth.environments[env].config
    template = synth.template_json(env, "FileApi")
    fakes = iam_policy_eval.Fakes(template, account=config.account or FAKE_ACCOUNT, region=config.region)
    (main_id,) = [k for k, q in _resources(template, "AWS::SQS::Queue").items()
                  if q["Properties"].get("QueueName") == config.erasure_queue_name]
    (policy,) = [r["Properties"]["PolicyDocument"] for r in _resources(template, "AWS::SQS::QueuePolicy").values()
                 if r["Properties"]["Queues"] == [{"Ref": main_id}]]
    policy = fakes.resolve(policy)
    queue_arn = fakes.get_att(main_id, "Arn")

    def send(name: str) -> iam_policy_eval.Decision:
        caller = iam_policy_eval.Caller.role(f"arn:aws:iam::{fakes.account}:role/{name}")
        request = iam_policy_eval.Request(caller, "sqs:SendMessage", queue_arn, TLS)
        return iam_policy_eval.evaluate(request, resource_policy=policy, policy_account=fakes.account,
                                        identity_policies=[iam_policy_eval.allow_all()])

    assert send(config.deletions_role_name) is ALLOW
    assert send(config.erasure_worker_role_name) is ALLOW
    for name in ("Administrator", config.upload_role_name, config.download_role_name):
        assert send(name) is EXPLICIT_DENY, name


def test_the_worker_takes_one_step_at_a_time_reports_item_failures_and_is_reserved(
        deployment: tuple[Synthesized, str]) -> None:
    synth, env = deployment
    template = synth.template_json(env, "FileApi")
    worker_id = _function_id(template, ERASURE_WORKER)
    worker = _function(template, ERASURE_WORKER)
    (mapping,) = [r["Properties"] for r in _resources(template, "AWS::Lambda::EventSourceMapping").values()
                  if r["Properties"]["FunctionName"] == {"Ref": worker_id}]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == 1, "one bounded step per invocation, well inside the timeout"
    assert 1 <= worker["ReservedConcurrentExecutions"] <= 5
    assert mapping["ScalingConfig"]["MaximumConcurrency"] <= worker["ReservedConcurrentExecutions"]
    config = synth.environments[env].config
    queues = _resources(template, "AWS::SQS::Queue")
    assert queues[mapping["EventSourceArn"]["Fn::GetAtt"][0]]["Properties"]["QueueName"] == config.erasure_queue_name


def test_revocation_expiry_runs_every_15_minutes_with_a_dead_letter_queue(
        deployment: tuple[Synthesized, str]) -> None:
    synth, env = deployment
    template = synth.template_json(env, "FileApi")
    expiry_id = _function_id(template, REVOCATION_EXPIRY)
    expiry = _function(template, REVOCATION_EXPIRY)
    (rule,) = [r["Properties"] for r in _resources(template, "AWS::Events::Rule").values()
               if any(t["Arn"] == {"Fn::GetAtt": [expiry_id, "Arn"]} for t in r["Properties"]["Targets"])]
    assert rule["ScheduleExpression"] == "rate(15 minutes)"
    dead_letters = expiry["DeadLetterConfig"]["TargetArn"]
    assert rule["Targets"][0]["DeadLetterConfig"]["Arn"] == dead_letters
    (invoke_config,) = [r["Properties"] for r in _resources(template, "AWS::Lambda::EventInvokeConfig").values()
                        if r["Properties"]["FunctionName"] == {"Ref": expiry_id}]
    assert invoke_config["DestinationConfig"]["OnFailure"]["Destination"] == dead_letters
    assert expiry["ReservedConcurrentExecutions"] == 1


def test_alarms_watch_every_new_function_and_dead_letter_queue(deployment: tuple[Synthesized, str]) -> None:
    synth, env = deployment
    template = synth.template_json(env, "FileApi")
    alarms = [r["Properties"] for r in _resources(template, "AWS::CloudWatch::Alarm").values()]
    assert all(a["AlarmActions"] for a in alarms)
    for handler in (DELETIONS, ERASURE_WORKER, REVOCATION_EXPIRY, FILES):
        function_id = _function_id(template, handler)
        for metric in ("Errors", "Throttles"):
            assert any(a["MetricName"] == metric and a["Namespace"] == "AWS/Lambda"
                       and a["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
                       for a in alarms), (handler, metric)
    queues = _resources(template, "AWS::SQS::Queue")
    for queue_id in queues:  # the erasure DLQ and the expiry DLQ (the erasure queue itself is not one)
        if "RedrivePolicy" in queues[queue_id]["Properties"]:
            continue
        (alarm,) = [a for a in alarms if a["MetricName"] == "ApproximateNumberOfMessagesVisible"
                    and a["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}]]
        assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


# --- environment --------------------------------------------------------------------------------

def test_the_lifecycle_functions_read_lifecycle_settings(deployment: tuple[Synthesized, str]) -> None:
    from filegate.settings import HANDLER_SETTINGS, LifecycleSettings

    synth, env = deployment
    config = synth.environments[env].config
    template = synth.template_json(env, "FileApi")
    placeholders = {
        "FILEGATE_BUCKET": f"{config.prefix}-files-123456789012-{config.region}",
        "FILEGATE_BUCKET_KMS_KEY_ARN": f"arn:aws:kms:{config.region}:123456789012:key/1234abcd",
        "FILEGATE_DOWNLOAD_BASE_URL": "https://d111111abcdef8.cloudfront.net",
        "FILEGATE_REVOCATION_STORE_ARN": "arn:aws:cloudfront::123456789012:key-value-store/"
                                         "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
        "FILEGATE_DISTRIBUTION_ID": "E1ABCDEFGHIJKL",
        "FILEGATE_ERASURE_QUEUE_URL": f"https://sqs.{config.region}.amazonaws.com/123456789012/"
                                      f"{config.erasure_queue_name}",
        "FILEGATE_SIGNING_SLOTS": json.dumps({
            slot.name: {"public_key_id": f"K{index}ABCDEFGHIJ", "secret_name": slot.secret_name,
                        "kms_key_id": None if slot.secret_name else f"arn:aws:kms:eu-west-1:123456789012:key/{index}"}
            for index, slot in enumerate(config.signing.slots)}),
        # The configured backend roles and the deployment verifier's (its ARN joins the account in).
        "FILEGATE_BACKEND_PRINCIPALS": json.dumps([
            *config.backend_principal_arns, f"arn:aws:iam::123456789012:role/{config.prefix}-deployment-verifier"]),
    }
    for handler in LIFECYCLE_HANDLERS:
        variables = _function(template, handler)["Environment"]["Variables"]
        # Given the function / Then the six lifecycle names are set, the known ones to the known names
        assert set(LIFECYCLE_VARIABLES) <= set(variables), handler
        assert variables["FILEGATE_CURSOR_SECRET"] == config.cursor_secret_name == f"{config.prefix}-cursor-key"
        assert variables["FILEGATE_EVENT_BUS"] == config.event_bus_name
        assert variables["FILEGATE_ERASURES_TABLE"] == config.erasures_table_name
        assert variables["FILEGATE_ERASURE_QUEUE_URL"] == {"Ref": next(
            k for k, q in _resources(template, "AWS::SQS::Queue").items()
            if q["Properties"].get("QueueName") == config.erasure_queue_name)}
        for name in ("FILEGATE_REVOCATION_STORE_ARN", "FILEGATE_DISTRIBUTION_ID"):
            assert "Fn::GetStackOutput" in json.dumps(variables[name]), "a reference to the file store stack"
        # And LifecycleSettings loads from them (with tokens replaced by values of their shape)
        assert HANDLER_SETTINGS[handler] is LifecycleSettings, handler
        names = {name for name in variables if name.startswith("FILEGATE_")}
        assert names <= set(LifecycleSettings.ENVIRONMENT.values()), names - set(LifecycleSettings.ENVIRONMENT.values())
        resolved = {name: value if isinstance(value, str) else placeholders[name] for name, value in variables.items()}
        resolved["FILEGATE_SIGNING_SLOTS"] = placeholders["FILEGATE_SIGNING_SLOTS"]
        settings = LifecycleSettings.from_environ({**resolved, "AWS_REGION": config.region})
        assert [rule.name for rule in settings.rules] == [rule.name for rule in config.rules]


def test_the_cursor_secret_is_generated_and_no_template_holds_a_secret_value(
        app: Synthesized, variant: Synthesized) -> None:
    for synth in (app, variant):
        for stack, template in synth.raw.items():
            text = json.dumps(template)
            assert '"SecretString"' not in text, stack
            for secret in _resources(template, "AWS::SecretsManager::Secret").values():
                generated = secret["Properties"]["GenerateSecretString"]
                assert generated["PasswordLength"] >= 32
                assert "SecretStringTemplate" not in generated
    config = app.environments["prod"].config
    template = app.template_json("prod", "FileApi")
    (secret,) = [r["Properties"] for r in _resources(template, "AWS::SecretsManager::Secret").values()
                 if r["Properties"]["Name"] == config.cursor_secret_name]
    assert secret["GenerateSecretString"]["PasswordLength"] == 64
    assert secret["KmsKeyId"]["Fn::GetAtt"][0] in _resources(template, "AWS::KMS::Key")


# --- grants -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Api:
    synth: Synthesized
    env: str
    fakes: iam_policy_eval.Fakes

    @property
    def config(self) -> Any:
        return self.synth.environments[self.env].config

    @property
    def template(self) -> dict[str, Any]:
        return self.synth.template_json(self.env, "FileApi")

    def statements(self, role_id: str) -> list[dict[str, Any]]:
        return [statement for policy in _resources(self.template, "AWS::IAM::Policy").values()
                if {"Ref": role_id} in policy["Properties"]["Roles"]
                for statement in policy["Properties"]["PolicyDocument"]["Statement"]]

    def role_id(self, *, name: str | None = None, handler: str | None = None) -> str:
        if handler is not None:
            return _function(self.template, handler)["Role"]["Fn::GetAtt"][0]
        (role_id,) = [k for k, r in _resources(self.template, "AWS::IAM::Role").items()
                      if r["Properties"].get("RoleName") == name]
        return role_id

    def policy(self, role_id: str) -> dict[str, Any]:
        return self.fakes.resolve({"Version": "2012-10-17", "Statement": self.statements(role_id)})

    def arn(self, prefix: str, kind: str) -> str:
        (logical_id,) = [k for k, r in self.template["Resources"].items() if k.startswith(prefix) and r["Type"] == kind]
        return self.fakes.get_att(logical_id, "Arn")


def _api(synth: Synthesized, env: str) -> Api:
    config = synth.environments[env].config
    template = synth.template_json(env, "FileApi")
    return Api(synth, env, iam_policy_eval.Fakes(template, account=config.account or FAKE_ACCOUNT,
                                                 region=config.region))


def _named(api: Api, role_id: str) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """Named statements (resolved, by Sid) and the actions of the unnamed ones (CDK's)."""
    statements = api.policy(role_id)["Statement"]
    named = {s["Sid"]: s for s in statements if s.get("Sid")}
    assert len(named) == len([s for s in statements if s.get("Sid")]), "Sids are unique"
    unnamed = set().union(*(set(_as_list(s["Action"])) for s in statements if not s.get("Sid")))
    return named, unnamed


def _store_output(synth: Synthesized, env: str, prefix: str, *, attribute: str | None = None) -> str:
    """How the evaluator renders the API stack's reference to a file store resource (its logical id
    starts with ``prefix``): the store's output that publishes its Ref (or ``attribute``)."""
    stack = synth.environments[env].store.stack_name
    store = synth.template_json(env, "FileStore")
    (logical_id,) = [k for k in store["Resources"] if k.startswith(prefix) and k[len(prefix):].isalnum()
                     and len(k) == len(prefix) + 8]
    value = {"Fn::GetAtt": [logical_id, attribute]} if attribute else {"Ref": logical_id}
    (output,) = [name for name, output in store["Outputs"].items() if output["Value"] == value
                 and name.startswith("PublishOutput")]
    return f"output:{stack}:{output}"


def _assert_exactly(named: dict[str, dict[str, Any]], expected: dict[str, tuple[set[str], list[str]]],
                    role: str) -> None:
    assert set(named) == set(expected), (role, set(named) ^ set(expected))
    for sid, (actions, resources) in expected.items():
        assert set(_as_list(named[sid]["Action"])) == actions, (role, sid)
        assert sorted(_as_list(named[sid]["Resource"])) == sorted(resources), (role, sid)


def test_each_lifecycle_role_holds_exactly_its_grants(deployment: tuple[Synthesized, str]) -> None:
    synth, env = deployment
    api = _api(synth, env)
    config = api.config
    account, region = api.fakes.account, api.fakes.region
    stack = f"output:{synth.environments[env].store.stack_name}"
    bucket = f"arn:aws:s3:::{config.prefix}-files-{account}-{region}"
    files_table = f"arn:aws:dynamodb:{region}:{account}:table/{config.files_table_name}"
    erasures_table = f"arn:aws:dynamodb:{region}:{account}:table/{config.erasures_table_name}"
    indexes = [f"{files_table}/index/owner", f"{files_table}/index/org"]
    bus = f"arn:aws:events:{region}:{account}:event-bus/{config.event_bus_name}"
    records_key = next(r for r in api.statements(api.role_id(name=config.upload_role_name))
                       if r.get("Sid") == "UseTheRecordsKeyThroughDynamoDB")["Resource"]
    records_key_arn = api.fakes.resolve(records_key)
    queue_arn = api.arn("LifecycleErasureQueue", "AWS::SQS::Queue")
    queue_key = api.arn("LifecycleQueueKey", "AWS::KMS::Key")
    patterns = sorted({rule.key_prefix_pattern for rule in config.rules if "upload" in rule.actions})

    # The store and the distribution come from the file store stack by reference.
    deletions_named, deletions_cdk = _named(api, api.role_id(name=config.deletions_role_name))
    store_arn = deletions_named["RevokeAtTheEdge"]["Resource"]
    distribution = deletions_named["InvalidateDeletedPaths"]["Resource"]
    assert store_arn.startswith(f"{stack}:") and "Revocations" in store_arn, store_arn
    assert re.fullmatch(rf"arn:aws:cloudfront::{account}:distribution/{re.escape(stack)}:\S*Distribution\S*",
                        distribution), distribution

    shared = {
        "ListVersionsOfFileKeysOnly": ({"s3:ListBucketVersions"}, [bucket]),
        "DeleteEveryVersion": ({"s3:DeleteObject", "s3:DeleteObjectVersion"},
                               [f"{bucket}/{prefix}*" for prefix in ("private/", "public/", "incoming/", "rejected/")]),
        "InvalidateDeletedPaths": ({"cloudfront:CreateInvalidation"}, [distribution]),
        "RevokeAtTheEdge": ({"cloudfront-keyvaluestore:DescribeKeyValueStore", "cloudfront-keyvaluestore:UpdateKeys"},
                            [store_arn]),
        "AnnounceDeletions": ({"events:PutEvents"}, [bus]),
        "KeepErasureItems": ({"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}, [erasures_table]),
        "UseTheRecordsKeyThroughDynamoDB": ({"kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"},
                                            [records_key_arn]),
        "SendErasureSteps": ({"sqs:SendMessage"}, [queue_arn]),
        "EncryptErasureStepsThroughSqs": ({"kms:GenerateDataKey", "kms:Decrypt"}, [queue_key]),
    }
    # Every user route's function reads the origin secret (docs/front-door.md): its ARN and its key,
    # from the file store stack by reference.
    origin_secret = {
        "ReadTheOriginSecret": (
            {"secretsmanager:GetSecretValue"}, [_store_output(synth, env, "FrontDoorOriginSecret")]),
        "DecryptTheOriginSecretThroughSecretsManager": (
            {"kms:Decrypt"}, [_store_output(synth, env, "FrontDoorOriginSecretKey", attribute="Arn")]),
    }
    expected = {
        config.deletions_role_name: {
            **shared, **origin_secret,
            "ReadAndTombstoneFileRecords": ({"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
                                            [files_table])},
        config.erasure_worker_role_name: {
            **shared,
            "ReadAndRemoveFileRecords": ({"dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"},
                                         [files_table]),
            "FindASubjectsRecords": ({"dynamodb:Query"}, indexes)},
    }
    for role_name, grants in expected.items():
        named, cdk = _named(api, api.role_id(name=role_name))
        _assert_exactly(named, grants, role_name)
        # Conditions: version listing by s3:prefix (the rules' templates in their three forms), KMS via service
        assert named["ListVersionsOfFileKeysOnly"]["Condition"] == {"StringLike": {"s3:prefix": [
            *patterns, *(f"incoming/{p}" for p in patterns), *(f"rejected/{p}" for p in patterns)]}}
        assert named["UseTheRecordsKeyThroughDynamoDB"]["Condition"] == {
            "StringEquals": {"kms:ViaService": f"dynamodb.{region}.amazonaws.com"}}
        assert named["EncryptErasureStepsThroughSqs"]["Condition"] == {
            "StringEquals": {"kms:ViaService": f"sqs.{region}.amazonaws.com"}}
        # And the contract's "no PutItem on files" for the worker, no object read or write for either
        every = set().union(*(set(_as_list(s["Action"])) for s in named.values())) | cdk
        assert not any(a.startswith(("s3:Get", "s3:Put")) or a in {"s3:*", "*"} for a in every), role_name
        assert cdk <= CDK_ADDED_ACTIONS, role_name
        if role_name == config.erasure_worker_role_name:
            assert "dynamodb:PutItem" not in named["ReadAndRemoveFileRecords"]["Action"]
            assert {"sqs:ReceiveMessage", "sqs:DeleteMessage"} <= cdk, "its event source"
    assert deletions_cdk <= {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments",
                             "xray:PutTelemetryRecords"}

    # Revocation expiry: the store's three actions, and CDK's send to its own dead-letter queue
    expiry_named, expiry_cdk = _named(api, api.role_id(handler=REVOCATION_EXPIRY))
    _assert_exactly(expiry_named, {"ExpireRevocations": (
        {"cloudfront-keyvaluestore:DescribeKeyValueStore", "cloudfront-keyvaluestore:ListKeys",
         "cloudfront-keyvaluestore:GetKey", "cloudfront-keyvaluestore:UpdateKeys"}, [store_arn])}, "revocation expiry")
    assert expiry_cdk <= CDK_ADDED_ACTIONS - {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"}

    # Files: read records, query the two indexes, read the cursor secret (through Secrets Manager)
    files_named, files_cdk = _named(api, api.role_id(handler=FILES))
    secret_id = next(k for k, r in _resources(api.template, "AWS::SecretsManager::Secret").items()
                     if r["Properties"]["Name"] == config.cursor_secret_name)
    secret_key = api.arn("LifecycleCursorSecretKey", "AWS::KMS::Key")
    assert set(files_named) == {"ReadFileRecords", "UseTheRecordsKeyThroughDynamoDB", "ListFileRecords",
                                "ReadTheCursorSecret", "DecryptTheCursorSecretThroughSecretsManager",
                                *origin_secret}
    assert _as_list(files_named["ListFileRecords"]["Action"]) == ["dynamodb:Query"]
    assert sorted(files_named["ListFileRecords"]["Resource"]) == sorted(indexes)
    assert _as_list(files_named["ReadTheCursorSecret"]["Action"]) == ["secretsmanager:GetSecretValue"]
    (read_secret,) = [s for s in api.statements(api.role_id(handler=FILES)) if s.get("Sid") == "ReadTheCursorSecret"]
    assert read_secret["Resource"] == {"Ref": secret_id}, "this secret (its full ARN), nothing else"
    assert _as_list(files_named["DecryptTheCursorSecretThroughSecretsManager"]["Action"]) == ["kms:Decrypt"]
    assert files_named["DecryptTheCursorSecretThroughSecretsManager"]["Resource"] == secret_key
    assert files_named["DecryptTheCursorSecretThroughSecretsManager"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}}
    assert files_cdk <= {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments",
                         "xray:PutTelemetryRecords"}

    # Uploads: one new grant, Query on the two indexes (quotas)
    upload_named, _ = _named(api, api.role_id(name=config.upload_role_name))
    assert _as_list(upload_named["CountAnOwnersRecordsForQuotas"]["Action"]) == ["dynamodb:Query"]
    assert sorted(upload_named["CountAnOwnersRecordsForQuotas"]["Resource"]) == sorted(indexes)

    # Nobody else holds a lifecycle action (the origin secret's readers: tests/infra/test_front_door.py)
    lifecycle_actions = re.compile(r"^(cloudfront-keyvaluestore:|cloudfront:CreateInvalidation|s3:Delete|"
                                   r"s3:ListBucketVersions|secretsmanager:GetSecretValue)")
    holders = {config.deletions_role_name, config.erasure_worker_role_name}
    for role_id, role in _resources(api.template, "AWS::IAM::Role").items():
        if role["Properties"].get("RoleName") in holders:
            continue
        actions = {a for s in api.statements(role_id) if s.get("Sid") not in origin_secret
                   for a in _as_list(s["Action"])}
        granted = {a for a in actions if lifecycle_actions.match(a)}
        if role_id == api.role_id(handler=REVOCATION_EXPIRY):
            assert granted == {"cloudfront-keyvaluestore:DescribeKeyValueStore", "cloudfront-keyvaluestore:ListKeys",
                               "cloudfront-keyvaluestore:GetKey", "cloudfront-keyvaluestore:UpdateKeys"}
        elif role_id == api.role_id(handler=FILES):
            assert granted == {"secretsmanager:GetSecretValue"}
        elif (role_id == api.role_id(handler="filegate.handlers.downloads.handler")
              and config.signing.signer == "secret"):
            assert granted == {"secretsmanager:GetSecretValue"}, "the slot secrets"
        else:
            assert granted == set(), (role_id, granted)


# --- the files bucket's policy, evaluated ----------------------------------------------------------

@dataclass(frozen=True)
class Bucket:
    fakes: iam_policy_eval.Fakes
    arn: str
    policy: dict[str, Any]
    statements: list[dict[str, Any]]

    def role(self, name: str) -> iam_policy_eval.Caller:
        return iam_policy_eval.Caller.role(f"arn:aws:iam::{self.fakes.account}:role/{name}")

    def decide(self, caller: iam_policy_eval.Caller, action: str, key: str | None, identity: dict[str, Any] | None,
               context: dict[str, Any] | None = None) -> iam_policy_eval.Decision:
        return iam_policy_eval.decide_on_bucket(caller, action, self.arn, key, bucket_policy=self.policy,
                                                account=self.fakes.account, identity=identity, context=context)


def _bucket(synth: Synthesized, env: str) -> Bucket:
    config = synth.environments[env].config
    template = synth.template_json(env, "FileStore")
    fakes = iam_policy_eval.Fakes(template, account=config.account or FAKE_ACCOUNT, region=config.region)
    bucket_id, policy = files_bucket(template)
    resolved = fakes.resolve(policy)
    return Bucket(fakes=fakes, arn=fakes.get_att(bucket_id, "Arn"), policy=resolved, statements=resolved["Statement"])


KEYS = {
    "private": "private/users/alice/cv/0123456789abcdef0123456789abcdef.pdf",
    "org": "private/orgs/acme/registration/0123456789abcdef0123456789abcdef.pdf",
    "public": "public/marketing/0123456789abcdef0123456789abcdef.png",
    "incoming": "incoming/private/users/alice/cv/0123456789abcdef0123456789abcdef.pdf",
    "rejected": "rejected/private/users/alice/cv/0123456789abcdef0123456789abcdef.pdf",
}
OBJECT_READS = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging",
                "s3:GetObjectAcl", "s3:GetObjectAttributes", "s3:GetObjectTorrent", "s3:GetObjectVersionForReplication"]
#: What returns an object's bytes (the bucket policy refuses these to every principal but its named readers).
CONTENT_READS = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTorrent", "s3:GetObjectVersionTorrent",
                 "s3:GetObjectVersionForReplication"]
OBJECT_WRITES = ["s3:PutObject", "s3:PutObjectTagging", "s3:PutObjectVersionTagging", "s3:ReplicateObject"]
OTHER_LISTING = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]


def test_deleting_roles_delete_and_list_versions_and_nothing_else(deployment: tuple[Synthesized, str]) -> None:
    synth, env = deployment
    config = synth.environments[env].config
    bucket = _bucket(synth, env)
    api = _api(synth, env)
    s3_admin = iam_policy_eval.allow_all("s3:*")
    for role_name in (config.deletions_role_name, config.erasure_worker_role_name):
        caller = bucket.role(role_name)
        # Given the role's own synthesized identity policy (cross-stack values resolved as in the API stack)
        identity = api.policy(api.role_id(name=role_name))
        # Then it deletes every version and delete marker under the four prefixes
        for key in KEYS.values():
            for action in ("s3:DeleteObject", "s3:DeleteObjectVersion"):
                assert bucket.decide(caller, action, key, identity) is ALLOW, (env, role_name, action, key)
        # And it lists the versions of a file's three keys, or of a subject's prefixes
        for prefix in (KEYS["private"], KEYS["incoming"], KEYS["rejected"], KEYS["public"],
                       "private/users/alice/cv/", "incoming/private/orgs/acme/registration/"):
            assert bucket.decide(caller, "s3:ListBucketVersions", None, identity,
                                 {"s3:prefix": prefix}) is ALLOW, (env, role_name, prefix)
        # But not the whole bucket's versions, nor another layout's
        for prefix in ("", "private/", "private/users/", "incoming/"):
            assert bucket.decide(caller, "s3:ListBucketVersions", None, identity,
                                 {"s3:prefix": prefix}) is not ALLOW, (env, role_name, prefix)
        assert bucket.decide(caller, "s3:ListBucketVersions", None, identity) is not ALLOW, "no prefix"
        # And it reads no object (bytes, versions, tags, attributes) and writes none with its policy; with s3:*
        # in an identity policy the bucket policy still refuses it every byte and every write
        for key in KEYS.values():
            for action in (*OBJECT_READS, *OBJECT_WRITES):
                assert bucket.decide(caller, action, key, identity) is not ALLOW, (env, role_name, action, key)
            for action in (*CONTENT_READS, *OBJECT_WRITES):
                assert bucket.decide(caller, action, key, s3_admin) is EXPLICIT_DENY, (env, role_name, action, key)
        # And the bucket policy excepts it from listing versions only
        for action in OTHER_LISTING:
            assert bucket.decide(caller, action, None, s3_admin) is EXPLICIT_DENY, (env, role_name, action)
        assert bucket.decide(caller, "s3:ListMultipartUploadParts", KEYS["incoming"], s3_admin) is EXPLICIT_DENY
        assert bucket.decide(caller, "s3:ListBucketVersions", None, s3_admin,
                             {"s3:prefix": "private/"}) is ALLOW, "the Deny excepts it; its own policy narrows"


def test_the_deleting_roles_appear_in_the_version_listing_exception_alone(deployment: tuple[Synthesized, str]) -> None:
    synth, env = deployment
    config = synth.environments[env].config
    bucket = _bucket(synth, env)
    deleting = {f"arn:aws:iam::{bucket.fakes.account}:role/{name}"
                for name in (config.deletions_role_name, config.erasure_worker_role_name)}
    by_sid = {s["Sid"]: s for s in bucket.statements if s.get("Sid")}
    naming = [sid for sid, s in by_sid.items() if deleting & set(json.dumps(s).replace('"', " ").split())]
    assert naming == ["DenyVersionListingExceptNamedRoles"]
    versions, others = by_sid["DenyVersionListingExceptNamedRoles"], by_sid["DenyKeyListingExceptNamedRoles"]
    assert _as_list(versions["Action"]) == ["s3:ListBucketVersions"]
    assert "s3:ListBucketVersions" not in _as_list(others["Action"])
    assert set(_as_list(others["Action"])) == {"s3:ListBucket", "s3:ListBucketMultipartUploads",
                                               "s3:ListMultipartUploadParts"}
    # The version listing's exceptions are the other listing's plus the two deleting roles, nothing more
    excepted = set(_as_list(versions["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]))
    assert excepted == set(_as_list(others["Condition"]["ArnNotEquals"]["aws:PrincipalArn"])) | deleting
    assert versions["Resource"] == others["Resource"]
    # No statement of the bucket policy refuses deletes but over plain HTTP or old TLS (the deleting roles',
    # and the verifier's, work: evaluated above)
    transport_keys = {"aws:SecureTransport", "s3:TlsVersion"}
    refusing = [s.get("Sid") for s in bucket.statements if s["Effect"] == "Deny"
                and any(iam_policy_eval.action_matches(a, "s3:DeleteObjectVersion")
                        for a in _as_list(s.get("Action", [])))
                and not {key for block in s.get("Condition", {}).values() for key in block} <= transport_keys]
    assert refusing == []


def test_nobody_else_gained_version_listing_or_reads(deployment: tuple[Synthesized, str]) -> None:
    synth, env = deployment
    config = synth.environments[env].config
    bucket = _bucket(synth, env)
    s3_admin = iam_policy_eval.allow_all("s3:*")
    others = ["Administrator", config.upload_role_name, config.download_role_name, "filegate-other-deletions",
              f"{config.deletions_role_name}-copy"]
    for name in others:
        caller = bucket.role(name)
        for action in ("s3:ListBucketVersions", *OTHER_LISTING):
            assert bucket.decide(caller, action, None, s3_admin, {"s3:prefix": KEYS["private"]}) is EXPLICIT_DENY, \
                (env, name, action)
        for key in KEYS.values():
            assert bucket.decide(caller, "s3:GetObject", key, s3_admin) is EXPLICIT_DENY, (env, name, key)
    # The quarantine and rejected files stay readable by the scanner, verifier and security roles only
    readers = {config.verifier_role_name, config.sweep_role_name, *([config.scanner_role_name]
                                                                     if config.scanning == "guardduty" else [])}
    for name in (config.deletions_role_name, config.erasure_worker_role_name):
        for key in (KEYS["incoming"], KEYS["rejected"]):
            assert bucket.decide(bucket.role(name), "s3:GetObject", key, s3_admin) is EXPLICIT_DENY
    for name in readers:
        assert bucket.decide(bucket.role(name), "s3:GetObjectVersion", KEYS["incoming"], s3_admin) is ALLOW, name
    # And CloudFront still reads final keys through this distribution only
    cloudfront = iam_policy_eval.Caller.aws_service("cloudfront.amazonaws.com")
    template = synth.template_json(env, "FileStore")
    (distribution_id,) = _resources(template, "AWS::CloudFront::Distribution")
    this = {"aws:SourceArn": f"arn:aws:cloudfront::{bucket.fakes.account}:distribution/"
                             f"{bucket.fakes.ref(distribution_id)}", "aws:SourceAccount": bucket.fakes.account}
    assert bucket.decide(cloudfront, "s3:GetObject", KEYS["private"], None, this) is ALLOW
    assert bucket.decide(cloudfront, "s3:GetObject", KEYS["incoming"], None, this) is EXPLICIT_DENY


# --- bundles ----------------------------------------------------------------------------------

_ELF_MACHINE_AARCH64 = 0xB7


def _asset_dir(synth: Synthesized, env: str, handler: str) -> Path:
    template = synth.template_json(env, "FileApi")
    (function,) = [r for r in template["Resources"].values()
                   if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") == handler]
    return synth.asset_dir(env, function["Metadata"]["aws:asset:path"])


def test_the_functions_that_write_revocations_bundle_awscrt_for_arm64(app: Synthesized) -> None:
    for handler in (DELETIONS, ERASURE_WORKER, REVOCATION_EXPIRY):
        asset = _asset_dir(app, "prod", handler)
        assert (asset / "awscrt" / "__init__.py").is_file(), handler
        (native,) = list(asset.glob("_awscrt*.so"))
        header = native.read_bytes()[:20]
        assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == _ELF_MACHINE_AARCH64
        assert (asset / "aws_lambda_powertools").is_dir(), handler
        assert not (asset / "boto3").exists() and not (asset / "botocore").exists(), "the runtime provides boto3"
    for handler in (FILES, "filegate.handlers.uploads.handler", "filegate.handlers.downloads.handler"):
        assert not (_asset_dir(app, "prod", handler) / "awscrt").exists(), handler


# --- the grants cover what the code really calls --------------------------------------------------


def _keyvaluestore_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    """The KeyValueStore operations ``EdgeRevocations.revoke`` and ``expire`` make, recorded from
    boto3's real client against the local stand-in (the oracle is the code's own traffic, not a
    list written next to the grants)."""
    import boto3

    from filegate.adapters.revocations import EdgeRevocations, revocations_client
    from local.keyvaluestore import PROXY_HOST, KeyValueStores, serve_in_thread

    arn = "arn:aws:cloudfront::123456789012:key-value-store/8562a61f-caba-4845-9d99-b97d1bae5d3c"
    stores = KeyValueStores([arn])
    server = serve_in_thread(stores)
    try:
        for name, value in {"AWS_ENDPOINT_URL_CLOUDFRONT_KEYVALUESTORE": f"http://{PROXY_HOST}",
                            "HTTP_PROXY": f"http://127.0.0.1:{server.server_address[1]}",
                            "NO_PROXY": "127.0.0.1,localhost", "AWS_ACCESS_KEY_ID": "testing",
                            "AWS_SECRET_ACCESS_KEY": "testing"}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
        client = revocations_client(boto3.session.Session(), "eu-west-1")
        calls: list[str] = []
        client.meta.events.register("before-call.cloudfront-keyvaluestore.*",
                                    lambda event_name, **_: calls.append(event_name.rsplit(".", 1)[1]))
        revocations = EdgeRevocations(client, arn)
        revocations.revoke(["private/users/u1/cv/" + "a" * 32 + ".pdf", "private/orgs/acme/"], until=100)
        revoked = set(calls)
        calls.clear()
        revocations.expire(now=200)
        return {"revoke": revoked, "expire": set(calls)}
    finally:
        server.shutdown()
        server.server_close()


def test_each_role_may_make_every_keyvaluestore_call_its_code_makes(
        deployment: tuple[Synthesized, str], monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the operations the adapter really sends (revoke: deletions and the erasure worker;
    # expire: the revocation expiry)
    synth, env = deployment
    calls = _keyvaluestore_calls(monkeypatch)
    assert calls["revoke"] and calls["expire"], calls
    api = _api(synth, env)
    config = synth.environments[env].config
    roles = {"revoke": [api.role_id(name=config.deletions_role_name),
                        api.role_id(name=config.erasure_worker_role_name)],
             "expire": [api.role_id(handler=REVOCATION_EXPIRY)]}
    # Then each role's statements allow every one of them on the store
    for path, role_ids in roles.items():
        for role_id in role_ids:
            granted = {a for s in api.statements(role_id) if s.get("Effect", "Allow") == "Allow"
                       for a in _as_list(s["Action"])}
            needed = {f"cloudfront-keyvaluestore:{operation}" for operation in calls[path]}
            assert needed <= granted, f"{role_id} ({path}) lacks {sorted(needed - granted)}"


def test_the_local_api_serves_exactly_the_stacks_routes_with_the_same_functions() -> None:
    # Given the stack's route tables (what API Gateway gets) and the local API's copy (kept free of
    # CDK imports, so it is a copy)
    from local import api as local_api
    from stacks.constructs import minting_api

    def flattened(tables: dict[str, tuple[tuple[str, str], ...]]) -> dict[str, str]:
        return {f"{method} {path}": function for function, routes in tables.items() for method, path in routes}

    # Then both say the same routes, each to the same function, with the same authorization
    assert flattened(minting_api.USER_ROUTES) == local_api.USER_ROUTES
    assert flattened(minting_api.BACKEND_ROUTES) == local_api.BACKEND_ROUTES
    # And the contract's table (ROUTES above) is what they serve
    served = {**local_api.USER_ROUTES, **local_api.BACKEND_ROUTES}
    assert set(served) == set(ROUTES)
