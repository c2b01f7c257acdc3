"""The front door (DESIGN.md decision 13, docs/front-door.md): the API behind CloudFront's ``api/*``
behaviour with the origin-verify secret, the stage ``api`` in the file store stack with the routes
in the API stack, who may read the secret, its rotation, and the edge references that replaced
CDK's cross-region exports.

The WebACL's rules: tests/infra/test_edge_security.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Environment

from filegate.domain.front_door import API_STAGE, ORIGIN_VERIFY_HEADER
from stacks.config import CONTEXT_KEY, environment_from_context
from stacks.edge_security_stack import EdgeSecurityStack
from tests.infra import iam_policy_eval
from tests.infra.conftest import RENAMED_WEB_ACL, Synthesized, resources_of
from tests.infra.test_invariants import ACCESS_KEY_ID, PRIVATE_KEY

FAKE_ACCOUNT = "111122223333"
#: AWS's managed CloudFront policies (CloudFront Developer Guide, "Use managed cache policies" and
#: "Use managed origin request policies"): ids, not names, are what a distribution refers to.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
ALL_METHODS = {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}
ROTATION_HANDLER = "filegate.handlers.origin_rotation.handler"
#: The functions behind USER_ROUTES (stacks/constructs/minting_api.py): they check x-origin-verify.
USER_ROUTE_HANDLERS = ("filegate.handlers.uploads.handler", "filegate.handlers.downloads.handler",
                       "filegate.handlers.files.handler", "filegate.handlers.deletions.handler")
CDK_LOG_AND_TRACE_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments",
                             "xray:PutTelemetryRecords"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _only(template: dict[str, Any], type_: str) -> tuple[str, dict[str, Any]]:
    ((logical_id, resource),) = resources_of(template, type_).items()
    return logical_id, resource


def _secret_id(synth: Synthesized, env: str) -> str:
    name = synth.environments[env].config.origin_secret_name
    (logical_id,) = [k for k, r in resources_of(synth.template_json(env, "FileStore"), "AWS::SecretsManager::Secret")
                     .items() if r["Properties"]["Name"] == name]
    return logical_id


def _function_id(template: dict[str, Any], handler: str) -> str:
    (logical_id,) = [k for k, r in resources_of(template, "AWS::Lambda::Function").items()
                     if r["Properties"].get("Handler") == handler]
    return logical_id


def _store_output(synth: Synthesized, env: str, reference: Any) -> Any:
    """What an API-stack value ``{"Fn::GetStackOutput": ...}`` reads: the file store output's value."""
    output = reference["Fn::GetStackOutput"]
    assert output["StackName"] == synth.environments[env].store.stack_name, output
    assert output["Region"] == synth.environments[env].config.region, output
    return synth.template_json(env, "FileStore")["Outputs"][output["OutputName"]]["Value"]


def _fakes(synth: Synthesized, env: str) -> dict[str, iam_policy_eval.Fakes]:
    """Fake values for the home-region templates; the API stack's references to the store resolve
    to what the store's outputs resolve to."""
    config = synth.environments[env].config
    account = config.account or FAKE_ACCOUNT
    store_stack = synth.environments[env].store.stack_name
    store_template = synth.template_json(env, "FileStore")
    store = iam_policy_eval.Fakes(store_template, account=account, region=config.region)
    outputs = {}
    for name, output in store_template["Outputs"].items():
        try:
            outputs[(store_stack, name)] = store.resolve(output["Value"])
        except (NotImplementedError, ValueError):
            continue  # an output no policy names (a domain name, a URL)
    api = iam_policy_eval.Fakes(synth.template_json(env, "FileApi"), account=account, region=config.region,
                                stack_outputs=outputs)
    return {"FileStore": store, "FileApi": api}


# --- the /api/* behaviour ---------------------------------------------------------------------

