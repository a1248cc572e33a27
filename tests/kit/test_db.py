"""The request boundary commits before the response is sent."""

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from app.kit.deps import Session
from app.models import User


async def test_a_failed_commit_is_never_answered_with_success(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def create_twice(session: Session) -> dict[str, str]:
        # Not flushed: the unique violation only surfaces at commit, after the endpoint returned.
        session.add(User(email="dup@example.com"))
        session.add(User(email="dup@example.com"))
        return {"status": "created"}

    app.add_api_route("/test/create-twice", create_twice, methods=["POST"])
    r = await client.post("/test/create-twice")
    assert r.status_code == 500
    assert r.json()["code"] == "internal_error"
    assert "Traceback" not in r.text and "IntegrityError" not in r.text
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 0


async def test_success_is_committed(app: FastAPI, client: httpx.AsyncClient) -> None:
    async def create_once(session: Session) -> dict[str, str]:
        session.add(User(email="once@example.com"))
        return {"status": "created"}

    app.add_api_route("/test/create-once", create_once, methods=["POST"])
    assert (await client.post("/test/create-once")).status_code == 200
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 1
