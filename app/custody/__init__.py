"""On-chain custody: deposit addresses, the deposit scanner, withdrawal addresses and
withdrawals, the signer and the sweeper, and the reconciliation of custody with the chain."""
