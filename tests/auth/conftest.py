"""Auth fixtures: the orders' SN1/TAO market, for tests that check nothing moved."""

from tests.orders.conftest import market  # noqa: F401  (fixture)
