"""records: a hand-off names its form by an opaque keyed code, not the submission id (issue 26)

A row of `event_hand_off` pointing at a submission told whoever reads the database, without any
key, that the patient had an adverse event or a pregnancy (and which form code is the event
form). The row now holds `event_ref`, an HMAC of the submission id under its own derived key.

Revision ID: c7e2a9d4b6f1
Revises: a3c9e5f7b1d4
Create Date: 2026-12-03 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from portal.records.form_codes import codes_for
from portal.records.pharmacovigilance import event_ref_under

revision = "c7e2a9d4b6f1"
down_revision = "a3c9e5f7b1d4"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("event_hand_off") as batch:
        batch.add_column(sa.Column("event_ref", sa.String(length=36), nullable=True))
    rows = bind.execute(sa.text("SELECT id, submission_id FROM event_hand_off")).all()
    if rows:
        ring = codes_for(bind.dialect).ring()
        for row_id, submission_id in rows:
            bind.execute(sa.text("UPDATE event_hand_off SET event_ref = :ref WHERE id = :id"),
                         {"ref": event_ref_under(ring, submission_id), "id": row_id})
    with op.batch_alter_table("event_hand_off") as batch:
        batch.drop_constraint("uq_event_hand_off_revision", type_="unique")
        batch.drop_constraint("fk_event_hand_off_submission_id_submission", type_="foreignkey")
        batch.drop_column("submission_id")
        batch.alter_column("event_ref", existing_type=sa.String(length=36), nullable=False)
        batch.create_unique_constraint("uq_event_hand_off_revision",
                                       ["event_ref", "revision_number"])
        batch.create_index("ix_event_hand_off_event_ref", ["event_ref"])


def downgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("event_hand_off") as batch:
        batch.add_column(sa.Column("submission_id", sa.Integer(), nullable=True))
    refs = {r for (r,) in bind.execute(sa.text("SELECT event_ref FROM event_hand_off"))}
    if refs:
        ring = codes_for(bind.dialect).ring()
        for (submission_id,) in bind.execute(sa.text("SELECT id FROM submission")).all():
            ref = event_ref_under(ring, submission_id)
            if ref in refs:
                bind.execute(sa.text("UPDATE event_hand_off SET submission_id = :id "
                                     "WHERE event_ref = :ref"), {"id": submission_id, "ref": ref})
    # A hand-off whose submission is gone (purged) has nothing to point at any more.
    bind.execute(sa.text("DELETE FROM event_hand_off WHERE submission_id IS NULL"))
    with op.batch_alter_table("event_hand_off") as batch:
        batch.drop_index("ix_event_hand_off_event_ref")
        batch.drop_constraint("uq_event_hand_off_revision", type_="unique")
        batch.drop_column("event_ref")
        batch.alter_column("submission_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key("fk_event_hand_off_submission_id_submission", "submission",
                                 ["submission_id"], ["id"])
        batch.create_unique_constraint("uq_event_hand_off_revision",
                                       ["submission_id", "revision_number"])
