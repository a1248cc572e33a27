"""Schemathesis over a real server's `/openapi.json`, signed and unsigned: no answer may be a
5xx, nor Kraken's `EGeneral:Internal error` (its envelope answers HTTP 200), and every answer
must be one the schema documents for its operation (Schemathesis' `status_code_conformance`
and `content_type_conformance` checks: the status, and its media type).

Signing is the `before_call` hook below: it puts a fresh `nonce` in the payload (a field of a
JSON object body; else a query parameter), serializes the request exactly as it will be
sent, and signs the path and that payload as `app.auth.signing` says. Which key signs (or
none) is chosen per run with `signing(...)`.

Used by `tests/fuzz/test_schemathesis.py` (a few thousand requests in the suite) and by
`scripts/fuzz` (20,000 and more).
"""

import contextlib
import itertools
import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import HypothesisException
from schemathesis import Case, GenerationMode
from schemathesis.core import NotSet
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from app.auth.signing import sign
from app.kraken.errors import INTERNAL


@dataclass(frozen=True)
class Key:
    key: str
    secret: str


@dataclass
class Signer:
    key: Key
    base_url: str
    nonces: Iterator[int] = field(
        default_factory=lambda: itertools.count(time.time_ns() // 1000 * 1000)
    )


_active: Signer | None = None  # the key signing the current run, or None (unsigned)
_scrub = False  # replace control characters and lone surrogates in generated strings


@contextlib.contextmanager
def signing(signer: Signer | None, *, scrub: bool = False) -> Iterator[None]:
    """Runs under `signer` (None: unsigned); with `scrub`, generated strings carry no control
    character nor lone surrogate, so that requests get past the middleware's text check
    (which a run without scrubbing exercises) to the routes' own validation."""
    global _active, _scrub
    previous = _active, _scrub
    _active, _scrub = signer, scrub
    try:
        yield
    finally:
        _active, _scrub = previous


_UNCLEAN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
# The same, percent-encoded (negative path parameters come encoded): C0 controls but tab,
# LF and CR, and UTF-8 encoded surrogates.
_UNCLEAN_ENCODED = re.compile(r"%(?:0[0-8BbCcEeFf]|1[0-9A-Fa-f])|%[Ee][Dd]%[AaBb][0-9A-Fa-f]")


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return _UNCLEAN.sub("x", value)
    if isinstance(value, dict):
        return {_scrubbed(k): _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v) for v in value]
    return value


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: Case, kwargs: dict[str, Any]) -> None:
    """Scrub `case` when the run scrubs; sign it as a Kraken client would when it signs."""
    if _scrub:
        case.path_parameters = {
            k: _UNCLEAN_ENCODED.sub("x", v) if isinstance(v, str) else v
            for k, v in _scrubbed(case.path_parameters or {}).items()
        }
        case.query = _scrubbed(case.query)
        if not isinstance(case.body, NotSet):
            case.body = _scrubbed(case.body)
    signer = _active
    if signer is None:
        return
    nonce = next(signer.nonces)
    has_body = not isinstance(case.body, NotSet)
    if has_body and isinstance(case.body, dict):
        case.body = {**case.body, "nonce": nonce}
    elif not has_body and (case.query is None or isinstance(case.query, dict)):
        case.query = {**(case.query or {}), "nonce": str(nonce)}
    # The request exactly as the transport will send it: the same serialization.
    wire = case.as_transport_kwargs(base_url=signer.base_url)
    prepared = requests.Request(
        method=wire["method"],
        url=wire["url"],
        params=wire.get("params"),
        data=wire.get("data"),
        json=wire.get("json"),
        headers=dict(wire.get("headers") or {}),
    ).prepare()
    url = urlsplit(prepared.url or "")
    if prepared.body:
        body = prepared.body if isinstance(prepared.body, bytes) else prepared.body.encode()
        kwargs["data"] = body  # send these very bytes
        payload = body
    else:
        payload = url.query.encode()
    path = unquote(url.path, errors="replace")  # what the server verifies
    signature = sign(signer.key.secret, path, str(nonce), payload)
    case.headers = {**(case.headers or {}), "API-Key": signer.key.key, "API-Sign": signature}


@dataclass
class Report:
    sent: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    by_code: Counter[tuple[bool, int, str]] = field(default_factory=Counter)  # signed, status
    by_operation: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    # (operation, status, media type) -> an example of an answer the schema does not document
    violations: dict[tuple[str, int, str], str] = field(default_factory=dict)
    violation_count: int = 0
    operations: int = 0
    not_generated: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.by_status.items()))
        fives = sum(v for k, v in self.by_status.items() if k >= 500)
        top = "\n".join(
            f"  {'signed  ' if signed else 'unsigned'} {status} {code}: {n}"
            for (signed, status, code), n in self.by_code.most_common(25)
        )
        return (
            f"schemathesis: {len(self.by_operation)} of {self.operations} operations, "
            f"{self.sent} requests in {self.seconds:.1f} s, {fives} 5xx, "
            f"{len(self.failures)} failures, {self.violation_count} conformance violations "
            f"(status_code_conformance, content_type_conformance) in "
            f"{len(self.violations)} (operation, status, media type); by status: {statuses}\n"
            f"most frequent answers:\n{top}"
        )


