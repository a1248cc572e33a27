"""Chain access through substrate-interface, and the built-in devnet (`app.chain.devnet`)."""
