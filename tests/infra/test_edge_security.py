"""The CLOUDFRONT-scope WebACL in us-east-1 (docs/front-door.md, "WAF rules"), its redacted logging, and
the SSM parameters that publish its ARN and the certificate's."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import pytest
from aws_cdk.assertions import Match

from tests.infra.conftest import Synthesized


def _web_acl(synth: Synthesized, env: str) -> dict[str, Any]:
    template = synth.template_json(env, "EdgeSecurity")
    (acl,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::WAFv2::WebACL"]
    return acl


def test_edge_stack_lives_in_us_east_1(app: Synthesized) -> None:
    for env in ("dev", "prod"):
        assert app.environments[env].edge.region == "us-east-1"
        assert app.environments[env].store.region == app.environments[env].config.region


def test_webacl_counts_with_the_managed_rule_groups_and_blocks_on_their_labels(app: Synthesized) -> None:
    for env in ("dev", "prod"):
        # Given the WebACL
        acl = _web_acl(app, env)
        assert acl["Scope"] == "CLOUDFRONT"
        assert acl["DefaultAction"] == {"Allow": {}}
        # Then the rule table is docs/front-door.md's, in its order
        rules = {rule["Name"]: rule for rule in acl["Rules"]}
        assert [(rule["Priority"], rule["Name"]) for rule in acl["Rules"]] == [
            (5, "BackendNotThroughCloudFront"), (10, "AWSManagedRulesCommonRuleSet"),
            (20, "AWSManagedRulesKnownBadInputsRuleSet"), (30, "AWSManagedRulesAmazonIpReputationList"),
            (40, "BlockManagedMatchesOnApi"),
            (41, "BlockManagedMatches"), (50, "ApiBodySize"), (60, "ApiRatePerIp"), (70, "RatePerIp")]
        # And the managed groups only count (they label; our rules decide), AWS's groups, unversioned
        for name in ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet",
                     "AWSManagedRulesAmazonIpReputationList"):
            assert rules[name]["OverrideAction"] == {"Count": {}}
            statement = rules[name]["Statement"]["ManagedRuleGroupStatement"]
            assert (statement["VendorName"], statement["Name"]) == ("AWS", name) and "Version" not in statement
            # And inside the core rule set the body-size rule counts too (non-terminating), so that an
            # oversized body is still inspected by every core rule after it
            expected = ([{"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}]
                        if name == "AWSManagedRulesCommonRuleSet" else None)
            assert statement.get("RuleActionOverrides") == expected, name
        # And every other rule blocks
        for name in ("BackendNotThroughCloudFront", "BlockManagedMatchesOnApi", "BlockManagedMatches", "ApiBodySize",
                     "ApiRatePerIp", "RatePerIp"):
            assert set(rules[name]["Action"]) == {"Block"}, name


def test_waf_logs_redact_signatures_and_credentials(app: Synthesized) -> None:
    template = app.template("prod", "EdgeSecurity")
    template.has_resource_properties("AWS::WAFv2::LoggingConfiguration", {
        "RedactedFields": Match.array_with([
            {"QueryString": {}}, {"SingleHeader": {"Name": "authorization"}}, {"SingleHeader": {"Name": "cookie"}},
        ]),
    })
    template.has_resource_properties("AWS::Logs::LogGroup", {
        "LogGroupName": "aws-waf-logs-filegate-prod", "RetentionInDays": 365,
        "KmsKeyId": Match.any_value(),
    })


# --- the front door's rules, evaluated (docs/front-door.md, "WAF rules") --------------------------
# A small evaluator of the statements the WebACL uses, written from the AWS WAF Developer Guide
# (label match, string match, size constraint, logical statements): the tests below give it the
# labels AWS's managed groups add (their documented names) and check which rule decides.

CRS = "awswaf:managed:aws:core-rule-set:"
KBI = "awswaf:managed:aws:known-bad-inputs:"
IP_LIST = "awswaf:managed:aws:amazon-ip-list:"
SIZE_BODY = CRS + "SizeRestrictions_Body"
#: What WAF inspects of a body behind CloudFront by default; beyond it, oversize handling decides.
CLOUDFRONT_BODY_LIMIT = 16 * 1024


@dataclass(frozen=True)
class Request:
    path: str
    labels: frozenset[str] = frozenset()
    body_bytes: int = 0


def _byte_match(spec: dict[str, Any], request: Request) -> bool:
    assert spec["FieldToMatch"] == {"UriPath": {}} and spec["PositionalConstraint"] == "STARTS_WITH"
    # (decoded and normalised, so that `/%61pi/` and `//api/` are the API's too, as CloudFront routes them)
    assert spec["TextTransformations"] == [{"Priority": 0, "Type": "URL_DECODE"},
                                           {"Priority": 1, "Type": "NORMALIZE_PATH"}]
    return _waf_normalised(request.path).startswith(spec["SearchString"])


def _waf_normalised(path: str) -> str:
    """WAF's URL_DECODE then NORMALIZE_PATH, as the WAF guide describes them (written here, not
    taken from the stacks): percent-decoding, then repeated slashes, `./` and `../` removed."""
    decoded = unquote(path)
    segments: list[str] = []
    for segment in re.sub(r"/{2,}", "/", decoded).split("/"):
        if segment == ".":
            continue
        if segment == "..":
            if len(segments) > 1:
                segments.pop()
            continue
        segments.append(segment)
    return "/".join(segments) or "/"


def _label_match(spec: dict[str, Any], request: Request) -> bool:
    if spec["Scope"] == "LABEL":
        return spec["Key"] in request.labels
    assert spec["Scope"] == "NAMESPACE" and spec["Key"].endswith(":")
    return any(label.startswith(spec["Key"]) for label in request.labels)


def _size_constraint(spec: dict[str, Any], request: Request) -> bool:
    # Past what WAF inspects, the oversize handling decides (MATCH: larger than any allowed size).
    assert spec["FieldToMatch"] == {"Body": {"OversizeHandling": "MATCH"}} and spec["ComparisonOperator"] == "GT"
    return request.body_bytes > CLOUDFRONT_BODY_LIMIT or request.body_bytes > spec["Size"]


def _matches(statement: dict[str, Any], request: Request) -> bool:
    ((kind, spec),) = statement.items()
    evaluate = {
        "AndStatement": lambda: all(_matches(nested, request) for nested in spec["Statements"]),
        "OrStatement": lambda: any(_matches(nested, request) for nested in spec["Statements"]),
        "NotStatement": lambda: not _matches(spec["Statement"], request),
        "ByteMatchStatement": lambda: _byte_match(spec, request),
        "LabelMatchStatement": lambda: _label_match(spec, request),
        "SizeConstraintStatement": lambda: _size_constraint(spec, request),
    }
    if kind not in evaluate:
        raise NotImplementedError(kind)
    return bool(evaluate[kind]())


def _negations(statement: Any) -> Any:
    """Every statement a NotStatement negates, anywhere below ``statement``."""
    if isinstance(statement, dict):
        for key, value in statement.items():
            if key == "NotStatement":
                yield value["Statement"]
            yield from _negations(value)
    elif isinstance(statement, list):
        for item in statement:
            yield from _negations(item)


#: Each managed group's namespace; rules that only count by AWS's own default (IP reputation group).
GROUP_NAMESPACES = {"AWSManagedRulesCommonRuleSet": CRS, "AWSManagedRulesKnownBadInputsRuleSet": KBI,
                    "AWSManagedRulesAmazonIpReputationList": IP_LIST}
COUNT_BY_DEFAULT = {IP_LIST + "AWSManagedIPDDoSList"}


def _possible(acl: dict[str, Any], request: Request) -> bool:
    """Whether WAF could label ``request`` so: a group, even counted as a whole, stops at its first
    matching blocking rule, so it adds at most one label of a blocking rule; rules the template
    overrides to Count inside the group (case-insensitively, rule name vs label) are not blocking."""
    for rule in acl["Rules"]:
        statement = rule["Statement"].get("ManagedRuleGroupStatement")
        if statement is None:
            continue
        namespace = GROUP_NAMESPACES[statement["Name"]]
        counted = {override["Name"].lower() for override in statement.get("RuleActionOverrides") or []
                   if override["ActionToUse"] == {"Count": {}}}
        blocking = [label for label in request.labels if label.startswith(namespace)
                    and label not in COUNT_BY_DEFAULT and label[len(namespace):].lower() not in counted]
        if len(blocking) > 1:
            return False
    return True


def _deciding_rule(acl: dict[str, Any], request: Request) -> str | None:
    """The first blocking label or size rule that matches (the rate rules need a rate: see below)."""
    assert _possible(acl, request), f"WAF cannot label a request {sorted(request.labels)}"
    for rule in sorted(acl["Rules"], key=lambda r: r["Priority"]):
        statement = rule["Statement"]
        if "ManagedRuleGroupStatement" in statement or "RateBasedStatement" in statement:
            continue
        if _matches(statement, request):
            return str(rule["Name"])
    return None


# (request, deciding rule) with the default API body limit (8192 bytes)
DEFAULT_LIMIT_CASES = [
    # The backend routes never pass the distribution (IAM-only on execute-api), however encoded
    (Request("/api/backend/uploads", body_bytes=300), "BackendNotThroughCloudFront"),
    (Request("/api/%62ackend/downloads"), "BackendNotThroughCloudFront"),
    (Request("//api/backend/files"), "BackendNotThroughCloudFront"),
    (Request("/api/backendish"), None),
    (Request("/api/uploads", body_bytes=300), None),
    (Request("/api/uploads", body_bytes=8192), None),
    # The one exclusion: the core rule set's 8 KB verdict on /api/ is ApiBodySize's 413 instead
    (Request("/api/uploads", frozenset({SIZE_BODY}), 9000), "ApiBodySize"),
    (Request("/api/uploads", body_bytes=8193), "ApiBodySize"),
    # ... and it switches nothing else off: another core label, bad inputs or a bad IP still block
    (Request("/api/uploads", frozenset({SIZE_BODY, CRS + "CrossSiteScripting_Body"}), 9000),
     "BlockManagedMatchesOnApi"),
    (Request("/api/uploads", frozenset({SIZE_BODY, IP_LIST + "AWSManagedIPReputationList"}), 9000),
     "BlockManagedMatchesOnApi"),
    (Request("/api/uploads", frozenset({SIZE_BODY, KBI + "Log4JRCE_Body"}), 9000), "BlockManagedMatchesOnApi"),
    (Request("/api/files", frozenset({CRS + "CrossSiteScripting_QueryArguments"})), "BlockManagedMatchesOnApi"),
    (Request("/api/files", frozenset({CRS + "ARuleAwsAddsLater_URIPath"})), "BlockManagedMatchesOnApi"),
    (Request("/api/downloads", frozenset({KBI + "JavaDeserializationRCE_Header"})), "BlockManagedMatchesOnApi"),
    (Request("/api/downloads", frozenset({IP_LIST + "AWSManagedIPReputationList"})), "BlockManagedMatchesOnApi"),
    (Request("/api/downloads", frozenset({IP_LIST + "AWSManagedReconnaissanceList"})), "BlockManagedMatchesOnApi"),
    # The IP reputation group's DDoS list only counts (its own default)
    (Request("/api/downloads", frozenset({IP_LIST + "AWSManagedIPDDoSList"})), None),
    (Request("/private/users/u/cv/f.pdf", frozenset({IP_LIST + "AWSManagedIPDDoSList"})), None),
    # Files: every blocking label blocks, the body-size one included (CloudFront's plain 403)
    (Request("/private/users/u/cv/f.pdf", frozenset({SIZE_BODY}), 9000), "BlockManagedMatches"),
    (Request("/public/marketing/a.png", frozenset({KBI + "Host_Localhost_Header"})), "BlockManagedMatches"),
    (Request("/public/marketing/a.png", frozenset({IP_LIST + "AWSManagedReconnaissanceList"})), "BlockManagedMatches"),
    # Only /api/ is the API: neither a longer name nor the bare prefix, nor a body limit on files
    (Request("/apiary/x", frozenset({SIZE_BODY}), 9000), "BlockManagedMatches"),
    (Request("/api", frozenset({SIZE_BODY}), 9000), "BlockManagedMatches"),
    (Request("/private/users/u/cv/f.pdf", body_bytes=20000), None),
]


@pytest.mark.parametrize(("request_", "rule"), DEFAULT_LIMIT_CASES,
                         ids=[f"{r.path}-{sorted(r.labels)}-{r.body_bytes}" for r, _ in DEFAULT_LIMIT_CASES])
def test_the_rule_that_decides_each_request(app: Synthesized, request_: Request, rule: str | None) -> None:
    for env in ("dev", "prod"):
        assert _deciding_rule(_web_acl(app, env), request_) == rule, env


def test_with_the_whole_inspectable_body_allowed_core_rules_still_block_large_api_bodies(
        variant: Synthesized) -> None:
    # Given an API body limit of 16 KB (the most WAF inspects behind CloudFront)
    acl = _web_acl(variant, "edge")
    assert variant.environments["edge"].config.waf_api_max_body_bytes == CLOUDFRONT_BODY_LIMIT
    # Then a 12 KB body passes though the core rule set labels it oversized, unless it also matches
    # another core rule; past the inspectable size it is refused as too large
    assert _deciding_rule(acl, Request("/api/uploads", frozenset({SIZE_BODY}), 12000)) is None
    assert _deciding_rule(acl, Request("/api/uploads", frozenset({SIZE_BODY, CRS + "GenericLFI_Body"}), 12000)) == \
        "BlockManagedMatchesOnApi"
    assert _deciding_rule(acl, Request("/api/uploads", frozenset({SIZE_BODY}), CLOUDFRONT_BODY_LIMIT + 1)) == \
        "ApiBodySize"


def test_the_exclusion_is_one_visible_statement(app: Synthesized, variant: Synthesized) -> None:
    for synth, env in ((app, "dev"), (app, "prod"), (variant, "edge")):
        rules = {rule["Name"]: rule for rule in _web_acl(synth, env)["Rules"]}
        text = json.dumps(rules)
        # Given the body-size label / Then it appears once in the whole WebACL: negated, on /api/ only
        assert text.count(f'"{SIZE_BODY}"') == 1
        negated = list(_negations(rules["BlockManagedMatchesOnApi"]["Statement"]))
        assert negated == [{"LabelMatchStatement": {"Scope": "LABEL", "Key": SIZE_BODY}}]
        # And nothing refers to the DDoS list, which only counts
        assert "AWSManagedIPDDoSList" not in text


def test_the_rate_rules_split_the_paths_between_the_api_and_the_files(app: Synthesized,
                                                                      variant: Synthesized) -> None:
    for synth, env in ((app, "dev"), (app, "prod"), (variant, "edge")):
        config = synth.environments[env].config
        rules = {rule["Name"]: rule for rule in _web_acl(synth, env)["Rules"]}
        api, files = (rules[name]["Statement"]["RateBasedStatement"] for name in ("ApiRatePerIp", "RatePerIp"))
        # Given each rate rule / Then it counts per IP over 5 minutes up to its configured limit
        assert (api["Limit"], files["Limit"]) == (config.waf_api_rate_limit, config.waf_rate_limit)
        for rate in (api, files):
            assert (rate["AggregateKeyType"], rate["EvaluationWindowSec"]) == ("IP", 300)
        # And counts only its paths: /api/ for the API's, everything else for the files'
        # (including every encoding CloudFront would route to its api/* behaviour)
        for path, on_api in (("/api/uploads", True), ("/api/backend/uploads", True), ("/private/a.pdf", False),
                             ("/public/a.png", False), ("/apiary", False), ("/", False), ("/%61pi/uploads", True),
                             ("//api/uploads", True), ("/public/../api/uploads", True), ("/%2561pi/x", False)):
            assert _matches(api["ScopeDownStatement"], Request(path)) is on_api, path
            assert _matches(files["ScopeDownStatement"], Request(path)) is not on_api, path


def test_api_refusals_are_the_contracts_json_and_file_refusals_cloudfronts(app: Synthesized,
                                                                          variant: Synthesized) -> None:
    from filegate.domain.front_door import WAF_RESPONSES, waf_response_body

    expected = {"BlockManagedMatchesOnApi": (403, "request_blocked"), "ApiBodySize": (413, "request_too_large"),
                "ApiRatePerIp": (429, "rate_limited")}
    for synth, env in ((app, "dev"), (app, "prod"), (variant, "edge")):
        acl = _web_acl(synth, env)
        rules = {rule["Name"]: rule for rule in acl["Rules"]}
        bodies = acl["CustomResponseBodies"]
        # Given each API rule / Then it answers its status with the JSON body of WAF_RESPONSES
        used = set()
        for name, (status, code) in expected.items():
            response = rules[name]["Action"]["Block"]["CustomResponse"]
            key = response["CustomResponseBodyKey"]
            used.add(key)
            assert response["ResponseCode"] == status == WAF_RESPONSES[key].status, name
            assert bodies[key] == {"ContentType": "APPLICATION_JSON", "Content": waf_response_body(key)}, name
            assert json.loads(bodies[key]["Content"]) == {"error": {"code": code,
                                                                    "message": WAF_RESPONSES[key].message}}
        # And the file rules block with CloudFront's own 403; no body is defined that no rule sends
        assert rules["BlockManagedMatches"]["Action"] == rules["RatePerIp"]["Action"] == {"Block": {}}
        assert set(bodies) == used == set(WAF_RESPONSES)


def test_api_body_size_is_the_configured_limit(app: Synthesized, variant: Synthesized) -> None:
    for synth, env in ((app, "dev"), (app, "prod"), (variant, "edge")):
        config = synth.environments[env].config
        rules = {rule["Name"]: rule for rule in _web_acl(synth, env)["Rules"]}
        (_, size) = rules["ApiBodySize"]["Statement"]["AndStatement"]["Statements"]
        assert size["SizeConstraintStatement"]["Size"] == config.waf_api_max_body_bytes


#: WCUs per statement, from the AWS WAF Developer Guide: the managed groups' published capacities
#: (Baseline and IP reputation rule groups), "Using match rule statements" (label match 1, size
#: constraint 1, string match "starts with" 2, each text transformation but NONE +10), logical
#: statements (the sum of their nested statements) and the rate-based statement (2 plus its
#: scope-down statement).
MANAGED_GROUP_WCU = {"AWSManagedRulesCommonRuleSet": 700, "AWSManagedRulesKnownBadInputsRuleSet": 200,
                     "AWSManagedRulesAmazonIpReputationList": 25}
#: The capacity the basic WebACL price includes.
WCU_INCLUDED = 1500


def _wcu(statement: dict[str, Any]) -> int:
    ((kind, spec),) = statement.items()
    transformations = 10 * sum(1 for t in spec.get("TextTransformations", []) if t["Type"] != "NONE")
    if kind == "ByteMatchStatement":
        assert spec["PositionalConstraint"] in ("STARTS_WITH", "EXACTLY", "ENDS_WITH")
    cost = {
        "ManagedRuleGroupStatement": lambda: MANAGED_GROUP_WCU[spec["Name"]],
        "AndStatement": lambda: sum(_wcu(nested) for nested in spec["Statements"]),
        "OrStatement": lambda: sum(_wcu(nested) for nested in spec["Statements"]),
        "NotStatement": lambda: _wcu(spec["Statement"]),
        "RateBasedStatement": lambda: 2 + (_wcu(spec["ScopeDownStatement"]) if "ScopeDownStatement" in spec else 0),
        "LabelMatchStatement": lambda: 1,
        "SizeConstraintStatement": lambda: 1 + transformations,
        "ByteMatchStatement": lambda: 2 + transformations,
    }
    if kind not in cost:
        raise NotImplementedError(kind)
    return int(cost[kind]())


def test_the_webacl_stays_within_the_capacity_its_price_includes(app: Synthesized, variant: Synthesized) -> None:
    for synth, env in ((app, "dev"), (app, "prod"), (variant, "edge")):
        rules = {rule["Name"]: _wcu(rule["Statement"]) for rule in _web_acl(synth, env)["Rules"]}
        # Then: 925 for the managed groups, 167 for ours (each path match 2 + 20 for its two transformations;
        # 5: 22, 40: 48, 41: 26, 50: 23, 60: 24, 70: 24)
        assert rules == {**MANAGED_GROUP_WCU, "BackendNotThroughCloudFront": 22, "BlockManagedMatchesOnApi": 48,
                         "BlockManagedMatches": 26, "ApiBodySize": 23, "ApiRatePerIp": 24, "RatePerIp": 24}
        assert sum(rules.values()) == 1092 <= WCU_INCLUDED


def test_the_webacl_takes_its_configured_name_and_is_kept_when_replaced(app: Synthesized,
                                                                         variant: Synthesized) -> None:
    for synth, env in ((app, "dev"), (app, "prod"), (variant, "edge")):
        template = synth.template_json(env, "EdgeSecurity")
        ((acl_id, acl),) = [(k, r) for k, r in template["Resources"].items() if r["Type"] == "AWS::WAFv2::WebACL"]
        # Given a rename (a replacement) / Then CloudFormation keeps the old WebACL, which the
        # distribution still uses while this stack cleans up, and deletes it with the stack only where
        # the environment throws everything away
        assert acl["Properties"]["Name"] == synth.environments[env].config.web_acl_name
        assert acl["UpdateReplacePolicy"] == "Retain"
        assert acl["DeletionPolicy"] == ("Delete" if env == "dev" else "Retain")
        # And its ARN is written to the SSM parameter the file store stack reads (never exported)
        (parameter,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::SSM::Parameter"
                        and r["Properties"]["Name"].endswith("/edge/web-acl-arn")]
        assert parameter["Name"] == synth.environments[env].config.web_acl_arn_parameter
        assert parameter["Value"] == {"Fn::GetAtt": [acl_id, "Arn"]} and parameter["Type"] == "String"
    assert _web_acl(variant, "edge")["Name"] == "filegate_edge-acl"


def test_the_certificate_is_kept_when_replaced_and_published_as_a_parameter(variant: Synthesized) -> None:
    template = variant.template_json("edge", "EdgeSecurity")
    ((certificate_id, certificate),) = [(k, r) for k, r in template["Resources"].items()
                                        if r["Type"] == "AWS::CertificateManager::Certificate"]
    assert certificate["UpdateReplacePolicy"] == "Retain"
    (parameter,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::SSM::Parameter"
                    and r["Properties"]["Name"] == variant.environments["edge"].config.certificate_arn_parameter]
    assert parameter["Name"] == "/filegate-edge/edge/certificate-arn"
    assert parameter["Value"] == {"Ref": certificate_id}
