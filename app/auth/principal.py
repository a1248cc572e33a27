"""Who a verified request acts as: the user, the API key and its scopes."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    api_key_id: int
    scopes: frozenset[str]
