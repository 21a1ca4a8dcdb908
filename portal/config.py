"""Configuration: defaults, then PORTAL_* environment variables, then the test mapping.

Nothing is read at import time: `load_config` runs inside `create_app`. `validate` fails fast in
production with one line naming the setting at fault.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from portal.mail import mail_url_problem

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: the zone of people-facing times; also what code outside a portal app falls back to
DEFAULT_TIMEZONE = "Europe/Paris"


class ConfigError(Exception):
    """The configuration cannot be used; the message names the setting."""


def defaults(instance_path: Path) -> dict[str, Any]:
    """Return the development defaults; every key can be set as PORTAL_<KEY>."""
    return {
        #: development | production | testing
        "ENV": "development",
        #: signs the session cookie; required in production
        "SECRET_KEY": "",
        #: the key file holding every encryption and HMAC key (see `portal keys init`)
        "KEY_FILE": str(instance_path / "portal.keys"),
        #: SQLAlchemy URL; PostgreSQL as postgresql+psycopg://user@host/db
        "DATABASE_URL": f"sqlite:///{instance_path / 'portal.db'}",
        #: production accepts a PostgreSQL URL without sslmode=verify-full only when it names
        #: a local Unix socket (host=/run/postgresql) and this is on: nothing crosses a network
        "DATABASE_ALLOW_LOCAL_SOCKET": False,
        #: Flask-Limiter storage; redis://host:6379/0 in production
        "RATELIMIT_STORAGE_URI": "memory://",
        #: send the session cookie over HTTPS only (forced on in production)
        "SESSION_COOKIE_SECURE": False,
        #: number of reverse proxies in front of the app whose X-Forwarded-* headers are trusted
        "TRUSTED_PROXIES": 0,
        #: largest accepted request body, in bytes
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        #: outgoing mail: smtps://host:465 (implicit TLS) or smtp://host:587 (STARTTLS
        #: required), user:password@ allowed; smtp+insecure:// is clear text, refused in
        #: production; empty writes each message to instance/outbox/ (development)
        "MAIL_URL": "",
        #: a private CA bundle to verify the mail relay's certificate (empty: system CAs)
        "MAIL_CA_FILE": "",
        #: sender address of outgoing mail
        "MAIL_FROM": "aac-portal@localhost",
        #: the outbox sender: attempts before a message is given up, the first retry delay
        #: (doubled at each attempt, at most 6 hours) and how long a claim lasts
        "OUTBOX_MAX_ATTEMPTS": 8,
        "OUTBOX_RETRY_SECONDS": 60,
        "OUTBOX_LEASE_SECONDS": 300,
        #: public base URL used in mailed links
        "BASE_URL": "http://127.0.0.1:5000",
        #: the language of a visitor whose browser asks for neither French nor English
        "BABEL_DEFAULT_LOCALE": "fr",
        #: local time zone for people-facing times and night-activity checks
        "TIMEZONE": DEFAULT_TIMEZONE,
        #: audit entries older than this are purged (183 to 365 days)
        "AUDIT_RETENTION_DAYS": 365,
        #: where the daily audit jobs write the signed chain head, out of the database owner's
        #: reach; and/or who receives it by mail (production needs one of them)
        "AUDIT_ANCHOR_DIR": "",
        "AUDIT_ANCHOR_MAIL": "",
        #: run the grant/account expiry lazily on requests, at most every N minutes per process
        "ACCESS_LAZY_EXPIRE": True,
        "ACCESS_EXPIRE_INTERVAL_MINUTES": 5,
        #: accounts unused for this many days are disabled
        "ACCESS_INACTIVITY_DAYS": 180,
        #: rights requests and their files are kept this many years as evidence, then deleted
        "RIGHTS_RETENTION_YEARS": 5,
        #: the laboratory (data controller) shown in the layout and notices
        "CONTROLLER_NAME": "Laboratoire Exemple SAS",
        #: seconds a process keeps the protocol version in force and the published notices
        #: before asking the database again (see portal/in_force.py)
        "IN_FORCE_SECONDS": 5,
    }


def _parse(raw: str, default: Any, name: str) -> Any:
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"PORTAL_{name} must be true or false, not {raw!r}")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"PORTAL_{name} must be an integer, not {raw!r}") from None
    return raw


def load_config(
    instance_path: Path,
    environ: Mapping[str, str],
    test_config: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Merge defaults, PORTAL_* variables and the test mapping, then derive Flask's settings."""
    config = defaults(instance_path)
    for name, default in list(config.items()):
        if f"PORTAL_{name}" in environ:
            config[name] = _parse(environ[f"PORTAL_{name}"], default, name)
    if test_config:
        config.update(test_config)
    config.setdefault("TESTING", config["ENV"] == "testing")
    config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    # The __Host- prefix pins the cookie to this host and path, over HTTPS only.
    config.setdefault(
        "SESSION_COOKIE_NAME",
        "__Host-aac_session" if config["SESSION_COOKIE_SECURE"] else "aac_session",
    )
    config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    # Flask-Babel's own date helpers show local time too, as `portal.i18n.local_time` does.
    config.setdefault("BABEL_DEFAULT_TIMEZONE", config["TIMEZONE"])
    config.setdefault(
        "BABEL_TRANSLATION_DIRECTORIES", str(PROJECT_ROOT / "translations")
    )
    config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    return config


