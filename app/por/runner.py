"""The scheduled audit: run by the custody worker (which holds the custody secret that signs
it) every `EXCHANGE_POR_INTERVAL_SECONDS`, between two of its steps, so the scanner does not
move while the audit reads the ledger and the chain."""

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.chain.custody import AsyncCustodyChain
from app.custody.policy import Policy
from app.models import PorAudit
from app.por.errors import NothingToProve
from app.por.service import create_audit, latest_audit_time

log = logging.getLogger("app.por")


class PorSchedule:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        chain: AsyncCustodyChain,
        policy: Policy,
        interval_seconds: int,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.chain = chain
        self.policy = policy
        self.interval = timedelta(seconds=interval_seconds)

    async def due(self) -> bool:
        async with self.sessionmaker() as session:
            last = await latest_audit_time(session)
        return last is None or datetime.now(UTC) - last >= self.interval

    async def step(self) -> PorAudit | None:
        """An audit if the last one is older than the interval (the time survives restarts:
        it is the last audit's). Failures are logged; custody goes on."""
        try:
            if not await self.due():
                return None
            async with self.sessionmaker() as session:
                audit = await create_audit(session, self.chain, self.policy)
                await session.commit()
        except NothingToProve:
            return None
        except Exception as exc:
            log.warning("proof-of-reserves audit failed", extra={"error": repr(exc)[:500]})
            return None
        log.info(
            "proof-of-reserves audit published",
            extra={"audit_id": audit.id, "block": audit.block_number, "root": audit.root},
        )
        return audit
