"""Staking: users allocate alpha to a subnet's validators and share what the exchange's
custody position with that validator earns on chain, less a commission."""
