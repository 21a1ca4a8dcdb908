"""The database refuses any change to audit rows outside the purge (SEC-JOU-3)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

import portal.models  # noqa: F401 - every table on the metadata
from portal import clock
from portal.audit import ddl
from portal.audit.models import GENESIS_HASH
from portal.audit.purge import purge
from portal.db import Base, make_engine
from tests.audit.conftest import requires_postgres
from tests.audit.helpers import CLI, entries, write_entries
from tests.conftest import fresh_database_url

REFUSED = "append-only"


@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET outcome = 'failure' WHERE seq = 2",
    "UPDATE audit_event SET details = '{}'",
    "DELETE FROM audit_event WHERE seq = 2",
    "DELETE FROM audit_event",
])
def test_the_database_refuses_to_change_audit_rows(db: Session, statement: str) -> None:
    write_entries(db, 3)
    with pytest.raises(DBAPIError, match=REFUSED):
        db.execute(text(statement))
    db.rollback()
    assert [e.outcome for e in entries(db)] == ["success"] * 3


@pytest.mark.parametrize("statement", [
    "UPDATE audit_checkpoint SET seq = 1",
    "DELETE FROM audit_checkpoint",
])
def test_the_database_refuses_to_change_purge_checkpoints(db: Session, statement: str) -> None:
    write_entries(db, 2, at=clock.now() - timedelta(days=400))
    purge(db, CLI, 365)
    db.commit()
    with pytest.raises(DBAPIError, match=REFUSED):
        db.execute(text(statement))
    db.rollback()


HEAD_REFUSED = "only moves forward"


@pytest.mark.parametrize("statement", [
    "UPDATE audit_head SET seq = seq - 1",
    "UPDATE audit_head SET seq = 2, last_hash = :second",
    "UPDATE audit_head SET last_hash = :fake",
    "UPDATE audit_head SET seq = seq + 1, last_hash = :fake",
    "UPDATE audit_head SET id = 2",
    "DELETE FROM audit_head",
    "INSERT INTO audit_head (id, seq, last_hash) VALUES (2, 0, :fake)",
])
def test_the_database_refuses_to_rewind_the_chain_head(db: Session, statement: str) -> None:
    """Deleting the newest entries would need the head moved back: the head only goes forward."""
    write_entries(db, 3)
    second = entries(db)[1].hash
    with pytest.raises(DBAPIError, match=HEAD_REFUSED):
        db.execute(text(statement), {"second": second, "fake": b"\x07" * 32})
    db.rollback()
    head = db.execute(text("SELECT id, seq, last_hash FROM audit_head")).all()
    assert [(r.id, r.seq, bytes(r.last_hash)) for r in head] == [(1, 3, entries(db)[-1].hash)]


def test_the_head_still_moves_forward_for_the_portal(db: Session) -> None:
    write_entries(db, 2, at=clock.now() - timedelta(days=400))
    write_entries(db, 2)
    purge(db, CLI, 365)  # holds the head without moving it, then records its own entry
    db.commit()
    write_entries(db, 1)
    rows = entries(db)
    assert [e.seq for e in rows] == [3, 4, 5, 6]
    head = db.execute(text("SELECT seq, last_hash FROM audit_head")).one()
    assert (head.seq, bytes(head.last_hash)) == (6, rows[-1].hash)


@requires_postgres
def test_on_postgresql_only_deletes_pass_while_the_purge_setting_is_on(db: Session) -> None:
    write_entries(db, 3)
    db.execute(text(f"SET LOCAL {ddl.PURGE_SETTING} = 'on'"))
    with pytest.raises(DBAPIError, match=REFUSED):
        db.execute(text("UPDATE audit_event SET outcome = 'failure' WHERE seq = 1"))
    db.rollback()
    db.execute(text(f"SET LOCAL {ddl.PURGE_SETTING} = 'on'"))
    deleted = db.execute(text("DELETE FROM audit_event WHERE seq = 1")).rowcount
    assert deleted == 1
    db.rollback()


@requires_postgres
def test_on_postgresql_the_purge_setting_ends_with_its_transaction(db: Session) -> None:
    write_entries(db, 2)
    db.execute(text(f"SET LOCAL {ddl.PURGE_SETTING} = 'on'"))
    db.commit()
    with pytest.raises(DBAPIError, match=REFUSED):
        db.execute(text("DELETE FROM audit_event WHERE seq = 1"))
    db.rollback()


def test_the_purge_leaves_the_protection_in_place(db: Session) -> None:
    write_entries(db, 3, at=clock.now() - timedelta(days=400))
    write_entries(db, 2)
    purge(db, CLI, 365)
    with pytest.raises(DBAPIError, match=REFUSED):
        db.execute(text("DELETE FROM audit_event"))
    db.rollback()
    purge(db, CLI, 365)
    db.commit()
    with pytest.raises(DBAPIError, match=REFUSED):
        db.execute(text("DELETE FROM audit_event"))
    db.rollback()


@pytest.fixture(name="fresh_database_url")
def _fresh_database_url(tmp_path) -> Iterator[str]:  # noqa: ANN001
    """An empty database of the same kind as the test database."""
    with fresh_database_url(tmp_path, "portal_audit") as url:
        yield url


def test_create_all_installs_the_head_row_and_the_triggers(fresh_database_url: str) -> None:
    engine = make_engine(fresh_database_url)
    try:
        Base.metadata.create_all(engine)
        with engine.connect() as connection:
            head = connection.execute(text("SELECT id, seq, last_hash FROM audit_head")).all()
            assert [(r.id, r.seq, bytes(r.last_hash)) for r in head] == [(1, 0, GENESIS_HASH)]
            if engine.dialect.name == "postgresql":
                names = connection.execute(text(
                    "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname"
                )).scalars().all()
                names = [n for n in names if n.startswith("audit_")]  # other areas' own
                assert names == ["audit_checkpoint_append_only", "audit_event_append_only",
                                 "audit_head_forward_only"]
            else:
                names = connection.execute(text(
                    "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
                )).scalars().all()
                names = [n for n in names if n.startswith("audit_")]  # other areas' own
                assert names == ["audit_checkpoint_no_delete", "audit_checkpoint_no_update",
                                 "audit_event_no_delete", "audit_event_no_update",
                                 "audit_head_no_delete", "audit_head_no_insert",
                                 "audit_head_no_rewind"]
    finally:
        engine.dispose()


def test_the_migration_statements_match_what_create_all_installs() -> None:
    """The statements given to the migration are the ones the listeners run."""
    pg = ddl.create_statements("postgresql", "audit_event")
    assert pg[0].startswith("CREATE OR REPLACE FUNCTION audit_append_only()")
    assert pg[1] == ("CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON "
                     "audit_event FOR EACH ROW EXECUTE FUNCTION audit_append_only()")
    assert all("%" not in statement for statement in pg)
    assert ddl.drop_statements("postgresql", "audit_event") == [
        "DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event"]
    head = ddl.head_migration_upgrade("postgresql")
    assert head[0].startswith("CREATE OR REPLACE FUNCTION audit_head_forward_only()")
    assert head[1].endswith("ON audit_head FOR EACH ROW EXECUTE FUNCTION "
                            "audit_head_forward_only()")
    assert all("%" not in statement for statement in head + ddl.head_migration_upgrade("sqlite"))
