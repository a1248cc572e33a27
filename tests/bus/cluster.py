"""Processes of a cluster for the tests: any role of `python -m app serve` on one database
and one NATS server."""

from pathlib import Path

from tests.processes import ServeProcess


class Node(ServeProcess):
    def __init__(self, role: str, database_url: str, nats_url: str, logs: Path) -> None:
        super().__init__(
            logs / f"{role}.log",
            DATABASE_URL=database_url,
            NATS_URL=nats_url,
            EXCHANGE_ROLE=role,
            EXCHANGE_INDEXER_ENABLED="false",
            EXCHANGE_CUSTODY_ENABLED="false",
            # Gateways batch book changes as docker-compose runs them (a batch = one update).
            EXCHANGE_WS_BATCH_MS="50" if role == "gateway" else "0",
        )
        self.role = role
        self.log = logs / f"{role}-{self.port}.log"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/ws"
