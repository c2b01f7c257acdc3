"""Deploy-time custom resource: a KMS key's public half, as the PEM CloudFront wants."""
