"""The ledger: accounts per (owner, asset, kind), immutable transfers, holds, funding."""
