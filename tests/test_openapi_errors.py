"""`/openapi.json` documents every operation's error answers: status, media type, body and
the stable codes (a real server is checked against it by `tests/fuzz/`, with Schemathesis'
`status_code_conformance` and `content_type_conformance`)."""

from typing import Any

from app.config import Settings
from app.kit.errors import all_codes
from app.kit.openapi import PROBLEM_JSON
from app.main import create_app


def _response(spec: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in answer:
        return spec["components"]["responses"][answer["$ref"].rsplit("/", 1)[-1]]
    return answer


def test_every_operation_documents_its_error_answers(settings: Settings) -> None:
    spec = create_app(settings).openapi()
    operations = [
        (method.upper(), path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
    ]
    assert len(operations) > 70
    for method, path, op in operations:
        answers = {int(s): _response(spec, a) for s, a in op["responses"].items()}
        where = f"{method} {path}"
        if path.startswith("/0/"):  # Kraken's envelope: HTTP 200, or 503 while unavailable
            assert set(answers) == {200, 503}, where
            assert "application/json" in answers[503]["content"], where
            continue
        errors = {s: a for s, a in answers.items() if s >= 400}
        assert {400, 413, 415, 429, 503} <= set(errors), where  # the middleware's, anywhere
        for status, answer in errors.items():
            if path == "/ready" and status == 503:
                assert "application/json" in answer["content"]  # its own report
                continue
            schema = answer["content"][PROBLEM_JSON]["schema"]
            assert schema == {"$ref": "#/components/schemas/Problem"}, (where, status)
        if op.get("parameters") or "requestBody" in op:
            assert 422 in errors, where
        if any(p["in"] == "path" for p in op.get("parameters", [])):
            assert 404 in errors, where
    signed = {
        f"{m.upper()} {p}"
        for p, item in spec["paths"].items()
        for m, op in item.items()
        if "401" in op["responses"]
    }
    assert {"POST /v1/orders", "GET /v1/balances", "POST /v1/admin/deposits"} <= signed
    assert not {"GET /v1/markets", "GET /health", "GET /v1/markets/{symbol}/book"} & signed
    for path in ("/v1/orders", "/v1/admin/deposits"):
        assert {"401", "403", "404", "409"} <= set(spec["paths"][path]["post"]["responses"])
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_each_status_lists_its_stable_codes(settings: Settings) -> None:
    spec = create_app(settings).openapi()
    responses = spec["components"]["responses"]
    for code, cls in all_codes().items():
        if cls.status_code == 500:
            continue  # a bug, never an answer to document
        assert f"`{code}`" in responses[f"Problem{cls.status_code}"]["description"], code
    assert "`validation_error`" in responses["Problem422"]["description"]
    assert "`malformed_json`" in responses["Problem400"]["description"]
