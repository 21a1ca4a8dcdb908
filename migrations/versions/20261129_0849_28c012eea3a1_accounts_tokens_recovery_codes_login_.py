"""accounts tokens, recovery codes, login throttling and notices

Revision ID: 28c012eea3a1
Revises: b94b0e54751e
Create Date: 2026-11-29 08:49:38.314513
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = '28c012eea3a1'
down_revision = 'b94b0e54751e'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_failure',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('login_key', sa.String(length=64), nullable=False),
    sa.Column('at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failure'))
    )

    with op.batch_alter_table('login_failure', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_failure_at'), ['at'], unique=False)
        batch_op.create_index('ix_login_failure_login_key_at', ['login_key', 'at'], unique=False)

    op.create_table('login_throttle',
    sa.Column('login_key', sa.String(length=64), nullable=False),
    sa.Column('failed_logins', sa.Integer(), server_default='0', nullable=False),
    sa.Column('locked_until', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('login_key', name=op.f('pk_login_throttle'))
    )

    with op.batch_alter_table('login_throttle', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_throttle_updated_at'), ['updated_at'], unique=False)

    op.create_table('account_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('created_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('voided_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("purpose IN ('activation', 'reset')", name=op.f('ck_account_token_purpose_known')),
    sa.CheckConstraint('expires_at > created_at', name=op.f('ck_account_token_expires_after_creation')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_account_token_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_account_token_token_hash'))
    )

    with op.batch_alter_table('account_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_token_user_id'), ['user_id'], unique=False)

    op.create_table('notice_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('audience', sa.String(length=16), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('slots', sa.JSON(), nullable=False),
    sa.Column('material', sa.Boolean(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('published_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('approved_by_id', sa.Integer(), nullable=True),
    sa.Column('approved_by_label', sa.String(length=200), nullable=True),
    sa.Column('superseded_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('body_fr', sa.Text(), nullable=True),
    sa.Column('body_en', sa.Text(), nullable=True),
    sa.Column('revision', sa.Integer(), server_default='1', nullable=False),
    sa.CheckConstraint("audience IN ('patient', 'relative', 'professional', 'transparency', 'website')", name=op.f('ck_notice_version_audience_known')),
    sa.CheckConstraint("status <> 'superseded' OR superseded_at IS NOT NULL", name=op.f('ck_notice_version_superseded_dated')),
    sa.CheckConstraint("status = 'draft' OR (published_at IS NOT NULL AND approved_by_label IS NOT NULL AND material IS NOT NULL AND body_fr IS NOT NULL AND body_en IS NOT NULL)", name=op.f('ck_notice_version_published_complete')),
    sa.CheckConstraint("status IN ('draft', 'published', 'superseded')", name=op.f('ck_notice_version_status_known')),
    sa.CheckConstraint('number >= 1', name=op.f('ck_notice_version_number_positive')),
    sa.ForeignKeyConstraint(['approved_by_id'], ['users.id'], name=op.f('fk_notice_version_approved_by_id_users')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_notice_version_created_by_id_users')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_notice_version_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notice_version')),
    sa.UniqueConstraint('audience', 'number', name='uq_notice_version_audience_number')
    )

    with op.batch_alter_table('notice_version', schema=None) as batch_op:
        batch_op.create_index('uq_notice_version_one_draft', ['audience'], unique=True, sqlite_where=sa.text("status = 'draft'"), postgresql_where=sa.text("status = 'draft'"))
        batch_op.create_index('uq_notice_version_one_published', ['audience'], unique=True, sqlite_where=sa.text("status = 'published'"), postgresql_where=sa.text("status = 'published'"))

    op.create_table('recovery_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=256), nullable=False),
    sa.Column('created_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', portal.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_recovery_code_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_code'))
    )

    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_code_user_id'), ['user_id'], unique=False)

    op.create_table('notice_acknowledgement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('notice_version_id', sa.Integer(), nullable=False),
    sa.Column('acknowledged_at', portal.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['notice_version_id'], ['notice_version.id'], name=op.f('fk_notice_acknowledgement_notice_version_id_notice_version')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notice_acknowledgement_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notice_acknowledgement')),
    sa.UniqueConstraint('user_id', 'notice_version_id', name='uq_notice_acknowledgement_user_version')
    )

    with op.batch_alter_table('notice_acknowledgement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_acknowledgement_notice_version_id'), ['notice_version_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notice_acknowledgement_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notice_acknowledgement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_acknowledgement_user_id'))
        batch_op.drop_index(batch_op.f('ix_notice_acknowledgement_notice_version_id'))

    op.drop_table('notice_acknowledgement')

    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_code_user_id'))

    op.drop_table('recovery_code')

    with op.batch_alter_table('notice_version', schema=None) as batch_op:
        batch_op.drop_index('uq_notice_version_one_published', sqlite_where=sa.text("status = 'published'"), postgresql_where=sa.text("status = 'published'"))
        batch_op.drop_index('uq_notice_version_one_draft', sqlite_where=sa.text("status = 'draft'"), postgresql_where=sa.text("status = 'draft'"))

    op.drop_table('notice_version')

    with op.batch_alter_table('account_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_token_user_id'))

    op.drop_table('account_token')

    with op.batch_alter_table('login_throttle', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_throttle_updated_at'))

    op.drop_table('login_throttle')

    with op.batch_alter_table('login_failure', schema=None) as batch_op:
        batch_op.drop_index('ix_login_failure_login_key_at')
        batch_op.drop_index(batch_op.f('ix_login_failure_at'))

    op.drop_table('login_failure')
