"""records: each patient carries its case's opaque reference, the audit trail's name for it

Audit entries named a patient by its case number, which then outlived the purge of the case in
the trail until the trail's own purge. New entries name it by `reference` (the keyed hash of the
case number that the retention ledger already uses); existing rows get theirs computed with the
key file. The trail is hash-chained: entries written before this revision keep the case number.

Revision ID: 90d1ce2934e4
Revises: c7e2a9d4b6f1
Create Date: 2026-12-04 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from portal.records.form_codes import codes_for
from portal.sealing import case_reference

revision = "90d1ce2934e4"
down_revision = "c7e2a9d4b6f1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    # Added in place, not by a batch copy: on SQLite a copy drops `patient`, which would set
    # the rights requests' links to it to NULL. A SQLite database that already holds patients
    # keeps the column nullable (the portal always sets it); others get the model's NOT NULL.
    op.add_column("patient", sa.Column("reference", sa.String(length=40), nullable=True))
    rows = bind.execute(sa.text("SELECT id, case_number FROM patient")).all()
    if rows:
        ring = codes_for(bind.dialect).ring()
        for row_id, case_number in rows:
            bind.execute(sa.text("UPDATE patient SET reference = :ref WHERE id = :id"),
                         {"ref": case_reference(ring, case_number), "id": row_id})
    if bind.dialect.name != "sqlite":
        op.alter_column("patient", "reference", existing_type=sa.String(length=40),
                        nullable=False)
    elif not rows:
        with op.batch_alter_table("patient") as batch:
            batch.alter_column("reference", existing_type=sa.String(length=40), nullable=False)
    op.create_index("ix_patient_reference", "patient", ["reference"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_patient_reference", "patient")
    op.drop_column("patient", "reference")
