"""The SQL objects (functions, triggers, views) have one home each, under wallet_service/sql/, and
every migrate brings a database to exactly those files: once, whatever changed, without touching
the data schema; and a database built by the earlier revisions upgrades cleanly."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support import with_database
from wallet_service.db.migrate import apply_sql_files, migrate
from wallet_service.db.sqlobjects import MANIFEST, SqlObjectsError, digest, manifest_files

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "wallet_service"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
DEFINITION = re.compile(
    r"\bCREATE\s+(OR\s+REPLACE\s+)?(?:CONSTRAINT\s+)?"
    r"(FUNCTION|PROCEDURE|TRIGGER|VIEW)\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:public\.)?(\w+)",
    re.IGNORECASE,
)


def _definitions() -> list[tuple[str, str, Path, bool]]:
    """(kind, name, file, or_replace) of every function/procedure/trigger/view defined in the
    package's SQL or Python files."""
    found = []
    for path in sorted(PACKAGE.rglob("*")):
        if path.suffix not in (".sql", ".py") or "__pycache__" in path.parts:
            continue
        for m in DEFINITION.finditer(path.read_text(encoding="utf-8")):
            found.append((m.group(2).upper(), m.group(3).lower(), path, m.group(1) is not None))
    return found


def test_every_sql_object_is_defined_once_in_sql() -> None:
    definitions = _definitions()
    assert len(definitions) > 20, "the scan found the definitions"
    homes: dict[tuple[str, str], list[Path]] = {}
    for kind, name, path, or_replace in definitions:
        rel = path.relative_to(PACKAGE)
        homes.setdefault((kind, name), []).append(rel)
        assert rel.parts[0] == "sql", f"{kind} {name} is defined in {rel}, outside sql/"
        assert or_replace, f"{kind} {name} in {rel}: use CREATE OR REPLACE (applied every migrate)"
    twice = {f"{kind} {name}": paths for (kind, name), paths in homes.items() if len(paths) > 1}
    assert not twice, f"defined more than once: {twice}"
    assert {name for _, name, _, _ in definitions} >= {
        "ledger_apply",
        "ledger_transfer",
        "ledger_booking_debit",
        "budget_consume",
        "budget_history_append_only",
    }


def test_the_manifest_lists_every_sql_file_once() -> None:
    on_disk = sorted(p.name for p in (PACKAGE / "sql").glob("*.sql"))
    assert sorted(MANIFEST) == on_disk
    assert len(set(MANIFEST)) == len(MANIFEST)


