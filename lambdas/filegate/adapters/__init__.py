"""AWS-facing pieces built once per execution environment: presigner, signers, signature cache."""
