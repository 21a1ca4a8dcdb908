"""Values sealed before `portal.sealing` existed still open, byte for byte.

`tests/data/sealing/vectors.json` was written by the code of commit 0e8ed77 (`portal.crypto`,
`portal.records.crypto_store`, `accounts.authentication._totp_aad`, the rights AADs) with a
fixed key file: every layout, wrap context and blind index below must give the same bytes, or
existing databases and key files would stop opening.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from portal.keys import KeyRing
from portal.records.duplicate_index import duplicate_index
from portal.rights.references import case_index_with
from portal.sealing import (
    BulkOpener,
    IntegrityCheckFailed,
    WrappedKey,
    canonical_json,
    open_,
    open_value,
    patient_aad,
    revision_aad,
    revision_aad_maker,
    rewrap_data_key,
    rights_answer_aad,
    rights_details_aad,
    totp_aad,
    unwrap_data_key,
    wrap_context_prefix,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "data" / "sealing" / "vectors.json").read_text("utf-8"))
BY_NAME = {entry["name"]: entry for entry in VECTORS["values"]}


def _b(text: str) -> bytes:
    return base64.b64decode(text)


def _ring() -> KeyRing:
    data = VECTORS["key_file"]
    return KeyRing(keks={int(v): _b(k) for v, k in data["keks"].items()},
                   current_kek=data["current_kek"],
                   single={name: _b(data[name]) for name in
                           ("blind_index", "totp", "audit", "backup")})


def test_every_layout_builds_the_bytes_it_built_before() -> None:
    assert _b(BY_NAME["patient"]["aad"]) == patient_aad("P-7Q2K9", "aac-exemple")
    built = revision_aad("S-4KD2", 3, "submitted", "P-7Q2K9", "aac-exemple", "ab12cd",
                         "inclusion")
    assert _b(BY_NAME["submission_revision"]["aad"]) == built
    assert revision_aad_maker("aac-exemple", "ab12cd", "inclusion")(
        "S-4KD2", 3, "submitted", "P-7Q2K9") == built
    assert _b(BY_NAME["rights_request_details"]["aad"]) == rights_details_aad("R-88", 12)
    assert _b(BY_NAME["rights_answer"]["aad"]) == rights_answer_aad("A-91", 12)
    assert _b(VECTORS["totp"]["aad"]) == totp_aad(42)
    for version, prefix in VECTORS["wrap_context_prefix"].items():
        assert wrap_context_prefix(int(version)) == _b(prefix)


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_values_sealed_before_the_move_open(name: str) -> None:
    entry = BY_NAME[name]
    ring = _ring()
    args = (_b(entry["aad"]), _b(entry["payload"]), _b(entry["wrapped_key"]),
            entry["kek_version"])
    assert open_value(ring, *args) == entry["value"]
    assert BulkOpener(ring).open(*args) == canonical_json(entry["value"])
    # Moved to another place, the same bytes fail instead of opening.
    with pytest.raises(IntegrityCheckFailed):
        open_value(ring, _b(BY_NAME["rights_answer" if name == "patient" else "patient"]["aad"]),
                   *args[1:])


def test_a_key_wrapped_before_the_move_rewraps_under_the_current_key() -> None:
    entry = BY_NAME["patient"]
    ring = _ring()
    assert entry["kek_version"] == 1 and ring.current_kek == 2
    old = WrappedKey(1, _b(entry["wrapped_key"]))
    fresh = rewrap_data_key(ring, old, _b(entry["aad"]))
    assert fresh.kek_version == 2
    assert unwrap_data_key(ring, fresh, _b(entry["aad"])) == unwrap_data_key(
        ring, old, _b(entry["aad"]))
    assert open_value(ring, _b(entry["aad"]), _b(entry["payload"]), fresh.wrapped, 2) == (
        entry["value"])


def test_a_totp_secret_sealed_before_the_move_opens() -> None:
    totp = VECTORS["totp"]
    key = _ring().key("totp")
    assert open_(key, _b(totp["sealed"]), totp_aad(totp["user_id"])).decode() == totp["secret"]
    with pytest.raises(IntegrityCheckFailed):
        open_(key, _b(totp["sealed"]), totp_aad(totp["user_id"] + 1))


def test_blind_indexes_are_unchanged() -> None:
    ring = _ring()
    assert duplicate_index(ring, *VECTORS["duplicate_index"]["args"]) == (
        VECTORS["duplicate_index"]["hex"])
    assert case_index_with(ring, VECTORS["case_index"]["reference"]) == (
        VECTORS["case_index"]["hex"])
