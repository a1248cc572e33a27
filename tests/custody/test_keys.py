"""Custody keys: deposit addresses from the deposit root's PUBLIC key equal what the secret
derives; what an API host without the secret needs; refusals of unsafe secrets."""

import pytest
from substrateinterface import Keypair

from app.config import Settings
from app.custody.errors import CustodyNotConfigured
from app.custody.keys import CustodySigner, load_keys, load_signer
from app.kit.ss58 import ss58_encode

MNEMONIC = Keypair.generate_mnemonic(24)


@pytest.mark.parametrize("uri", [MNEMONIC, "//Exchange"])
def test_public_derivation_equals_the_secret_one(uri: str) -> None:
    signer = CustodySigner(uri)
    keys = signer.keys
    for user_id, index in ((1, 0), (1, 1), (42, 0), (10**12, 7)):
        expected = Keypair.create_from_uri(f"{uri}//deposit/{user_id}/{index}").ss58_address
        assert keys.deposit_address(user_id, index) == expected
        assert signer.deposit_keypair(user_id, index).ss58_address == expected
    assert keys.omnibus == Keypair.create_from_uri(f"{uri}//omnibus").ss58_address
    assert len({keys.deposit_address(u, 0) for u in range(50)}) == 50


def test_an_api_host_needs_only_public_values() -> None:
    keys = CustodySigner(MNEMONIC).keys
    public = Settings(
        chain_url="wss://entrypoint-finney.opentensor.ai:443",
        custody_deposit_root=ss58_encode(keys.deposit_root),
        custody_omnibus=keys.omnibus,
    )
    assert load_signer(public) is None
    assert load_keys(public) == keys
    hexed = Settings(
        chain_url="wss://x",
        custody_deposit_root="0x" + keys.deposit_root.hex(),
        custody_omnibus=keys.omnibus,
    )
    assert load_keys(hexed).deposit_address(3, 0) == keys.deposit_address(3, 0)
    # A public value that does not match the secret is refused.
    mismatched = Settings(
        chain_url="wss://x", custody_secret_uri=MNEMONIC, custody_omnibus=ss58_encode(bytes(32))
    )
    with pytest.raises(CustodyNotConfigured):
        load_keys(mismatched)


def test_unsafe_or_missing_secrets() -> None:
    with pytest.raises(CustodyNotConfigured):  # the public development phrase on finney
        load_signer(
            Settings(
                chain_url="wss://entrypoint-finney.opentensor.ai:443",
                custody_secret_uri="//Exchange",
            )
        )
    assert (
        load_signer(Settings(chain_url="wss://x", custody_secret_uri="  ")) is None
    )  # empty: unset
    with pytest.raises(CustodyNotConfigured):  # nothing configured on a real chain
        load_keys(Settings(chain_url="wss://x"))
    assert load_signer(Settings(chain_url="devnet")) is not None  # the devnet's own key
    assert (
        load_signer(Settings(chain_url="ws://127.0.0.1:9944", custody_secret_uri="//Exchange"))
        is not None
    )
