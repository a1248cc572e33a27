"""The devnet's state encoded as a node serves it: SCALE values under Substrate's storage keys,
and the same state as plain values (`ChainSnapshot`) for tests to compare with.

Unchanged values share the previous block's bytes (and snapshot items), so the kept history
costs little memory.
"""

from fractions import Fraction
from typing import TypeVar

from scalecodec.utils.ss58 import ss58_encode

from app.chain import codec
from app.chain.devnet.metadata import (
    IDENTITY_FIELDS,
    NEW_LOGIC_FLAG,
    SS58_FORMAT,
    STORAGE_BY_NAME,
    StorageItem,
)
from app.chain.devnet.state import (
    DEFAULT_TAKE,
    V2_SHARE_EXPONENT,
    Account,
    State,
    subnet_account,
)
from app.chain.types import (
    ChainSnapshot,
    StakePosition,
    SubnetIdentity,
    SubnetState,
    ValidatorState,
)

T = TypeVar("T")
_SS58: dict[bytes, str] = {}

TAO_WEIGHT_PARTS = 971_718_665_099_567_868  # TaoWeight (`SubtensorInitialTaoWeight`)


def ss58(acc: bytes) -> str:
    cached = _SS58.get(acc)
    if cached is None:
        cached = _SS58[acc] = ss58_encode(acc, SS58_FORMAT)
    return cached


