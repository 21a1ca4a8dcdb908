"""The keyed blind index that finds a patient registered twice in one establishment."""

from __future__ import annotations

from portal.keys import KeyRing
from portal.sealing import PATIENT_DUPLICATE_INDEX, blind_index


def duplicate_index(ring: KeyRing, letters: str, birth_year: int, birth_month: int, sex: str,
                    establishment_id: int) -> str:
    """Return the keyed blind index of a patient's identity in an establishment (hex)."""
    message = f"{letters}|{birth_year:04d}-{birth_month:02d}|{sex}|{establishment_id}".encode()
    return blind_index(ring, PATIENT_DUPLICATE_INDEX, message)
