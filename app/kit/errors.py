"""One exception hierarchy for the whole service, mapped to HTTP in `app.kit.http`.

Every error carries a stable machine-readable `code` (clients switch on it) and a human
`message`. Domain folders subclass these, one class per code (a code is never chosen at a
raise site), so the full set of codes is enumerable (`all_codes`).
"""

from typing import Any, ClassVar


class AppError(Exception):
    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "error"  # every raised error is of a subclass with its own code

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


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

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, details={"retry_after": retry_after})
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
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details={**(details or {}), "retry_after": retry_after})
        self.retry_after = retry_after


class InternalError(AppError):
    """A bug: logged with its traceback; the client learns nothing more."""

    status_code = 500
    code = "internal_error"


def all_codes() -> dict[str, type[AppError]]:
    """Every error code of the service (of the classes imported so far) and its class."""
    out: dict[str, type[AppError]] = {}
    todo: list[type[AppError]] = [AppError]
    while todo:
        cls = todo.pop()
        out.setdefault(cls.code, cls)
        todo.extend(cls.__subclasses__())
    return out
