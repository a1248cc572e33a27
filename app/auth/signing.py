"""Kraken's request signature.

API-Sign = base64(HMAC-SHA512(base64decode(secret), path + SHA256(nonce + payload)))
"""

import base64
import hashlib
import hmac


def sign(secret_b64: str | bytes, path: str, nonce: str, payload: bytes | str) -> str:
    if isinstance(payload, str):
        payload = payload.encode()
    digest = hashlib.sha256(nonce.encode() + payload).digest()
    mac = hmac.new(base64.b64decode(secret_b64), path.encode() + digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


def signature_matches(secret: bytes, path: str, nonce: str, payload: bytes, given: str) -> bool:
    """`secret` is the raw (decoded) secret."""
    digest = hashlib.sha256(nonce.encode() + payload).digest()
    expected = hmac.new(secret, path.encode() + digest, hashlib.sha512).digest()
    try:
        provided = base64.b64decode(given, validate=True)
    except ValueError:
        return False
    return hmac.compare_digest(expected, provided)