def server_error(response: requests.Response) -> str | None:
    """Why this answer shows a server-side failure, or None."""
    if response.status_code >= 500:
        return f"{response.status_code} {response.text[:300]}"
    if response.request.path_url.startswith("/0/"):
        with contextlib.suppress(ValueError):
            body = response.json()
            if isinstance(body, dict) and INTERNAL in (body.get("error") or []):
                return f"Kraken internal error: {response.text[:300]}"
    return None


CONFORMANCE = [status_code_conformance, content_type_conformance]
REVOKING = frozenset({"DELETE /v1/account/key", "POST /v1/admin/keys/{key_id}/revoke"})


def _content_type(response: Any) -> str:
    for name, value in dict(response.headers).items():
        if name.lower() == "content-type":
            value = value[0] if isinstance(value, list) else value
            return str(value).split(";")[0]
    return "-"


def operation_label(case: Case) -> str:
    return f"{case.method} {case.operation.path}"


def _code(response: requests.Response) -> str:
    """The native error code, or Kraken's first error string."""
    try:
        body = response.json()
    except ValueError:
        return "-"
    if isinstance(body, dict):
        if isinstance(body.get("code"), str):
            return str(body["code"])
        errors = body.get("error")
        if isinstance(errors, list) and errors:
            return str(errors[0])
    return "-"


def run(
    base_url: str,
    keys: list[Key | None],
    *,
    requests_wanted: int,
    examples: int = 50,
    seed_base: int = 0,
    deadline_seconds: float | None = None,
) -> Report:
    """Rounds over every operation x generation mode (positive, negative) x key (None:
    unsigned), `examples` cases each (Hypothesis may find fewer), a new seed per round: one
    full round, then until `requests_wanted` requests were sent (or the deadline passed); then, signed, the
    operations that revoke keys (`REVOKING`). Every answer also goes through the
    conformance checks (`CONFORMANCE`)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    report = Report(operations=len(operations))
    session = requests.Session()
    start = time.monotonic()

    def send(case: Case) -> None:
        response = case.call(base_url=base_url, session=session, timeout=30)
        report.sent += 1
        report.by_status[response.status_code] += 1
        report.by_code[(_active is not None, response.status_code, _code(response))] += 1
        report.by_operation[operation_label(case)] += 1
        why = server_error(response)
        if why is not None:
            report.failures.append(
                f"{case.method} {case.formatted_path}: {why}\n  {case.as_curl_command()}"
            )
        try:
            case.validate_response(response, checks=CONFORMANCE)
        except (AssertionError, BaseExceptionGroup) as exc:  # failed checks
            report.violation_count += 1
            media = _content_type(response)
            where = (operation_label(case), response.status_code, media)
            report.violations.setdefault(where, f"{exc!s:.300}\n  {case.as_curl_command()}")

    def exercise(operation: Any, mode: GenerationMode, key: Key | None, round_no: int) -> None:
        strategy = operation.as_strategy(generation_mode=mode)
        for scrub in (False, True):
            signer = Signer(key, base_url) if key is not None else None

            @settings(
                max_examples=examples,
                database=None,
                deadline=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @seed(seed_base + round_no)
            @given(case=strategy)
            def one(case: Case) -> None:
                send(case)

            with signing(signer, scrub=scrub):
                try:
                    one()
                except HypothesisException as exc:  # e.g. nothing negative to make
                    report.not_generated.append(f"{operation.label} {mode}: {exc!r:.100}")

    round_no = 0

    def done() -> bool:
        """At least one full round (every operation), then until enough were sent."""
        late = deadline_seconds is not None and time.monotonic() - start > deadline_seconds
        return round_no > 0 and (report.sent >= requests_wanted or late)

    # Operations that revoke keys run signed only once, at the end: the run's keys would
    # otherwise be revoked early and most signed requests answered `key_revoked`.
    ordinary = [op for op in operations if op.label not in REVOKING]
    revoking = [op for op in operations if op.label in REVOKING]
    while not done():
        for operation in ordinary + revoking:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                for key in keys:
                    if key is None or operation.label not in REVOKING:
                        exercise(operation, mode, key, round_no)
                    if done():
                        break
                if done():
                    break
            if done():
                break
        round_no += 1
    for operation in revoking:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for key in keys:
                if key is not None:
                    exercise(operation, mode, key, round_no)
    report.seconds = time.monotonic() - start
    return report


def dumps(report: Report) -> str:
    return json.dumps(
        {"sent": report.sent, "status": dict(report.by_status), "failures": report.failures},
        indent=2,
    )
