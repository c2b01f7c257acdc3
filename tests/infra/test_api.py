"""HTTP API, authorizers, minting Lambdas, least-privilege roles and alarms (DESIGN.md decision 5)."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match

from tests.infra.conftest import Synthesized, joined

USER_ROUTES = {"POST /uploads", "POST /downloads", "POST /downloads/cookies", "GET /files", "GET /files/{file_id}",
               "DELETE /files/{file_id}"}
BACKEND_ROUTES = {"POST /backend/uploads", "POST /backend/downloads", "GET /backend/files",
                  "GET /backend/files/{file_id}", "DELETE /backend/files/{file_id}", "POST /backend/revocations",
                  "POST /backend/erasures", "GET /backend/erasures/{erasure_id}"}


def _resources(synth: Synthesized, env: str, kind: str, type_: str) -> dict[str, Any]:
    return {k: r for k, r in synth.template_json(env, kind)["Resources"].items() if r["Type"] == type_}


def test_routes_user_routes_need_jwt_and_scopes_backend_routes_need_iam(app: Synthesized) -> None:
    routes = {r["Properties"]["RouteKey"]: r["Properties"] for r in _resources(app, "prod", "FileApi",
                                                                                "AWS::ApiGatewayV2::Route").values()}
    assert set(routes) == USER_ROUTES | BACKEND_ROUTES
    for key in USER_ROUTES:
        assert routes[key]["AuthorizationType"] == "JWT"
        assert routes[key]["AuthorizationScopes"] == ["filegate/files"], "ID tokens must not pass"
    for key in BACKEND_ROUTES:
        assert routes[key]["AuthorizationType"] == "AWS_IAM"


def test_without_an_issuer_a_cognito_pool_with_the_three_groups_backs_the_authorizer(app: Synthesized) -> None:
    template = app.template("prod", "FileApi")
    template.resource_count_is("AWS::Cognito::UserPool", 1)
    groups = {r["Properties"]["GroupName"] for r in _resources(app, "prod", "FileApi",
                                                                "AWS::Cognito::UserPoolGroup").values()}
    assert groups == {"careers", "org", "marketing"}
    template.has_resource_properties("AWS::Cognito::UserPool", {
        "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
        "MfaConfiguration": "ON",
        "Policies": {"PasswordPolicy": Match.object_like({"MinimumLength": 12})},
        "LambdaConfig": {"PreTokenGenerationConfig": Match.object_like({"LambdaVersion": "V2_0"})},
    })
    (authorizer,) = _resources(app, "prod", "FileApi", "AWS::ApiGatewayV2::Authorizer").values()
    assert authorizer["Properties"]["AuthorizerType"] == "JWT"
    assert "cognito-idp" in json.dumps(authorizer["Properties"]["JwtConfiguration"]["Issuer"])


def test_an_external_issuer_replaces_the_pool(variant: Synthesized) -> None:
    template = variant.template("edge", "FileApi")
    template.resource_count_is("AWS::Cognito::UserPool", 0)
    template.has_resource_properties("AWS::ApiGatewayV2::Authorizer", {
        "AuthorizerType": "JWT",
        "JwtConfiguration": {"Issuer": "https://login.example.org", "Audience": ["filegate-api"]},
    })
    routes = _resources(variant, "edge", "FileApi", "AWS::ApiGatewayV2::Route").values()
    assert {tuple(r["Properties"].get("AuthorizationScopes", [])) for r in routes
            if r["Properties"]["AuthorizationType"] == "JWT"} == {("files",)}


def test_stage_throttles_every_route_and_writes_json_access_logs(app: Synthesized) -> None:
    config = app.environments["prod"].config
    # The stage is the file store stack's, with the API (docs/front-door.md)
    (stage,) = _resources(app, "prod", "FileStore", "AWS::ApiGatewayV2::Stage").values()
    settings = stage["Properties"]["DefaultRouteSettings"]
    assert settings["ThrottlingRateLimit"] == config.api_throttle.rate_limit
    assert settings["ThrottlingBurstLimit"] == config.api_throttle.burst_limit
    log_format = json.loads(stage["Properties"]["AccessLogSettings"]["Format"])
    assert log_format["requestId"] == "$context.requestId"
    assert not any("querystring" in value.lower() or "authorization" in value.lower() for value in log_format.values())


def test_cors_preflight_only_for_configured_origins_with_credentials(app: Synthesized) -> None:
    for env in ("dev", "prod"):
        # Given the HTTP API (the file store stack's)
        config = app.environments[env].config
        (api,) = _resources(app, env, "FileStore", "AWS::ApiGatewayV2::Api").values()
        cors = api["Properties"]["CorsConfiguration"]
        # Then preflights answer the configured origins only, never a wildcard, and allow credentials
        # (a frontend on another origin calls with credentials: "include" for the download cookies)
        assert cors["AllowOrigins"] == list(config.frontend_origins) and "*" not in cors["AllowOrigins"]
        assert set(cors["AllowMethods"]) == {"GET", "POST", "DELETE", "OPTIONS"}
        assert cors["AllowCredentials"] is True
        assert set(cors["AllowHeaders"]) == {"authorization", "content-type"}


def test_minting_lambdas_are_python_313_arm64_traced_with_settings(app: Synthesized) -> None:
    functions = {r["Properties"]["Handler"]: r["Properties"] for r in _resources(app, "prod", "FileApi",
                                                                                 "AWS::Lambda::Function").values()}
    for handler in ("filegate.handlers.uploads.handler", "filegate.handlers.downloads.handler",
                    "filegate.handlers.files.handler"):
        function = functions[handler]
        assert function["Runtime"] == "python3.13"
        assert function["Architectures"] == ["arm64"]
        assert function["TracingConfig"] == {"Mode": "Active"}
        assert function["ReservedConcurrentExecutions"] == 100
        variables = function["Environment"]["Variables"]
        assert variables["FILEGATE_SIGNER"] == "kms"
        assert variables["FILEGATE_ACTIVE_SLOT"] == "k2026a"
        assert json.loads(variables["FILEGATE_RULES"])[0]["name"] == "cv"
        assert variables["FILEGATE_DOWNLOAD_BASE_URL"]


def _role_statements(synth: Synthesized, env: str, role_name: str) -> list[dict[str, Any]]:
    roles = {k for k, r in _resources(synth, env, "FileApi", "AWS::IAM::Role").items()
             if r["Properties"].get("RoleName") == role_name}
    (role_id,) = roles
    statements: list[dict[str, Any]] = []
    for policy in _resources(synth, env, "FileApi", "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def test_upload_role_may_only_put_under_upload_rule_prefixes(app: Synthesized) -> None:
    # Given the prod upload role / When its identity policy is read
    config = app.environments["prod"].config
    statements = _role_statements(app, "prod", config.upload_role_name)
    actions = set().union(*(_actions(s) for s in statements))
    # Then it writes objects (quarantine only) and new file records, counts an owner's records (quotas),
    # reads the origin secret (a user route's function), and nothing else
    assert actions == {"s3:PutObject", "kms:GenerateDataKey", "logs:CreateLogStream", "logs:PutLogEvents",
                       "xray:PutTraceSegments", "xray:PutTelemetryRecords", "dynamodb:PutItem", "dynamodb:Query",
                       "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "secretsmanager:GetSecretValue"}
    (put,) = [s for s in statements if "s3:PutObject" in _actions(s)]
    resources = json.dumps(put["Resource"])
    for rule in config.rules:
        assert (f"/incoming/{rule.key_prefix_pattern}" in resources) == ("upload" in rule.actions)
    assert all("/incoming/" in json.dumps(resource) for resource in put["Resource"]), "never a final key"
    (record,) = [s for s in statements if "dynamodb:PutItem" in _actions(s)]
    assert _actions(record) == {"dynamodb:PutItem"}
    assert json.dumps(record["Resource"]).endswith(':table/filegate-prod-files"]]}')


def test_download_role_may_only_sign_with_the_slot_keys(app: Synthesized) -> None:
    config = app.environments["prod"].config
    statements = _role_statements(app, "prod", config.download_role_name)
    actions = set().union(*(_actions(s) for s in statements))
    assert actions == {"kms:Sign", "logs:CreateLogStream", "logs:PutLogEvents",
                       "xray:PutTraceSegments", "xray:PutTelemetryRecords",
                       "dynamodb:GetItem", "kms:Decrypt", "kms:DescribeKey", "secretsmanager:GetSecretValue"}
    assert not any(a.startswith("s3:") for a in actions)
    (sign,) = [s for s in statements if "kms:Sign" in _actions(s)]
    assert _actions(sign) == {"kms:Sign"}, "decrypting the records table never comes with signing"
    # Each decrypt goes through one service: DynamoDB (the records) or Secrets Manager (the origin secret)
    decrypts = {s["Sid"]: s for s in statements if "kms:Decrypt" in _actions(s)}
    assert set(decrypts) == {"UseTheRecordsKeyThroughDynamoDB", "DecryptTheOriginSecretThroughSecretsManager"}
    assert decrypts["UseTheRecordsKeyThroughDynamoDB"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "dynamodb.ap-southeast-1.amazonaws.com"}}
    assert decrypts["DecryptTheOriginSecretThroughSecretsManager"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "secretsmanager.ap-southeast-1.amazonaws.com"}}


def test_files_role_may_only_read_file_records(app: Synthesized) -> None:
    # Given the GET /files and GET /files/{file_id} function / When its role's policy is read
    template = app.template_json("prod", "FileApi")
    (function,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
                   and r["Properties"].get("Handler") == "filegate.handlers.files.handler"]
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = [r["Properties"] for r in template["Resources"].values()
                if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]]
    statements = [s for policy in policies for s in policy["PolicyDocument"]["Statement"]]
    # Then it reads and lists one table (through DynamoDB only), reads the cursor and origin secrets, writes its own
    # logs: nothing else (exact resources: tests/infra/test_lifecycle.py)
    assert set().union(*(_actions(s) for s in statements)) == {
        "dynamodb:GetItem", "dynamodb:Query", "kms:Decrypt", "kms:DescribeKey", "secretsmanager:GetSecretValue",
        "logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    (get,) = [s for s in statements if "dynamodb:GetItem" in _actions(s)]
    assert json.dumps(get["Resource"]).endswith(':table/filegate-prod-files"]]}')


def test_alarms_on_5xx_throttles_and_lambda_errors_go_to_an_encrypted_topic(app: Synthesized) -> None:
    alarms = [r["Properties"] for r in _resources(app, "prod", "FileApi", "AWS::CloudWatch::Alarm").values()]
    metrics = {(a["Namespace"], a["MetricName"]) for a in alarms}
    assert ("AWS/ApiGateway", "5xx") in metrics
    assert ("AWS/Lambda", "Errors") in metrics
    assert ("AWS/Lambda", "Throttles") in metrics
    assert all(a["AlarmActions"] for a in alarms)
    app.template("prod", "FileApi").has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})


def test_outputs_the_frontend_needs(app: Synthesized) -> None:
    outputs = app.template_json("prod", "FileApi")["Outputs"]
    for name in ("ApiUrl", "BackendApiUrl", "JwtIssuer", "DownloadBaseUrl", "UserPoolId", "UserPoolClientId"):
        assert any(key.startswith(name) for key in outputs), name


# Deploy-time tokens in the template, replaced by values of the right shape.
_TOKEN_PLACEHOLDERS = {
    "FILEGATE_BUCKET": "filegate-prod-files-123456789012-ap-southeast-1",
    "FILEGATE_BUCKET_KMS_KEY_ARN": "arn:aws:kms:ap-southeast-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "FILEGATE_DOWNLOAD_BASE_URL": "https://d111111abcdef8.cloudfront.net",
}


def _placeholder_slots(config: Any) -> str:
    return json.dumps({
        slot.name: {"public_key_id": f"K{index}ABCDEFGHIJ",
                    "kms_key_id": None if slot.secret_name else f"arn:aws:kms:eu-west-1:123456789012:key/{index}",
                    "secret_name": slot.secret_name}
        for index, slot in enumerate(config.signing.slots)
    })


def test_the_stack_sets_exactly_the_settings_the_lambda_reads(app: Synthesized, variant: Synthesized) -> None:
    # Given each synthesized minting function / When its environment is fed to the Lambda's settings
    # (the lifecycle functions, LifecycleSettings: tests/infra/test_lifecycle.py)
    from filegate.settings import ENVIRONMENT, Settings

    for synth, env in ((app, "prod"), (app, "dev"), (variant, "edge")):
        config = synth.environments[env].config
        for function in _resources(synth, env, "FileApi", "AWS::Lambda::Function").values():
            if function["Properties"]["Handler"] not in {"filegate.handlers.uploads.handler",
                                                         "filegate.handlers.downloads.handler"}:
                continue
            variables = function["Properties"]["Environment"]["Variables"]
            # Then every FILEGATE_ variable is one the Lambda knows, and the settings load
            names = {name for name in variables if name.startswith("FILEGATE_")}
            assert names <= set(ENVIRONMENT.values()), names - set(ENVIRONMENT.values())
            resolved = {name: value if isinstance(value, str) else _TOKEN_PLACEHOLDERS.get(name, "")
                        for name, value in variables.items()}
            resolved["FILEGATE_SIGNING_SLOTS"] = _placeholder_slots(config)
            settings = Settings.from_environ({**resolved, "AWS_REGION": config.region})
            assert [rule.name for rule in settings.rules] == [rule.name for rule in config.rules]
            assert settings.active_slot == config.signing.active_slot


def test_users_cannot_write_their_own_org_id(app: Synthesized) -> None:
    # org_id is a claim the org rules trust: only administrators may set it.
    (client,) = _resources(app, "prod", "FileApi", "AWS::Cognito::UserPoolClient").values()
    assert client["Properties"]["WriteAttributes"] == ["email"]
    assert "custom:org_id" in client["Properties"]["ReadAttributes"]


def test_backend_principals_and_cookie_domain_reach_the_lambdas(variant: Synthesized) -> None:
    functions = _resources(variant, "edge", "FileApi", "AWS::Lambda::Function").values()
    for function in functions:
        if function["Properties"]["Handler"].startswith("filegate."):
            variables = function["Properties"]["Environment"]["Variables"]
            # The configured role, then the deployment verifier's (docs/deployment.md), by its known name.
            assert json.loads(joined(variables["FILEGATE_BACKEND_PRINCIPALS"])) == [
                "arn:aws:iam::123456789012:role/rails-backend",
                "arn:aws:iam::<AWS::AccountId>:role/filegate-edge-deployment-verifier"]
            assert variables["FILEGATE_COOKIE_DOMAIN"] == "example.org"


def _minting_variables(synth: Synthesized, env: str) -> list[dict[str, str]]:
    functions = _resources(synth, env, "FileApi", "AWS::Lambda::Function").values()
    return [function["Properties"]["Environment"]["Variables"] for function in functions
            if function["Properties"]["Handler"].startswith("filegate.")]


def test_finding2_the_lambdas_read_groups_from_the_configured_claim(app: Synthesized, variant: Synthesized) -> None:
    # Given the provisioned Cognito pool / Then groups come from cognito:groups, as an array
    for variables in _minting_variables(app, "prod"):
        assert (variables["FILEGATE_GROUPS_CLAIM"], variables["FILEGATE_GROUPS_FORMAT"]) == ("cognito:groups", "array")
    # Given an external issuer / Then from the claim and format its config names
    for variables in _minting_variables(variant, "edge"):
        assert (variables["FILEGATE_GROUPS_CLAIM"], variables["FILEGATE_GROUPS_FORMAT"]) == ("groups", "json_string")


def test_finding3_ip_restriction_reaches_the_lambdas_only_where_configured(app: Synthesized,
                                                                          variant: Synthesized) -> None:
    assert {v["FILEGATE_ALLOW_IP_RESTRICTION"] for v in _minting_variables(app, "prod")} == {"false"}
    assert {v["FILEGATE_ALLOW_IP_RESTRICTION"] for v in _minting_variables(variant, "edge")} == {"true"}


def test_finding7_every_app_client_url_is_one_cognito_accepts(app: Synthesized) -> None:
    for env in ("dev", "prod"):
        (client,) = _resources(app, env, "FileApi", "AWS::Cognito::UserPoolClient").values()
        urls = client["Properties"]["CallbackURLs"] + client["Properties"]["LogoutURLs"]
        assert urls, env
        for url in urls:
            # Cognito: HTTPS, except http://localhost for testing (never 127.0.0.1)
            assert url.startswith("https://") or url.startswith(("http://localhost/", "http://localhost:")), url


def test_finding8_the_lambdas_check_rules_against_the_same_placeholder_claims(app: Synthesized) -> None:
    for variables in _minting_variables(app, "prod"):
        assert json.loads(variables["FILEGATE_PLACEHOLDER_CLAIMS"]) == ["sub", "org_id"]