def validate(config: dict[str, Any]) -> None:
    """Refuse a production configuration that would be unsafe; one line names the setting."""
    if config["ENV"] not in {"development", "production", "testing"}:
        raise ConfigError(
            f"PORTAL_ENV must be development, production or testing, not {config['ENV']!r}"
        )
    if config["ENV"] != "production":
        return
    if not config.get("SECRET_KEY"):
        raise ConfigError("PORTAL_SECRET_KEY is missing: production needs a random secret key.")
    if len(config["SECRET_KEY"]) < 32:
        raise ConfigError("PORTAL_SECRET_KEY is too short: use at least 32 random characters.")
    if not os.path.isfile(config["KEY_FILE"]):
        raise ConfigError(
            f"PORTAL_KEY_FILE is missing: no key file at {config['KEY_FILE']}."
        )
    if str(config["RATELIMIT_STORAGE_URI"]).startswith("memory://"):
        raise ConfigError(
            "PORTAL_RATELIMIT_STORAGE_URI is memory://: production needs redis:// so that "
            "every worker shares the limits."
        )
    if not config["SESSION_COOKIE_SECURE"]:
        raise ConfigError(
            "PORTAL_SESSION_COOKIE_SECURE is off: production cookies must be Secure."
        )
    if not config.get("MAIL_URL"):
        raise ConfigError(
            "PORTAL_MAIL_URL is empty: production needs a mail relay (smtps:// or smtp:// "
            "with STARTTLS); "
            "the outbox folder is for development only."
        )
    problem = mail_url_problem(str(config["MAIL_URL"]), production=True)
    if problem:
        raise ConfigError(problem)
    if not str(config.get("AUDIT_ANCHOR_DIR") or "").strip() and not str(
            config.get("AUDIT_ANCHOR_MAIL") or "").strip():
        raise ConfigError(
            "PORTAL_AUDIT_ANCHOR_DIR is missing: production must anchor the audit trail's head "
            "outside the database (a directory, or PORTAL_AUDIT_ANCHOR_MAIL)."
        )
    _check_database_tls(config)


def _check_database_tls(config: dict[str, Any]) -> None:
    """A PostgreSQL connection in production is TLS with the server's name verified.

    verify-full is the only libpq mode that checks both the certificate and the host name;
    `require` would accept any certificate an attacker on the path presents.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(str(config["DATABASE_URL"]))
    except ArgumentError:
        raise ConfigError("PORTAL_DATABASE_URL is not a database URL.") from None
    if url.get_backend_name() != "postgresql":
        return
    if url.query.get("sslmode") == "verify-full":
        return
    socket_host = url.query.get("host")
    if isinstance(socket_host, tuple):
        socket_host = socket_host[0] if socket_host else None
    local_socket = (not url.host or url.host.startswith("/")) and (
        socket_host is None or str(socket_host).startswith("/"))
    if local_socket and config.get("DATABASE_ALLOW_LOCAL_SOCKET"):
        return
    if local_socket:
        raise ConfigError(
            "PORTAL_DATABASE_URL names a local socket without TLS: set "
            "PORTAL_DATABASE_ALLOW_LOCAL_SOCKET=true to allow it, or add ?sslmode=verify-full."
        )
    raise ConfigError(
        "PORTAL_DATABASE_URL must end with ?sslmode=verify-full in production: the connection "
        "to PostgreSQL must be TLS with the server's certificate and name verified."
    )


def development_secret(instance_path: Path) -> str:
    """Return a per-installation secret kept in instance/, created on first use."""
    path = instance_path / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def apply_area_defaults(config: dict[str, Any], area_defaults: Mapping[str, Any],
                        environ: Mapping[str, str] | None = None) -> None:
    """Add an area's own settings: the test mapping or PORTAL_<NAME> wins over the default."""
    environ = os.environ if environ is None else environ
    for name, default in area_defaults.items():
        if name in config:
            continue
        raw = environ.get(f"PORTAL_{name}")
        config[name] = default if raw is None else _parse(raw, default, name)
