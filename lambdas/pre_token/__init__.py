"""Cognito pre-token-generation trigger (V2): claims the access token needs."""
