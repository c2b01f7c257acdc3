"""Auditor-readable compliance summary: every control, the resources that satisfy it, and why any do not.

cdk-nag 3 reports only violations. To also show what *passes*, this builds the app in-process
with each pack wrapped so every rule evaluation is recorded (resource, rule, outcome), then
joins the acknowledgements written into the synthesized templates (``Metadata.cdk_nag``).

Usage: ``python -m stacks.compliance_report cdk.out --output docs/compliance.md``
(also writes ``cdk.out/compliance-report.json``).
"""

from __future__ import annotations

import argparse
import json
import re
import tarfile
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cdk_nag
from aws_cdk import App
from cdk_nag import (
    AwsSolutionsChecks,
    HIPAASecurityChecks,
    NagPack,
    NagRuleCompliance,
    NIST80053R5Checks,
    PCIDSS321Checks,
    ServerlessChecks,
)

from stacks.app_builder import EnvironmentStacks, build_app
from stacks.config import read_context

PACK_CLASSES: tuple[type[NagPack], ...] = (
    AwsSolutionsChecks, NIST80053R5Checks, HIPAASecurityChecks, PCIDSS321Checks, ServerlessChecks,
)
_CONTROLS = re.compile(r"\(Control IDs?: (.*)\)\.?$")  # control ids nest parentheses: AC-4(21)
_APPLY_RULE = re.compile(
    r"applyRule\(\{\s*(?:ruleSuffixOverride: '(?P<suffix>[^']*)',\s*)?info: (?P<q>['\"])(?P<info>.*?)(?P=q),"
    r".*?rule: (?:\w+\.)?(?P<rule>\w+),", re.S)


@cache
def _rule_names() -> dict[str, str]:
    """info text -> rule name, read from cdk-nag's own packaged sources.

    The JS rule functions reach Python as anonymous callables, so their names (which form the
    rule ids of the NIST, HIPAA, PCI and Serverless packs) are taken from the pack sources.
    """
    tarball = next((Path(cdk_nag.__file__).parent / "_jsii").glob("*.tgz"))
    names: dict[str, str] = {}
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            if member.name.startswith("package/lib/packs/") and member.name.endswith(".js"):
                source = archive.extractfile(member)
                assert source is not None
                for match in _APPLY_RULE.finditer(source.read().decode()):
                    info = match["info"].replace("\\'", "'")
                    names[info] = match["suffix"] or match["rule"]
    return names


@dataclass(frozen=True)
class Evaluation:
    pack: str
    rule_id: str
    resource: str
    outcome: str  # COMPLIANT | NON_COMPLIANT
    findings: tuple[str, ...]
    info: str


def _recording(pack_class: type[NagPack], sink: list[Evaluation]) -> NagPack:
    class Recording(pack_class):  # type: ignore[misc, valid-type]
        def _apply_rule(self, params: Any) -> None:
            outcome = params.rule(params.node)
            pack = self.read_pack_name
            rule_id = f"{pack}-{params.rule_suffix_override or _rule_names().get(params.info, params.info)}"
            path = params.node.node.path
            if outcome == NagRuleCompliance.COMPLIANT:
                sink.append(Evaluation(pack, rule_id, path, "COMPLIANT", (), params.info))
            elif outcome == NagRuleCompliance.NON_COMPLIANT:
                sink.append(Evaluation(pack, rule_id, path, "NON_COMPLIANT", (rule_id,), params.info))
            elif isinstance(outcome, list) and outcome:
                findings = tuple(f"{rule_id}[{finding}]" for finding in outcome)
                sink.append(Evaluation(pack, rule_id, path, "NON_COMPLIANT", findings, params.info))
            super()._apply_rule(params)

    return Recording()


#: What each ``scanning`` setting means, in the words an auditor reads in the summary.
SCANNING_STATEMENTS = {
    "guardduty": (
        "Every upload is scanned for malware by Amazon GuardDuty Malware Protection for S3 before anyone but "
        "its uploader can fetch it; a file is served only with a `NO_THREATS_FOUND` verdict, and no verdict "
        "means no file."),
    "none": (
        "**No malware scan.** Uploads are NOT checked for malware in this environment: a file is served after "
        "the content checks alone (size, type, active content, image re-encoding), so a file carrying known "
        "malware that passes those checks is served."),
}


def evaluate_app() -> tuple[list[Evaluation], dict[str, str]]:
    """Build the app as ``cdk synth`` does (cdk.json context) and record every rule evaluation;
    also each environment's ``scanning`` setting."""
    evaluations: list[Evaluation] = []
    with tempfile.TemporaryDirectory() as outdir:
        app = App(context=read_context(), outdir=outdir)
        built = build_app(app)
        for pack_class in PACK_CLASSES:
            _recording(pack_class, evaluations).validate_scope(app)
    return evaluations, scanning_by_environment(built)


def scanning_by_environment(built: dict[str, EnvironmentStacks]) -> dict[str, str]:
    return {name: stacks.config.scanning for name, stacks in sorted(built.items())}


def acknowledgements(cdk_out: Path) -> dict[tuple[str, str], str]:
    """(resource path, finding id) -> reason, from every template's ``Metadata.cdk_nag``."""
    found: dict[tuple[str, str], str] = {}
    for template_path in sorted(cdk_out.glob("**/*.template.json")):  # stages: assembly-<Stage>/
        template = json.loads(template_path.read_text())
        for resource in template.get("Resources", {}).values():
            metadata = resource.get("Metadata", {})
            path = metadata.get("aws:cdk:path")
            for rule in metadata.get("cdk_nag", {}).get("rules_to_suppress", []):
                if path:
                    found[(path, rule["id"])] = rule["reason"]
    return found


