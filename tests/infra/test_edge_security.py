"""The CLOUDFRONT-scope WebACL in us-east-1 and its redacted logging."""

from __future__ import annotations

from aws_cdk.assertions import Match

from tests.infra.conftest import Synthesized


def test_edge_stack_lives_in_us_east_1(app: Synthesized) -> None:
    for env in ("dev", "prod"):
        assert app.environments[env].edge.region == "us-east-1"
        assert app.environments[env].store.region == app.environments[env].config.region


def test_webacl_has_managed_rule_groups_and_a_per_ip_rate_limit(app: Synthesized) -> None:
    config = app.environments["prod"].config
    template = app.template_json("prod", "EdgeSecurity")
    (acl,) = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::WAFv2::WebACL"]
    assert acl["Scope"] == "CLOUDFRONT"
    assert acl["DefaultAction"] == {"Allow": {}}
    managed = {r["Statement"]["ManagedRuleGroupStatement"]["Name"] for r in acl["Rules"]
               if "ManagedRuleGroupStatement" in r["Statement"]}
    assert managed == {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet",
                       "AWSManagedRulesAmazonIpReputationList"}
    (rate,) = [r for r in acl["Rules"] if "RateBasedStatement" in r["Statement"]]
    assert rate["Statement"]["RateBasedStatement"] == {"Limit": config.waf_rate_limit, "AggregateKeyType": "IP",
                                                       "EvaluationWindowSec": 300}
    assert rate["Action"] == {"Block": {}}
    assert len({r["Priority"] for r in acl["Rules"]}) == len(acl["Rules"])


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
