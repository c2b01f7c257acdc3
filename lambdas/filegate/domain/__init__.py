"""Pure functions: rules, keys, upload policies, CloudFront policies. No boto3, no event shapes."""
