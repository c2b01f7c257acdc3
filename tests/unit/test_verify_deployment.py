"""The deployment verifier's plumbing (verify_deployment/, docs/deployment.md "The verifier"):
building a Target from an outputs file, from the FILEGATE_* variables and from describe_stacks
(a botocore Stubber, and moto's CloudFormation), the verifier role's assumption, usage and
configuration errors (exit 2 naming what is missing), the redaction of signed URLs, the line
format and the exit codes; and the checks' own logic where no deployment is needed (rule
choice, samples the server's content checks accept, TLS verdicts, WAF verdicts, SigV4 signing).
The checks against a running system are tests/e2e/test_deployment_verifier.py.
"""

from __future__ import annotations

import datetime
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.stub import Stubber
from moto import mock_aws

from filegate.domain.content import inspect_content
from stacks.config import load_environment
from stacks.stage import VERIFIER_OUTPUT_VARIABLES, stack_name
from verify_deployment import __main__ as cli
from verify_deployment import checks, samples, targets
from verify_deployment.backends import LocalKeyBackend, SigV4Backend
from verify_deployment.model import (
    CHECK_NAMES,
    EDGE_PUBLIC_HEADERS,
    EDGE_TLS_BELOW_12_REFUSED,
    ROUND_TRIP,
    WAF_BLOCKS,
    ConfigurationError,
    Result,
    Status,
    Target,
    failed,
    passed,
    redact,
    skipped,
)

REGION = "ap-southeast-1"
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/filegate-dev-deployment-verifier"
API_ID = "a1b2c3d4e5"
OUTPUTS = {
    "ApiUrl": "https://d111111abcdef8.cloudfront.net/api",
    "BackendApiUrl": f"https://{API_ID}.execute-api.{REGION}.amazonaws.com/api/",
    "DownloadBaseUrl": "https://d111111abcdef8.cloudfront.net",
    "BucketName": "filegate-dev-files-abc123",
    "VerifierRoleArn": ROLE_ARN,
}
SIGNED = ("https://d111111abcdef8.cloudfront.net/private/users/u/cv/f.pdf?Expires=1767225600"
          "&Signature=AbC~def-ghi__&Key-Pair-Id=K2JCJMDEHXQW5F")
PRESIGNED = ("http://127.0.0.1:9000/bucket/private/x.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256"
             "&X-Amz-Credential=FGADMIN%2F20260101%2Fap-southeast-1%2Fs3%2Faws4_request&X-Amz-Signature=0123abcd")


