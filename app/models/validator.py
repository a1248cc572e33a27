from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class Validator(Base):
    """A hotkey registered on a subnet, as of the last indexed block."""

    __tablename__ = "validators"

    subnet_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("subnets.id", ondelete="CASCADE"), primary_key=True
    )
    hotkey: Mapped[str] = mapped_column(String(64), primary_key=True)
    uid: Mapped[int] = mapped_column(Integer)
    validator_permit: Mapped[bool] = mapped_column(Boolean)
    take: Mapped[int] = mapped_column(Integer)  # u16, take / 65535
    total_alpha: Mapped[int] = mapped_column(BigInteger)
    childkey_take: Mapped[int] = mapped_column(Integer, server_default="0")  # u16 / 65535
    # The last epoch: alpha dividends to nominators (after the take) and the hotkey's alpha
    # then (AlphaDividendsPerSubnet, TotalHotkeyAlphaLastEpoch): the APY's inputs.
    alpha_dividends: Mapped[int] = mapped_column(BigInteger, server_default="0")
    total_alpha_last_epoch: Mapped[int] = mapped_column(BigInteger, server_default="0")
    nominators: Mapped[int | None] = mapped_column(Integer)  # coldkeys staking with it
    nominators_block: Mapped[int | None] = mapped_column(BigInteger)  # when they were counted
    name: Mapped[str | None] = mapped_column(Text)
    last_block: Mapped[int] = mapped_column(BigInteger)
