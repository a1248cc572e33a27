"""Readiness checks. Each domain that can make the service unready registers one."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class CheckResult:
    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)


ReadinessCheck = Callable[[], Awaitable[CheckResult]]


class Readiness:
    def __init__(self) -> None:
        self._checks: dict[str, ReadinessCheck] = {}

    def register(self, name: str, check: ReadinessCheck) -> None:
        self._checks[name] = check

    async def run(self) -> tuple[bool, dict[str, Any]]:
        report: dict[str, Any] = {}
        ready = True
        for name, check in self._checks.items():
            try:
                result = await check()
            except Exception as exc:
                result = CheckResult(False, {"error": type(exc).__name__, "message": str(exc)})
            ready = ready and result.ok
            report[name] = {"ok": result.ok, **result.detail}
        return ready, report
