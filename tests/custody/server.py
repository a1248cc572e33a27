"""A real `python -m app serve` process for the custody acceptance and fault tests: its
chain is a devnet the test runs (and can stop, restart and produce blocks on), its custody
worker scans and signs with the devnet key `//Exchange`."""

from pathlib import Path

from tests.processes import ServeProcess


class CustodyServer(ServeProcess):
    def __init__(self, database_url: str, chain_url: str, log: Path, **env: str) -> None:
        defaults = dict(
            DATABASE_URL=database_url,
            CHAIN_URL=chain_url,
            EXCHANGE_INDEXER_ENABLED="true",
            EXCHANGE_INDEXER_POLL_SECONDS="0.1",
            EXCHANGE_CUSTODY_ENABLED="true",
            EXCHANGE_CUSTODY_SECRET_URI="//Exchange",
            EXCHANGE_CUSTODY_POLL_SECONDS="0.1",
            EXCHANGE_CUSTODY_ERA_PERIOD="16",
            EXCHANGE_LISTING_MIN_AGE_BLOCKS="0",
            EXCHANGE_LISTING_MIN_POOL_RAO="0",
        )
        super().__init__(log, **{**defaults, **env})
