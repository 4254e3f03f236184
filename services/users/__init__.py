"""Accounts, roles, JWT and JWKS."""
