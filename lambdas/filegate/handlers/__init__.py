"""Thin Powertools resolvers around the domain functions."""