class StateEncoder:
    def __init__(self) -> None:
        self._keys: dict[tuple[str, tuple[object, ...]], bytes] = {}

    def key(self, item: StorageItem, *args: object) -> bytes:
        """An item's storage key, as Substrate computes it (cached)."""
        ck = (item.name, args)
        key = self._keys.get(ck)
        if key is None:
            key = codec.storage_prefix(item.pallet, item.name)
            for hasher, part, arg in zip(item.hashers, item.key_parts, args, strict=True):
                if isinstance(arg, int):
                    raw = codec.u32(arg) if part == "u32" else codec.u16(arg)
                elif isinstance(arg, bytes):
                    raw = arg
                else:
                    raise TypeError(f"key part {arg!r}")
                key += codec.hash_key(hasher, raw)
            self._keys[ck] = key
        return key

    def storage(
        self,
        state: State,
        number: int,
        parent: bytes,
        events: bytes,
        event_count: int,
        now: int,
        prev: dict[bytes, bytes],
    ) -> dict[bytes, bytes]:
        """Every value the block serves, SCALE-encoded under its key."""
        S = STORAGE_BY_NAME
        out: dict[bytes, bytes] = {}

        # Unchanged values share the previous block's bytes: kept history costs less memory.

        def put(pallet: str, name: str, value: bytes, *args: object) -> None:
            key = self.key(S[(pallet, name)], *args)
            old = prev.get(key)
            out[key] = old if old == value else value

        put("System", "Number", codec.u32(number))
        put("System", "ParentHash", parent)
        put("System", "Events", events)
        put("System", "EventCount", codec.u32(event_count))
        if now:
            put("Timestamp", "Now", codec.u64(now))
        put("TransactionPayment", "NextFeeMultiplier", codec.u128(10**18))
        issuance = 0
        for who, acc in state.accounts.items():
            put("System", "Account", _account_info(acc), who)
            issuance += acc.free + acc.reserved
        for netuid in state.subnets:
            balance = state.free(subnet_account(netuid))
            put("System", "Account", _account_info(Account(free=balance)), subnet_account(netuid))
            issuance += balance
        put("Balances", "TotalIssuance", codec.u64(issuance))
        m = "SubtensorModule"
        for hotkey, coldkey in state.owners.items():
            put(m, "Owner", coldkey, hotkey)
        for coldkey, hotkeys in state.staking_hotkeys.items():
            put(m, "StakingHotkeys", codec.compact(len(hotkeys)) + b"".join(hotkeys), coldkey)
        for netuid, s in state.subnets.items():
            put(m, "NetworksAdded", codec.boolean(True), netuid)
            put(m, "SubtokenEnabled", codec.boolean(s.subtoken_enabled), netuid)
            put(m, "SubnetTAO", codec.u64(s.tao_in), netuid)
            put(m, "SubnetAlphaIn", codec.u64(s.alpha_in), netuid)
            put(m, "SubnetAlphaOut", codec.u64(s.alpha_out), netuid)
            put(m, "SubnetMovingPrice", codec.i128(s.moving_price_bits), netuid)
            put(m, "SubnetVolume", codec.u128(s.volume), netuid)
            put(m, "TokenSymbol", codec.vec_u8(s.symbol), netuid)
            if s.identity is not None:
                put(m, "SubnetIdentitiesV3", b"".join(codec.vec_u8(f) for f in s.identity), netuid)
            put(m, "SubnetOwner", s.owner_coldkey, netuid)
            put(m, "SubnetOwnerHotkey", s.owner_hotkey, netuid)
            put(m, "Tempo", codec.u16(s.tempo), netuid)
            put(m, "NetworkRegisteredAt", codec.u64(s.registered_at), netuid)
            put(m, "SubnetMechanism", codec.u16(s.mechanism), netuid)
            put(m, "SubnetTaoInEmission", codec.u64(s.tao_in_emission), netuid)
            put(m, "SubnetAlphaInEmission", codec.u64(s.alpha_in_emission), netuid)
            put(m, "SubnetAlphaOutEmission", codec.u64(s.alpha_out_emission), netuid)
            put(m, "ValidatorPermit", codec.vec_bool(s.permits), netuid)
            put(m, "LastEpochBlock", codec.u64(s.last_epoch_block), netuid)
            put(m, "PendingEpochAt", codec.u64(s.pending_epoch_at), netuid)
            put(m, "SubnetEpochIndex", codec.u64(s.epoch_index), netuid)
            put(m, "SubnetExcessTao", codec.u64(s.excess_tao), netuid)
            put(m, "SubnetProtocolAlpha", codec.u64(s.protocol_alpha), netuid)
            put(m, "Burn", codec.u64(s.burn), netuid)
            put(m, "TransferToggle", codec.boolean(s.transfer_enabled), netuid)
            for uid, hotkey in enumerate(s.uids):
                put(m, "Keys", hotkey, netuid, uid)
            if netuid != 0:
                put("Swap", "FeeRate", codec.u16(s.fee_rate), netuid)
                put("Swap", "SwapBalancer", codec.u64(s.quote_weight), netuid)
        for hotkey, take in state.takes.items():
            put(m, "Delegates", codec.u16(take), hotkey)
        put(m, "TaoWeight", codec.u64(TAO_WEIGHT_PARTS))
        for (hotkey, netuid), take in state.childkey_takes.items():
            put(m, "ChildkeyTake", codec.u16(take), hotkey, netuid)
        for (netuid, hotkey), divs in state.alpha_dividends.items():
            put(m, "AlphaDividendsPerSubnet", codec.u64(divs), netuid, hotkey)
        for (hotkey, netuid), alpha in state.total_alpha_last_epoch.items():
            put(m, "TotalHotkeyAlphaLastEpoch", codec.u64(alpha), hotkey, netuid)
        for (hotkey, netuid), pool in state.pools.items():
            put(m, "TotalHotkeyAlpha", codec.u64(pool.total_alpha), hotkey, netuid)
            if pool.v2:
                put(m, "TotalHotkeySharesV2", _safe_float(pool.total_shares), hotkey, netuid)
                for cold, shares in pool.shares.items():
                    put(m, "AlphaV2", _safe_float(shares), hotkey, cold, netuid)
            else:
                put(
                    m,
                    "TotalHotkeyShares",
                    codec.u128(_u64f64_bits(pool.total_shares)),
                    hotkey,
                    netuid,
                )
                for cold, shares in pool.shares.items():
                    put(m, "Alpha", codec.u128(_u64f64_bits(shares)), hotkey, cold, netuid)
        return out

    def view(
        self,
        state: State,
        number: int,
        block_hash: str,
        prev: ChainSnapshot | None,
        now: int = 0,
    ) -> ChainSnapshot:
        """The same state as plain values, for tests to compare with what clients read."""
        subnets: dict[int, SubnetState] = {}
        validators: list[ValidatorState] = []
        for netuid, s in sorted(state.subnets.items()):
            identity = None
            if s.identity is not None:
                identity = SubnetIdentity(
                    **{
                        name: value.decode("utf-8", errors="replace")
                        for name, value in zip(IDENTITY_FIELDS, s.identity, strict=True)
                    }
                )
            subnets[netuid] = SubnetState(
                netuid=netuid,
                registered_at=s.registered_at,
                mechanism=s.mechanism,
                symbol=s.symbol.decode("utf-8", errors="replace"),
                identity=identity,
                owner_coldkey=ss58(s.owner_coldkey),
                owner_hotkey=ss58(s.owner_hotkey),
                tempo=s.tempo,
                tao_in=s.tao_in,
                alpha_in=s.alpha_in,
                alpha_out=s.alpha_out,
                moving_price_bits=s.moving_price_bits,
                volume=s.volume,
                tao_in_emission=s.tao_in_emission,
                alpha_in_emission=s.alpha_in_emission,
                alpha_out_emission=s.alpha_out_emission,
                fee_rate=s.fee_rate if netuid != 0 else 33,
                quote_weight=s.quote_weight,
                last_epoch_block=s.last_epoch_block,
                pending_epoch_at=s.pending_epoch_at,
                epoch_index=s.epoch_index,
                excess_tao=s.excess_tao,
                registration_cost=s.burn,
                subtoken_enabled=s.subtoken_enabled,
                transfer_enabled=s.transfer_enabled,
            )
            for uid, (hotkey, permit) in enumerate(zip(s.uids, s.permits, strict=True)):
                pool = state.pools.get((hotkey, netuid))
                validators.append(
                    ValidatorState(
                        netuid=netuid,
                        uid=uid,
                        hotkey=ss58(hotkey),
                        validator_permit=permit,
                        take=state.takes.get(hotkey, DEFAULT_TAKE),
                        total_alpha=pool.total_alpha if pool else 0,
                        childkey_take=state.childkey_takes.get((hotkey, netuid), 0),
                        alpha_dividends=state.alpha_dividends.get((netuid, hotkey), 0),
                        total_alpha_last_epoch=state.total_alpha_last_epoch.get(
                            (hotkey, netuid), 0
                        ),
                    )
                )
        positions = [
            StakePosition(
                netuid=netuid,
                hotkey=ss58(hotkey),
                coldkey=ss58(cold),
                shares=shares,
                total_shares=pool.total_shares,
                total_alpha=pool.total_alpha,
            )
            for (hotkey, netuid), pool in state.pools.items()
            for cold, shares in pool.shares.items()
        ]
        if prev is not None:
            validators = _reuse(prev.validators, validators)
            positions = _reuse(prev.positions, positions)
        return ChainSnapshot(
            block_number=number,
            block_hash=block_hash,
            subnets=subnets,
            validators=validators,
            positions=positions,
            timestamp_ms=now,
            tao_weight=TAO_WEIGHT_PARTS,
        )