@pytest.fixture(scope="module")
def dev() -> Any:
    return load_environment("dev")


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline: fake credentials, no profile, no metadata service, the dev region."""
    for name, value in {"AWS_ACCESS_KEY_ID": "AKIDCALLER", "AWS_SECRET_ACCESS_KEY": "caller-secret",
                        "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", *VERIFIER_OUTPUT_VARIABLES):
        monkeypatch.delenv(name, raising=False)


class StubbedSession:
    """A boto3 session whose STS and CloudFormation clients are stubbed; any other client is real
    (offline), made with the caller's fake credentials."""

    def __init__(self) -> None:
        self.real = boto3.Session(aws_access_key_id="AKIDCALLER", aws_secret_access_key="caller-secret",
                                  region_name=REGION)
        self.sts = self.real.client("sts", region_name=REGION)
        self.cloudformation = self.real.client("cloudformation", region_name=REGION)
        self.stubs = {"sts": Stubber(self.sts), "cloudformation": Stubber(self.cloudformation)}
        for stub in self.stubs.values():
            stub.activate()

    def client(self, name: str, **kwargs: Any) -> Any:
        if name == "sts":
            return self.sts
        if name == "cloudformation":
            return self.cloudformation
        return self.real.client(name, **kwargs)  # type: ignore[call-overload]

    def get_credentials(self) -> Any:
        return self.real.get_credentials()

    def expect_assume_role(self, caller_arn: str = f"arn:aws:iam::{ACCOUNT}:user/operator") -> None:
        sts = self.stubs["sts"]
        sts.add_response("get_caller_identity", {"UserId": "AIDAOPERATOR", "Account": ACCOUNT, "Arn": caller_arn})
        sts.add_response("assume_role", {
            "Credentials": {"AccessKeyId": "ASIAVERIFIER0000", "SecretAccessKey": "verifier-secret",
                            "SessionToken": "verifier-token",
                            "Expiration": datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)},
            "AssumedRoleUser": {"AssumedRoleId": "AROAVERIFIER:filegate-verify",
                                "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/filegate-dev-deployment-verifier/"
                                       "filegate-verify"}},
            {"RoleArn": ROLE_ARN, "RoleSessionName": "filegate-verify", "DurationSeconds": 3600})

    def expect_stacks(self, per_stack: dict[str, dict[str, str] | None]) -> None:
        cloudformation = self.stubs["cloudformation"]
        for name, outputs in per_stack.items():
            if outputs is None:
                cloudformation.add_client_error("describe_stacks", "ValidationError",
                                                f"Stack with id {name} does not exist",
                                                expected_params={"StackName": name})
                continue
            cloudformation.add_response("describe_stacks", {"Stacks": [{
                "StackName": name, "CreationTime": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
                "StackStatus": "UPDATE_COMPLETE",
                "Outputs": [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()]}]},
                {"StackName": name})

    def assert_done(self) -> None:
        for stub in self.stubs.values():
            stub.assert_no_pending_responses()


def names(config: Any) -> tuple[str, str]:
    return stack_name(config, "FileStore"), stack_name(config, "FileApi")


