"""Lambda SnapStart on the minting functions, and the alias ``live`` every API route invokes (issue 12).

``snap_start`` (on in prod) gives the upload and download functions ``SnapStart: PublishedVersions``;
SnapStart applies to published versions only, so each function the HTTP API invokes has a version
and an alias ``live`` on it, in every environment, and API Gateway invokes the alias, never the
bare function (``$LATEST``). The verifier is an SQS consumer (its latency is the malware scan's),
so it gets no SnapStart.
"""

from __future__ import annotations

from typing import Any

import pytest

from stacks.constructs.lifecycle import DELETIONS_HANDLER
from stacks.constructs.minting_api import DOWNLOAD_HANDLER, FILES_HANDLER, UPLOAD_HANDLER
from stacks.constructs.python_function import LIVE_ALIAS
from tests.infra.conftest import Synthesized, resources_of

KINDS = ("EdgeSecurity", "FileStore", "FileApi")
#: The functions behind the HTTP API's routes (``USER_ROUTES``/``BACKEND_ROUTES``), by handler.
API_HANDLERS = (UPLOAD_HANDLER, DOWNLOAD_HANDLER, FILES_HANDLER, DELETIONS_HANDLER)
SNAP_START_HANDLERS = {UPLOAD_HANDLER, DOWNLOAD_HANDLER}
PUBLISHED_VERSIONS = {"ApplyOn": "PublishedVersions"}
#: SnapStart's documented limit on ephemeral storage (/tmp), in MB.
SNAP_START_MAX_EPHEMERAL_MB = 512


def _templates(synth: Synthesized, env: str) -> list[dict[str, Any]]:
    """Every stack of one environment."""
    return [synth.template_json(env, kind) for kind in KINDS]


def _referenced(template: dict[str, Any], value: Any) -> tuple[str, dict[str, Any]]:
    """The resource a ``Ref`` or ``Fn::GetAtt`` names: its logical id and the resource."""
    if "Ref" in value:
        logical_id = value["Ref"]
    else:
        logical_id, _attribute = value["Fn::GetAtt"]
    return logical_id, template["Resources"][logical_id]


def _api_function_ids(template: dict[str, Any]) -> dict[str, str]:
    """Handler -> logical id of each function the HTTP API invokes (all in the API stack)."""
    found = {r["Properties"]["Handler"]: k for k, r in resources_of(template, "AWS::Lambda::Function").items()
             if r["Properties"].get("Handler") in API_HANDLERS}
    assert set(found) == set(API_HANDLERS), found
    return found


def _alias_target(template: dict[str, Any], value: Any) -> str:
    """The function logical id behind a ``live`` alias that ``value`` names; fails on anything else."""
    alias_id, alias = _referenced(template, value)
    assert alias["Type"] == "AWS::Lambda::Alias", f"{value} names a {alias['Type']}, not the alias {LIVE_ALIAS!r}"
    assert alias["Properties"]["Name"] == LIVE_ALIAS, alias_id
    function_id, function = _referenced(template, alias["Properties"]["FunctionName"])
    assert function["Type"] == "AWS::Lambda::Function", alias_id
    return function_id


# --- SnapStart --------------------------------------------------------------------------------

@pytest.mark.parametrize(("env", "expected"), [("prod", SNAP_START_HANDLERS), ("dev", set())])
def test_snap_start_is_on_exactly_the_upload_and_download_functions_in_prod(
        app: Synthesized, env: str, expected: set[str]) -> None:
    # Given every function of every stack of the environment (the verifier and sweep included)
    # When the ones with SnapStart are collected
    with_snap_start = {}
    for template in _templates(app, env):
        for function in resources_of(template, "AWS::Lambda::Function").values():
            if "SnapStart" in function["Properties"]:
                with_snap_start[function["Properties"]["Handler"]] = function["Properties"]["SnapStart"]
    # Then prod restores the minting functions from published-version snapshots, and dev none
    assert set(with_snap_start) == expected
    assert all(setting == PUBLISHED_VERSIONS for setting in with_snap_start.values())
    assert app.environments[env].config.snap_start is bool(expected)


