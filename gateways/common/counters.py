"""Per-token request counters for request caps: Redis when configured (shared), else this process.

While Redis is away the limiter's failure mode decides: `closed` answers 503, `open` counts in this
process (never below what the database last recorded) until Redis is back.
"""

from __future__ import annotations

from gateways.common import ratelimit, redis_clients
from gateways.common.config import TokenInfo
from gateways.common.transport.resp import Script

# Seeds the shared counter from the database count once, then counts atomically.
_INCR_SEEDED = Script("""
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('INCRBY', KEYS[1], ARGV[2])
""")


class TokenRequestCounter:
    def __init__(self) -> None:
        self._local: dict[int, int] = {}

    async def hit(self, token: TokenInfo) -> int:
        """Count one request for the token; returns the total including this one."""
        if redis_clients.enabled():
            key = redis_clients.key("token-requests", token.id)
            counted = await ratelimit.shared_call(
                lambda: redis_clients.lean_client().run(_INCR_SEEDED, [key], [token.request_count, 1])
            )
            if counted is not None:
                return int(counted)
        # The database count lags (written in batches), so never move a local counter backwards.
        count = max(self._local.get(token.id, 0), token.request_count) + 1
        self._local[token.id] = count
        return count
