"""How many password verifications may run at once, over every worker (availability).

An argon2 verification keeps a CPU core busy for a few hundred milliseconds, on purpose. The
rate limits count failures, so a flood of attempts from many addresses on many logins reaches
argon2 in every worker, and the other pages (``/healthz``, the pages of logged-in people) wait
behind it. The budget is taken *before* hashing: an attempt that finds no free slot is answered
at once, without hashing.

Two lanes, so that a flood of unknown logins cannot consume what real people need:

* open: unknown logins, accounts that never completed a login, disabled accounts. At most
  ``LOGIN_HASH_SLOTS`` verifications at a time (default 1: with two workers, one stays free).
* known: accounts that completed a login (both factors) before. At most
  ``LOGIN_KNOWN_HASH_SLOTS`` at a time over all of them, and one per account, so that the
  attempts on one account cannot fill the lane either.

With Redis as the rate-limit storage, the slots live in Redis and hold across workers and app
servers; each slot expires after ``LOGIN_HASH_SLOT_SECONDS``, so a worker killed while hashing
does not keep its slot. With any other storage (``memory://`` in development and tests) the
budget holds per process, which protects a single development server.
"""

from __future__ import annotations

import enum
import logging
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    #: verifications at once for unknown logins and accounts without a completed login
    "LOGIN_HASH_SLOTS": 1,
    #: verifications at once for accounts that completed a login before (one per account)
    "LOGIN_KNOWN_HASH_SLOTS": 1,
    #: a slot not given back within this many seconds is free again (killed worker)
    "LOGIN_HASH_SLOT_SECONDS": 10,
}
#: the overall limit of failed logins (SEC-AUT-5d), counting unknown logins and accounts
#: without a completed login only; a Flask-Limiter rate string
LIMIT_DEFAULTS: dict[str, Any] = {"LOGIN_GLOBAL_LIMIT": "1000 per 5 minutes"}
_EXTENSION = "portal.accounts.hash_budget"


class Lane(enum.Enum):
    """Which share of the budget an attempt draws on."""

    OPEN = "open"
    KNOWN = "known"


def init_app(app: Flask) -> None:
    """Give the budget and overall-limit settings their defaults; refuse unusable values."""
    from limits import parse_many

    from portal.config import ConfigError, apply_area_defaults

    apply_area_defaults(app.config, {**DEFAULTS, **LIMIT_DEFAULTS})
    for name in DEFAULTS:
        value = app.config[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"PORTAL_{name} must be a whole number of 1 or more, "
                              f"not {value!r}.")
    try:
        parse_many(str(app.config["LOGIN_GLOBAL_LIMIT"]))
    except ValueError:
        raise ConfigError("PORTAL_LOGIN_GLOBAL_LIMIT must be a rate such as "
                          f"'1000 per 5 minutes', not {app.config['LOGIN_GLOBAL_LIMIT']!r}."
                          ) from None


class _ProcessSlots:
    """Slots counted in this process: a process that dies takes its slots with it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, int] = {}

    def acquire(self, pools: list[tuple[str, int]], _token: str, _ttl_ms: int) -> bool:
        with self._lock:
            if any(self._held.get(key, 0) >= size for key, size in pools):
                return False
            for key, _size in pools:
                self._held[key] = self._held.get(key, 0) + 1
            return True

    def release(self, pools: list[tuple[str, int]], _token: str) -> None:
        with self._lock:
            for key, _size in pools:
                left = self._held.get(key, 0) - 1
                if left > 0:
                    self._held[key] = left
                else:
                    self._held.pop(key, None)


# One sorted set per pool: member = slot token, score = when the slot expires (Redis clock,
# the same for every app server). All pools of an attempt are taken together or not at all.
_ACQUIRE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local ttl = tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= tonumber(ARGV[2 + i]) then
    return 0
  end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + ttl, ARGV[1])
  redis.call('PEXPIRE', key, ttl)
end
return 1
"""


class _RedisSlots:
    """Slots shared by every worker and app server through Redis."""

    def __init__(self, url: str) -> None:
        import redis

        from portal.rate_limits import redis_options

        # Short timeouts: an unreachable Redis refuses the login (503) instead of holding it.
        self._redis = redis.Redis.from_url(url, **redis_options())
        self._acquire = self._redis.register_script(_ACQUIRE)

    def acquire(self, pools: list[tuple[str, int]], token: str, ttl_ms: int) -> bool:
        keys = [key for key, _size in pools]
        sizes = [size for _key, size in pools]
        return bool(self._acquire(keys=keys, args=[token, ttl_ms, *sizes]))

    def release(self, pools: list[tuple[str, int]], token: str) -> None:
        with self._redis.pipeline(transaction=False) as pipe:
            for key, _size in pools:
                pipe.zrem(key, token)
            pipe.execute()


def _slots(app: Flask) -> _ProcessSlots | _RedisSlots:
    slots = app.extensions.get(_EXTENSION)
    if slots is None:
        uri = str(app.config.get("RATELIMIT_STORAGE_URI") or "")
        slots = _RedisSlots(uri) if uri.startswith(("redis://", "rediss://")) else _ProcessSlots()
        app.extensions[_EXTENSION] = slots
    return slots


def _pools(app: Flask, lane: Lane, account_id: int | None) -> list[tuple[str, int]]:
    # One hash tag, so that a Redis cluster keeps every pool in one slot for the script.
    base = f"{app.config.get('RATELIMIT_KEY_PREFIX') or ''}login-hash:{{budget}}"
    if lane is Lane.OPEN:
        return [(f"{base}:open", int(app.config["LOGIN_HASH_SLOTS"]))]
    if account_id is None:
        raise ValueError("the known lane needs the account")
    return [(f"{base}:known", int(app.config["LOGIN_KNOWN_HASH_SLOTS"])),
            (f"{base}:account:{account_id}", 1)]


@contextmanager
def slot(app: Flask, lane: Lane, account_id: int | None = None) -> Iterator[bool]:
    """Hold a verification slot of `lane` for the block; yields False when none is free.

    The slot is given back when the block ends, whatever happens in it.
    """
    pools = _pools(app, lane, account_id)
    slots = _slots(app)
    token = secrets.token_hex(8)
    granted = slots.acquire(pools, token, int(app.config["LOGIN_HASH_SLOT_SECONDS"]) * 1000)
    if not granted:
        log.info("password verification refused: no free slot in the %s lane", lane.value)
        yield False
        return
    try:
        yield True
    finally:
        slots.release(pools, token)
