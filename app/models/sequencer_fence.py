from sqlalchemy import BigInteger, CheckConstraint, Integer
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class SequencerFence(Base):
    """The active sequencer's fencing token (one row): a sequencer that becomes active
    increments it; every group's transaction checks it still holds the latest (`FOR SHARE`,
    so a takeover waits for a group in flight), so a sequencer that lost its leadership can
    never commit again."""

    __tablename__ = "sequencer_fence"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    token: Mapped[int] = mapped_column(BigInteger)