def write_outputs(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "cdk-outputs.json"
    path.write_text(json.dumps(document))
    return path


def assert_aws_target(target: Target, *, role_assumed: bool) -> None:
    assert target.kind == "aws" and target.env == "dev" and target.region == REGION
    assert target.api_url == OUTPUTS["ApiUrl"]
    assert target.backend_api_url == OUTPUTS["BackendApiUrl"].rstrip("/")
    assert target.download_base_url == OUTPUTS["DownloadBaseUrl"]
    assert target.bucket == OUTPUTS["BucketName"]
    assert target.files_host == "d111111abcdef8.cloudfront.net" and target.domain is None
    assert isinstance(target.backend, SigV4Backend) and target.backend.region == REGION
    backend_key = target.backend.session.get_credentials().access_key
    assert backend_key == ("ASIAVERIFIER0000" if role_assumed else "AKIDCALLER")
    # The S3 checks sign with the caller's own credentials, never the role's
    operator = target.operator_s3()
    assert operator.meta.region_name == REGION
    assert operator._request_signer._credentials.access_key == "AKIDCALLER"
    assert operator.meta.config.s3["addressing_style"] == "virtual"
    assert operator.meta.config.signature_version == "s3v4"


# --- building a Target ------------------------------------------------------------------------


def test_the_stack_names_and_variables_are_the_contracts(dev: Any) -> None:
    assert targets.stack_names(dev) == {"FileStore": "FilegateDevFileStore", "FileApi": "FilegateDevFileApi"}
    assert targets.output_variables() == {
        "FILEGATE_API_URL": "ApiUrl", "FILEGATE_BACKEND_API_URL": "BackendApiUrl",
        "FILEGATE_DOWNLOAD_BASE_URL": "DownloadBaseUrl", "FILEGATE_BUCKET_NAME": "BucketName",
        "FILEGATE_VERIFIER_ROLE_ARN": "VerifierRoleArn"}


def test_a_target_from_an_outputs_file_assumes_the_verifier_role(dev: Any, tmp_path: Path) -> None:
    store, api = names(dev)
    path = write_outputs(tmp_path, {store: OUTPUTS, api: {"ApiUrl": "https://elsewhere.example/api"},
                                    "FilegateProdFileStore": {"ApiUrl": "https://prod.example/api"}})
    session = StubbedSession()
    session.expect_assume_role()
    target = targets.target_from_aws("dev", outputs_file=path, session=session)
    session.assert_done()
    assert_aws_target(target, role_assumed=True)  # FileStore's outputs win over FileApi's
    assert target.source == str(path) and "verifier role assumed" in target.notes


def test_a_target_from_the_environment_variables(dev: Any) -> None:
    environ = {variable: OUTPUTS[output] for variable, output in VERIFIER_OUTPUT_VARIABLES.items()
               if output != "VerifierRoleArn"}
    session = StubbedSession()
    target = targets.target_from_aws("dev", outputs_from_env=True, environ=environ, session=session)
    session.assert_done()  # no role known: no STS call, the caller signs the backend calls
    assert_aws_target(target, role_assumed=False)
    assert any("no verifier role known" in note for note in target.notes)


def test_the_role_arn_option_wins_and_the_role_is_not_assumed_twice(dev: Any) -> None:
    environ = {variable: OUTPUTS[output] for variable, output in VERIFIER_OUTPUT_VARIABLES.items()}
    session = StubbedSession()
    other = f"arn:aws:iam::{ACCOUNT}:role/path/to/other-verifier"
    session.stubs["sts"].add_response("get_caller_identity", {
        "UserId": "AROA:x", "Account": ACCOUNT, "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/other-verifier/ci"})
    target = targets.target_from_aws("dev", outputs_from_env=True, environ=environ, session=session, role_arn=other)
    session.assert_done()
    assert isinstance(target.backend, SigV4Backend) and target.backend.session is session
    assert "already the verifier role" in target.notes


def test_a_target_from_describe_stacks(dev: Any) -> None:
    store, api = names(dev)
    session = StubbedSession()
    store_outputs = {key: value for key, value in OUTPUTS.items() if key != "VerifierRoleArn"}
    session.expect_stacks({store: store_outputs, api: {"VerifierRoleArn": ROLE_ARN, "Other": "x"}})
    session.expect_assume_role()
    target = targets.target_from_aws("dev", session=session)
    session.assert_done()
    assert_aws_target(target, role_assumed=True)
    assert store in target.source and api in target.source


def test_describe_stacks_reads_the_store_when_the_api_stack_is_missing(dev: Any) -> None:
    store, api = names(dev)
    session = StubbedSession()
    session.expect_stacks({store: {key: v for key, v in OUTPUTS.items() if key != "VerifierRoleArn"}, api: None})
    target = targets.target_from_aws("dev", session=session)
    session.assert_done()
    assert_aws_target(target, role_assumed=False)


def test_a_missing_file_store_stack_is_a_configuration_error(dev: Any) -> None:
    store, _ = names(dev)
    session = StubbedSession()
    session.expect_stacks({store: None})
    with pytest.raises(ConfigurationError, match=f"describe_stacks {store}"):
        targets.target_from_aws("dev", session=session)


def test_a_target_from_moto_cloudformation(dev: Any) -> None:
    store, api = names(dev)
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        for name, outputs in ((store, OUTPUTS), (api, {})):
            template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
                        "Outputs": {key: {"Value": value} for key, value in outputs.items()}}
            cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
        target = targets.target_from_aws("dev")
        assert target.bucket == OUTPUTS["BucketName"] and target.api_url == OUTPUTS["ApiUrl"]
        assert isinstance(target.backend, SigV4Backend)
        assert target.backend.session.get_credentials().access_key != "AKIDCALLER"  # moto's assumed role


@pytest.mark.parametrize("missing", ["ApiUrl", "BackendApiUrl", "DownloadBaseUrl", "BucketName"])
def test_a_missing_output_is_exit_2_naming_it(dev: Any, tmp_path: Path, missing: str) -> None:
    store, _ = names(dev)
    path = write_outputs(tmp_path, {store: {key: v for key, v in OUTPUTS.items() if key != missing}})
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["--env", "dev", "--outputs", str(path)], out=out, err=err) == 2
    variable = next(name for name, output in VERIFIER_OUTPUT_VARIABLES.items() if output == missing)
    assert f"{missing} ({variable})" in err.getvalue() and out.getvalue() == ""


