"""The rate limits' storage (Redis in production) and what happens when it is unreachable.

The limits (failed logins, second-factor codes, password changes, the public rights form) and
the password hashing budget count in the rate-limit storage, shared by every worker and app
server. When that storage does not answer, the portal fails closed: a request that a limit
guards is refused with the portal's 503 page ("logging in is unavailable for a few minutes"),
never served without its limit. Nothing else needs the storage: the pages without a limit,
and the people already logged in (their sessions live in the database), keep working. Once the
storage answers again, the next request uses it; no restart is needed.

Every command to Redis gives up quickly (a connection or an answer within
``REDIS_TIMEOUT_SECONDS``, one immediate retry to replace a connection that a Redis restart
closed), so that an unreachable Redis costs a guarded request about a second, not a worker.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

#: how long a connection to, or an answer from, the rate-limit storage may take
REDIS_TIMEOUT_SECONDS = 1.0
#: the errors that mean "the rate-limit storage is unreachable" (a refused or cut connection,
#: no answer in time); a Redis that answers with an error is a bug, not an outage
_UNREACHABLE_NAMES = ("ConnectionError", "TimeoutError")


def uses_redis(app: Flask) -> bool:
    """True when the limits count in Redis (shared), False for memory:// (per process)."""
    return str(app.config.get("RATELIMIT_STORAGE_URI") or "").startswith(
        ("redis://", "rediss://"))


def redis_options() -> dict[str, Any]:
    """The options of every Redis client of the portal: short timeouts, one quick retry."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return {
        "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
        "socket_timeout": REDIS_TIMEOUT_SECONDS,
        "retry": Retry(NoBackoff(), 1),
    }


def unreachable_errors() -> tuple[type[Exception], ...]:
    """The exception classes of an unreachable rate-limit storage."""
    from redis import exceptions

    return tuple(getattr(exceptions, name) for name in _UNREACHABLE_NAMES)


def storage_answers(app: Flask) -> bool | None:
    """Ask the rate-limit storage for a PING: True or False, None when it is memory://."""
    if not uses_redis(app):
        return None
    import redis

    client = app.extensions.get("portal.rate_limits.health")
    if client is None:
        client = redis.Redis.from_url(str(app.config["RATELIMIT_STORAGE_URI"]),
                                      **redis_options())
        app.extensions["portal.rate_limits.health"] = client
    try:
        return bool(client.ping())
    except unreachable_errors():
        return False


def init_app(app: Flask) -> None:
    """Give Flask-Limiter's Redis client the portal's timeouts; called before it is bound.

    Errors are not swallowed and there is no in-memory fallback: a guarded request whose
    limit cannot be counted is refused (portal/errors.py answers 503).
    """
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", False)
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", False)
    if uses_redis(app):
        options = dict(app.config.get("RATELIMIT_STORAGE_OPTIONS") or {})
        for name, value in redis_options().items():
            options.setdefault(name, value)
        app.config["RATELIMIT_STORAGE_OPTIONS"] = options