def test_no_snap_start_function_uses_what_snap_start_does_not_support(app: Synthesized) -> None:
    # Given prod's functions with SnapStart (both minting functions; see the test above)
    template = app.template_json("prod", "FileApi")
    snap_started = {k: r["Properties"] for k, r in resources_of(template, "AWS::Lambda::Function").items()
                    if "SnapStart" in r["Properties"]}
    assert len(snap_started) == len(SNAP_START_HANDLERS)
    # When their versions and aliases are read
    published = [r["Properties"] for type_ in ("AWS::Lambda::Version", "AWS::Lambda::Alias")
                 for r in resources_of(template, type_).values()
                 if _referenced(template, r["Properties"]["FunctionName"])[0] in snap_started]
    assert published
    # Then none has provisioned concurrency, EFS, or more than 512 MB of ephemeral storage (SnapStart's
    # documented limits), and the runtime is a Python SnapStart supports (3.12 and later)
    assert all("ProvisionedConcurrencyConfig" not in properties for properties in published)
    for logical_id, properties in snap_started.items():
        assert "FileSystemConfigs" not in properties, logical_id
        assert properties.get("EphemeralStorage", {}).get("Size", 512) <= SNAP_START_MAX_EPHEMERAL_MB, logical_id
        assert properties["Runtime"] in {"python3.12", "python3.13"}, logical_id


# --- versions and the alias `live` -------------------------------------------------------------

def test_each_api_function_has_a_version_and_the_alias_live_on_it(deployment: tuple[Synthesized, str]) -> None:
    synth, env = deployment
    template = synth.template_json(env, "FileApi")
    versions = resources_of(template, "AWS::Lambda::Version")
    aliases = resources_of(template, "AWS::Lambda::Alias")
    # Given each function the HTTP API invokes (with SnapStart or without)
    for handler, function_id in _api_function_ids(template).items():
        # When its aliases are read
        (alias,) = [properties for properties in (a["Properties"] for a in aliases.values())
                    if properties["FunctionName"] == {"Ref": function_id}]
        # Then the one alias is `live`, on a version of this same function
        assert alias["Name"] == LIVE_ALIAS, handler
        version_id, attribute = alias["FunctionVersion"]["Fn::GetAtt"]
        assert attribute == "Version", handler
        version = versions[version_id]
        assert version["Properties"]["FunctionName"] == {"Ref": function_id}, handler
        # And a version the alias moved past is deleted (nothing invokes it; a SnapStart one would keep
        # its snapshot cache billed), not retained outside the stack
        assert version["DeletionPolicy"] == version["UpdateReplacePolicy"] == "Delete", handler


def test_every_integration_targets_a_live_alias_never_the_bare_function(deployment: tuple[Synthesized, str]) -> None:
    synth, env = deployment
    template = synth.template_json(env, "FileApi")
    api_functions = set(_api_function_ids(template).values())
    integrations = resources_of(template, "AWS::ApiGatewayV2::Integration")
    # Given every integration of the HTTP API (one per function, shared by its routes)
    assert len(integrations) == len(API_HANDLERS)
    # When its target is resolved / Then it is the `live` alias of an API function, each function once
    targets = [_alias_target(template, integration["Properties"]["IntegrationUri"])
               for integration in integrations.values()]
    assert sorted(targets) == sorted(api_functions)


def test_api_gateway_may_invoke_only_the_live_aliases(deployment: tuple[Synthesized, str]) -> None:
    synth, env = deployment
    api_functions = set(_api_function_ids(synth.template_json(env, "FileApi")).values())
    # Given every Lambda permission for API Gateway, in every stack of the environment
    invoked = []
    for template in _templates(synth, env):
        for permission in resources_of(template, "AWS::Lambda::Permission").values():
            properties = permission["Properties"]
            if properties["Principal"] != "apigateway.amazonaws.com":
                continue
            # Then it names a `live` alias (so only the published version can be invoked), never a function
            assert properties["Action"] == "lambda:InvokeFunction"
            invoked.append(_alias_target(template, properties["FunctionName"]))
    # And each API function's alias has one, and no other function is invocable by API Gateway
    assert set(invoked) == api_functions
