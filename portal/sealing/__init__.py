"""Sealing: every encrypted value of the portal goes through this package's public face.

- envelope encryption: AES-256-GCM under a fresh data key per value, the data key wrapped by
  the key file's current key-encryption key and bound to the same place (`seal_value`,
  `open_value`, `open_with_refresh`; `seal`/`open_` for values sealed directly under a
  single-purpose key, the TOTP secrets);
- the associated-data layouts, one builder per place a sealed value is stored (`patient_aad`,
  `revision_aad`, `rights_details_aad`, `rights_answer_aad`, `totp_aad`, ...);
- the key ring as the app holds it, reloaded after a rotation (`ring_of`);
- bulk opening for exports (`BulkOpener`), keyed blind indexes (`blind_index`) and the
  opaque reference of a case (`case_reference`);
- key rotation (`rotate_kek`, `retire_kek`, and their commands `portal keys rotate|retire-kek`;
  areas register their sealed tables) and the key check values that tie a key file to its
  database (`KeyCheck`);
- sealed streams (`sealed_stream`): the chunked AES-256-GCM format of backup files, a
  documented header, each chunk bound to its index and the last one marked.

Other areas import only from `portal.sealing`, never its modules. This package imports no
area but `audit` (the rotation's trail entries).
"""

from __future__ import annotations

from portal.sealing import stream as sealed_stream
from portal.sealing.bulk import BulkOpener
from portal.sealing.commands import retire_kek_command, rotate_command
from portal.sealing.envelope import (
    NONCE_BYTES,
    IntegrityCheckFailed,
    Sealed,
    WrappedKey,
    canonical_json,
    new_data_key,
    open_,
    open_value,
    rewrap_data_key,
    seal,
    seal_value,
    unwrap_data_key,
    wrap_context,
    wrap_context_prefix,
    wrap_data_key,
)
from portal.sealing.indexes import CASE_REFERENCE_PREFIX, blind_index, case_reference
from portal.sealing.key_checks import KeyCheck, check_keys_against_database
from portal.sealing.layouts import (
    PATIENT_DUPLICATE_INDEX,
    RECORDS_AAD_PREFIX,
    RIGHTS_CASE_REFERENCE_INDEX,
    associated_data,
    outbox_aad,
    patient_aad,
    revision_aad,
    revision_aad_maker,
    rights_answer_aad,
    rights_details_aad,
    schedule_state_aad,
    totp_aad,
)
from portal.sealing.ring import open_with_refresh, ring_of
from portal.sealing.rotation import (
    RotationReport,
    WrappedTable,
    register_integrity_reporter,
    register_wrapped_table,
    retire_kek,
    rotate_kek,
    rows_on_other_versions,
    rows_using,
)

__all__ = [
    "CASE_REFERENCE_PREFIX",
    "NONCE_BYTES",
    "PATIENT_DUPLICATE_INDEX",
    "RECORDS_AAD_PREFIX",
    "RIGHTS_CASE_REFERENCE_INDEX",
    "BulkOpener",
    "IntegrityCheckFailed",
    "KeyCheck",
    "RotationReport",
    "Sealed",
    "WrappedKey",
    "WrappedTable",
    "associated_data",
    "blind_index",
    "case_reference",
    "canonical_json",
    "check_keys_against_database",
    "new_data_key",
    "open_",
    "open_value",
    "outbox_aad",
    "open_with_refresh",
    "patient_aad",
    "register_integrity_reporter",
    "register_wrapped_table",
    "retire_kek",
    "retire_kek_command",
    "revision_aad",
    "revision_aad_maker",
    "rewrap_data_key",
    "rights_answer_aad",
    "rights_details_aad",
    "schedule_state_aad",
    "ring_of",
    "rotate_command",
    "rotate_kek",
    "rows_on_other_versions",
    "rows_using",
    "sealed_stream",
    "seal",
    "seal_value",
    "totp_aad",
    "unwrap_data_key",
    "wrap_context",
    "wrap_context_prefix",
    "wrap_data_key",
]