# ---------------------------------------------------------------------------------------------
# Applying the files to a database
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def new_database(database_url: str) -> Iterator[str]:
    """An empty database of its own on the test server (dropped afterwards)."""
    name = f"wallet_sqlobj_{uuid.uuid4().hex[:10]}"
    admin = with_database(database_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(database_url, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _one(conn: psycopg.Connection[Any], query: str) -> Any:
    row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


_PROBE = (
    "probe.sql",
    "CREATE OR REPLACE FUNCTION sql_objects_probe() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;\n"
    "CREATE OR REPLACE VIEW sql_objects_probe_view AS SELECT sql_objects_probe() AS one;\n",
)
_EXTENSION_ROUTINES = (
    "SELECT count(*) FROM pg_depend WHERE classid = 'pg_proc'::regclass AND deptype = 'e'"
)


def test_migrate_again_changes_nothing(new_database: str) -> None:
    migrate(new_database)
    with psycopg.connect(new_database) as conn:
        before = conn.execute(
            "SELECT 'ledger_apply'::regproc::oid, applied_at, digest FROM sql_objects"
        ).fetchone()
    migrate(new_database)
    assert apply_sql_files(new_database) is False
    with psycopg.connect(new_database) as conn:
        after = conn.execute(
            "SELECT 'ledger_apply'::regproc::oid, applied_at, digest FROM sql_objects"
        ).fetchone()
    assert before == after
    assert before is not None and before[2] == digest(manifest_files())


def test_changed_files_are_applied_and_removed_functions_dropped(new_database: str) -> None:
    migrate(new_database)
    with psycopg.connect(new_database, autocommit=True) as conn:
        ledger_apply = _one(conn, "SELECT 'ledger_apply'::regproc::oid")
        extension_routines = _one(conn, _EXTENSION_ROUTINES)

        assert apply_sql_files(new_database, [*manifest_files(), _PROBE]) is True
        assert _one(conn, "SELECT sql_objects_probe_view.one FROM sql_objects_probe_view") == 1
        assert _one(conn, "SELECT 'ledger_apply'::regproc::oid") != ledger_apply, "re-created"
        assert _one(conn, "SELECT digest FROM sql_objects") == digest([*manifest_files(), _PROBE])

        # the probe is gone from the files: its function and view leave the database too
        assert apply_sql_files(new_database) is True
        assert _one(conn, "SELECT to_regprocedure('sql_objects_probe()')") is None
        assert _one(conn, "SELECT to_regclass('sql_objects_probe_view')") is None
        assert _one(conn, "SELECT digest FROM sql_objects") == digest(manifest_files())
        # btree_gist's functions belong to the extension and stay; the trigger is back
        assert _one(conn, _EXTENSION_ROUTINES) == extension_routines
        assert (
            _one(
                conn,
                "SELECT count(*) FROM pg_trigger WHERE tgname = 'budget_history_append_only'",
            )
            == 1
        )


def test_a_signature_change_leaves_no_old_overload(new_database: str) -> None:
    migrate(new_database)
    files = [
        (name, text.replace("p_name text DEFAULT 'amount'", "p_name varchar DEFAULT 'amount'"))
        for name, text in manifest_files()
    ]
    assert files != manifest_files()
    assert apply_sql_files(new_database, files) is True
    with psycopg.connect(new_database) as conn:
        signatures = conn.execute(
            "SELECT oid::regprocedure::text FROM pg_proc WHERE proname = 'ledger_amount_refusal'"
        ).fetchall()
    assert signatures == [("ledger_amount_refusal(numeric,character varying)",)]


def test_a_table_using_a_function_stops_the_apply_and_keeps_its_default(
    new_database: str,
) -> None:
    """Dropping the functions must never take a default, constraint or index with it."""
    migrate(new_database)
    with psycopg.connect(new_database, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE uses_a_function (w wallets, j jsonb DEFAULT wallet_json(NULL::wallets))"
        )
        applied = _one(conn, "SELECT digest FROM sql_objects")

        with pytest.raises(SqlObjectsError, match=r"default value for column j of table"):
            apply_sql_files(new_database, [*manifest_files(), _PROBE])

        assert _one(conn, "SELECT digest FROM sql_objects") == applied
        assert (
            _one(
                conn,
                "SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef "
                "WHERE adrelid = 'uses_a_function'::regclass",
            )
            == "wallet_json(NULL::wallets)"
        )
        assert _one(conn, "SELECT to_regprocedure('sql_objects_probe()')") is None
        assert _one(conn, "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal") == 1


# ---------------------------------------------------------------------------------------------
# Upgrading a database built by the revisions 0001-0004 (commit e926fdf), functions and all
# ---------------------------------------------------------------------------------------------

_SCHEMA_QUERIES = {
    "columns": """
        SELECT table_name, column_name, data_type, column_default, is_nullable, is_generated
        FROM information_schema.columns WHERE table_schema = 'public'""",
    # a CHECK's text is as the server that built it deparsed it (the fixture comes from
    # PostgreSQL 15, whose IN lists read differently from 18's): compared by name only
    "constraints": """
        SELECT conrelid::regclass::text, conname, contype,
               CASE WHEN contype <> 'c' THEN pg_get_constraintdef(oid) END
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace""",
    "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
    "functions": """
        SELECT pg_get_functiondef(p.oid) FROM pg_proc p
        WHERE p.pronamespace = 'public'::regnamespace AND NOT EXISTS (
            SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')""",
    "triggers": "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal",
    "views": """
        SELECT table_name, view_definition FROM information_schema.views
        WHERE table_schema = 'public'""",
    "revision": "SELECT version_num FROM alembic_version",
    "sql_objects": "SELECT digest FROM sql_objects",
}


def _schema(url: str) -> dict[str, set[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        return {
            name: {tuple(row) for row in conn.execute(query).fetchall()}
            for name, query in _SCHEMA_QUERIES.items()
        }


def test_a_database_built_by_the_0004_revisions_upgrades(
    new_database: str, database_url: str
) -> None:
    dump = gzip.decompress((FIXTURES / "schema_at_0004.sql.gz").read_bytes()).decode("utf-8")
    with psycopg.connect(new_database) as conn:
        conn.execute(dump)  # no parameters: sent as it is
    with psycopg.connect(new_database) as conn:
        assert _one(conn, "SELECT version_num FROM alembic_version") == "0004"
        assert _one(conn, "SELECT count(*) FROM pg_proc WHERE proname = 'ledger_post'") == 1

    migrate(new_database)

    # the same schema, functions and triggers as a database built from scratch
    upgraded, fresh = _schema(new_database), _schema(database_url)
    for part in _SCHEMA_QUERIES:
        assert upgraded[part] == fresh[part], part

    # and the service's core behaviour holds on it
    root = Path(__file__).resolve().parents[1]
    core = [
        "tests/test_transactions.py",
        "tests/test_transfers.py",
        "tests/test_holds.py",
        "tests/test_budget_enforcement.py",
        "tests/test_events_bookings.py",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *core],
        cwd=root,
        env=dict(os.environ, WALLET_TEST_DATABASE_URL=new_database),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