def test_missing_variables_are_exit_2_naming_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILEGATE_API_URL", OUTPUTS["ApiUrl"])
    err = io.StringIO()
    assert cli.main(["--env", "dev", "--outputs-from-env"], out=io.StringIO(), err=err) == 2
    message = err.getvalue()
    for variable in ("FILEGATE_BACKEND_API_URL", "FILEGATE_DOWNLOAD_BASE_URL", "FILEGATE_BUCKET_NAME"):
        assert variable in message
    assert "FILEGATE_API_URL" not in message and "FILEGATE_VERIFIER_ROLE_ARN" not in message


def test_an_outputs_file_without_the_environments_stack_is_exit_2(dev: Any, tmp_path: Path) -> None:
    path = write_outputs(tmp_path, {"FilegateProdFileStore": OUTPUTS})
    err = io.StringIO()
    assert cli.main(["--env", "dev", "--outputs", str(path)], out=io.StringIO(), err=err) == 2
    assert "no stack FilegateDevFileStore" in err.getvalue()
    assert cli.main(["--env", "dev", "--outputs", str(tmp_path / "absent.json")], out=io.StringIO(), err=err) == 2
    assert "no such file" in err.getvalue()


def test_an_unknown_environment_is_exit_2(tmp_path: Path) -> None:
    err = io.StringIO()
    assert cli.main(["--env", "nosuchenv", "--outputs-from-env"], out=io.StringIO(), err=err) == 2
    assert "unknown environment 'nosuchenv'" in err.getvalue()


def local_endpoints(**changes: Any) -> dict[str, Any]:
    endpoints: dict[str, Any] = {
        "api": "http://127.0.0.1:8082/api", "edge": "http://127.0.0.1:8082", "s3": "http://127.0.0.1:8084",
        "bucket": "filegate-dev-files-local", "region": REGION, "backend_api": "http://127.0.0.1:8081/api",
        "backend_key": "local-backend-key-value", "backend_key_header": "X-Local-Backend-Key", "env": "dev",
        "operator": {"access_key": "FGADMINKEY", "secret_key": "admin-secret"}}
    endpoints.update(changes)
    return {name: value for name, value in endpoints.items() if value is not None}


def test_a_target_from_the_local_endpoints(tmp_path: Path) -> None:
    path = tmp_path / "endpoints.json"
    path.write_text(json.dumps(local_endpoints()))
    target = targets.target_from_local(path)
    assert target.kind == "local" and target.env == "dev" and target.download_base_url == "http://127.0.0.1:8082"
    assert target.api_url == "http://127.0.0.1:8082/api" and target.backend_api_url == "http://127.0.0.1:8081/api"
    assert target.backend == LocalKeyBackend("http://127.0.0.1:8081/api", "X-Local-Backend-Key",
                                             "local-backend-key-value")
    operator = target.operator_s3()
    assert operator.meta.endpoint_url == "http://127.0.0.1:8084"
    assert operator._request_signer._credentials.access_key == "FGADMINKEY"
    assert operator.meta.config.s3["addressing_style"] == "path"
    url = target.anonymous_s3().generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"})
    assert url == "http://127.0.0.1:8084/b/k"  # an unsigned request


@pytest.mark.parametrize(("changes", "named"), [({"operator": None}, "'operator'"),
                                                ({"backend_key": None}, "'backend_key'"),
                                                ({"operator": {"access_key": "x"}}, "access_key and secret_key")])
