from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from app.auth.principal import NonceClaim
from app.auth.service import Principal
from app.kraken.errors import INVALID_PAIR, KrakenError
from app.kraken.schemas import Params
from app.markets.errors import MarketNotFound
from app.markets.service import get_market
from app.models import Market
from app.orders.commands import OrderService, SequencerCommand
from app.orders.readmodel import OrdersView


@dataclass
class Context:
    """What a Kraken handler gets: the request (or the WebSocket connection, for the methods
    of Kraken's WebSocket API), its session, its parameters, its caller."""

    request: HTTPConnection
    session: AsyncSession
    params: Params
    principal: Principal | None

    @property
    def user_id(self) -> int:
        assert self.principal is not None
        return self.principal.user_id

    @property
    def nonce(self) -> NonceClaim | None:
        """The request's nonce, for the order group to record (placing methods)."""
        return self.principal.nonce if self.principal is not None else None

    @property
    def view(self) -> OrdersView:
        """The order service's read model: committed books, symbols, running."""
        view: OrdersView = self.request.app.state.orders_view
        return view

    async def submit(self, command: SequencerCommand) -> Any:
        """Hand a command to the order service. The session's connection goes back to the
        pool first: a request never holds one while it waits for the sequencer."""
        await self.session.close()
        orders: OrderService = self.request.app.state.orders
        return await orders.submit(command)

    async def market(self, pair: str | None) -> Market:
        """A market by Kraken pair id ('SN64TAO'), altname or wsname ('SN64/TAO')."""
        if not pair or len(pair) > 32:
            raise KrakenError(INVALID_PAIR)
        try:
            return await get_market(self.session, pair)
        except MarketNotFound:
            raise KrakenError(INVALID_PAIR) from None
