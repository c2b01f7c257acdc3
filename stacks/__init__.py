"""filegate's CDK stacks, their constructs and the environment configuration."""
