"""Anchors: the chain head, signed with the audit key, kept where the database owner cannot reach.

Whoever owns the database can drop the triggers (ddl.py), delete the newest entries and rewind
`audit_head`: what remains is a genuine chain, and the walk alone cannot tell. So the jobs that
already run daily (`portal audit check`, `portal audit purge`) and `portal audit head` leave the
head they reached outside the database, as an anchor:

- a file in AUDIT_ANCHOR_DIR (a directory the database owner cannot write to, best a mount of
  another host), named `audit-anchor-<seq>-<UTC time>.json`, mode 0600, never overwritten;
- and/or a mail to AUDIT_ANCHOR_MAIL, for an operator to keep.

Each anchor is signed with HMAC-SHA-256 under the audit key of the key file, which the database
does not hold. `verify` (and the daily check's broken-chain rule) read every genuine anchor of
the directory: the trail must still reach the newest one, and hold the anchored hash at each
anchored sequence number the purge has not passed. A file whose signature does not hold is
reported and ignored, never trusted.

Entries written after the newest anchor can still be cut unseen: the loss that goes unnoticed is
bounded by the time between two anchors.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask

from portal import clock
from portal.audit.services import Head, canonical
from portal.audit.settings import setting
from portal.audit.verify import ExportedHead

ANCHOR_LABEL = b"aac-portal audit anchor v1\x00"
FORMAT = "aac-portal-audit-anchor-1"
#: the signed fields, in the file and in the MAC
FIELDS = ("format", "seq", "hash", "at", "anchored_at")
FILE_NAME = re.compile(r"^audit-anchor-(\d{12,})-(\d{8}T\d{6}Z)\.json$")
#: an anchor is a few hundred bytes; anything much larger is not one
MAX_FILE_SIZE = 4096


class AnchorError(Exception):
    """An anchor could not be written, or a file is not a genuine anchor."""


@dataclass(frozen=True)
class Anchor:
    """A chain head kept outside the database: the trail must still contain it unchanged."""

    seq: int
    hash: bytes
    #: when the entry at `seq` was written (None for an empty trail)
    at: datetime | None
    #: when the anchor was written
    anchored_at: datetime
    path: Path | None = field(default=None, compare=False)

    def fields(self) -> dict[str, Any]:
        """Return the signed fields as they are written."""
        return {
            "format": FORMAT,
            "seq": self.seq,
            "hash": self.hash.hex(),
            "at": self.at.isoformat(timespec="microseconds") if self.at is not None else None,
            "anchored_at": self.anchored_at.isoformat(timespec="microseconds"),
        }

    def to_json(self, key: bytes) -> str:
        """Return the anchor file's text, signed under `key`."""
        fields = self.fields()
        return json.dumps({**fields, "mac": anchor_mac(key, fields).hex()}, indent=2) + "\n"

    def as_head(self) -> ExportedHead:
        """Return the anchor as a head that `verify` checks the trail against."""
        return ExportedHead(self.seq, self.hash, origin="anchored head")

    def age(self, now: datetime) -> timedelta:
        """Return how long ago the anchor was written (never negative)."""
        return max(now - self.anchored_at, timedelta(0))


def anchor_mac(key: bytes, fields: dict[str, Any]) -> bytes:
    """Return the MAC of an anchor's fields under the audit key."""
    return hmac.new(key, ANCHOR_LABEL + canonical(fields), hashlib.sha256).digest()


def is_anchor(data: Any) -> bool:
    """True when `data` (parsed JSON) claims to be an anchor, genuine or not."""
    return isinstance(data, dict) and data.get("format") == FORMAT


