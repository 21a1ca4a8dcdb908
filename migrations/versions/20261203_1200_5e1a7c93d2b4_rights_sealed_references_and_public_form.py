"""rights: typed references sealed, doctors without an account, the public form

Revision ID: 5e1a7c93d2b4
Revises: c4e1a7d9f3b2
Create Date: 2026-12-03 12:00:00

The case number and correspondence reference a person typed leave the clear columns: the case
number keeps a keyed blind index, both go sealed into `rights_request_details`. Sealing needs
the key file, so rows holding such values are converted only when the upgrade runs inside the
portal (`portal db upgrade`); an empty table needs nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

import portal.db

revision = '5e1a7c93d2b4'
down_revision = 'c4e1a7d9f3b2'
branch_labels = None
depends_on = None

OLD_STATES = ("'received', 'identity_pending', 'in_progress', 'extended', 'answered', "
              "'refused', 'closed'")
NEW_STATES = "'unverified', " + OLD_STATES
OLD_SUBJECT = ("(requester_type = 'professional_self' AND subject_user_id IS NOT NULL AND "
               "patient_id IS NULL) OR (requester_type <> 'professional_self' AND "
               "(patient_id IS NOT NULL OR case_reference IS NOT NULL))")
NEW_SUBJECT = ("(requester_type = 'professional_self' AND subject_user_id IS NOT NULL AND "
               "patient_id IS NULL) OR (requester_type <> 'professional_self' AND "
               "(patient_id IS NOT NULL OR case_index IS NOT NULL OR channel = 'web'))")
OLD_DIRECT = ("requester_type <> 'patient_direct' OR via_professional_id IS NOT NULL OR "
              "via_establishment_id IS NOT NULL")
NEW_DIRECT = OLD_DIRECT + " OR channel = 'web'"
OLD_REVIEWED = "answered_at IS NULL OR NOT manual_review OR review_cleared_at IS NOT NULL"
NEW_REVIEWED = ("answered_at IS NULL OR NOT manual_review OR (review_cleared_at IS NOT NULL "
                "AND identity_confirmed_at IS NOT NULL AND relation_confirmed_at IS NOT NULL)")
DOCTOR = "doctor_rpps IS NULL OR answered_at IS NULL OR identity_confirmed_at IS NOT NULL"


def _ring():  # noqa: ANN202
    from flask import current_app, has_app_context

    if not has_app_context():
        raise RuntimeError(
            "rights requests hold typed case numbers or references to seal: run this "
            "upgrade with `portal db upgrade`, which has the key file")
    return current_app.extensions["portal.keys"]


def _typed_rows(connection: sa.Connection) -> list[sa.Row]:
    return list(connection.execute(sa.text(
        "SELECT id, case_reference, correspondence_ref FROM rights_request "
        "WHERE case_reference IS NOT NULL OR correspondence_ref IS NOT NULL")).all())


def _seal_existing(connection: sa.Connection, rows: list[sa.Row], ring) -> None:  # noqa: ANN001
    from portal.rights.references import case_index_with
    from portal.sealing import rights_details_aad, seal_value

    for row in rows:
        values = {key: value for key, value in (("case_reference", row.case_reference),
                                                ("correspondence_ref", row.correspondence_ref))
                  if value}
        handle = secrets.token_urlsafe(16)
        sealed = seal_value(ring, rights_details_aad(handle, row.id), values)
        connection.execute(sa.text(
            "INSERT INTO rights_request_details (request_id, handle, kek_version, wrapped_key, "
            "payload) VALUES (:id, :handle, :kek, :wrapped, :payload)"),
            {"id": row.id, "handle": handle, "kek": sealed.kek_version,
             "wrapped": sealed.wrapped_key, "payload": sealed.payload})
        connection.execute(sa.text("UPDATE rights_request SET case_index = :index WHERE id = :id"),
                           {"index": case_index_with(ring, row.case_reference), "id": row.id})


#: the tables whose rows hang on a request with ON DELETE CASCADE
CHILDREN = ('rights_request_event', 'rights_suspension', 'rights_answer',
            'rights_request_details')


@contextmanager
def _children_kept(connection: sa.Connection, tables: tuple[str, ...]) -> Iterator[None]:
    """Keep the rows of `tables` through a batch rebuild of rights_request on SQLite.

    SQLite rebuilds the table to change a constraint, and dropping the old one deletes its
    children through ON DELETE CASCADE when foreign keys are enforced.
    """
    if connection.dialect.name != 'sqlite':
        yield
        return
    present = set(sa.inspect(connection).get_table_names())
    # The names come from CHILDREN, never from input.
    kept = [table for table in tables if table in present]
    for table in kept:
        connection.execute(sa.text(f'CREATE TEMP TABLE "keep_{table}" AS SELECT * FROM "{table}"'))  # noqa: S608
    yield
    for table in kept:
        restore = (f'INSERT INTO "{table}" SELECT * FROM "keep_{table}" '  # noqa: S608
                   f'WHERE id NOT IN (SELECT id FROM "{table}")')
        connection.execute(sa.text(restore))
        connection.execute(sa.text(f'DROP TABLE "keep_{table}"'))


def upgrade() -> None:
    connection = op.get_bind()
    # Before any change: SQLite does not undo DDL when a migration fails half-way.
    typed = _typed_rows(connection)
    ring = _ring() if typed else None
    op.create_table('rights_request_details',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('handle', sa.String(length=32), nullable=False),
    sa.Column('kek_version', sa.Integer(), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['rights_request.id'], name=op.f('fk_rights_request_details_request_id_rights_request'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rights_request_details')),
    sa.UniqueConstraint('handle', name=op.f('uq_rights_request_details_handle')),
    sa.UniqueConstraint('request_id', name=op.f('uq_rights_request_details_request_id'))
    )
    with _children_kept(connection, CHILDREN), \
            op.batch_alter_table('rights_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('case_index', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('doctor_rpps', sa.String(length=11), nullable=True))
        batch_op.add_column(sa.Column('relation_confirmed_at', portal.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('relation_confirmed_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_rights_request_relation_confirmed_by_id_users'), 'users', ['relation_confirmed_by_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_rights_request_case_index'), ['case_index'], unique=False)

    _seal_existing(connection, typed, ring)
    # A review cleared under the former rule was the DPO's check of both identity and relation.
    connection.execute(sa.text(
        "UPDATE rights_request SET relation_confirmed_at = review_cleared_at, "
        "relation_confirmed_by_id = review_cleared_by_id WHERE review_cleared_at IS NOT NULL"))
    connection.execute(sa.text(
        "UPDATE rights_request SET identity_confirmed_at = review_cleared_at, "
        "identity_confirmed_by_id = review_cleared_by_id "
        "WHERE review_cleared_at IS NOT NULL AND identity_confirmed_at IS NULL"))

    with _children_kept(connection, CHILDREN), \
            op.batch_alter_table('rights_request', schema=None) as batch_op:
        for name in ('subject_named', 'direct_names_confirmer', 'reviewed_before_answer',
                     'state_known', 'channel_known'):
            batch_op.drop_constraint(op.f(f'ck_rights_request_{name}'), type_='check')
        batch_op.drop_column('case_reference')
        batch_op.drop_column('correspondence_ref')
        batch_op.create_check_constraint(op.f('ck_rights_request_subject_named'), NEW_SUBJECT)
        batch_op.create_check_constraint(op.f('ck_rights_request_direct_names_confirmer'), NEW_DIRECT)
        batch_op.create_check_constraint(op.f('ck_rights_request_reviewed_before_answer'), NEW_REVIEWED)
        batch_op.create_check_constraint(op.f('ck_rights_request_doctor_confirmed_before_answer'), DOCTOR)
        batch_op.create_check_constraint(op.f('ck_rights_request_state_known'), f"state IN ({NEW_STATES})")
        batch_op.create_check_constraint(op.f('ck_rights_request_channel_known'), "channel IN ('portal', 'email', 'post', 'web')")
    with op.batch_alter_table('rights_request_event', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_rights_request_event_from_state_known'), type_='check')
        batch_op.drop_constraint(op.f('ck_rights_request_event_to_state_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_rights_request_event_from_state_known'), f"from_state IS NULL OR from_state IN ({NEW_STATES})")
        batch_op.create_check_constraint(op.f('ck_rights_request_event_to_state_known'), f"to_state IN ({NEW_STATES})")


def downgrade() -> None:
    connection = op.get_bind()
    if connection.execute(sa.text(
            "SELECT count(*) FROM rights_request WHERE channel = 'web' OR state = 'unverified' "
            "OR doctor_rpps IS NOT NULL")).scalar():
        raise RuntimeError("requests from the public form or from doctors without an account "
                           "exist: the former schema cannot hold them")
    if connection.execute(sa.text("SELECT count(*) FROM rights_request_details")).scalar():
        raise RuntimeError("sealed typed references exist: the former schema would need them "
                           "in clear, which this portal no longer writes")
    with op.batch_alter_table('rights_request_event', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_rights_request_event_from_state_known'), type_='check')
        batch_op.drop_constraint(op.f('ck_rights_request_event_to_state_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_rights_request_event_from_state_known'), f"from_state IS NULL OR from_state IN ({OLD_STATES})")
        batch_op.create_check_constraint(op.f('ck_rights_request_event_to_state_known'), f"to_state IN ({OLD_STATES})")
    with _children_kept(connection, CHILDREN[:3]), \
            op.batch_alter_table('rights_request', schema=None) as batch_op:
        for name in ('subject_named', 'direct_names_confirmer', 'reviewed_before_answer',
                     'doctor_confirmed_before_answer', 'state_known', 'channel_known'):
            batch_op.drop_constraint(op.f(f'ck_rights_request_{name}'), type_='check')
        batch_op.add_column(sa.Column('case_reference', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('correspondence_ref', sa.String(length=64), nullable=True))
    connection.execute(sa.text(
        "UPDATE rights_request SET case_reference = (SELECT case_number FROM patient "
        "WHERE patient.id = rights_request.patient_id) WHERE patient_id IS NOT NULL"))
    with _children_kept(connection, CHILDREN[:3]), \
            op.batch_alter_table('rights_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rights_request_case_index'))
        batch_op.drop_constraint(batch_op.f('fk_rights_request_relation_confirmed_by_id_users'), type_='foreignkey')
        batch_op.drop_column('relation_confirmed_by_id')
        batch_op.drop_column('relation_confirmed_at')
        batch_op.drop_column('doctor_rpps')
        batch_op.drop_column('case_index')
        batch_op.create_check_constraint(op.f('ck_rights_request_subject_named'), OLD_SUBJECT)
        batch_op.create_check_constraint(op.f('ck_rights_request_direct_names_confirmer'), OLD_DIRECT)
        batch_op.create_check_constraint(op.f('ck_rights_request_reviewed_before_answer'), OLD_REVIEWED)
        batch_op.create_check_constraint(op.f('ck_rights_request_state_known'), f"state IN ({OLD_STATES})")
        batch_op.create_check_constraint(op.f('ck_rights_request_channel_known'), "channel IN ('portal', 'email', 'post')")
    op.drop_table('rights_request_details')