BLOCK_HASH_PREFIX = codec.storage_prefix("System", "BlockHash")


def _account_info(acc: Account) -> bytes:
    """`AccountInfo { nonce, consumers, providers, sufficients, data: AccountData }`."""
    return (
        codec.u32(acc.nonce)
        + codec.u32(acc.consumers)
        + codec.u32(acc.providers)
        + codec.u32(acc.sufficients)
        + codec.u64(acc.free)
        + codec.u64(acc.reserved)
        + codec.u64(acc.frozen)
        + codec.u128(NEW_LOGIC_FLAG)
    )


def _reuse(previous: list[T], current: list[T]) -> list[T]:
    """`current` with items equal to the previous block's replaced by those (shared) objects."""
    known = {item: item for item in previous}
    return [known.get(item, item) for item in current]


def _u64f64_bits(value: Fraction) -> int:
    bits = value * codec.U64F64_ONE
    if bits.denominator != 1:
        raise ValueError("legacy shares must be whole U64F64 bits")
    return int(bits)


def _safe_float(value: Fraction) -> bytes:
    mantissa = value * 10**-V2_SHARE_EXPONENT
    if mantissa.denominator != 1:
        raise ValueError("V2 shares must be whole mantissas")
    return codec.u128(int(mantissa)) + codec.i64(V2_SHARE_EXPONENT)
