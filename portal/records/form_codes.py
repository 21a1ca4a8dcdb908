"""Form keys stored as opaque keyed codes: the database never says which form a patient has.

A row of `submission` saying `adverse_event` or `pregnancy` tells whoever reads the database
(a dump, a backup, a database administrator) that a patient had such an event, without any key.
So the form key is stored as `fk1_` and the first 128 bits of an HMAC-SHA-256 of the key, under
a key derived from the key file's blind-index key (HKDF, its own label: one derived key per
index, SEC-CRY-3a). The mapping is deterministic, so queries by form key keep working: the
column type turns the key into its code on the way in and back on the way out, by the form keys
of the installed protocol versions. Every code has the same length, whatever the key.

The engine's dialect is the only thing a column type sees, so each app registers its codes on
its engine (`register`), and the type finds them there, inside or outside an app context.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import String, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.types import TypeDecorator

from portal.keys import KeyRing
from portal.protocols.loader import load_text
from portal.protocols.models import ProtocolVersion

PREFIX = "fk1_"
_INFO = b"aac-portal/bidx/form-key/v1"


def code_key(ring: KeyRing) -> bytes:
    """Return the key the form codes are computed under (derived, never stored)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        ring.key("blind_index")
    )


def code_of(key: bytes, form_key: str) -> str:
    """Return the stored code of a form key."""
    digest = hmac.new(key, b"form-key|" + form_key.encode(), hashlib.sha256).hexdigest()
    return PREFIX + digest[:32]


class FormCodes:
    """The codes of one app: computes them, and knows the form keys they stand for."""

    def __init__(self, ring_of: Callable[[], KeyRing], engine: Engine) -> None:
        self._ring_of = ring_of
        self._engine = weakref.ref(engine)
        self._key: bytes | None = None
        self._root: bytes | None = None
        self._keys: dict[str, str] = {}
        self._lock = threading.Lock()

    def _current_key(self) -> bytes:
        root = self._ring_of().key("blind_index")
        if root != self._root:
            # A rotation reloads the ring but keeps the single-purpose keys: this runs once.
            self._key, self._root, self._keys = code_key(self._ring_of()), root, {}
        assert self._key is not None
        return self._key

    def ring(self) -> KeyRing:
        """The key ring of the app that registered these codes (for a migration's own codes)."""
        return self._ring_of()

    def code(self, form_key: str) -> str:
        key = self._current_key()
        found = code_of(key, form_key)
        self._keys.setdefault(found, form_key)
        return found

    def learn(self, form_keys: Iterable[str]) -> None:
        """Note form keys (of a protocol just read) so their codes map back without a query."""
        for form_key in form_keys:
            self.code(form_key)

    def form_key(self, code: str) -> str:
        """Return the form key a stored code stands for (the code itself when none does)."""
        self._current_key()
        found = self._keys.get(code)
        if found is None and code.startswith(PREFIX):
            with self._lock:
                if code not in self._keys:
                    self._learn_installed()
            found = self._keys.get(code)
        return code if found is None else found

    def _learn_installed(self) -> None:
        engine = self._engine()
        if engine is None:
            return
        with engine.connect() as connection:
            self.learn(installed_form_keys(connection))


def installed_form_keys(connection: Connection) -> set[str]:
    """Return the form keys of every installed protocol version."""
    rows = connection.execute(select(ProtocolVersion.source_text, ProtocolVersion.source_name))
    return {form.key for text, name in rows for form in load_text(text, name).definition.forms}


_by_dialect: weakref.WeakKeyDictionary[Any, FormCodes] = weakref.WeakKeyDictionary()


def register(engine: Engine, ring_of: Callable[[], KeyRing]) -> FormCodes:
    """Give an app's engine its form codes (at start-up)."""
    codes = _by_dialect.get(engine.dialect)
    if codes is None:
        codes = _by_dialect[engine.dialect] = FormCodes(ring_of, engine)
    return codes


def codes_for(dialect: Any) -> FormCodes:
    try:
        return _by_dialect[dialect]
    except KeyError:
        raise RuntimeError("form codes are used on an engine no app registered") from None


class FormKey(TypeDecorator[str]):
    """A form key, stored as its keyed code (see the module's docstring)."""

    impl = String(50)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        if value is None or value.startswith(PREFIX):
            return value
        return codes_for(dialect).code(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        if value is None:
            return None
        return codes_for(dialect).form_key(value)


def form_code(session: Any, form_key: str) -> str:
    """Return the code that names a form in audit details (never the key itself)."""
    return codes_for(session.get_bind().dialect).code(form_key)
