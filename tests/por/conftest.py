"""The custody devnet fixtures (tests/custody/conftest.py): a devnet with custody positions,
a wallet outside the exchange, the custody chain client, an admin and a listed subnet."""

from tests.custody.conftest import (  # noqa: F401 - fixtures, registered by import
    admin,
    custody_chain,
    devnet,
    listed,
    policy,
    wallet,
)
