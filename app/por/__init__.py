"""Proof of reserves: liabilities in a Merkle sum tree, reserves read from the chain."""