def test_an_incomplete_endpoints_file_is_exit_2(tmp_path: Path, changes: dict[str, Any], named: str) -> None:
    path = tmp_path / "endpoints.json"
    path.write_text(json.dumps(local_endpoints(**changes)))
    err = io.StringIO()
    assert cli.main(["--target", "local", "--endpoints", str(path)], out=io.StringIO(), err=err) == 2
    assert named in err.getvalue()
    assert "admin-secret" not in err.getvalue()


def test_no_endpoints_file_is_exit_2(tmp_path: Path) -> None:
    err = io.StringIO()
    assert cli.main(["--target", "local", "--endpoints", str(tmp_path / "none.json")], err=err) == 2
    assert "is `make local` running?" in err.getvalue()


@pytest.mark.parametrize("argv", [
    [], ["--env", "dev", "--outputs", "x.json", "--outputs-from-env"], ["--target", "local", "--role-arn", ROLE_ARN],
    ["--target", "local", "--outputs-from-env"], ["--env", "dev", "--endpoints", "e.json"],
    ["--env", "dev", "--wait-seconds", "0"], ["--target", "nowhere"],
])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2


# --- role identity ----------------------------------------------------------------------------


@pytest.mark.parametrize(("identity", "role", "same"), [
    (f"arn:aws:sts::{ACCOUNT}:assumed-role/filegate-dev-deployment-verifier/x", ROLE_ARN, True),
    (f"arn:aws:sts::{ACCOUNT}:assumed-role/verifier/x", f"arn:aws:iam::{ACCOUNT}:role/some/path/verifier", True),
    ("arn:aws:sts::210987654321:assumed-role/filegate-dev-deployment-verifier/x", ROLE_ARN, False),
    (f"arn:aws:sts::{ACCOUNT}:assumed-role/filegate-pipeline-verify/x", ROLE_ARN, False),
    (f"arn:aws:iam::{ACCOUNT}:user/filegate-dev-deployment-verifier", ROLE_ARN, False),
])
def test_whether_the_caller_already_is_the_role(identity: str, role: str, same: bool) -> None:
    assert targets.is_same_role(identity, role) is same


def test_the_execute_api_region_comes_from_the_host() -> None:
    url = f"https://{API_ID}.execute-api.eu-west-1.amazonaws.com/api"
    assert targets.execute_api_region(url, REGION) == "eu-west-1"
    assert targets.execute_api_region("https://api.example.com/api", REGION) == REGION


