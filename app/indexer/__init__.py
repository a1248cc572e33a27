"""Keeps Postgres in sync with the subnets on chain."""
