"""The key file: key-encryption keys and the single-purpose keys, never in the database.

One key, one usage (RGS RègleGestSym-1, SEC-CRY-1e): patient data is sealed under data keys
wrapped by a versioned key-encryption key (KEK); the blind index, TOTP secrets, the audit chain
and backups each have their own key. The database only keeps a key check value per key, so
that a portal started with the wrong key file refuses to run instead of writing unreadable data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

SINGLE_PURPOSE_KEYS = ("blind_index", "totp", "audit", "backup")
FORMAT_VERSION = 1


class KeyFileError(Exception):
    """The key file is missing, unreadable, malformed or does not match the database."""


@dataclass
class KeyRing:
    """The keys read from the key file."""

    keks: dict[int, bytes]
    current_kek: int
    single: dict[str, bytes] = field(default_factory=dict)
    path: Path | None = None

    def kek(self, version: int | None = None) -> tuple[int, bytes]:
        """Return (version, key) of the given or current key-encryption key."""
        version = self.current_kek if version is None else version
        try:
            return version, self.keks[version]
        except KeyError:
            raise KeyFileError(
                f"the key file has no key-encryption key version {version}"
            ) from None

    def key(self, purpose: str) -> bytes:
        """Return the single-purpose key for `purpose` (blind_index, totp, audit, backup)."""
        return self.single[purpose]

    def check_values(self) -> dict[str, str]:
        """Return a key check value per key id: proves a match without revealing the key."""
        values = {f"kek:{v}": _check_value(k) for v, k in self.keks.items()}
        values.update({name: _check_value(k) for name, k in self.single.items()})
        return values

    def to_json(self) -> str:
        """Serialise the ring in the key file format."""
        b64 = lambda k: base64.b64encode(k).decode()  # noqa: E731
        return json.dumps(
            {
                "format": FORMAT_VERSION,
                "current_kek": self.current_kek,
                "keks": {str(v): b64(k) for v, k in sorted(self.keks.items())},
                **{name: b64(k) for name, k in self.single.items()},
            },
            indent=2,
        )


def _check_value(key: bytes) -> str:
    return hmac.new(key, b"aac-portal key check value v1", hashlib.sha256).hexdigest()[:32]


def new_keyring() -> KeyRing:
    """Generate a fresh ring: KEK version 1 and one 256-bit key per purpose."""
    return KeyRing(
        keks={1: secrets.token_bytes(32)},
        current_kek=1,
        single={name: secrets.token_bytes(32) for name in SINGLE_PURPOSE_KEYS},
    )


def write_key_file(path: Path, ring: KeyRing, *, overwrite: bool = False) -> None:
    """Write the ring to `path` with mode 0400 (read-only, owner only)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise KeyFileError(f"{path} already exists; refusing to overwrite a key file")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(ring.to_json())
    os.chmod(tmp, 0o400)
    os.replace(tmp, path)
    ring.path = path


def load_key_file(path: Path) -> KeyRing:
    """Read and check a key file; every failure is a `KeyFileError` with one clear sentence."""
    path = Path(path)
    try:
        raw = path.read_text()
    except FileNotFoundError:
        raise KeyFileError(
            f"The key file {path} is missing: create it with `portal keys init` "
            "or set PORTAL_KEY_FILE."
        ) from None
    except OSError as exc:
        raise KeyFileError(f"The key file {path} cannot be read: {exc.strerror}.") from None
    _refuse_shared_access(path)
    try:
        data = json.loads(raw)
        if data.get("format") != FORMAT_VERSION:
            raise ValueError("unknown format")
        keks = {int(v): base64.b64decode(k, validate=True) for v, k in data["keks"].items()}
        single = {
            name: base64.b64decode(data[name], validate=True) for name in SINGLE_PURPOSE_KEYS
        }
        current = int(data["current_kek"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise KeyFileError(f"The key file {path} is not a valid AAC Portal key file.") from None
    if current not in keks or any(len(k) != 32 for k in [*keks.values(), *single.values()]):
        raise KeyFileError(f"The key file {path} is not a valid AAC Portal key file.")
    return KeyRing(keks=keks, current_kek=current, single=single, path=path)


def _refuse_shared_access(path: Path) -> None:
    """Refuse a key file that its group or other users may read or write (SEC-CRY-2).

    Anyone who can read it can unseal every patient's data; anyone who can write it can make the
    portal seal new data under a key of his choosing. Only the owner may do either.
    """
    mode = path.stat().st_mode
    if mode & 0o077:
        raise KeyFileError(
            f"The key file {path} is open to its group or other users (mode "
            f"{mode & 0o777:04o}): make it the owner's only with `chmod 400 {path}`."
        )


def keyring_of(session: Session) -> KeyRing:
    """Return the key ring of the app a session was opened for."""
    from portal.db import app_of

    return app_of(session).extensions["portal.keys"]


def init_app(app: object) -> None:
    """Load the key file at start-up; development creates one in instance/ on first run."""
    from flask import Flask

    assert isinstance(app, Flask)
    path = Path(app.config["KEY_FILE"])
    default_path = Path(app.instance_path) / "portal.keys"
    if not path.exists() and app.config["ENV"] == "development" and path == default_path:
        write_key_file(path, new_keyring())
    app.extensions["portal.keys"] = load_key_file(path)