def test_backend_calls_are_signed_for_execute_api(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: dict[str, Any] = {}

    def fake_request(method: str, url: str, **kwargs: Any) -> requests.Response:
        sent.update(method=method, url=url, **kwargs)
        response = requests.Response()
        response.status_code = 200
        return response

    monkeypatch.setattr(requests, "request", fake_request)
    session = boto3.Session(aws_access_key_id="ASIAVERIFIER0000", aws_secret_access_key="s", aws_session_token="t")
    backend = SigV4Backend(f"https://{API_ID}.execute-api.{REGION}.amazonaws.com/api", session, REGION)
    backend.request("POST", "/backend/uploads", {"rule": "cv"})
    assert sent["url"].endswith("/api/backend/uploads") and sent["data"] == b'{"rule":"cv"}'
    authorization = sent["headers"]["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=ASIAVERIFIER0000/")
    assert f"/{REGION}/execute-api/aws4_request" in authorization
    assert sent["headers"]["X-Amz-Security-Token"] == "t"


# --- redaction, lines, exit codes -------------------------------------------------------------


def test_redaction_keeps_the_path_and_drops_every_query() -> None:
    text = f"GET {SIGNED} failed; presigned {PRESIGNED}: HTTP 200\nnext line"
    cleaned = redact(text)
    assert "Signature" not in cleaned and "X-Amz-Credential" not in cleaned and "Key-Pair-Id" not in cleaned
    assert "https://d111111abcdef8.cloudfront.net/private/users/u/cv/f.pdf?<redacted>" in cleaned
    assert "http://127.0.0.1:9000/bucket/private/x.pdf?<redacted>" in cleaned
    assert "\n" not in cleaned
    assert failed("x", text).detail == cleaned  # every Result is redacted when made
    assert len(redact("a" * 5000)) <= 600


def test_an_exception_in_a_check_is_a_fail_with_its_type_and_no_signature() -> None:
    @checks.guarded("some-check")
    def boom() -> Result:
        raise requests.ConnectionError(f"Max retries exceeded with url: {SIGNED}")

    result = boom()
    assert result.status is Status.FAIL and result.name == "some-check"
    assert result.detail.startswith("unexpected ConnectionError: ") and "Signature" not in result.detail


def test_the_line_format() -> None:
    assert passed("round-trip", "ok").line() == "PASS round-trip: ok"
    assert failed("waf-blocks", "GET x: 200").line() == "FAIL waf-blocks: GET x: 200"
    assert skipped(EDGE_TLS_BELOW_12_REFUSED, "no domain").line() == "SKIP edge-tls-below-1.2-refused: no domain"


def test_the_check_names_are_the_contracts() -> None:
    assert CHECK_NAMES == ("s3-presigned-get-refused", "s3-anonymous-get-refused", "edge-unsigned-private-refused",
                           "edge-public-headers", "edge-tls-below-1.2-refused", "waf-blocks", "round-trip")


def fake_target(dev: Any) -> Target:
    return Target(kind="local", env="dev", config=dev, api_url="http://127.0.0.1:1/api",
                  backend_api_url="http://127.0.0.1:2/api", download_base_url="http://127.0.0.1:1", bucket="b",
                  region=REGION, backend=LocalKeyBackend("http://127.0.0.1:2/api", "X-Local-Backend-Key", "k"),
                  operator_s3=lambda: None, anonymous_s3=lambda: None, wait_seconds=1.0, source="test")


@pytest.mark.parametrize(("statuses", "code"), [
    ({}, 0), ({EDGE_TLS_BELOW_12_REFUSED: Status.SKIP, EDGE_PUBLIC_HEADERS: Status.SKIP}, 0),
    ({WAF_BLOCKS: Status.FAIL}, 1), ({ROUND_TRIP: Status.FAIL, EDGE_TLS_BELOW_12_REFUSED: Status.SKIP}, 1),
])
def test_lines_in_the_contracts_order_and_the_exit_code(dev: Any, monkeypatch: pytest.MonkeyPatch,
                                                        statuses: dict[str, Status], code: int) -> None:
    def fake_run(target: Target, emit: Callable[[Result], None]) -> list[Result]:
        results = [Result(name, statuses.get(name, Status.PASS), f"detail of {name} {SIGNED}") for name in CHECK_NAMES]
        for result in results:
            emit(result)
        return results

    monkeypatch.setattr(checks, "run_checks", fake_run)
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["--target", "local"], out=out, err=err, make_target=lambda _: fake_target(dev)) == code
    lines = out.getvalue().splitlines()
    assert [line.split(" ")[1].rstrip(":") for line in lines] == list(CHECK_NAMES)
    for line, name in zip(lines, CHECK_NAMES, strict=True):
        assert line == f"{statuses.get(name, Status.PASS).value} {name}: detail of {name} " \
                       "https://d111111abcdef8.cloudfront.net/private/users/u/cv/f.pdf?<redacted>"
    assert "7 checks" in err.getvalue()


# --- the checks' own logic --------------------------------------------------------------------


def test_the_dev_config_gives_a_pdf_rule_and_a_public_image_rule(dev: Any) -> None:
    private, public = checks.private_rule(dev), checks.public_rule(dev)
    assert private is not None and (private[0].name, private[1]) == ("cv", samples.PDF)
    assert public is not None and (public[0].name, public[1]) == ("marketing", samples.PNG)


