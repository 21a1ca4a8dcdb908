"""A chunked authenticated-encryption stream: AES-256-GCM over fixed-size chunks.

Backups are too large to seal in one piece, and a stream sealed in independent pieces could be
cut short, reordered or spliced with pieces of another file. This format follows the STREAM
construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015, as in Tink's streaming AEAD):

File layout (integers big-endian)::

    magic          8 bytes  b"AACSEAL\\x00"
    header length  4 bytes  n
    header         n bytes  UTF-8 JSON, sorted keys:
        format       1 (this layout)
        key_id       which key of the key file seals it ("backup")
        key_check    that key's check value (portal.keys): another key is named, not guessed
        chunk_size   plaintext bytes per chunk (every chunk but the last holds exactly this)
        nonce        "hkdf-sha256-key/prefix7-counter32-last8": see below
        salt         32 random bytes (hex) from which the file's own key is derived
        prefix       7 random bytes (hex), the nonce prefix
        content      what the plaintext is (for the reader), e.g. "portal-backup"
    chunks         each chunk_size + 16 bytes (ciphertext || GCM tag); the last one shorter

Keys and nonces: the file key is HKDF-SHA-256(key, salt, info=b"aac-portal sealed stream v1"),
so no two files share a key even when their random prefixes collide. The nonce of chunk i is
prefix (7 bytes) || i (4 bytes) || last (1 byte: 1 for the final chunk, else 0), so a chunk
moved to another place, or a chunk taken for the last one, fails authentication. Every chunk's
associated data is the magic, the header length and the header: changing any header field
fails every chunk.

The last chunk always holds fewer than chunk_size bytes (possibly none), so the reader knows it
by its length; a file cut at a chunk boundary ends without a final chunk and is refused.
A reader only hands out a chunk's plaintext after it authenticated it; the caller must still
treat everything as untrusted until `read` has returned the final chunk.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"AACSEAL\x00"
FORMAT = 1
NONCE_SCHEME = "hkdf-sha256-key/prefix7-counter32-last8"
DEFAULT_CHUNK_SIZE = 1024 * 1024
#: a header asking for more than this per chunk is refused before any allocation
MAX_CHUNK_SIZE = 64 * 1024 * 1024
MAX_HEADER = 64 * 1024
TAG = 16
_INFO = b"aac-portal sealed stream v1"
_MAX_CHUNKS = 2**32


class StreamError(Exception):
    """The stream cannot be read: its message is one sentence for the operator."""


@dataclass(frozen=True)
class Header:
    """The clear header of a sealed stream."""

    key_id: str
    key_check: str
    chunk_size: int
    salt: bytes
    prefix: bytes
    content: str
    raw: bytes  # the exact bytes authenticated with every chunk

    @property
    def fields(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "key_id": self.key_id,
            "key_check": self.key_check,
            "chunk_size": self.chunk_size,
            "nonce": NONCE_SCHEME,
            "content": self.content,
        }


def _file_key(key: bytes, salt: bytes) -> AESGCM:
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO).derive(key))


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if last else 0)


def _header_bytes(fields: dict[str, object]) -> bytes:
    body = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return MAGIC + struct.pack(">I", len(body)) + body


class Writer:
    """Seal what is written to `out`, chunk by chunk; `close()` writes the final chunk.

    Memory holds at most one chunk of plaintext and one of ciphertext.
    """

    def __init__(
        self,
        out: IO[bytes],
        key: bytes,
        *,
        key_id: str,
        key_check: str,
        content: str,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        if not 1024 <= chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk size {chunk_size} is outside 1 KiB to 64 MiB")
        if len(key) != 32:
            raise ValueError("the stream key must be 256 bits")
        salt, prefix = os.urandom(32), os.urandom(7)
        self.raw_header = _header_bytes(
            {
                "format": FORMAT,
                "key_id": key_id,
                "key_check": key_check,
                "chunk_size": chunk_size,
                "nonce": NONCE_SCHEME,
                "salt": salt.hex(),
                "prefix": prefix.hex(),
                "content": content,
            }
        )
        self._out = out
        self._aead = _file_key(key, salt)
        self._prefix = prefix
        self._size = chunk_size
        self._buffer = bytearray()
        self._index = 0
        self._closed = False
        self.bytes_in = 0
        self.bytes_out = len(self.raw_header)
        out.write(self.raw_header)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise ValueError("write to a closed sealed stream")
        self.bytes_in += len(data)
        view = memoryview(data)
        # A full chunk is only sealed once a byte beyond it arrived: the last chunk must stay
        # shorter than chunk_size, so the one that ends exactly on a boundary waits.
        while view:
            room = self._size - len(self._buffer)
            if len(self._buffer) == self._size:
                self._seal(bytes(self._buffer), last=False)
                self._buffer.clear()
                continue
            self._buffer += view[:room]
            view = view[room:]

    def _seal(self, plaintext: bytes, *, last: bool) -> None:
        if self._index >= _MAX_CHUNKS:
            raise ValueError("sealed stream too long for its chunk counter")
        sealed = self._aead.encrypt(
            _nonce(self._prefix, self._index, last), plaintext, self.raw_header
        )
        self._out.write(sealed)
        self.bytes_out += len(sealed)
        self._index += 1

    def close(self) -> None:
        """Seal the rest and the final chunk (always shorter than chunk_size)."""
        if self._closed:
            return
        if len(self._buffer) == self._size:
            self._seal(bytes(self._buffer), last=False)
            self._buffer.clear()
        self._seal(bytes(self._buffer), last=True)
        self._buffer.clear()
        self._closed = True


def read_header(source: IO[bytes]) -> Header:
    """Read and check the clear header; raises StreamError naming what is wrong."""
    start = source.read(len(MAGIC) + 4)
    if len(start) < len(MAGIC) + 4 or not start.startswith(MAGIC):
        raise StreamError("it is not a sealed AAC Portal file (no sealed-stream header).")
    (length,) = struct.unpack(">I", start[len(MAGIC) :])
    if length > MAX_HEADER:
        raise StreamError("its sealed-stream header is damaged (impossible length).")
    body = source.read(length)
    if len(body) != length:
        raise StreamError("it is truncated inside its header.")
    try:
        fields = json.loads(body)
        if fields["format"] != FORMAT:
            raise StreamError(
                f"its stream format {fields['format']!r} is not one this portal "
                f"reads (format {FORMAT})."
            )
        if fields["nonce"] != NONCE_SCHEME:
            raise StreamError(f"its nonce scheme {fields['nonce']!r} is unknown.")
        header = Header(
            key_id=str(fields["key_id"]),
            key_check=str(fields["key_check"]),
            chunk_size=int(fields["chunk_size"]),
            salt=bytes.fromhex(fields["salt"]),
            prefix=bytes.fromhex(fields["prefix"]),
            content=str(fields["content"]),
            raw=start + body,
        )
    except StreamError:
        raise
    except (ValueError, KeyError, TypeError):
        raise StreamError("its sealed-stream header is damaged.") from None
    if (
        not 1024 <= header.chunk_size <= MAX_CHUNK_SIZE
        or len(header.salt) != 32
        or len(header.prefix) != 7
    ):
        raise StreamError("its sealed-stream header is damaged (impossible values).")
    return header


def _read_full(source: IO[bytes], size: int) -> bytes:
    parts, missing = [], size
    while missing:
        part = source.read(missing)
        if not part:
            break
        parts.append(part)
        missing -= len(part)
    return b"".join(parts)


def read_chunks(source: IO[bytes], key: bytes, header: Header) -> Iterator[bytes]:
    """Yield each chunk's plaintext once authenticated; the stream is whole only at the end.

    :raises StreamError: a chunk fails authentication (altered, moved, from another file or
        key, or bytes appended), or the file ends without its final chunk.
    """
    aead = _file_key(key, header.salt)
    full = header.chunk_size + TAG
    index = 0
    piece = _read_full(source, full)
    while True:
        if len(piece) < TAG:
            if index and not piece:
                raise StreamError(
                    f"it is truncated: it ends after chunk {index} without its final chunk."
                )
            raise StreamError(f"it is truncated inside chunk {index + 1}.")
        last = len(piece) < full
        try:
            plaintext = aead.decrypt(_nonce(header.prefix, index, last), piece, header.raw)
        except InvalidTag:
            raise StreamError(
                f"chunk {index + 1} fails authentication: the file was altered, truncated or "
                "its chunks moved."
            ) from None
        yield plaintext
        index += 1
        if last:
            # Bytes appended after it would have made it longer, and so failed it.
            return
        piece = _read_full(source, full)