def test_the_api_behaviour_reaches_the_stage_uncached_with_the_viewers_headers(
        deployment: tuple[Synthesized, str]) -> None:
    synth, env = deployment
    config = synth.environments[env].config
    template = synth.template_json(env, "FileStore")
    _, distribution = _only(template, "AWS::CloudFront::Distribution")
    distribution_config = distribution["Properties"]["DistributionConfig"]
    # Given the api/* behaviour
    (behaviour,) = [b for b in distribution_config["CacheBehaviors"] if b["PathPattern"] == f"{API_STAGE}/*"]
    # Then nothing is cached, every viewer header but Host reaches the API, every method, HTTPS only
    assert behaviour["CachePolicyId"] == CACHING_DISABLED
    assert behaviour["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER
    assert set(behaviour["AllowedMethods"]) == ALL_METHODS
    assert behaviour["ViewerProtocolPolicy"] == "https-only"
    # And the files' security headers apply; no key group, no signer, no function
    assert behaviour["ResponseHeadersPolicyId"] == distribution_config["DefaultCacheBehavior"][
        "ResponseHeadersPolicyId"]
    for absent in ("TrustedKeyGroups", "TrustedSigners", "FunctionAssociations", "LambdaFunctionAssociations",
                   "RealtimeLogConfigArn"):
        assert absent not in behaviour, absent
    # And its origin is the HTTP API's own host, over HTTPS with TLS 1.2, the path unchanged
    (origin,) = [o for o in distribution_config["Origins"] if o["Id"] == behaviour["TargetOriginId"]]
    api_id, _ = _only(template, "AWS::ApiGatewayV2::Api")
    assert origin["DomainName"] == {"Fn::Join": ["", [{"Ref": api_id}, f".execute-api.{config.region}.",
                                                      {"Ref": "AWS::URLSuffix"}]]}
    assert origin["CustomOriginConfig"] == {"OriginProtocolPolicy": "https-only", "OriginSSLProtocols": ["TLSv1.2"]}
    assert "OriginPath" not in origin and "S3OriginConfig" not in origin and "OriginAccessControlId" not in origin


def test_the_origin_header_is_a_dynamic_reference_to_the_origin_secret(deployment: tuple[Synthesized, str]) -> None:
    synth, env = deployment
    template = synth.template_json(env, "FileStore")
    _, distribution = _only(template, "AWS::CloudFront::Distribution")
    origins = distribution["Properties"]["DistributionConfig"]["Origins"]
    # Given the distribution's origins / Then exactly one carries x-origin-verify (the API's), and its
    # value is CloudFormation's {{resolve:secretsmanager:<secret ARN>:SecretString:::}}, never a value
    carrying = [o for o in origins if any(h["HeaderName"] == ORIGIN_VERIFY_HEADER
                                          for h in o.get("OriginCustomHeaders", []))]
    assert [o["Id"] for o in carrying] == ["api"]
    assert carrying[0]["OriginCustomHeaders"] == [{
        "HeaderName": ORIGIN_VERIFY_HEADER,
        "HeaderValue": {"Fn::Join": ["", ["{{resolve:secretsmanager:", {"Ref": _secret_id(synth, env)},
                                          ":SecretString:::}}"]]},
    }]


# --- the HTTP API: its one stage in the store, its routes in the API stack ----------------------

def test_the_api_has_one_stage_named_api_and_no_default_stage(deployment: tuple[Synthesized, str]) -> None:
    synth, env = deployment
    config = synth.environments[env].config
    store = synth.template_json(env, "FileStore")
    api_id, _ = _only(store, "AWS::ApiGatewayV2::Api")
    # Given the file store stack / Then the API has exactly one stage, "api", deployed on every change
    _, stage = _only(store, "AWS::ApiGatewayV2::Stage")
    assert stage["Properties"]["StageName"] == API_STAGE == "api"
    assert stage["Properties"]["ApiId"] == {"Ref": api_id}
    assert stage["Properties"]["AutoDeploy"] is True
    assert stage["Properties"]["DefaultRouteSettings"] == {
        "DetailedMetricsEnabled": True, "ThrottlingRateLimit": config.api_throttle.rate_limit,
        "ThrottlingBurstLimit": config.api_throttle.burst_limit}
    # And nowhere is there a $default stage, a custom domain or an API mapping; the API stack makes
    # no API and no stage of its own
    for kind in ("FileStore", "FileApi", "EdgeSecurity"):
        template = synth.template_json(env, kind)
        assert '"$default"' not in json.dumps(template), kind
        for type_ in ("AWS::ApiGatewayV2::DomainName", "AWS::ApiGatewayV2::ApiMapping"):
            assert not resources_of(template, type_), (kind, type_)
    api = synth.template_json(env, "FileApi")
    assert not resources_of(api, "AWS::ApiGatewayV2::Api") and not resources_of(api, "AWS::ApiGatewayV2::Stage")


def test_the_routes_in_the_api_stack_point_to_the_api_in_the_store_stack(deployment: tuple[Synthesized, str]) -> None:
    from stacks.constructs.minting_api import BACKEND_ROUTES, USER_ROUTES

    synth, env = deployment
    store_api_id, _ = _only(synth.template_json(env, "FileStore"), "AWS::ApiGatewayV2::Api")
    api = synth.template_json(env, "FileApi")
    routes = resources_of(api, "AWS::ApiGatewayV2::Route")
    # Given every route, integration and authorizer (all made in the API stack)
    assert {r["Properties"]["RouteKey"] for r in routes.values()} == {
        f"{method} {path}" for table in (USER_ROUTES, BACKEND_ROUTES) for pairs in table.values()
        for method, path in pairs}
    parts = [*routes.values(), *resources_of(api, "AWS::ApiGatewayV2::Integration").values(),
             *resources_of(api, "AWS::ApiGatewayV2::Authorizer").values()]
    # Then each names the store's API, read from the store stack's output
    for resource in parts:
        assert _store_output(synth, env, resource["Properties"]["ApiId"]) == {"Ref": store_api_id}
    # And API Gateway may invoke each function only from this API's routes
    for permission in resources_of(api, "AWS::Lambda::Permission").values():
        properties = permission["Properties"]
        if properties["Principal"] != "apigateway.amazonaws.com":
            continue
        (reference,) = [part for part in properties["SourceArn"]["Fn::Join"][1]
                        if isinstance(part, dict) and "Fn::GetStackOutput" in part]
        assert _store_output(synth, env, reference) == {"Ref": store_api_id}


def test_outputs_give_the_front_door_and_the_backend_base_urls(deployment: tuple[Synthesized, str]) -> None:
    synth, env = deployment
    config = synth.environments[env].config
    store = synth.template_json(env, "FileStore")
    api_id, _ = _only(store, "AWS::ApiGatewayV2::Api")
    distribution_id, _ = _only(store, "AWS::CloudFront::Distribution")
    outputs = store["Outputs"]
    # Given the file store stack / Then ApiUrl is the files domain's /api, BackendApiUrl the stage's URL
    host = config.domain.domain_name if config.domain else None
    assert outputs["ApiUrl"]["Value"] == (
        f"https://{host}/api" if host else
        {"Fn::Join": ["", ["https://", {"Fn::GetAtt": [distribution_id, "DomainName"]}, "/api"]]})
    assert outputs["BackendApiUrl"]["Value"] == {"Fn::Join": ["", [
        "https://", {"Ref": api_id}, f".execute-api.{config.region}.", {"Ref": "AWS::URLSuffix"}, "/api"]]}
    # And the API stack gives the same two, from the store
    api_outputs = synth.template_json(env, "FileApi")["Outputs"]
    for name in ("ApiUrl", "BackendApiUrl"):
        assert _resolve_store_references(synth, env, api_outputs[name]["Value"]) == outputs[name]["Value"], name


def _resolve_store_references(synth: Synthesized, env: str, value: Any) -> Any:
    """``value`` with each reference to a store output replaced by that output's value, and joins flattened."""
    if isinstance(value, list):
        return [_resolve_store_references(synth, env, item) for item in value]
    if not isinstance(value, dict):
        return value
    if "Fn::GetStackOutput" in value:
        return _store_output(synth, env, value)
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        flat: list[Any] = []
        for part in _resolve_store_references(synth, env, parts):
            inner = part.get("Fn::Join") if isinstance(part, dict) else None
            flat.extend(inner[1] if inner and inner[0] == separator else [part])
        return {"Fn::Join": [separator, flat]}
    return {key: _resolve_store_references(synth, env, item) for key, item in value.items()}


# --- the origin-verify secret and its rotation -------------------------------------------------

def test_the_origin_secret_is_generated_and_encrypted_with_its_own_rotating_key(
        deployment: tuple[Synthesized, str]) -> None:
    synth, env = deployment
    config = synth.environments[env].config
    store = synth.template_json(env, "FileStore")
    secret_id = _secret_id(synth, env)
    secret = store["Resources"][secret_id]["Properties"]
    # Given the secret / Then Secrets Manager generates its 64 letters and digits; no template holds one
    assert secret["Name"] == config.origin_secret_name == f"{config.prefix}-origin-verify"
    assert secret["GenerateSecretString"] == {"PasswordLength": 64, "ExcludePunctuation": True,
                                              "IncludeSpace": False, "RequireEachIncludedType": True}
    assert "SecretString" not in secret
    # And its key is a customer key with rotation that encrypts nothing else
    (key_id, attribute) = secret["KmsKeyId"]["Fn::GetAtt"]
    assert attribute == "Arn" and store["Resources"][key_id]["Type"] == "AWS::KMS::Key"
    assert store["Resources"][key_id]["Properties"]["EnableKeyRotation"] is True
    users = [k for k, r in store["Resources"].items() if key_id in json.dumps(r.get("Properties", {}))
             and r["Type"] not in ("AWS::IAM::Policy",) and k != key_id]
    assert users == [secret_id]


def test_secrets_manager_rotates_it_on_schedule_with_the_rotation_function(
        deployment: tuple[Synthesized, str]) -> None:
    from filegate.settings import OriginRotationSettings

    synth, env = deployment
    config = synth.environments[env].config
    store = synth.template_json(env, "FileStore")
    function_id = _function_id(store, ROTATION_HANDLER)
    distribution_id, _ = _only(store, "AWS::CloudFront::Distribution")
    # Given the rotation schedule / Then it rotates this secret every configured number of days with
    # the rotation function, and a change of schedule does not rotate (nor update the distribution)
    _, schedule = _only(store, "AWS::SecretsManager::RotationSchedule")
    assert schedule["Properties"] == {
        "SecretId": {"Ref": _secret_id(synth, env)},
        "RotationLambdaARN": {"Fn::GetAtt": [function_id, "Arn"]},
        "RotationRules": {"AutomaticallyAfterDays": config.origin_secret_rotation_days},
        "RotateImmediatelyOnUpdate": False,
    }
    # And only Secrets Manager, for this account, may invoke the function; the schedule waits for that
    permissions = {k: r["Properties"] for k, r in resources_of(store, "AWS::Lambda::Permission").items()
                   if r["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}}
    assert list(permissions.values()) == [{"Action": "lambda:InvokeFunction", "FunctionName": {
        "Fn::GetAtt": [function_id, "Arn"]}, "Principal": "secretsmanager.amazonaws.com",
        "SourceAccount": config.account or {"Ref": "AWS::AccountId"}}]
    (schedule_resource,) = resources_of(store, "AWS::SecretsManager::RotationSchedule").values()
    assert set(permissions) <= set(_as_list(schedule_resource.get("DependsOn", [])))
    # And the function is told the distribution and nothing else, and its settings load from that
    function = store["Resources"][function_id]["Properties"]
    variables = function["Environment"]["Variables"]
    assert {k: v for k, v in variables.items() if k.startswith("FILEGATE_")} == {
        "FILEGATE_DISTRIBUTION_ID": {"Ref": distribution_id}}
    # (the settings start from exactly these variables, the token resolved: a missing one would raise)
    OriginRotationSettings.from_environ({**variables, "FILEGATE_DISTRIBUTION_ID": "E1ABCDEFGHIJKL",
                                         "AWS_REGION": config.region})
    assert function["ReservedConcurrentExecutions"] == 1, "rotations of one secret never overlap"
    assert function["Runtime"] == "python3.13" and function["TracingConfig"] == {"Mode": "Active"}


def test_the_rotation_role_may_exactly_what_the_contract_says(deployment: tuple[Synthesized, str]) -> None:
    synth, env = deployment
    config = synth.environments[env].config
    fakes = _fakes(synth, env)["FileStore"]
    store = fakes.template
    role_id = store["Resources"][_function_id(dict(store), ROTATION_HANDLER)]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [fakes.resolve(s) for document in _identity_policies(dict(store), role_id)
                  for s in document["Statement"]]
    named = {s["Sid"]: s for s in statements if "Sid" in s}
    distribution_id, _ = _only(dict(store), "AWS::CloudFront::Distribution")
    key_id = store["Resources"][_secret_id(synth, env)]["Properties"]["KmsKeyId"]["Fn::GetAtt"][0]
    # Given the rotation role / Then it reads and stages versions of this secret only, generates
    # values, decrypts and encrypts this secret through Secrets Manager, and reads and updates this
    # distribution's configuration only
    expected = {
        "ReadAndStageVersionsOfTheOriginSecret": (
            {"secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
             "secretsmanager:UpdateSecretVersionStage"}, [fakes.ref(_secret_id(synth, env))]),
        "UseTheOriginSecretKeyThroughSecretsManager": ({"kms:Decrypt", "kms:GenerateDataKey"},
                                                       [fakes.get_att(key_id, "Arn")]),
        "GenerateOriginSecretValues": ({"secretsmanager:GetRandomPassword"}, ["*"]),
        "SetTheOriginHeaderOnThisDistribution": (
            {"cloudfront:GetDistributionConfig", "cloudfront:UpdateDistribution", "cloudfront:GetDistribution"},
            [f"arn:aws:cloudfront::{fakes.account}:distribution/{fakes.ref(distribution_id)}"]),
    }
    assert set(named) == set(expected)
    for sid, (actions, resources) in expected.items():
        assert set(_as_list(named[sid]["Action"])) == actions, sid
        assert _as_list(named[sid]["Resource"]) == resources, sid
        assert named[sid].get("Effect", "Allow") == "Allow"
    assert named["UseTheOriginSecretKeyThroughSecretsManager"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"secretsmanager.{config.region}.amazonaws.com"}}
    assert all("Condition" not in named[sid] for sid in expected if sid != "UseTheOriginSecretKeyThroughSecretsManager")
    # And CDK adds only its logs and traces
    unnamed = {a for s in statements if "Sid" not in s for a in _as_list(s["Action"])}
    assert unnamed <= CDK_LOG_AND_TRACE_ACTIONS
    role = store["Resources"][role_id]["Properties"]
    assert "ManagedPolicyArns" not in role and "Policies" not in role


def _identity_policies(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    role = template["Resources"][role_id]["Properties"]
    documents = [p["Properties"]["PolicyDocument"] for p in resources_of(template, "AWS::IAM::Policy").values()
                 if {"Ref": role_id} in p["Properties"].get("Roles", [])]
    documents += [p["PolicyDocument"] for p in role.get("Policies", [])]
    return documents


#: The AWS managed policies roles here carry: none grants a Secrets Manager or KMS action.
KNOWN_MANAGED_POLICIES = ("service-role/AWSLambdaBasicExecutionRole",)


def test_every_user_route_role_can_read_the_origin_secret_and_nothing_else_can(
        deployment: tuple[Synthesized, str]) -> None:
    synth, env = deployment
    config = synth.environments[env].config
    fakes = _fakes(synth, env)
    store = fakes["FileStore"]
    secret_arn = store.ref(_secret_id(synth, env))
    key_id = store.template["Resources"][_secret_id(synth, env)]["Properties"]["KmsKeyId"]["Fn::GetAtt"][0]
    key_arn = store.get_att(key_id, "Arn")
    via_secrets_manager = {"kms:ViaService": f"secretsmanager.{config.region}.amazonaws.com"}
    readers: dict[str, set[str]] = {"secretsmanager:GetSecretValue": set(), "kms:Decrypt": set()}
    for stack_fakes in fakes.values():
        template = dict(stack_fakes.template)
        handlers = {r["Properties"]["Role"]["Fn::GetAtt"][0]: r["Properties"].get("Handler")
                    for r in resources_of(template, "AWS::Lambda::Function").values()
                    if isinstance(r["Properties"].get("Role"), dict)}
        # Given every role of the home-region stacks and every identity policy it holds
        for role_id, role in resources_of(template, "AWS::IAM::Role").items():
            for managed in role["Properties"].get("ManagedPolicyArns", []):
                assert re.search(rf":iam::aws:policy/({'|'.join(KNOWN_MANAGED_POLICIES)})\"", json.dumps(managed)), \
                    (role_id, managed)
            policies = [stack_fakes.resolve(document) for document in _identity_policies(template, role_id)]
            caller = iam_policy_eval.Caller.role(stack_fakes.get_att(role_id, "Arn"))
            for action, resource, context in (("secretsmanager:GetSecretValue", secret_arn, {}),
                                              ("kms:Decrypt", key_arn, via_secrets_manager)):
                decision = iam_policy_eval.evaluate(
                    iam_policy_eval.Request(caller, action, resource, context), resource_policy=None,
                    identity_policies=policies, policy_account=stack_fakes.account)
                if decision is iam_policy_eval.Decision.ALLOW:
                    readers[action].add(handlers.get(role_id) or role_id)
    # Then exactly the user routes' functions and the rotation read the value and decrypt it
    for action, holders in readers.items():
        assert holders == {*USER_ROUTE_HANDLERS, ROTATION_HANDLER}, (action, holders)
    # And the secret has no resource policy that could let anyone else in
    for kind in ("FileStore", "FileApi"):
        assert not resources_of(synth.template_json(env, kind), "AWS::SecretsManager::ResourcePolicy")


def test_every_function_behind_a_user_route_is_told_the_origin_secret(deployment: tuple[Synthesized, str]) -> None:
    from filegate.settings import HANDLER_SETTINGS

    synth, env = deployment
    config = synth.environments[env].config
    for kind in ("FileStore", "FileApi"):
        for function in resources_of(synth.template_json(env, kind), "AWS::Lambda::Function").values():
            handler = function["Properties"].get("Handler", "")
            if handler not in HANDLER_SETTINGS:
                continue
            variables = function["Properties"]["Environment"]["Variables"]
            # Given a function whose settings require the origin secret (every user route's, and the
            # lifecycle functions that share LifecycleSettings) / Then it is given the secret's name
            requires = "FILEGATE_ORIGIN_SECRET" in HANDLER_SETTINGS[handler].ENVIRONMENT.values()
            assert requires is (handler in USER_ROUTE_HANDLERS or handler in {
                "filegate.handlers.erasure_worker.handler", "filegate.handlers.revocation_expiry.handler"}), handler
            if requires:
                assert variables["FILEGATE_ORIGIN_SECRET"] == config.origin_secret_name, handler
            else:
                assert "FILEGATE_ORIGIN_SECRET" not in variables, handler


# --- no secret in the assembly ------------------------------------------------------------------

_PARTS = {  # spelled in parts so that this file holds none of the patterns it looks for
    "GitHub token": (rb"\bgh[pousr]_", rb"[A-Za-z0-9]{36}\b"),
    "Slack token": (rb"\bxox[abprs]-", rb"[A-Za-z0-9-]{10,}"),
    "JSON web token": (rb"\beyJ[A-Za-z0-9_-]{10,}\.", rb"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
    "Google API key": (rb"\bAI", rb"za[0-9A-Za-z_-]{35}\b"),
    "Stripe live key": (rb"\b[rs]k_li", rb"ve_[0-9A-Za-z]{16,}"),
    "an origin-verify value": (rb"x-origin-verify[\"']?\s*[:=]\s*[\"']", rb"[A-Za-z0-9]{16,}[\"']"),
}
SECRET_PATTERNS: dict[str, re.Pattern[bytes]] = {
    "PEM private key": PRIVATE_KEY, "AWS access key id": ACCESS_KEY_ID,
    **{name: re.compile(head + tail) for name, (head, tail) in _PARTS.items()},
}
#: A secret in a template is a dynamic reference CloudFormation resolves at deploy time.
DYNAMIC_REFERENCE = re.compile(r"\{\{resolve:(secretsmanager|ssm-secure):[^{}]+\}\}")


def _joined_strings(value: Any) -> Iterator[str]:
    """Every string of a JSON document; an Fn::Join is one string, a placeholder for each reference."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _joined_strings(item)
    elif isinstance(value, dict):
        join = value.get("Fn::Join") if len(value) == 1 else None
        if isinstance(join, list) and len(join) == 2 and isinstance(join[1], list):
            separator, parts = join
            yield separator.join(part if isinstance(part, str) else "<ref>" for part in parts)
            for part in parts:
                if not isinstance(part, str):
                    yield from _joined_strings(part)
            return
        for item in value.values():
            yield from _joined_strings(item)


def _key_offences(document: Any) -> Iterator[str]:
    if isinstance(document, dict):
        for key, value in document.items():
            if key in ("SecretString", "SecretStringTemplate"):
                yield f"{key}: {str(value)[:40]}"
            if key == "HeaderName" and value == ORIGIN_VERIFY_HEADER:
                rendered = next(_joined_strings(document.get("HeaderValue")), "")
                if not DYNAMIC_REFERENCE.fullmatch(rendered):
                    yield f"a plain {ORIGIN_VERIFY_HEADER} value"
            yield from _key_offences(value)
    elif isinstance(document, list):
        for item in document:
            yield from _key_offences(item)


def _secret_offences(document: Any) -> Iterator[str]:
    """Keys and strings of a JSON document that hold (or would hold) a secret value: a SecretString
    of its own, an origin header that is not a dynamic reference, a reference outside one."""
    yield from _key_offences(document)
    for text in _joined_strings(document):
        stripped = DYNAMIC_REFERENCE.sub("", text)
        if "SecretString" in stripped or "{{resolve:" in stripped:
            yield f"a secret outside a dynamic reference: {text[:60]}"


@pytest.fixture(params=["app", "variant", "renamed_web_acl"])
def assembly(request: pytest.FixtureRequest) -> Synthesized:
    return request.getfixturevalue(request.param)


def test_no_plaintext_secret_anywhere_in_the_assembly(assembly: Synthesized) -> None:
    # Given every file of the synthesized assembly: templates, manifests, trees, reports, every asset
    scanned = 0
    for path in sorted(Path(assembly.outdir).rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        scanned += 1
        # Then no credential or key of any shape we know is in it
        for name, pattern in SECRET_PATTERNS.items():
            assert not pattern.search(data), f"{name} in {path}"
        # And a JSON file holds no secret value: generated secrets, and dynamic references only
        if path.suffix == ".json":
            offences = list(_secret_offences(json.loads(data)))
            assert offences == [], f"{path}: {offences[:3]}"
    assert scanned > 50


def test_the_secret_detectors_can_fail() -> None:
    # Given a value of each shape (made here, so that no file holds one)
    samples = {
        "GitHub token": b"gh" + b"p_" + b"a1" * 18,
        "Slack token": b"xo" + b"xb-" + b"1234567890-abc",
        "JSON web token": b"ey" + b"J" + b"a" * 12 + b".ey" + b"J" + b"b" * 12 + b"." + b"c" * 12,
        "Google API key": b"AI" + b"za" + b"A" * 35,
        "Stripe live key": b"sk_li" + b"ve_" + b"a" * 24,
        "an origin-verify value": b'"x-origin-verify": "' + b"Ab1" * 8 + b'"',
    }
    # Then each detector finds it
    for name, sample in samples.items():
        assert SECRET_PATTERNS[name].search(sample), name
    # And a template that would put the origin secret's value in the distribution, or a secret in a
    # plain SecretString, is an offence; a dynamic reference or a generated value is not
    plain = {"OriginCustomHeaders": [{"HeaderName": ORIGIN_VERIFY_HEADER, "HeaderValue": "Ab1" * 20}]}
    assert list(_secret_offences(plain)) == [f"a plain {ORIGIN_VERIFY_HEADER} value"]
    assert list(_secret_offences({"Properties": {"SecretString": "hunter2hunter2"}}))
    assert list(_secret_offences({"Value": "prefix {{resolve:secretsmanager:arn:SecretString:::}} and SecretString"}))
    reference = {"HeaderName": ORIGIN_VERIFY_HEADER, "HeaderValue": {"Fn::Join": ["", [
        "{{resolve:secretsmanager:", {"Ref": "Secret"}, ":SecretString:::}}"]]}}
    assert list(_secret_offences({"OriginCustomHeaders": [reference]})) == []
    assert list(_secret_offences({"GenerateSecretString": {"PasswordLength": 64}})) == []


# --- no locked cross-region references ----------------------------------------------------------

def _no_locked_references(synth: Synthesized) -> None:
    for stack, template in synth.raw.items():
        text = json.dumps(template)
        # No import of an export, no CDK export writer or reader, no export at all
        assert "Fn::ImportValue" not in text, stack
        assert not [r for r in template["Resources"].values() if r["Type"].startswith("Custom::CrossRegionExport")]
        assert not [name for name, output in template.get("Outputs", {}).items() if "Export" in output], stack
    for env, stacks in synth.environments.items():
        edge = stacks.edge.stack_name
        # And nothing refers to the edge stack's outputs: the edge publishes SSM parameters only
        for kind in ("FileStore", "FileApi"):
            assert f'"StackName": "{edge}"' not in json.dumps(synth.template_json(env, kind)), (env, kind)
        # And the edge's one output is the plain (unexported) WebACL ARN that file stores deployed before the
        # front door read: kept, under its old name, so that a rolled-back upgrade still finds it
        from stacks.edge_security_stack import LEGACY_CERTIFICATE_OUTPUT, LEGACY_WEB_ACL_OUTPUT
        outputs = synth.template_json(env, "EdgeSecurity").get("Outputs", {})
        domain = stacks.config.domain is not None
        assert sorted(outputs) == sorted([LEGACY_WEB_ACL_OUTPUT, *([LEGACY_CERTIFICATE_OUTPUT] if domain else [])])
        assert not [name for name, output in outputs.items() if "Export" in output]
        assert outputs[LEGACY_WEB_ACL_OUTPUT]["Value"]["Fn::GetAtt"][1] == "Arn"
        if domain:  # (Ref of the certificate: its ARN)
            assert "Ref" in outputs[LEGACY_CERTIFICATE_OUTPUT]["Value"]


def test_no_locked_cross_region_references(app: Synthesized, variant: Synthesized) -> None:
    for synth in (app, variant):
        _no_locked_references(synth)
        for env, stacks in synth.environments.items():
            # And the file store stack deploys after the edge stack, which writes the parameters
            manifest = json.loads((Path(stacks.stage.outdir) / "manifest.json").read_text())
            (store,) = [artifact for artifact in manifest["artifacts"].values()
                        if artifact.get("properties", {}).get("stackName") == stacks.store.stack_name]
            assert stacks.edge.artifact_id in store["dependencies"], env
            assert stacks.edge.region == "us-east-1"


def _readers(synth: Synthesized, env: str) -> dict[str, dict[str, Any]]:
    """The store's edge readers: parameter name -> the SDK call (create and update are the same)."""
    calls = {}
    for reader in resources_of(synth.template_json(env, "FileStore"), "Custom::EdgeReference").values():
        properties = reader["Properties"]
        assert properties["Create"] == properties["Update"]
        assert properties["InstallLatestAwsSdk"] is False
        call = json.loads(properties["Create"])
        calls[call["parameters"]["Name"]] = call
    return calls


def test_the_store_reads_the_edge_parameters_in_us_east_1_under_a_fingerprint(
        deployment: tuple[Synthesized, str]) -> None:
    synth, env = deployment
    config = synth.environments[env].config
    store = synth.template_json(env, "FileStore")
    calls = _readers(synth, env)
    # Given the readers / Then one per parameter the edge stack writes, each SSM GetParameter in
    # us-east-1 returning only the value, all under one fingerprint (SHA-256, hex)
    parameters = {config.web_acl_arn_parameter, *([config.certificate_arn_parameter] if config.domain else [])}
    assert set(calls) == parameters
    fingerprints = {call["physicalResourceId"]["id"] for call in calls.values()}
    assert len(fingerprints) == 1 and re.fullmatch(r"[0-9a-f]{64}", fingerprints.pop())
    for call in calls.values():
        assert (call["service"], call["action"], call["region"], call["outputPaths"]) == (
            "SSM", "getParameter", "us-east-1", ["Parameter.Value"])
    # And the distribution takes the WebACL (and certificate) from them
    readers = {json.loads(r["Properties"]["Create"])["parameters"]["Name"]: k
               for k, r in resources_of(store, "Custom::EdgeReference").items()}
    _, distribution = _only(store, "AWS::CloudFront::Distribution")
    distribution_config = distribution["Properties"]["DistributionConfig"]
    assert distribution_config["WebACLId"] == {
        "Fn::GetAtt": [readers[config.web_acl_arn_parameter], "Parameter.Value"]}
    if config.domain:
        assert distribution_config["ViewerCertificate"]["AcmCertificateArn"] == {
            "Fn::GetAtt": [readers[config.certificate_arn_parameter], "Parameter.Value"]}
    # And the readers' function may read exactly those parameters (plus its logs)
    fakes = _fakes(synth, env)["FileStore"]
    (service_token,) = {json.dumps(r["Properties"]["ServiceToken"]) for r in
                        resources_of(store, "Custom::EdgeReference").values()}
    function_id = json.loads(service_token)["Fn::GetAtt"][0]
    role_id = store["Resources"][function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [fakes.resolve(s) for document in _identity_policies(store, role_id) for s in document["Statement"]]
    assert {a for s in statements for a in _as_list(s["Action"])} == {"ssm:GetParameter"}
    assert sorted(r for s in statements for r in _as_list(s["Resource"])) == sorted(
        f"arn:aws:ssm:us-east-1:{fakes.account}:parameter{name}" for name in parameters)


def test_a_renamed_web_acl_is_read_again_without_any_export(app: Synthesized, renamed_web_acl: Synthesized) -> None:
    # Given prod synthesized again with a new WebACL name (CloudFormation replaces the WebACL)
    assert json.dumps(renamed_web_acl.template_json("prod", "EdgeSecurity")).count(f'"{RENAMED_WEB_ACL}"') == 1
    before, after = _readers(app, "prod"), _readers(renamed_web_acl, "prod")
    # Then the home template's readers change (same parameter, new fingerprint), so CloudFormation
    # reads the parameter again in the same deployment
    assert set(before) == set(after)
    for name in before:
        assert before[name]["physicalResourceId"] != after[name]["physicalResourceId"]
        assert {**before[name], "physicalResourceId": None} == {**after[name], "physicalResourceId": None}
    # And still nothing is imported or exported
    _no_locked_references(renamed_web_acl)


def _edge_fingerprint(cdk_context: dict[str, Any], **override: Any) -> str:
    """The fingerprint of prod's edge stack with ``override`` (the edge stack alone: no bundling)."""
    filegate = json.loads(json.dumps(cdk_context[CONTEXT_KEY]))
    filegate["environments"]["prod"].update(override)
    config = environment_from_context(filegate, "prod")
    stack = EdgeSecurityStack(App(), "Edge", config=config, env=Environment(account="123456789012",
                                                                           region="us-east-1"))
    return stack.references.fingerprint


def test_the_fingerprint_changes_with_what_replaces_the_webacl_or_the_certificate(
        cdk_context: dict[str, Any]) -> None:
    domain = {"domain_name": "files.example.org", "hosted_zone_id": "Z0123456789ABCDEFGHIJ",
              "hosted_zone_name": "example.org"}
    # Given the same edge stack twice / Then the same fingerprint (no needless re-read)
    assert _edge_fingerprint(cdk_context) == _edge_fingerprint(cdk_context)
    assert _edge_fingerprint(cdk_context, domain=domain) == _edge_fingerprint(cdk_context, domain=domain)
    # When the WebACL's name, the certificate's domain or zone changes, or a certificate appears
    changed = [
        _edge_fingerprint(cdk_context),
        _edge_fingerprint(cdk_context, waf_web_acl_name="another-name"),
        _edge_fingerprint(cdk_context, domain=domain),
        _edge_fingerprint(cdk_context, domain={**domain, "domain_name": "cdn.example.org"}),
        _edge_fingerprint(cdk_context, domain={**domain, "hosted_zone_id": "Z9999999999ABCDEFGHIJ"}),
    ]
    # Then each is a different fingerprint
    assert len(set(changed)) == len(changed)
    # But a rule or a limit of the WebACL (updated in place, same ARN) changes nothing
    assert _edge_fingerprint(cdk_context, waf_api_rate_limit=5000, waf_rate_limit=100) == changed[0]