def _time(value: Any, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise AnchorError(f"its {name} is not a date and time") from None
    if parsed.tzinfo is None:
        raise AnchorError(f"its {name} has no time zone")
    return parsed.astimezone(UTC)


def from_json(data: Any, key: bytes, path: Path | None = None) -> Anchor:
    """Read and authenticate an anchor; AnchorError saying why when it is not a genuine one."""
    if not is_anchor(data):
        raise AnchorError("it is not an audit anchor")
    try:
        fields = {name: data[name] for name in FIELDS}
        mac = bytes.fromhex(str(data["mac"]))
    except (KeyError, ValueError):
        raise AnchorError("it lacks a field or its signature") from None
    # The MAC covers the values exactly as stored: nothing is trusted before it holds.
    if not hmac.compare_digest(anchor_mac(key, fields), mac):
        raise AnchorError("its signature does not hold under the audit key: it was forged, "
                          "altered, or written by another installation")
    seq = fields["seq"]
    try:
        digest = bytes.fromhex(str(fields["hash"]))
    except ValueError:
        raise AnchorError("its hash is not hexadecimal") from None
    if not isinstance(seq, int) or seq < 0 or len(digest) != 32:
        raise AnchorError("its sequence number or hash is malformed")
    at = _time(fields["at"], "entry time") if fields["at"] is not None else None
    return Anchor(seq, digest, at, _time(fields["anchored_at"], "anchoring time"), path)


def file_name(anchor: Anchor) -> str:
    """Return the file name of an anchor: sorted by sequence number, then by time."""
    stamp = anchor.anchored_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"audit-anchor-{anchor.seq:012d}-{stamp}.json"


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_anchor(directory: Path, key: bytes, anchor: Anchor) -> Path:
    """Write `anchor` into `directory` (created 0700 if missing) as a new 0600 file.

    An existing file is never replaced: the same anchor already there is fine, any other file
    under that name raises AnchorError.
    """
    final = directory / file_name(anchor)
    body = anchor.to_json(key).encode()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Written whole under a temporary name, then linked: a reader never sees half a file,
        # and link() refuses an existing name where rename() would replace it.
        tmp = directory / f".{final.name}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, final)
            except FileExistsError:
                _same_anchor_or_refuse(final, key, anchor)
            except OSError:
                # A file system without hard links: create the final name exclusively instead.
                _write_exclusive(final, body, key, anchor)
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise AnchorError(f"cannot write {final}: {exc.strerror or exc}") from None
    _fsync_directory(directory)
    return final


def _write_exclusive(final: Path, body: bytes, key: bytes, anchor: Anchor) -> None:
    try:
        fd = os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _same_anchor_or_refuse(final, key, anchor)
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())


def _same_anchor_or_refuse(final: Path, key: bytes, anchor: Anchor) -> None:
    try:
        existing = from_json(json.loads(final.read_bytes()[:MAX_FILE_SIZE]), key)
    except (OSError, ValueError, AnchorError):
        existing = None
    if existing is None or (existing.seq, existing.hash) != (anchor.seq, anchor.hash):
        raise AnchorError(f"{final} already exists and holds another anchor; "
                          "an anchor is never overwritten")


@dataclass
class AnchorScan:
    """What reading an anchor directory found."""

    directory: Path
    #: every genuine anchor, by sequence number then time
    anchors: list[Anchor] = field(default_factory=list)
    #: files named like anchors that are not genuine, with the reason
    rejected: list[tuple[Path, str]] = field(default_factory=list)
    #: why the directory could not be read at all
    error: str | None = None

    @property
    def newest(self) -> Anchor | None:
        """The genuine anchor with the highest sequence number (the latest of equals)."""
        return self.anchors[-1] if self.anchors else None

    def heads(self) -> list[ExportedHead]:
        """Every genuine anchor as a head for `verify`."""
        return [anchor.as_head() for anchor in self.anchors]


