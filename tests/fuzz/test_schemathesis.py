"""Schemathesis against a real server process (seeded: users with funds, two markets, a
validator, a key with every scope): signed and unsigned, positive and negative data, no
5xx, no Kraken internal error, every answer documented by `/openapi.json` for its operation
(Schemathesis' `status_code_conformance` and `content_type_conformance`: the status and its
media type, e.g. `application/problem+json`), every operation exercised, and the ledger
still balances afterwards.

The suite makes one round over every operation (the Kraken surface's included), FUZZ_EXAMPLES
(default 6) cases per operation, mode and key, and goes on up to FUZZ_REQUESTS (default 3,000)
requests: about 3,100 requests, half a minute; `scripts/fuzz` sends 20,000 or more.
"""

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from app.auth.scopes import Scope
from app.auth.service import create_api_key
from app.kit.crypto import SecretBox
from app.ledger.check import check_ledger
from tests.conftest import SERVER_KEY, truncate_all
from tests.fuzz.driver import Key, run
from tests.kraken.conftest import seed
from tests.orders.test_crash import Server

pytestmark = pytest.mark.acceptance  # a real server or CLI process: see pyproject.toml


@dataclass
class Target:
    url: str
    admin: Key  # every scope, on a funded user


@pytest.fixture(scope="module")
async def target(engine: AsyncEngine, database_url: str) -> AsyncIterator[Target]:
    await truncate_all(engine)
    keys = await seed(engine)
    async with async_sessionmaker(engine, expire_on_commit=False)() as session:
        issued = await create_api_key(
            session, SecretBox(SERVER_KEY.encode()), keys["alice"].user_id, list(Scope)
        )
        await session.commit()
    server = Server(database_url)
    server.start()
    try:
        yield Target(server.url, Key(issued.key, issued.secret))
    finally:
        server.stop()
        await truncate_all(engine)


async def test_schemathesis_finds_no_server_error(target: Target, engine: AsyncEngine) -> None:
    wanted = int(os.environ.get("FUZZ_REQUESTS", "3000"))
    report = await asyncio.to_thread(
        run,
        target.url,
        [None, target.admin],
        requests_wanted=wanted,
        examples=int(os.environ.get("FUZZ_EXAMPLES", "6")),
        seed_base=int(os.environ.get("FUZZ_SEED", "0")),
    )
    print(report.summary())
    assert not report.failures, "\n".join(report.failures[:20])
    assert len(report.by_operation) == report.operations > 70, report.by_operation
    assert not report.violations, "\n".join(
        f"{where}: {example}" for where, example in list(report.violations.items())[:20]
    )
    assert report.sent >= wanted
    assert sum(report.by_status[s] for s in (200, 201)) > wanted // 20  # valid ones got through
    async with async_sessionmaker(engine)() as session:
        ledger = await check_ledger(session)
    assert ledger.ok, ledger.render()
