"""Auth fixtures: the orders' SN1/TAO market (to check that nothing moved) and a real
HTTP/WebSocket server on the app (for revocations of live WebSocket sessions)."""

from tests.marketdata.conftest import ws_url  # noqa: F401  (fixture)
from tests.orders.conftest import market  # noqa: F401  (fixture)
