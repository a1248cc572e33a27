"""All tables, one module each. Importing this package registers them on `Base.metadata`."""

from app.models.api_key import ApiKey, ApiKeyNonce
from app.models.asset import Asset
from app.models.audit_entry import AuditEntry
from app.models.base import Base
from app.models.cancel_after import CancelAfter
from app.models.chain_deposit import ChainDeposit
from app.models.chain_transaction import ChainTransaction
from app.models.custody_position import CustodyPosition
from app.models.custody_scan_state import CustodyScanState
from app.models.deposit import Deposit
from app.models.deposit_address import DepositAddress
from app.models.fee_tier import FeeTier
from app.models.fill import Fill
from app.models.indexer_state import IndexerState
from app.models.ledger_account import LedgerAccount
from app.models.ledger_hold import LedgerHold
from app.models.ledger_transfer import LedgerTransfer
from app.models.listing import Listing
from app.models.market import Market
from app.models.order import Order
from app.models.outbox_event import OutboxEvent
from app.models.outbox_relay_state import OutboxRelayState
from app.models.por_audit import PorAudit
from app.models.por_node import PorNode
from app.models.reward_distribution import RewardDistribution
from app.models.sequencer_fence import SequencerFence
from app.models.staking_allocation import StakingAllocation
from app.models.staking_allocation_event import StakingAllocationEvent
from app.models.staking_chain_flow import StakingChainFlow
from app.models.staking_drift import StakingDrift
from app.models.staking_operation import StakingOperation
from app.models.staking_reward import StakingReward
from app.models.staking_reward_state import StakingRewardState
from app.models.staking_settings import StakingSettings
from app.models.staking_unbonding import StakingUnbonding
from app.models.subnet import Subnet
from app.models.subnet_history import SubnetHistory
from app.models.user import User
from app.models.user_volume import UserVolume
from app.models.validator import Validator
from app.models.withdrawal import Withdrawal
from app.models.withdrawal_address import WithdrawalAddress

__all__ = [
    "ApiKey",
    "ApiKeyNonce",
    "Asset",
    "AuditEntry",
    "Base",
    "CancelAfter",
    "ChainDeposit",
    "ChainTransaction",
    "CustodyPosition",
    "CustodyScanState",
    "Deposit",
    "DepositAddress",
    "FeeTier",
    "Fill",
    "IndexerState",
    "LedgerAccount",
    "LedgerHold",
    "LedgerTransfer",
    "Listing",
    "Market",
    "Order",
    "OutboxEvent",
    "OutboxRelayState",
    "PorAudit",
    "PorNode",
    "RewardDistribution",
    "SequencerFence",
    "StakingAllocation",
    "StakingAllocationEvent",
    "StakingChainFlow",
    "StakingDrift",
    "StakingOperation",
    "StakingReward",
    "StakingRewardState",
    "StakingSettings",
    "StakingUnbonding",
    "Subnet",
    "SubnetHistory",
    "User",
    "UserVolume",
    "Validator",
    "Withdrawal",
    "WithdrawalAddress",
]
