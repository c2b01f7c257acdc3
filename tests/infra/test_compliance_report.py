"""The auditor's summary joins rule evaluations with the acknowledgements in the templates."""

from __future__ import annotations

from stacks.compliance_report import Evaluation, build_report, render_markdown

INFO = "The Lambda function is not VPC enabled - (Control IDs: AC-4(21), SC-7a)."


def _evaluations() -> list[Evaluation]:
    return [
        Evaluation("NIST.800.53.R5", "NIST.800.53.R5-LambdaInsideVPC", "S/Api/Upload/Resource", "NON_COMPLIANT",
                   ("NIST.800.53.R5-LambdaInsideVPC",), INFO),
        Evaluation("NIST.800.53.R5", "NIST.800.53.R5-S3BucketVersioningEnabled", "S/Storage/Files/Resource",
                   "COMPLIANT", (), "The S3 Bucket does not have versioning enabled - (Control IDs: CP-10, SI-12)."),
        Evaluation("AwsSolutions", "AwsSolutions-IAM5", "S/Api/Role/Policy/Resource", "NON_COMPLIANT",
                   ("AwsSolutions-IAM5[Resource::*]",), "The IAM entity contains wildcard permissions."),
    ]


def test_acknowledged_on_a_parent_construct_counts_for_its_resource() -> None:
    # Given an acknowledgement on the L2 construct path (CDK writes it on the L1 resource below)
    acks = {("S/Api/Upload", "NIST.800.53.R5-LambdaInsideVPC"): "no private network resource is reached"}
    # When the report is built
    report = build_report(_evaluations(), acks)
    # Then the finding is acknowledged with its reason, the IAM5 one stays open, controls are extracted
    rule = report["rules"]["NIST.800.53.R5-LambdaInsideVPC"]
    assert rule["acknowledged"] == [{"resource": "S/Api/Upload/Resource", "finding": "NIST.800.53.R5-LambdaInsideVPC",
                                     "reason": "no private network resource is reached"}]
    assert rule["controls"] == "AC-4(21), SC-7a"
    assert report["rules"]["AwsSolutions-IAM5"]["open"][0]["finding"] == "AwsSolutions-IAM5[Resource::*]"
    assert report["summary"]["NIST.800.53.R5"] == {"rules": 2, "compliant": 1, "acknowledged": 1, "open": 0}


def test_markdown_lists_controls_satisfying_resources_and_open_findings() -> None:
    markdown = render_markdown(build_report(_evaluations(), {}))
    assert "### NIST.800.53.R5-S3BucketVersioningEnabled (controls: CP-10, SI-12)" in markdown
    assert "Satisfied by: `S/Storage/Files/Resource`" in markdown
    assert "**OPEN** on `S/Api/Role/Policy/Resource` (AwsSolutions-IAM5[Resource::*])" in markdown


def test_an_acknowledgement_that_matches_no_finding_is_reported_stale() -> None:
    acks = {("S/Api/Upload", "NIST.800.53.R5-LambdaInsideVPC"): "reason",
            ("S/Storage/Logs", "Serverless-S3BucketOwnershipControls"): "reason for a rule that never fired"}
    report = build_report(_evaluations(), acks)
    assert report["stale_acknowledgements"] == [
        {"construct": "S/Storage/Logs", "finding": "Serverless-S3BucketOwnershipControls"}]
