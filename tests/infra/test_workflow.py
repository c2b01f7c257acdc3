"""The GitHub Actions workflow (.github/workflows/deploy.yml, docs/deployment.md "GitHub"): OIDC with
least privilege, one synthesis, deploys of that assembly gated by GitHub environments, a
pull-request diff that needs only the lookup role, a scheduled drift check; actionlint-clean."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from stacks.config import load_environment
from stacks.stage import stage_id

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "deploy.yml"
#: What a job may be granted: read the code, and ask GitHub for an OIDC token. Nothing else.
ALLOWED_PERMISSIONS = {"contents": {"read"}, "id-token": {"write"}}
AWS_KEY_INPUTS = ("aws-access-key-id", "aws-secret-access-key", "aws-session-token")
CONFIGURE_AWS = "aws-actions/configure-aws-credentials@"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
DEPLOY_JOBS = {"dev": "deploy-dev", "prod": "deploy-prod"}


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the bare key `on` as True.
    keys: dict[Any, Any] = workflow
    triggers = keys.get("on", keys.get(True))
    assert isinstance(triggers, dict), triggers
    return triggers


def _jobs(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    jobs = workflow["jobs"]
    assert isinstance(jobs, dict)
    return jobs


def _runs(job: dict[str, Any]) -> list[str]:
    return [str(step["run"]) for step in job.get("steps", []) if "run" in step]


def _uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in job.get("steps", []) if str(step.get("uses", "")).startswith(action)]


def _step_index(job: dict[str, Any], predicate: Any) -> int:
    (index,) = [i for i, step in enumerate(job["steps"]) if predicate(step)]
    return index


def _needs(job: dict[str, Any]) -> set[str]:
    needs = job.get("needs", [])
    return {needs} if isinstance(needs, str) else set(needs)


def test_it_runs_on_main_pull_requests_a_schedule_and_by_hand(workflow: dict[str, Any]) -> None:
    # Given the workflow's triggers / Then pushes to main, pull requests, a cron and dispatch start it
    triggers = _triggers(workflow)
    assert triggers["push"] == {"branches": ["main"]}
    assert "pull_request" in triggers and "workflow_dispatch" in triggers
    assert [entry["cron"] for entry in triggers["schedule"]], "a drift schedule"


def test_permissions_are_read_and_an_oidc_token_and_nothing_broader(workflow: dict[str, Any]) -> None:
    # Given every permissions block (the workflow's and each job's)
    blocks = [("workflow", workflow.get("permissions"))] + [
        (name, job["permissions"]) for name, job in _jobs(workflow).items() if "permissions" in job]
    # Then the workflow's default is read-only: a job asks for more itself
    assert workflow["permissions"] == {"contents": "read"}
    for where, block in blocks:
        # And no block is a blanket grant (write-all, read-all) or a scope beyond the two needed
        assert isinstance(block, dict), f"{where}: {block!r} is not a scoped permissions block"
        for scope, level in block.items():
            assert level in ALLOWED_PERMISSIONS.get(scope, set()), f"{where}: {scope}: {level}"
    # And every job that gets AWS credentials can ask for the OIDC token, and only those jobs
    for name, job in _jobs(workflow).items():
        has_token = job.get("permissions", workflow["permissions"]).get("id-token") == "write"
        assert has_token == bool(_uses(job, CONFIGURE_AWS)), name


def test_aws_is_reached_by_oidc_roles_only_never_stored_keys(workflow: dict[str, Any]) -> None:
    # Given the workflow's text and every configure-aws-credentials step
    text = WORKFLOW.read_text()
    # Then no secret is read at all, and no step is handed static keys
    assert "secrets." not in text
    assert "AWS_ACCESS_KEY_ID" not in text and "AWS_SECRET_ACCESS_KEY" not in text
    steps = [step for job in _jobs(workflow).values() for step in _uses(job, CONFIGURE_AWS)]
    assert steps
    for step in steps:
        inputs = step["with"]
        assert not set(AWS_KEY_INPUTS) & set(inputs), inputs
        assert inputs["role-to-assume"], step


def test_every_action_is_pinned_by_commit(workflow: dict[str, Any]) -> None:
    # Given every action a step uses / Then it is pinned by a full commit SHA (a tag can move)
    uses = [str(step["uses"]) for job in _jobs(workflow).values() for step in job.get("steps", []) if "uses" in step]
    assert uses
    assert [use for use in uses if not PINNED.match(use)] == []


def test_the_test_job_runs_make_test(workflow: dict[str, Any]) -> None:
    # Given the test job / Then it runs the whole `make test` (lint, unit, infra, e2e)
    test = _jobs(workflow)["test"]
    assert "make test" in _runs(test)
    # And on Debian with Python 3.13, where local/install.sh's packages (Debian's chromium) exist
    assert test["container"]["image"].startswith("python:3.13-bookworm")


def test_one_job_synthesizes_and_the_others_use_its_assembly(workflow: dict[str, Any]) -> None:
    jobs = _jobs(workflow)
    # Given every job's commands / Then exactly one synthesizes (make synth), after the tests
    synthesizers = [name for name, job in jobs.items()
                    if any("make synth" in run or "cdk synth" in run for run in _runs(job))]
    assert synthesizers == ["synth"]
    assert _needs(jobs["synth"]) == {"test"}
    # And it hands on cdk.out as an artifact, which every diff and deploy job downloads and uses
    (upload,) = _uses(jobs["synth"], "actions/upload-artifact@")
    for name, job in jobs.items():
        cdk_commands = [run for run in _runs(job) if re.search(r"\bcdk (deploy|diff)\b", run)]
        for run in cdk_commands:
            assert "--app cdk.out" in run, f"{name} would synthesize again: {run}"
        if cdk_commands:
            assert "synth" in _needs(job), name
            (download,) = _uses(job, "actions/download-artifact@")
            assert download["with"]["name"] == upload["with"]["name"]


def test_each_deploy_job_deploys_its_stage_from_the_assembly_and_verifies_it(workflow: dict[str, Any]) -> None:
    jobs = _jobs(workflow)
    for env, name in DEPLOY_JOBS.items():
        job = jobs[name]
        # Given an environment's deploy job / Then it runs in the GitHub environment (whose protection
        # rules gate it, and whose name is in the token's sub the deploy role trusts)
        assert job["environment"] == env
        assert job["env"]["TARGET_ENV"] == env and job["env"]["STAGE"] == stage_id(load_environment(env))
        (deploy,) = [run for run in _runs(job) if "cdk deploy" in run]
        # And it deploys that stage's stacks of the synthesized assembly, writing the outputs file
        assert "cdk deploy --app cdk.out" in deploy and '"$STAGE/*"' in deploy
        assert "--require-approval never" in deploy
        assert '--outputs-file "cdk-outputs-$TARGET_ENV.json"' in deploy
        # And it acts as the environment's deploy role, then as the verifier's role for make verify
        deploy_role, verifier_role = _uses(job, CONFIGURE_AWS)
        assert deploy_role["with"]["role-to-assume"] == "${{ vars.FILEGATE_DEPLOY_ROLE_ARN }}"
        assert verifier_role["with"]["role-to-assume"] == "${{ vars.FILEGATE_VERIFIER_ROLE_ARN }}"
        assert "role-chaining" not in verifier_role["with"], "the verifier role is assumed by web identity"
        steps = job["steps"]
        order = [steps.index(deploy_role), _step_index(job, lambda s: "cdk deploy" in s.get("run", "")),
                 steps.index(verifier_role), _step_index(job, lambda s: "make verify" in s.get("run", ""))]
        assert order == sorted(order)
        (verify,) = [run for run in _runs(job) if "make verify" in run]
        assert 'ENV="$TARGET_ENV"' in verify and 'OUTPUTS="cdk-outputs-$TARGET_ENV.json"' in verify
        (upload,) = _uses(job, "actions/upload-artifact@")
        assert upload["with"]["path"] == f"cdk-outputs-{env}.json"
        # And never from anything but main's pushes and dispatches
        assert "refs/heads/main" in job["if"] and "pull_request" not in job["if"]
        # And two deploys of one environment never overlap, nor is a running one cancelled
        assert job["concurrency"] == {"group": f"filegate-deploy-{env}", "cancel-in-progress": False}


def test_prod_is_deployed_after_dev_in_the_prod_environment(workflow: dict[str, Any]) -> None:
    # Given the prod deploy job / Then it waits for dev and runs in `prod` (required reviewers)
    prod = _jobs(workflow)["deploy-prod"]
    assert prod["environment"] == "prod"
    assert DEPLOY_JOBS["dev"] in _needs(prod)


def test_a_pull_request_gets_a_diff_that_needs_only_the_lookup_role(workflow: dict[str, Any]) -> None:
    jobs = _jobs(workflow)
    # Given the jobs that run cdk diff / Then there is one, for pull requests only
    (name,) = [name for name, job in jobs.items() if any("cdk diff" in run for run in _runs(job))]
    diff = jobs[name]
    assert "github.event_name == 'pull_request'" in diff["if"]
    # And it names no GitHub environment (its token's sub is repo:<repository>:pull_request)
    assert "environment" not in diff
    # And the template method, which reads deployed templates with the lookup role, no change set
    (run,) = [run for run in _runs(diff) if "cdk diff" in run]
    assert "--method=template" in run and "--app cdk.out" in run
    # And once per environment, acting as the diff role
    assert {entry["environment"] for entry in diff["strategy"]["matrix"]["include"]} == set(DEPLOY_JOBS)
    assert {entry["stage"] for entry in diff["strategy"]["matrix"]["include"]} == {
        stage_id(load_environment(env)) for env in DEPLOY_JOBS}
    (credentials,) = _uses(diff, CONFIGURE_AWS)
    assert "vars.FILEGATE_DIFF_ROLE_ARN" in credentials["with"]["role-to-assume"]


def test_the_schedule_runs_make_drift_in_each_environment(workflow: dict[str, Any]) -> None:
    jobs = _jobs(workflow)
    # Given the jobs that check drift / Then one, on the schedule only, running make drift
    (name,) = [name for name, job in jobs.items() if any("make drift" in run for run in _runs(job))]
    drift = jobs[name]
    assert drift["if"] == "github.event_name == 'schedule'"
    assert any('make drift ENV="$TARGET_ENV"' in run for run in _runs(drift))
    # And per environment, in that GitHub environment (so the token's sub matches its deploy role)
    assert drift["strategy"]["matrix"]["environment"] == list(DEPLOY_JOBS)
    assert drift["environment"] == "${{ matrix.environment }}"
    # And it reads with the read-only lookup role, chained from the deploy role without session tags
    deploy_role, lookup_role = _uses(drift, CONFIGURE_AWS)
    assert deploy_role["with"]["role-to-assume"] == "${{ vars.FILEGATE_DEPLOY_ROLE_ARN }}"
    assert lookup_role["with"]["role-chaining"] is True and lookup_role["with"]["role-skip-session-tagging"] is True
    assert "cdk-hnb659fds-lookup-role-" in lookup_role["with"]["role-to-assume"]
    # And the jobs that test, synthesize and deploy do not run on the schedule
    assert jobs["test"]["if"] == "github.event_name != 'schedule'"


def _actionlint() -> str:
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent))
    # Installed by `make setup` (requirements-dev.txt): its absence is a failure, not a skip.
    assert found, "actionlint is missing from the venv: run `make setup`"
    return found


def test_actionlint_accepts_the_workflow() -> None:
    # Given the workflow / When actionlint checks it (with shellcheck, where that is installed)
    result = subprocess.run([_actionlint(), "-no-color", str(WORKFLOW.relative_to(ROOT))], cwd=ROOT,
                            capture_output=True, text=True, check=False, timeout=120)
    # Then it reports nothing
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_would_refuse_a_broken_workflow(tmp_path: Path) -> None:
    # Given the workflow with an unknown job key and an undefined expression
    broken = WORKFLOW.read_text().replace("    timeout-minutes: 90\n", "    timeout-minute: 90\n", 1)
    broken = broken.replace("${{ vars.FILEGATE_AWS_REGION }}", "${{ var.FILEGATE_AWS_REGION }}", 1)
    assert broken != WORKFLOW.read_text()
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "deploy.yml").write_text(broken)
    # When actionlint checks it / Then it fails, naming both (so the test above can fail)
    result = subprocess.run([_actionlint(), "-no-color", ".github/workflows/deploy.yml"], cwd=tmp_path,
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "timeout-minute" in result.stdout and "var" in result.stdout