def test_a_rule_needing_an_org_comes_after_one_that_does_not(dev: Any) -> None:
    rules = tuple(rule for rule in dev.rules if rule.name == "business-registration")
    choice = checks.private_rule(dev.model_copy(update={"rules": rules}))
    assert choice is not None and choice[0].name == "business-registration"
    trip = checks.new_round_trip()
    trip.org_id = "filegate-verify-org-1"
    assert trip.on_behalf_of(choice[0]) == {"sub": trip.subject, "groups": ["org"], "org_id": "filegate-verify-org-1"}
    assert trip.subject.startswith("filegate-verify-") and len(trip.subject) == len("filegate-verify-") + 16


@pytest.mark.parametrize("content_type", [samples.PDF, samples.PNG, samples.JPEG, samples.WEBP])
def test_every_sample_passes_the_servers_content_checks(content_type: str) -> None:
    sample = samples.make_sample(content_type)
    inspection = inspect_content(sample.data, declared_type=content_type, declared_size=len(sample.data),
                                 max_bytes=10 * 1024 * 1024)
    assert inspection.reason is None, inspection
    assert samples.same_content(content_type, inspection.served, sample.data)[0]
    assert samples.make_sample(content_type).data != sample.data  # a fresh file every run


def test_content_that_differs_is_not_the_same() -> None:
    pdf = samples.make_sample(samples.PDF).data
    assert samples.same_content(samples.PDF, pdf + b"x", pdf) == (False, f"bytes differ ({len(pdf) + 1} served, "
                                                                        f"{len(pdf)} uploaded)")
    png, other = samples.make_sample(samples.PNG).data, samples.make_sample(samples.PNG).data
    assert samples.same_content(samples.PNG, other, png)[0] is False


def test_without_a_private_rule_nothing_passes_vacuously(dev: Any) -> None:
    public_only = dev.model_copy(update={"rules": tuple(r for r in dev.rules if r.key_template.startswith("public/"))})
    target = fake_target(public_only)
    trip = checks.start_round_trip(target)  # fails before any request: no rule to use
    assert trip.failure is not None and "no rule under private/" in trip.failure
    for check in (checks.s3_presigned_get_refused, checks.s3_anonymous_get_refused,
                  checks.edge_unsigned_private_refused):
        result = check(target, trip)
        assert result.status is Status.FAIL and "no private object to test" in result.detail, result.line()
    result = checks.finish_round_trip(target, trip)
    assert result.status is Status.FAIL and "no rule under private/" in result.detail


def test_without_a_public_rule_the_headers_check_skips(dev: Any) -> None:
    rules = tuple(rule for rule in dev.rules if rule.key_template.startswith("private/"))
    private_only = dev.model_copy(update={"rules": rules})
    result = checks.edge_public_headers(fake_target(private_only), checks.new_round_trip())
    assert result.status is Status.SKIP and "no rule under public/" in result.detail


def test_without_a_domain_the_tls_check_skips(dev: Any) -> None:
    result = checks.edge_tls_below_12_refused(fake_target(dev))
    assert result.status is Status.SKIP and "no domain" in result.detail


Outcome = tuple[str, str]


def fake_tls(monkeypatch: pytest.MonkeyPatch, legacy: Outcome, modern: Outcome,
             unavailable: str | None = None) -> None:
    def probe(host: str, port: int, context: Any, *, timeout: float) -> Outcome:
        return modern if context.minimum_version == checks.ssl.TLSVersion.TLSv1_2 else legacy

    monkeypatch.setattr(checks, "probe_tls", probe)
    if unavailable:
        monkeypatch.setattr(checks, "cannot_offer", lambda version, wire: unavailable
                            if version == checks.ssl.TLSVersion.TLSv1_1 else None)


