"""Deposits and withdrawals that changed, announced to every process (LISTEN/NOTIFY): the
WebSocket feed pushes them to their owner's `deposits` / `withdrawals` channels."""

CUSTODY_EVENTS = "custody_events"
KINDS = ("deposit", "withdrawal")


def notice(kind: str, user_id: int, row_id: int) -> str:
    return f"{kind}:{user_id}:{row_id}"


def parse_notice(payload: str) -> tuple[str, int, int] | None:
    parts = payload.split(":")
    if len(parts) != 3 or parts[0] not in KINDS:
        return None
    try:
        return parts[0], int(parts[1]), int(parts[2])
    except ValueError:
        return None
