"""A test client that signs requests the way Kraken clients do."""

import itertools
import json as jsonlib
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI

from app.auth.scopes import Scope
from app.auth.service import create_api_key, create_user, get_user_by_email
from app.auth.signing import sign
from app.kit.errors import Conflict

_nonce = itertools.count(int(time.time() * 1000) * 1000)


def next_nonce() -> int:
    return next(_nonce)


async def make_user_with_key(app: FastAPI, email: str, scopes: str) -> tuple[str, str, int]:
    async with app.state.sessionmaker() as session:
        try:
            user = await create_user(session, email)
        except Conflict:
            user = await get_user_by_email(session, email)
        issued = await create_api_key(
            session,
            app.state.authenticator._box,
            user.id,
            [Scope(s) for s in scopes.split(",") if s],
        )
        await session.commit()
        return issued.key, issued.secret, user.id


class SignedClient:
    def __init__(self, client: httpx.AsyncClient, key: str, secret: str, user_id: int) -> None:
        self.client = client
        self.key = key
        self.secret = secret
        self.user_id = user_id

    def headers(self, path: str, nonce: int | str, payload: bytes | str) -> dict[str, str]:
        return {"API-Key": self.key, "API-Sign": sign(self.secret, path, str(nonce), payload)}

    async def get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        return await self._no_body("GET", path, params)

    async def delete(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        return await self._no_body("DELETE", path, params)

    async def _no_body(
        self, method: str, path: str, params: dict[str, Any] | None
    ) -> httpx.Response:
        nonce = next_nonce()
        query = urlencode({**(params or {}), "nonce": nonce})
        return await self.client.request(
            method, f"{path}?{query}", headers=self.headers(path, nonce, query)
        )

    async def post(self, path: str, json: Any = None, method: str = "POST") -> httpx.Response:
        nonce = next_nonce()
        body = jsonlib.dumps({**(json or {}), "nonce": nonce}).encode()
        headers = {**self.headers(path, nonce, body), "Content-Type": "application/json"}
        return await self.client.request(method, path, content=body, headers=headers)

    async def patch(self, path: str, json: Any = None) -> httpx.Response:
        return await self.post(path, json, method="PATCH")

    async def put(self, path: str, json: Any = None) -> httpx.Response:
        return await self.post(path, json, method="PUT")
