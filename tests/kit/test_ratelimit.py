from app.kit.ratelimit import TokenBucketLimiter


def test_bucket_refills_at_the_configured_rate() -> None:
    now = [0.0]
    limiter = TokenBucketLimiter(rate_per_second=2.0, burst=3, clock=lambda: now[0])
    assert [limiter.acquire("k") for _ in range(3)] == [None, None, None]
    wait = limiter.acquire("k")
    assert wait is not None and abs(wait - 0.5) < 1e-9
    now[0] = 0.5
    assert limiter.acquire("k") is None
    assert limiter.acquire("k") is not None
    now[0] = 100.0  # never more than the burst
    assert [limiter.acquire("k") for _ in range(4)] == [None, None, None, 1 / 2.0]
