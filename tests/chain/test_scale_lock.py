"""scalecodec is used by one thread at a time in the process (`app.chain.scale_lock`), but a
thread waiting on the network lets the others in: clients that start together in threads
all decode (they did not: 'Decoder class for "Compact<u32>" not found'), and a client waiting
for the answer to an extrinsic does not keep an in-process devnet from decoding it."""

import threading

from app.chain import codec
from app.chain.client import ChainClient
from app.chain.devnet.chain import account, ss58
from app.chain.devnet.extrinsics import UNSIGNED_V4
from app.chain.devnet.server import DevnetThread
from app.chain.scale_lock import SCALECODEC, ScalecodecLock

DEST = ss58(account(7, "dest"))


def _taken_elsewhere(lock: ScalecodecLock) -> bool:
    """Whether another thread finds the lock taken."""
    taken: list[bool] = []

    def probe() -> None:
        with lock.released():  # this thread holds nothing: released is a no-op
            pass
        got = lock._lock.acquire(blocking=False)
        if got:
            lock._lock.release()
        taken.append(not got)

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    return taken[0]


def test_the_lock_is_reentrant_and_lets_go_only_while_released() -> None:
    lock = ScalecodecLock()
    assert not _taken_elsewhere(lock)
    with lock.held():
        with lock.held():
            assert _taken_elsewhere(lock)
            with lock.released():
                assert not _taken_elsewhere(lock)
            assert _taken_elsewhere(lock)
        assert _taken_elsewhere(lock)
    assert not _taken_elsewhere(lock)


def test_clients_starting_together_all_decode_and_a_waiting_one_lets_the_devnet_decode(
    devnet: DevnetThread,
) -> None:
    failures: list[str] = []
    fees: list[int] = []
    for spelling in range(1, 4):  # each spelling of the URL starts with no shared metadata
        url = devnet.url + "/" * spelling
        start = threading.Barrier(4)

        def client(n: int, url: str = url, start: threading.Barrier = start) -> None:
            start.wait()
            with ChainClient(url, timeout=10, max_attempts=1) as c:
                try:
                    if n % 2:
                        c.run("events", lambda s: s.get_events(s.get_block_hash(1)))
                    call = c.run(
                        "compose",
                        lambda s: s.compose_call(
                            "Balances", "transfer_keep_alive", {"dest": DEST, "value": n}
                        ),
                    )
                    # The devnet decodes the call under the lock this thread holds in `run`.
                    unsigned = bytes([UNSIGNED_V4]) + bytes(call.data.data)
                    xt = "0x" + (codec.compact(len(unsigned)) + unsigned).hex()
                    info = c.run("fee", lambda s: s.rpc_request("payment_queryInfo", [xt]))
                    fees.append(int(info["result"]["partialFee"]))
                except Exception as exc:
                    failures.append(repr(exc))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads), "a client never finished"
    assert failures == []
    assert len(fees) == 12, fees  # every call decoded and priced (unsigned: no fee)
    assert not _taken_elsewhere(SCALECODEC)