def read_anchors(directory: Path, key: bytes) -> AnchorScan:
    """Read every anchor file of `directory`: the genuine anchors, and why the others are not.

    All of them, not only the newest: once the trail was cut, the next daily job anchors the
    shortened trail, and only the anchors written before the cut still show it.
    """
    scan = AnchorScan(directory)
    try:
        names = sorted(n for n in os.listdir(directory) if FILE_NAME.match(n))
    except FileNotFoundError:
        scan.error = "the directory does not exist"
        return scan
    except OSError as exc:
        scan.error = str(exc.strerror or exc)
        return scan
    for name in names:
        path = directory / name
        try:
            with path.open("rb") as handle:
                raw = handle.read(MAX_FILE_SIZE + 1)
            if len(raw) > MAX_FILE_SIZE:
                raise AnchorError("it is too large to be an anchor")
            anchor = from_json(json.loads(raw), key, path)
        except OSError as exc:
            scan.rejected.append((path, f"it cannot be read: {exc.strerror or exc}"))
            continue
        except ValueError:
            scan.rejected.append((path, "it is not JSON"))
            continue
        except AnchorError as exc:
            scan.rejected.append((path, str(exc)))
            continue
        if int(FILE_NAME.match(name).group(1)) != anchor.seq:  # type: ignore[union-attr]
            scan.rejected.append((path, "its name does not match its sequence number"))
            continue
        scan.anchors.append(anchor)
    scan.anchors.sort(key=lambda a: (a.seq, a.anchored_at))
    return scan


def configured_anchors(app: Flask) -> AnchorScan | None:
    """Read the anchors of AUDIT_ANCHOR_DIR; None when no directory is configured."""
    directory = anchor_directory(app)
    return read_anchors(directory, audit_key(app)) if directory is not None else None


def anchor_directory(app: Flask) -> Path | None:
    """Return the configured anchor directory, None when there is none."""
    value = str(setting(app, "AUDIT_ANCHOR_DIR") or "").strip()
    return Path(value) if value else None


def anchor_recipient(app: Flask) -> str | None:
    """Return the address that receives each anchor by mail, None when there is none."""
    value = str(setting(app, "AUDIT_ANCHOR_MAIL") or "").strip()
    return value or None


def max_age(app: Flask) -> timedelta:
    """Return the age beyond which the newest anchor means the daily jobs stopped."""
    return timedelta(days=int(setting(app, "AUDIT_ANCHOR_MAX_AGE_DAYS")))


def audit_key(app: Flask) -> bytes:
    """Return the audit key of the app's key file."""
    return app.extensions["portal.keys"].key("audit")


@dataclass(frozen=True)
class Published:
    """Where one anchor went."""

    anchor: Anchor
    path: Path | None
    mailed_to: str | None


def publish(app: Flask, head: Head) -> Published | None:
    """Anchor `head` in every configured place; None when none is configured or the trail is empty.

    :raises AnchorError: the file could not be written or the mail could not be sent.
    """
    directory, recipient = anchor_directory(app), anchor_recipient(app)
    if head.seq == 0 or (directory is None and recipient is None):
        return None
    key = audit_key(app)
    anchor = Anchor(head.seq, head.hash, head.at, clock.now())
    path = write_anchor(directory, key, anchor) if directory is not None else None
    if recipient is not None:
        _mail(app, recipient, anchor, key)
    return Published(anchor, path, recipient)


def _mail(app: Flask, recipient: str, anchor: Anchor, key: bytes) -> None:
    from flask_babel import force_locale
    from flask_babel import gettext as _

    from portal.mail import MailError, send_mail

    with force_locale(app.config["BABEL_DEFAULT_LOCALE"]):
        subject = _("AAC Portal audit anchor: entry %(seq)s", seq=anchor.seq)
        intro = _("Keep this message: it lets `portal audit verify --head FILE` prove that the "
                  "audit trail still reaches this entry. Save the text below as FILE.")
    try:
        send_mail(app, recipient, subject, f"{intro}\n\n{anchor.to_json(key)}")
    except MailError as exc:
        raise AnchorError(f"cannot mail the anchor to {recipient}: {exc}") from None
