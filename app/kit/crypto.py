"""Encryption of secrets at rest with the server key."""

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from app.config import Settings


def load_server_key(settings: Settings) -> bytes:
    """The configured key, or one generated on first use and kept beside the embedded data."""
    if settings.secret_key:
        return settings.secret_key.encode()
    path: Path = settings.data_dir / "server.key"
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def open(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as exc:  # wrong server key: a configuration error, not a client one
            raise RuntimeError(
                "cannot decrypt an API secret: is EXCHANGE_SECRET_KEY right?"
            ) from exc
