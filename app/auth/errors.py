from app.kit.errors import Forbidden, Unauthorized


class MissingCredentials(Unauthorized):
    code = "missing_credentials"


class InvalidKey(Unauthorized):
    code = "invalid_key"


class KeyRevoked(Unauthorized):
    code = "key_revoked"


class InvalidSignature(Unauthorized):
    code = "invalid_signature"


class InvalidNonce(Unauthorized):
    code = "invalid_nonce"


class PermissionDenied(Forbidden):
    code = "permission_denied"
