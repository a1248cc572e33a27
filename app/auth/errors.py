from app.kit.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized


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


class UnsignedParameters(BadRequest):
    """A signed request with a body also carried a query string: only the body is signed."""

    code = "unsigned_parameters"


class NonCanonicalPath(BadRequest):
    """A signed request's path is not exactly what routing matches (percent-escapes, or
    characters that the signed form of the path would spell differently)."""

    code = "non_canonical_path"


class UnexpectedBody(BadRequest):
    """A signed body set parameters on a route that reads none: they would be ignored."""

    code = "unexpected_body"


class UserExists(Conflict):
    code = "user_exists"


class UserNotFound(NotFound):
    code = "user_not_found"


class KeyNotFound(NotFound):
    code = "key_not_found"


class InvalidToken(Unauthorized):
    """Not a token this deployment issued (malformed, or its MAC does not match)."""

    code = "invalid_token"


class TokenExpired(Unauthorized):
    code = "token_expired"


class InvalidEmail(BadRequest):
    code = "invalid_email"
