"""records: the form key of a submission stored as an opaque keyed code (issue 26)

Revision ID: a4f8c2d6e1b9
Revises: d7b3f1a9c2e6
Create Date: 2026-12-03 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from portal.records.form_codes import PREFIX, codes_for, installed_form_keys

revision = "a4f8c2d6e1b9"
down_revision = "d7b3f1a9c2e6"
branch_labels = None
depends_on = None

# Entries of the audit trail written before this revision keep the form key they named: the
# trail is append-only and chained; they leave with the retention purge.


def _rewrite(to_code: bool) -> None:
    bind = op.get_bind()
    codes = codes_for(bind.dialect)
    if not to_code:
        codes.learn(installed_form_keys(bind))
    rows = bind.execute(sa.text("SELECT id, form_key, singleton_key FROM submission")).all()
    for row_id, form_key, singleton_key in rows:

        def convert(value: str | None) -> str | None:
            if value is None or value.startswith(PREFIX) == to_code:
                return value
            return codes.code(value) if to_code else codes.form_key(value)

        bind.execute(
            sa.text(
                "UPDATE submission SET form_key = :form_key, "
                "singleton_key = :singleton_key WHERE id = :id"
            ),
            {"form_key": convert(form_key), "singleton_key": convert(singleton_key), "id": row_id},
        )


def upgrade() -> None:
    _rewrite(to_code=True)


def downgrade() -> None:
    _rewrite(to_code=False)
