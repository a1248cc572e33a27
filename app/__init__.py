"""dTAO exchange: listing and trading service for Bittensor subnet tokens."""
