"""The chunked sealed stream: what it gives back, and every way of damaging it it refuses."""

from __future__ import annotations

import io
import os

import pytest

from portal.sealing import sealed_stream as stream

KEY = os.urandom(32)
CHUNK = 1024


def _seal(data: bytes, key: bytes = KEY, chunk: int = CHUNK) -> bytes:
    out = io.BytesIO()
    writer = stream.Writer(
        out, key, key_id="backup", key_check="c" * 32, content="test", chunk_size=chunk
    )
    # Written in uneven pieces: the chunking must not depend on how the caller writes.
    for i in range(0, len(data), 777):
        writer.write(data[i : i + 777])
    writer.close()
    return out.getvalue()


def _open(sealed: bytes, key: bytes = KEY) -> bytes:
    source = io.BytesIO(sealed)
    header = stream.read_header(source)
    return b"".join(stream.read_chunks(source, key, header))


def _header_length(sealed: bytes) -> int:
    return len(stream.read_header(io.BytesIO(sealed)).raw)


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 5000])
def test_what_is_sealed_comes_back_whole(size: int) -> None:
    data = os.urandom(size)
    assert _open(_seal(data)) == data


def test_the_header_documents_format_key_chunk_size_and_nonce_scheme() -> None:
    header = stream.read_header(io.BytesIO(_seal(b"x" * 10)))
    assert header.fields == {
        "format": 1,
        "key_id": "backup",
        "key_check": "c" * 32,
        "chunk_size": CHUNK,
        "nonce": stream.NONCE_SCHEME,
        "content": "test",
    }


def test_the_plaintext_is_not_in_the_file() -> None:
    data = b"ZQX-WK AAC-2024-987654 " * 200
    sealed = _seal(data)
    assert b"ZQX-WK" not in sealed and b"AAC-2024" not in sealed


def test_the_last_chunk_is_always_shorter_than_a_chunk() -> None:
    sealed = _seal(b"a" * (2 * CHUNK))
    body = len(sealed) - _header_length(sealed)
    # two full chunks, then an empty final one (its tag only)
    assert body == 2 * (CHUNK + 16) + 16


@pytest.mark.parametrize("where", [0.0, 0.5, 0.999])
def test_a_flipped_byte_is_refused(where: float) -> None:
    sealed = bytearray(_seal(os.urandom(4 * CHUNK + 10)))
    start = _header_length(bytes(sealed))
    position = start + int((len(sealed) - start - 1) * where)
    sealed[position] ^= 0x01
    with pytest.raises(stream.StreamError, match="fails authentication"):
        _open(bytes(sealed))


def test_a_changed_header_fails_every_chunk() -> None:
    sealed = _seal(os.urandom(100))
    changed = sealed.replace(b'"content":"test"', b'"content":"tesT"')
    assert changed != sealed
    with pytest.raises(stream.StreamError, match="chunk 1 fails authentication"):
        _open(changed)


def test_a_file_cut_at_a_chunk_boundary_is_refused() -> None:
    sealed = _seal(os.urandom(3 * CHUNK + 5))
    cut = sealed[: _header_length(sealed) + 2 * (CHUNK + 16)]
    with pytest.raises(stream.StreamError, match="ends after chunk 2 without its final chunk"):
        _open(cut)


def test_a_file_cut_inside_a_chunk_is_refused() -> None:
    sealed = _seal(os.urandom(3 * CHUNK + 5))
    with pytest.raises(stream.StreamError, match="chunk 2 fails authentication"):
        _open(sealed[: _header_length(sealed) + CHUNK + 16 + 100])


def test_swapped_chunks_are_refused() -> None:
    sealed = _seal(os.urandom(4 * CHUNK))
    start, size = _header_length(sealed), CHUNK + 16
    first, second = sealed[start : start + size], sealed[start + size : start + 2 * size]
    swapped = sealed[:start] + second + first + sealed[start + 2 * size :]
    with pytest.raises(stream.StreamError, match="chunk 1 fails authentication"):
        _open(swapped)


def test_a_chunk_of_another_file_is_refused() -> None:
    data = os.urandom(3 * CHUNK)
    one, other = _seal(data), _seal(data)
    start, size = _header_length(one), CHUNK + 16
    spliced = one[: start + size] + other[start + size : start + 2 * size] + one[start + 2 * size :]
    with pytest.raises(stream.StreamError, match="chunk 2 fails authentication"):
        _open(spliced)


def test_another_key_is_refused() -> None:
    with pytest.raises(stream.StreamError, match="chunk 1 fails authentication"):
        _open(_seal(b"secret"), key=os.urandom(32))


def test_data_after_the_final_chunk_is_refused() -> None:
    with pytest.raises(stream.StreamError, match="chunk 1 fails authentication"):
        _open(_seal(b"secret") + b"\x00")


@pytest.mark.parametrize(
    "content", [b"", b"PGDMP", b"AACSEAL\x00\xff\xff\xff\xff", b"AACSEAL\x00\x00\x00\x00\x02{}"]
)
def test_something_that_is_not_a_sealed_file_gets_a_sentence(content: bytes) -> None:
    with pytest.raises(stream.StreamError) as caught:
        stream.read_header(io.BytesIO(content))
    assert str(caught.value).startswith(("it is", "its "))
