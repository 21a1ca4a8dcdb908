"""lists: keyset indexes of the DPO inbox, the audit trail and the people list; the
pharmacovigilance hand-off and last visit

Revision ID: d7b3f1a9c2e6
Revises: 7d3b9e2a4c61
Create Date: 2026-12-03 12:55:42.773045
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = 'd7b3f1a9c2e6'
down_revision = '7d3b9e2a4c61'
branch_labels = None
depends_on = None

#: the open states of a rights request, as in portal.rights.models.OPEN_SQL at this revision
OPEN = "state IN ('extended', 'identity_pending', 'in_progress', 'received', 'unverified')"


def upgrade() -> None:
    op.create_table('event_list_visit',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('seen_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('previous_seen_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_event_list_visit_user_id_users')),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_event_list_visit'))
    )
    op.create_table('event_hand_off',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('revision_number', sa.Integer(), nullable=False),
    sa.Column('handed_off_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('handed_off_by_id', sa.Integer(), nullable=True),
    sa.Column('handed_off_by_label', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['handed_off_by_id'], ['users.id'], name=op.f('fk_event_hand_off_handed_off_by_id_users')),
    sa.ForeignKeyConstraint(['submission_id'], ['submission.id'], name=op.f('fk_event_hand_off_submission_id_submission')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event_hand_off')),
    sa.UniqueConstraint('submission_id', 'revision_number', name='uq_event_hand_off_revision')
    )
    op.create_index('ix_audit_event_action_seq', 'audit_event', ['action', 'seq'])
    op.create_index('ix_audit_event_actor_id_seq', 'audit_event', ['actor_id', 'seq'])
    op.create_index('ix_audit_event_actor_label_seq', 'audit_event', ['actor_label', 'seq'])
    op.create_index('ix_rights_request_open_due', 'rights_request', ['due_on', 'id'],
                    sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))
    op.create_index('ix_rights_request_open_received', 'rights_request', ['received_at', 'id'],
                    sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))
    op.create_index('ix_users_created', 'users', ['created_at', 'id'])
    op.create_index('ix_users_name', 'users', ['last_name', 'first_name', 'id'])


def downgrade() -> None:
    op.drop_index('ix_users_name', table_name='users')
    op.drop_index('ix_users_created', table_name='users')
    op.drop_index('ix_rights_request_open_received', table_name='rights_request')
    op.drop_index('ix_rights_request_open_due', table_name='rights_request')
    op.drop_index('ix_audit_event_actor_label_seq', table_name='audit_event')
    op.drop_index('ix_audit_event_actor_id_seq', table_name='audit_event')
    op.drop_index('ix_audit_event_action_seq', table_name='audit_event')
    op.drop_table('event_hand_off')
    op.drop_table('event_list_visit')
