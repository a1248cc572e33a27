"""A lean route answers every request exactly as the same endpoint on a FastAPI route does."""

from collections.abc import AsyncIterator
from typing import Annotated, Literal

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel, Field

from app.auth.errors import MissingCredentials
from app.kit.http import install_error_handlers
from app.kit.leanroute import LeanRoute


class Item(BaseModel):
    name: str = Field(max_length=8)
    side: Literal["buy", "sell"]
    qty: int = 1
    tags: list[str] = []


class Answer(BaseModel):
    user: str
    item: Item
    total: int


async def caller(request: Request) -> str:
    user = request.headers.get("x-user")
    if not user:
        raise MissingCredentials("who are you?")
    return user


Caller = Annotated[str, Depends(caller)]


async def endpoint(body: Item, user: Caller, request: Request) -> Answer:
    return Answer(user=user, item=body, total=body.qty * 2 + len(request.headers["x-user"]))


async def many(body: Item, user: Caller, request: Request) -> list[Answer]:
    return [Answer(user=user, item=body, total=n) for n in range(body.qty)]


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    router = APIRouter(prefix="/v1")
    for path, route_class in (("/fastapi", None), ("/lean", LeanRoute)):
        router.add_api_route(
            path,
            endpoint,
            methods=["POST"],
            response_model=Answer,
            status_code=201,
            route_class_override=route_class,
        )
        router.add_api_route(
            path + "/many",
            many,
            methods=["POST"],
            response_model=list[Answer],
            status_code=201,
            route_class_override=route_class,
        )
    app.include_router(router)
    return app


JSON = {"content-type": "application/json"}
CASES = [
    ("valid", JSON, b'{"name": "a", "side": "buy", "qty": 3, "tags": ["x"]}', True),
    ("defaults", {"content-type": "application/json; charset=utf-8"}, b'{"name":"b","side":"sell"}', True),
    ("json suffix", {"content-type": "application/vnd.x+json"}, b'{"name":"b","side":"sell"}', True),
    ("unknown field", JSON, b'{"name":"b","side":"sell","extra":1}', True),
    ("field errors", JSON, b'{"name":"far too long","side":"hold","qty":"x"}', True),
    ("nested error", JSON, b'{"name":"a","side":"buy","tags":[1]}', True),
    ("not an object", JSON, b"[1, 2]", True),
    ("null", JSON, b"null", True),
    ("empty body", JSON, b"", True),
    ("no content type", {}, b'{"name":"a","side":"buy"}', True),
    ("form", {"content-type": "application/x-www-form-urlencoded"}, b"name=a&side=buy", True),
    ("text", {"content-type": "text/plain"}, b'{"name":"a","side":"buy"}', True),
    ("no caller", JSON, b'{"name":"far too long"}', False),
]  # fmt: skip


@pytest.mark.parametrize(("case", "headers", "body", "signed"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("path", ["", "/many"])
async def test_the_lean_route_answers_as_fastapi(
    case: str, headers: dict[str, str], body: bytes, signed: bool, path: str
) -> None:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://t")
    answers = []
    for route in ("/v1/fastapi", "/v1/lean"):
        sent = {**headers, **({"x-user": "ann"} if signed else {})}
        response = await client.post(route + path, content=body, headers=sent)
        answers.append((response.status_code, response.headers["content-type"], response.text))
    assert answers[0] == answers[1], case
    if case == "valid":
        assert answers[1][0] == 201
    elif case == "no caller":
        assert answers[1][0] == 401 and '"missing_credentials"' in answers[1][2]
    elif case not in ("defaults", "json suffix", "unknown field"):
        assert answers[1][0] == 422 and '"validation_error"' in answers[1][2]


async def _with_query(body: Item, limit: int = 3) -> Answer:
    return Answer(user="-", item=body, total=limit)


async def _two_bodies(body: Item, other: Item) -> Answer:
    return Answer(user="-", item=body, total=0)


async def _no_model(body: dict[str, int]) -> Answer:
    return Answer(user="-", item=Item(name="x", side="buy"), total=0)


def _sync_caller(request: Request) -> str:
    return "-"


async def _sync_dependency(body: Item, user: Annotated[str, Depends(_sync_caller)]) -> Answer:
    return Answer(user=user, item=body, total=0)


@pytest.mark.parametrize("wrong", [_with_query, _two_bodies, _no_model, _sync_dependency])
def test_endpoints_of_another_shape_are_refused_when_declared(wrong: object) -> None:
    router = APIRouter()
    with pytest.raises(TypeError, match="lean route"):
        router.add_api_route(
            "/x", wrong, methods=["POST"], response_model=Answer, route_class_override=LeanRoute
        )  # type: ignore[arg-type]


async def test_a_lean_route_cannot_be_included_with_dependencies() -> None:
    router = APIRouter()
    router.add_api_route(
        "/x", endpoint, methods=["POST"], response_model=Answer, route_class_override=LeanRoute
    )
    app = FastAPI()
    app.include_router(router, dependencies=[Depends(caller)])
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
    with pytest.raises(TypeError, match="included without dependencies"):
        await client.post("/x", json={"name": "a", "side": "buy"}, headers={"x-user": "a"})


async def test_a_yielding_dependency_is_left_before_the_answer_leaves() -> None:
    """A dependency that yields (the order routes' nonce guard) is resumed once the endpoint
    has returned or raised, a bad body included; what it raises then is the answer."""
    events: list[str] = []

    async def guard(request: Request) -> AsyncIterator[str]:
        events.append("enter")
        try:
            yield "ann"
        finally:
            events.append("exit")
            if request.headers.get("x-refuse-on-exit"):
                raise MissingCredentials("refused on the way out")

    async def guarded(body: Item, user: Annotated[str, Depends(guard)]) -> Answer:
        events.append("endpoint")
        if body.qty == 0:
            raise MissingCredentials("refused by the endpoint")
        return Answer(user=user, item=body, total=body.qty)

    router = APIRouter()
    router.add_api_route(
        "/x",
        guarded,
        methods=["POST"],
        response_model=Answer,
        status_code=201,
        route_class_override=LeanRoute,
    )
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")

    async def post(body: dict[str, object], **headers: str) -> tuple[int, list[str]]:
        events.clear()
        response = await client.post("/x", json=body, headers=headers)
        return response.status_code, list(events)

    assert await post({"name": "a", "side": "buy"}) == (201, ["enter", "endpoint", "exit"])
    assert await post({"name": "a", "side": "hold"}) == (422, ["enter", "exit"])
    assert await post({"name": "a", "side": "buy", "qty": 0}) == (
        401,
        ["enter", "endpoint", "exit"],
    )
    refused = await post({"name": "a", "side": "buy"}, **{"x-refuse-on-exit": "1"})
    assert refused == (401, ["enter", "endpoint", "exit"])
