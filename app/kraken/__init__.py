"""Kraken-compatible REST surface: adapts Kraken's requests and answers onto the native
services (orders through the sequencer, ledger balances, staking as Earn)."""
