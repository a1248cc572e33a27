"""The custody keys: the omnibus account and every user's deposit addresses.

All sr25519, derived as substrate-interface derives secret URIs (`Keypair.create_from_uri`):

- omnibus = `<uri>//omnibus` (hard): holds the swept funds and signs withdrawals;
- deposit root = `<uri>//deposit` (hard);
- the deposit address `index` of user `user_id` = `<uri>//deposit/<user_id>/<index>`: a SOFT
  derivation, so it is computed from the deposit root's PUBLIC key alone
  (`sr25519.derive_pubkey`). The API host hands out addresses without holding any secret;
  only the signer, which sweeps deposit addresses, derives their secrets.
"""

from dataclasses import dataclass
from functools import lru_cache

import sr25519
from pydantic import SecretStr
from substrateinterface import Keypair
from substrateinterface.key import DeriveJunction

from app.chain.endpoint import is_devnet
from app.config import Settings
from app.custody.errors import CustodyNotConfigured
from app.kit.ss58 import InvalidSS58, ss58_decode, ss58_encode

DEVNET_SECRET_URI = "//Exchange"
OMNIBUS_PATH = "//omnibus"
DEPOSIT_PATH = "//deposit"


def _chain_code(junction: int) -> bytes:
    chain_code: bytes = DeriveJunction.from_derive_path(str(junction)).chain_code
    return chain_code


def derive_public(root_public: bytes, *junctions: int) -> bytes:
    """Soft-derive a child public key from a public key (no secret involved)."""
    public = root_public
    for junction in junctions:
        _, public = sr25519.derive_pubkey((_chain_code(junction), public), b"")
    return bytes(public)


def _public_key(value: str) -> bytes:
    text = value.strip()
    if text.startswith("0x") and len(text) == 66:
        return bytes.fromhex(text[2:])
    try:
        return ss58_decode(text)[1]
    except InvalidSS58 as exc:
        raise CustodyNotConfigured(f"custody_deposit_root is not a public key: {exc}") from exc


@dataclass(frozen=True, slots=True)
class CustodyKeys:
    """What every host may know: public keys and addresses."""

    deposit_root: bytes  # the deposit root's public key
    omnibus: str  # SS58

    def deposit_address(self, user_id: int, index: int) -> str:
        return ss58_encode(derive_public(self.deposit_root, user_id, index))


class CustodySigner:
    """The secret side: only where the signer runs. Derives the keypairs that sign."""

    def __init__(self, secret_uri: str) -> None:
        self._uri = secret_uri
        self.omnibus = Keypair.create_from_uri(secret_uri + OMNIBUS_PATH, ss58_format=42)
        self._deposit_root = Keypair.create_from_uri(secret_uri + DEPOSIT_PATH, ss58_format=42)

    @property
    def keys(self) -> CustodyKeys:
        return CustodyKeys(bytes(self._deposit_root.public_key), self.omnibus.ss58_address)

    @lru_cache(maxsize=4096)  # noqa: B019 - a few signers per process, kept for their life
    def deposit_keypair(self, user_id: int, index: int) -> Keypair:
        return Keypair.create_from_uri(
            f"{self._uri}{DEPOSIT_PATH}/{user_id}/{index}", ss58_format=42
        )

    def keypair_for(self, address: str, user_id: int | None, index: int | None) -> Keypair:
        if address == self.omnibus.ss58_address:
            return self.omnibus
        if user_id is None or index is None:
            raise CustodyNotConfigured(f"no key for {address}")
        keypair = self.deposit_keypair(user_id, index)
        if keypair.ss58_address != address:
            raise CustodyNotConfigured(f"the custody secret does not derive {address}")
        return keypair


def secret_uri(settings: Settings) -> SecretStr | None:
    if settings.custody_secret_uri is not None:
        return settings.custody_secret_uri
    if is_devnet(settings.chain_url) and not settings.custody_deposit_root:
        return SecretStr(DEVNET_SECRET_URI)
    return None


def load_signer(settings: Settings) -> CustodySigner | None:
    uri = secret_uri(settings)
    if uri is None:
        return None
    value = uri.get_secret_value()
    if value.startswith("/") and not is_devnet(settings.chain_url) and not _local(settings):
        # `//Name` derives from the PUBLIC development phrase: anyone could sign.
        raise CustodyNotConfigured(
            "a development secret URI (//...) on a public chain: set a real mnemonic or seed"
        )
    return _signer(value)


def _local(settings: Settings) -> bool:
    """A chain on this machine (a devnet started with `python -m app devnet`, a local node)."""
    url = settings.chain_url.lower()
    return url.startswith(("ws://127.", "ws://localhost", "ws://[::1]"))


@lru_cache(maxsize=8)
def _signer(uri: str) -> CustodySigner:
    return CustodySigner(uri)


def load_keys(settings: Settings) -> CustodyKeys:
    """The public custody keys; from the secret when this host has it (then a configured
    public value must agree with it)."""
    signer = load_signer(settings)
    if signer is not None:
        keys = signer.keys
        if settings.custody_deposit_root and _public_key(settings.custody_deposit_root) != (
            keys.deposit_root
        ):
            raise CustodyNotConfigured("custody_deposit_root does not match the custody secret")
        if settings.custody_omnibus and settings.custody_omnibus != keys.omnibus:
            raise CustodyNotConfigured("custody_omnibus does not match the custody secret")
        return keys
    if not settings.custody_deposit_root or not settings.custody_omnibus:
        raise CustodyNotConfigured(
            "custody is not configured: set EXCHANGE_CUSTODY_DEPOSIT_ROOT and "
            "EXCHANGE_CUSTODY_OMNIBUS (or the signer's EXCHANGE_CUSTODY_SECRET_URI)"
        )
    try:
        ss58_decode(settings.custody_omnibus)
    except InvalidSS58 as exc:
        raise CustodyNotConfigured(f"custody_omnibus is not an SS58 address: {exc}") from exc
    return CustodyKeys(_public_key(settings.custody_deposit_root), settings.custody_omnibus)
