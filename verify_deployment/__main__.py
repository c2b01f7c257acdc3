"""``python -m verify_deployment``: check a deployment (or a local mode) from outside.

    python -m verify_deployment --env <env> [--outputs FILE | --outputs-from-env] [--role-arn ARN]
    python -m verify_deployment --target local [--endpoints .local/endpoints.json]

One line per check on stdout, ``PASS|FAIL|SKIP <check>: <detail>``, in the contract's order; a
summary on stderr. Exit 1 if any check failed, 2 for a usage or configuration error (nothing
checked), else 0.
"""

# ruff: noqa: PLC0415 (a usage error is reported before the checks' imports are paid for)

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from botocore.exceptions import BotoCoreError, ClientError

from verify_deployment.model import EXIT_FAILED, EXIT_OK, EXIT_USAGE, ConfigurationError, Result, Status, Target, redact


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m verify_deployment",
        description="Check a live filegate deployment (or a running `make local`) from outside "
                    "(docs/deployment.md, 'The verifier').")
    parser.add_argument("--target", choices=("aws", "local"), default="aws",
                        help="aws (default): a deployed environment; local: a running local mode")
    parser.add_argument("--env", help="the environment in cdk.json (required for --target aws)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--outputs", type=Path, metavar="FILE", help="read the stack outputs from a "
                        "`cdk deploy --outputs-file` JSON instead of CloudFormation")
    source.add_argument("--outputs-from-env", action="store_true",
                        help="read the stack outputs from the FILEGATE_* environment variables")
    parser.add_argument("--role-arn", help="the verifier role to assume (default: the VerifierRoleArn output)")
    parser.add_argument("--endpoints", type=Path, default=None, metavar="PATH",
                        help="--target local: the local mode's endpoints.json (default .local/endpoints.json)")
    parser.add_argument("--wait-seconds", type=float, default=None, metavar="N",
                        help="bound on each wait (a file becoming clean, an erasure): default 300 (aws), 60 (local)")
    args = parser.parse_args(argv)
    if args.target == "aws":
        if not args.env:
            parser.error("--env is required (or --target local)")
        if args.endpoints is not None:
            parser.error("--endpoints goes with --target local")
    elif args.outputs is not None or args.outputs_from_env or args.role_arn:
        parser.error("--outputs, --outputs-from-env and --role-arn go with --target aws")
    if args.wait_seconds is not None and args.wait_seconds <= 0:
        parser.error("--wait-seconds must be positive")
    return args


def build_target(args: argparse.Namespace) -> Target:
    from verify_deployment import targets

    if args.target == "local":
        return targets.target_from_local(args.endpoints or targets.DEFAULT_ENDPOINTS, env=args.env,
                                         wait_seconds=args.wait_seconds)
    return targets.target_from_aws(args.env, outputs_file=args.outputs, outputs_from_env=args.outputs_from_env,
                                   role_arn=args.role_arn, wait_seconds=args.wait_seconds)


def exit_code(results: Sequence[Result]) -> int:
    return EXIT_FAILED if any(result.status is Status.FAIL for result in results) else EXIT_OK


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None,
         make_target: Callable[[argparse.Namespace], Target] = build_target) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = parse_args(argv)  # argparse exits 2 on a usage error
    try:
        target = make_target(args)
    except (ConfigurationError, BotoCoreError, ClientError) as error:  # no outputs, no credentials, no stack
        print(f"verify_deployment: {redact(str(error))}", file=err, flush=True)
        return EXIT_USAGE
    from verify_deployment.checks import run_checks

    print(f"verifying {target.env} ({target.kind}) from {target.source}"
          + (f"; {'; '.join(target.notes)}" if target.notes else ""), file=err, flush=True)
    started = time.monotonic()

    def emit(result: Result) -> None:
        print(result.line(), file=out, flush=True)

    results = run_checks(target, emit)
    counts = {status: sum(result.status is status for result in results) for status in Status}
    print(f"{len(results)} checks in {time.monotonic() - started:.1f} s: " + ", ".join(
        f"{counts[status]} {status.value}" for status in Status), file=err, flush=True)
    return exit_code(results)


if __name__ == "__main__":
    sys.exit(main())
