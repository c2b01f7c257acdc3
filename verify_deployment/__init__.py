"""The deployment verifier (docs/deployment.md, "The verifier"; DESIGN.md decision 14).

``python -m verify_deployment --env <env> [--outputs FILE | --outputs-from-env] [--role-arn ARN]``
checks a live deployment from outside; ``--target local [--endpoints .local/endpoints.json]``
checks a running ``make local`` with the same checks and the same code. Only how the target is
found differs (``targets``): stack outputs and SigV4 with a boto3 session in AWS, endpoints.json
and the local backend key locally.

Layout, as the Lambda package's: ``model`` (the ``Target`` the checks need, ``Result``, redaction),
``targets`` (building a Target: CloudFormation, a ``cdk deploy --outputs-file``, ``FILEGATE_*``
variables, endpoints.json), ``backends`` (the thin HTTP adapters that authorise ``/backend/*``
calls), ``samples`` (files the server's content checks accept), ``checks`` (one function per
check, each returning a Result and never raising) and ``__main__`` (the command line).
"""