@pytest.mark.parametrize("case", [
    (("refused", "TLSV1_ALERT_PROTOCOL_VERSION"), ("accepted", "TLSv1.3"), None, Status.PASS, "TLS 1.1 refused"),
    (("accepted", "TLSv1 AES"), ("accepted", "TLSv1.3"), None, Status.FAIL, "accepted a TLS 1.0 handshake"),
    (("refused", "x"), ("refused", "WRONG_VERSION_NUMBER"), None, Status.FAIL, "TLS 1.2+ handshake failed too"),
    (("unreachable", "ConnectionRefusedError"), ("unreachable", "x"), None, Status.FAIL, "cannot connect"),
    (("refused", "x"), ("accepted", "TLSv1.3"), "no protocols available", Status.SKIP, "cannot offer TLS 1.1"),
])
def test_tls_verdicts(monkeypatch: pytest.MonkeyPatch,
                      case: tuple[Outcome, Outcome, str | None, Status, str]) -> None:
    legacy, modern, unavailable, status, words = case
    fake_tls(monkeypatch, legacy, modern, unavailable)
    result = checks.tls_below_12_refused("files.example.com", 443)
    assert result.status is status and words in result.detail, result.line()


def test_this_client_can_build_legacy_hellos_or_says_why() -> None:
    for _, version, wire in checks.LEGACY_VERSIONS:
        reason = checks.cannot_offer(version, wire)
        assert reason is None or reason  # never an empty reason: a SKIP says why


def response(status: int, body: Any, content_type: str = "application/json") -> requests.Response:
    made = requests.Response()
    made.status_code = status
    made._content = json.dumps(body).encode() if not isinstance(body, bytes) else body
    made.headers["Content-Type"] = content_type
    return made


@pytest.mark.parametrize("case", [
    (response(403, {"error": {"code": "request_blocked", "message": "m"}}),
     response(413, {"error": {"code": "request_too_large", "message": "m"}}), Status.PASS, "403 request_blocked"),
    (response(403, {"message": "Forbidden"}),
     response(413, {"error": {"code": "request_too_large", "message": "m"}}), Status.FAIL,
     "403 'Forbidden', want 403 request_blocked"),
    (response(403, {"error": {"code": "request_blocked", "message": "m"}}),
     response(401, {"message": "Unauthorized"}), Status.FAIL, "want 413 request_too_large"),
])
def test_waf_verdicts(dev: Any, monkeypatch: pytest.MonkeyPatch,
                      case: tuple[requests.Response, requests.Response, Status, str]) -> None:
    blocked, too_large, status, words = case
    sent: dict[str, Any] = {}
    monkeypatch.setattr(checks.requests, "get", lambda url, **_: blocked)

    def post(url: str, *, data: bytes, **_: Any) -> requests.Response:
        sent["size"] = len(data)
        return too_large

    monkeypatch.setattr(checks.requests, "post", post)
    result = checks.waf_blocks(fake_target(dev))
    assert result.status is status and words in result.detail, result.line()
    assert sent["size"] > dev.waf_api_max_body_bytes


def test_a_refusal_is_described_by_its_code_never_its_body() -> None:
    assert checks.error_code(response(403, b"<Error><Code>AccessDenied</Code><Message>secret?</Message></Error>",
                                      "application/xml")) == "AccessDenied"
    assert checks.error_code(response(200, b"%PDF-1.7 ...", "application/pdf")) == "(application/pdf, 12 bytes)"


def test_an_unsigned_private_get_that_is_served_fails(dev: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    trip = checks.new_round_trip()
    trip.private = checks.StoredFile(file_id="f" * 32, key=f"private/users/{trip.subject}/cv/a.pdf", rule="cv",
                                     sample=samples.make_sample(samples.PDF), clean=True)
    monkeypatch.setattr(checks.requests, "get", lambda url, **_: response(200, b"%PDF", "application/pdf"))
    result = checks.edge_unsigned_private_refused(fake_target(dev), trip)
    assert result.status is Status.FAIL and "HTTP 200" in result.detail and "served the object" in result.detail
    monkeypatch.setattr(checks.requests, "get", lambda url, **_: response(403, b"<Code>MissingKey</Code>", "text/xml"))
    result = checks.edge_unsigned_private_refused(fake_target(dev), trip)
    assert result.status is Status.PASS and "MissingKey" in result.detail
