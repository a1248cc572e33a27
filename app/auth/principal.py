"""Who a verified request acts as: the user, the API key and its scopes."""

from dataclasses import dataclass, field


@dataclass(slots=True)
class NonceClaim:
    """A signed request's nonce, accepted by the authenticator's memory and still to be
    recorded (`api_key_nonces`) before the request's answer leaves: by what the request
    does, in the same transaction (the order sequencer records it in the order's group), or
    else by the authenticator (`Authenticator.settle`)."""

    key_id: int
    value: int  # on the time line of `app.auth.service.nonce_time`
    recorded: bool = False  # committed: a replay is refused by every process, for good


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    api_key_id: int
    scopes: frozenset[str]
    # The request's nonce while it is still to be recorded (`require_recording_nonce`).
    nonce: NonceClaim | None = field(default=None, compare=False)