def build_report(evaluations: list[Evaluation], acks: dict[tuple[str, str], str]) -> dict[str, Any]:
    rules: dict[str, dict[str, Any]] = {}
    for evaluation in evaluations:
        entry = rules.setdefault(evaluation.rule_id, {
            "pack": evaluation.pack, "controls": _controls(evaluation.info), "description": _describe(evaluation.info),
            "compliant": [], "acknowledged": [], "open": [],
        })
        if evaluation.outcome == "COMPLIANT":
            entry["compliant"].append(evaluation.resource)
            continue
        for finding in evaluation.findings:
            reason = _ack_reason(acks, evaluation.resource, finding, evaluation.rule_id)
            bucket = "acknowledged" if reason else "open"
            entry[bucket].append({"resource": evaluation.resource, "finding": finding, "reason": reason})
    used = {(f["resource"], f["finding"]) for entry in rules.values() for f in entry["acknowledged"]}
    stale = _stale(acks, used)
    summary: dict[str, dict[str, int]] = defaultdict(lambda: {"rules": 0, "compliant": 0, "acknowledged": 0, "open": 0})
    for entry in rules.values():
        pack_summary = summary[entry["pack"]]
        pack_summary["rules"] += 1
        for key in ("compliant", "acknowledged", "open"):
            pack_summary[key] += len(entry[key])
    return {"summary": dict(summary), "rules": dict(sorted(rules.items())), "stale_acknowledgements": stale}


def _stale(acks: dict[tuple[str, str], str], used: set[tuple[str, str]]) -> list[dict[str, str]]:
    """Acknowledged ids that match no finding anywhere: a rule that no longer fires, or a typo.

    (Templates carry an acknowledgement on every resource below the acknowledged construct,
    so staleness is judged per id across the app, not per resource.)
    """
    fired = {finding for _, finding in used}
    return [{"construct": path, "finding": finding} for path, finding in sorted(acks) if finding not in fired]


def _ack_reason(acks: dict[tuple[str, str], str], resource: str, finding: str, rule_id: str) -> str | None:
    # An acknowledgement on a construct covers the resources below it.
    parts = resource.split("/")
    for depth in range(len(parts), 0, -1):
        prefix = "/".join(parts[:depth])
        for candidate in (finding, rule_id):
            if (prefix, candidate) in acks:
                return acks[(prefix, candidate)]
    return None


def _controls(info: str) -> str:
    match = _CONTROLS.search(info)
    return match.group(1) if match else ""


def _describe(info: str) -> str:
    return _CONTROLS.sub("", info).replace(" - ", " ").strip().rstrip(".")


def render_markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Compliance report",
        "",
        "Generated by `make synth` (`python -m stacks.compliance_report`) from the synthesized app: every",
        "cdk-nag rule of the AwsSolutions, NIST 800-53 R5, HIPAA Security, PCI DSS 3.2.1 and Serverless packs",
        "that applies to a resource, the resources that satisfy it, and each acknowledged exception with its",
        "reason. Do not edit by hand.",
        "",
        "| pack | rules that apply | compliant resource checks | acknowledged findings | open findings |",
        "|---|---|---|---|---|",
    ]
    for pack, counts in sorted(report["summary"].items()):
        lines.append(
            f"| {pack} | {counts['rules']} | {counts['compliant']} | {counts['acknowledged']} | {counts['open']} |")
    lines += render_scanning(report.get("scanning", {}))
    by_pack: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for rule_id, entry in report["rules"].items():
        by_pack[entry["pack"]].append((rule_id, entry))
    for pack, entries in sorted(by_pack.items()):
        lines += ["", f"## {pack}", ""]
        for rule_id, entry in entries:
            controls = f" (controls: {entry['controls']})" if entry["controls"] else ""
            lines.append(f"### {rule_id}{controls}")
            lines.append(f"{entry['description']}.")
            if entry["compliant"]:
                lines.append("")
                lines.append("Satisfied by: " + ", ".join(f"`{path}`" for path in sorted(set(entry["compliant"]))))
            for finding in entry["acknowledged"]:
                lines.append("")
                lines.append(f"Acknowledged on `{finding['resource']}` ({finding['finding']}): {finding['reason']}")
            for finding in entry["open"]:
                lines.append("")
                lines.append(f"**OPEN** on `{finding['resource']}` ({finding['finding']})")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def render_scanning(scanning: dict[str, str]) -> list[str]:
    """The malware-scanning section: one plain sentence per environment (the `scanning` setting)."""
    if not scanning:
        return []
    lines = ["", "## Malware scanning", "",
             "Set per environment by `scanning` (DESIGN.md decision 9, docs/verification.md).", "",
             "| environment | scanning | what it means |", "|---|---|---|"]
    lines += [f"| {env} | `{mode}` | {SCANNING_STATEMENTS[mode]} |" for env, mode in sorted(scanning.items())]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cdk_out", type=Path)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    evaluations, scanning = evaluate_app()
    report = build_report(evaluations, acknowledgements(args.cdk_out))
    report["scanning"] = scanning
    (args.cdk_out / "compliance-report.json").write_text(json.dumps(report, indent=1) + "\n")
    args.output.write_text(render_markdown(report))
    open_findings = sum(counts["open"] for counts in report["summary"].values())
    stale = report["stale_acknowledgements"]
    print(f"compliance report: {args.output} ({open_findings} open findings, {len(stale)} stale acknowledgements)")
    for item in stale:
        print(f"  stale: {item['construct']} {item['finding']}")
    if open_findings or stale:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
