"""One exception hierarchy for the whole service, mapped to HTTP in `app.kit.http`.

Every error carries a stable machine-readable `code` (clients switch on it) and a human
`message`. Domain folders subclass these with their own codes.
"""

from typing import Any, ClassVar


class AppError(Exception):
    status_code: ClassVar[int] = 400
    code: str = "bad_request"

    def __init__(
        self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details or {}


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class Forbidden(AppError):
    status_code = 403
    code = "permission_denied"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"


class Unprocessable(AppError):
    status_code = 422
    code = "validation_error"


class RateLimited(AppError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float, code: str | None = None) -> None:
        super().__init__(message, code=code, details={"retry_after": retry_after})
        self.retry_after = retry_after


class TooManyInFlight(RateLimited):
    code = "too_many_in_flight"


class ServiceUnavailable(AppError):
    """A dependency is down or saturated: answered with `Retry-After`; nothing was done."""

    status_code = 503
    code = "service_unavailable"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float = 1,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            message, code=code, details={**(details or {}), "retry_after": retry_after}
        )
        self.retry_after = retry_after


class InternalError(AppError):
    """A bug: logged with its traceback; the client learns nothing more."""

    status_code = 500
    code = "internal_error"
