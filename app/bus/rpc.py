"""The order service across processes: API nodes send sequencer commands over NATS
request/reply (`ex.rpc.cmd`, a queue group: only the active sequencer listens), each with an
idempotency id; the sequencer answers after the command's group has committed.

Exactly once: the sequencer keeps each id's answer (in memory, and durably in the group's
outbox event), so a command sent again (its answer was lost, or the sequencer died and a
standby took over) is answered again, never applied twice. The caller sends again until it
gets an answer or its deadline passes (then 503: nothing is known to have been done, and a
retry with the same client order id is safe).

Readers in other processes ask the sequencer for a snapshot of its books (`ex.rpc.snapshot`)
to start from, then follow the committed events in JetStream (`app.bus.feed`).
"""

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import OrderedDict
from typing import Any, Protocol

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.kit.errors import AppError
from app.models import Market
from app.orders import wire
from app.orders.commands import SequencerCommand
from app.orders.errors import SequencerUnavailable
from app.orders.readmodel import OrdersView

log = logging.getLogger("app.bus")

COMMANDS = "ex.rpc.cmd"
SNAPSHOT = "ex.rpc.snapshot"
QUEUE = "sequencer"
ANSWERS_KEPT = 100_000
ANSWERS_RELOADED = "10 minutes"  # of outbox events, when a sequencer takes over


class Sequencing(Protocol):
    """What the command server needs of the sequencer (`app.orders.sequencer.Sequencer`)."""

    view: OrdersView
    last_event_id: int  # the outbox's last committed event (its books include it)

    async def submit(self, command: SequencerCommand, command_id: str | None = None) -> Any: ...


class CommandServer:
    """The active sequencer's side: runs commands from NATS, answers each id once."""

    def __init__(self, nc: Client, sequencer: Sequencing, engine: AsyncEngine) -> None:
        self.nc = nc
        self.sequencer = sequencer
        self.engine = engine
        self._answers: OrderedDict[str, bytes] = OrderedDict()
        self._running: dict[str, asyncio.Future[bytes]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._subs: list[Any] = []

    async def start(self) -> None:
        await self._reload_answers()
        self._subs = [
            await self.nc.subscribe(COMMANDS, queue=QUEUE, cb=self._on_command),
            await self.nc.subscribe(SNAPSHOT, queue=QUEUE, cb=self._on_snapshot),
        ]
        await self.nc.flush()

    async def stop(self) -> None:
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subs = []
        for task in list(self._tasks):
            task.cancel()

    async def _reload_answers(self) -> None:
        """Answers of commands committed by a previous sequencer (it may have died before
        answering): a command sent again gets the committed answer."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT payload->'answers' FROM outbox_events "
                    f"WHERE created_at > now() - interval '{ANSWERS_RELOADED}' "
                    "AND payload ? 'answers' ORDER BY id"
                )
            )
            for (answers,) in rows:
                for command_id, answer in (answers or {}).items():
                    self._remember(command_id, _dumps(answer))

    def _remember(self, command_id: str, body: bytes) -> None:
        self._answers[command_id] = body
        while len(self._answers) > ANSWERS_KEPT:
            self._answers.popitem(last=False)

    async def _on_command(self, msg: Msg) -> None:
        # Concurrently: the sequencer groups what arrives together.
        task = asyncio.create_task(self._command(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _command(self, msg: Msg) -> None:
        request = json.loads(msg.data)
        command_id: str = request["id"]
        body = self._answers.get(command_id)
        if body is None:
            running = self._running.get(command_id)
            if running is not None:
                body = await asyncio.shield(running)
            else:
                future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
                self._running[command_id] = future
                try:
                    body = await self._run(command_id, wire.command_from_json(request["command"]))
                    future.set_result(body)
                finally:
                    self._running.pop(command_id, None)
                    if not future.done():
                        future.cancel()
        await msg.respond(body)

    async def _run(self, command_id: str, command: SequencerCommand) -> bytes:
        try:
            result = await self.sequencer.submit(command, command_id)
        except AppError as exc:
            # Refused, nothing done: not remembered (the same command may pass later, as
            # when the sequencer was busy).
            return _dumps(wire.answer_json(exc))
        body = _dumps(wire.answer_json(result))
        self._remember(command_id, body)
        return body

    async def _on_snapshot(self, msg: Msg) -> None:
        await msg.respond(_dumps(snapshot(self.sequencer.view, self.sequencer.last_event_id)))


def snapshot(view: OrdersView, last_event_id: int) -> dict[str, Any]:
    """The committed books as of outbox event `last_event_id` (events after it change them)."""
    return {
        "event_id": last_event_id,
        "epoch": view.epoch,
        "running": view.running,
        "markets": [
            {
                "market_id": m,
                "symbol": symbol,
                "sequence": view.sequence(m),
                "bids": [[x.price, x.qty, x.orders] for x in view.depth(m).bids],
                "asks": [[x.price, x.qty, x.orders] for x in view.depth(m).asks],
            }
            for m, symbol in sorted(view.symbols().items())
        ],
    }


class RemoteOrderService:
    """An `OrderService` for API nodes: `submit` sends the command to the active sequencer
    and waits for its answer, sending again (same id) across a sequencer's failover. The
    request's nonce is recorded before the command is sent."""

    records_nonces = False

    def __init__(
        self,
        nc: Client,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        deadline_seconds: float = 15.0,
        attempt_seconds: float = 6.0,
    ) -> None:
        self.nc = nc
        self.sessionmaker = sessionmaker
        self.deadline_seconds = deadline_seconds
        self.attempt_seconds = attempt_seconds

    async def submit(self, command: SequencerCommand) -> Any:
        command_id = uuid.uuid4().hex
        body = _dumps({"id": command_id, "command": wire.command_json(command)})
        deadline = time.monotonic() + self.deadline_seconds
        delay = 0.05
        while True:
            try:
                reply = await self.nc.request(COMMANDS, body, timeout=self.attempt_seconds)
                break
            except nats.errors.Error as exc:  # no sequencer (yet), no answer, NATS away
                if time.monotonic() + delay > deadline:
                    raise SequencerUnavailable(
                        "the order service did not answer; retry (a retry with the same "
                        "client_order_id is safe)",
                        retry_after=2,
                    ) from exc
                log.info("no sequencer answered; sending again", extra={"id": command_id})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
        answer = wire.answer_from_json(json.loads(reply.data))
        if isinstance(answer, AppError):
            raise answer
        return await self._read_markets(answer)

    async def _read_markets(self, answer: Any) -> Any:
        if isinstance(answer, tuple) and answer[0] == "market":
            async with self.sessionmaker() as session:
                return await session.scalar(select(Market).where(Market.symbol == answer[1]))
        return answer


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
