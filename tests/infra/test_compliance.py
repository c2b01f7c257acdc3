"""cdk-nag (five packs), cfn-lint and the CLI synthesis path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from stacks.nag import PACKS
from tests.infra.conftest import Synthesized

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["app", "variant"])
def synth(request: pytest.FixtureRequest) -> Synthesized:
    return request.getfixturevalue(request.param)


def _acknowledgements(synth: Synthesized) -> list[tuple[str, str, str]]:
    found = []
    for stack, template in synth.raw.items():
        for resource in template["Resources"].values():
            path = resource.get("Metadata", {}).get("aws:cdk:path", stack)
            for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
                found.append((path, rule["id"], rule["reason"]))
    return found


def test_every_pack_reports_no_unacknowledged_error_or_warning(synth: Synthesized) -> None:
    report = synth.validation_report
    failures = [
        (plugin["pluginName"], violation["ruleName"], [c["constructPath"] for c in violation["violatingConstructs"]])
        for plugin in report["pluginReports"] for violation in plugin.get("violations", [])
    ]
    assert failures == []


def test_acknowledgements_are_in_the_templates_narrow_and_reasoned(synth: Synthesized) -> None:
    acknowledgements = _acknowledgements(synth)
    assert acknowledgements, "write_suppressions_to_cloud_formation must put them in the templates"
    packs = Counter(rule_id.split("-")[0] for _, rule_id, _ in acknowledgements)
    assert set(packs) <= set(PACKS)
    for path, rule_id, reason in acknowledgements:
        # Narrow: one construct each (never a whole stack), a rule id that names one rule.
        assert path.count("/") >= 1, f"{rule_id} acknowledged on a whole stack"
        assert "*" not in rule_id.split("[")[0], rule_id
        assert len(reason) >= 60, f"{path} {rule_id}: reason too thin for an auditor"


def test_cfn_lint_has_no_error_and_no_warning(synth: Synthesized) -> None:
    templates = sorted(str(p) for p in synth.outdir.glob("**/*.template.json"))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", *templates],
        capture_output=True, text=True, check=False,
    )
    assert result.stdout.strip() == "" and result.returncode == 0, result.stdout + result.stderr


def test_cdk_cli_synthesizes_every_environment_without_warnings(tmp_path: Path) -> None:
    # The pinned CLI is part of the project (`make test` runs `npm ci` first): its absence is a
    # failure, never a reason to skip the one test of what pipelines actually run.
    assert shutil.which("cdk", path=str(ROOT / "node_modules" / ".bin")), \
        "node_modules/.bin/cdk is missing: run `make setup` (npm ci installs the pinned CDK CLI)"
    env = {**os.environ, "PATH": f"{ROOT / 'node_modules' / '.bin'}:{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(
        ["cdk", "synth", "--quiet", "--output", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "!!" not in output and "end-of-life" not in output, "Node version banner"
    assert "WARNING" not in output.upper().replace("WARNINGS: 0", ""), output
    # One FilegateStage per environment: its stacks in the stage's nested assembly, named as ever.
    stacks = {(manifest.parent.name, artifact["displayName"].split(" ")[0], artifact["properties"].get("stackName"))
              for manifest in tmp_path.glob("**/manifest.json")
              for artifact in json.loads(manifest.read_text())["artifacts"].values()
              if artifact["type"] == "aws:cloudformation:stack"}
    assert stacks == {(f"assembly-{env_name}", f"{env_name}/{kind}", f"Filegate{env_name}{kind}")
                      for env_name in ("Dev", "Prod") for kind in ("EdgeSecurity", "FileStore", "FileApi")}
