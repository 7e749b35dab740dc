"""The SQL objects that hold behaviour rather than data: functions, triggers and views.

Tables, columns and indexes change through the versioned revisions (migrations/). Everything else
lives in one file per area under wallet_service/sql/, written with CREATE OR REPLACE, and is
applied on every migrate after the revisions, so the file you open is the definition that runs and
a change to a function is an edit of its file.

Applying is cheap when nothing changed: the digest of the files is kept in the one-row table
`sql_objects` and compared first. When it differs, every trigger, view and function or procedure
of schema public that no extension owns (btree_gist's functions are the extension's) is dropped,
so a function removed from the files or given another signature does not linger, and the files
run in MANIFEST order. The drop never uses CASCADE: triggers and views are dropped explicitly
first, and anything else that still depends on one of the functions (a column default, a CHECK
constraint, an index) makes the apply fail with a message naming it, so no part of the data
schema can silently go with the functions. The caller runs it all in one transaction, holding the
migration lock (db/migrate.py).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from importlib.resources import files
from typing import Any

import psycopg

log = logging.getLogger(__name__)

# The order the files run in. LANGUAGE sql functions are checked when they are created, so a file
# comes after the files whose functions its sql functions call (plpgsql bodies are resolved only
# when they run).
MANIFEST: tuple[str, ...] = (
    "render.sql",
    "events.sql",
    "idempotency.sql",
    "guards.sql",
    "budgets.sql",
    "ledger.sql",
    "reports.sql",
)

SqlFile = tuple[str, str]
"""(file name, SQL text)"""


def manifest_files() -> list[SqlFile]:
    """The files of MANIFEST, in order, as shipped in the package."""
    root = files("wallet_service").joinpath("sql")
    return [(name, root.joinpath(name).read_text(encoding="utf-8")) for name in MANIFEST]


def digest(sources: Sequence[SqlFile]) -> str:
    """A digest of the names, order and contents of the files."""
    h = hashlib.sha256()
    for name, text in sources:
        for part in (name, text):
            h.update(part.encode("utf-8"))
            h.update(b"\0")
    return h.hexdigest()


# Functions and procedures of schema public that no extension owns (deptype 'e': a member).
_OWN_ROUTINES = """
SELECT p.oid, p.oid::regprocedure::text
FROM pg_proc p
WHERE p.pronamespace = 'public'::regnamespace AND p.prokind IN ('f', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY 2
"""

# User-defined triggers (not the internal ones behind foreign keys) on tables of schema public.
_OWN_TRIGGERS = """
SELECT format('DROP TRIGGER %I ON %s', t.tgname, t.tgrelid::regclass)
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal
ORDER BY 1
"""

# Plain views of schema public that no extension owns.
_OWN_VIEWS = """
SELECT c.oid::regclass::text
FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'v'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1
"""

# What still depends on the given routines, apart from the routines themselves.
_DEPENDENTS = """
SELECT pg_describe_object(d.classid, d.objid, d.objsubid), d.refobjid::regprocedure::text
FROM pg_depend d
WHERE d.refclassid = 'pg_proc'::regclass AND d.refobjid = ANY(%(oids)s)
  AND NOT (d.classid = 'pg_proc'::regclass AND d.objid = ANY(%(oids)s))
ORDER BY 1
"""


class SqlObjectsError(RuntimeError):
    """The SQL objects cannot be re-applied without harming the data schema."""


def drop_sql_objects(conn: psycopg.Connection[Any]) -> None:
    """Drop every trigger, view and function/procedure of schema public that no extension owns."""
    for (statement,) in conn.execute(_OWN_TRIGGERS).fetchall():
        conn.execute(statement)
    views = [name for (name,) in conn.execute(_OWN_VIEWS).fetchall()]
    if views:
        conn.execute(f"DROP VIEW {', '.join(views)}")  # one statement: views on views are fine
    routines = conn.execute(_OWN_ROUTINES).fetchall()
    if not routines:
        return
    oids = [oid for oid, _ in routines]
    dependents = conn.execute(_DEPENDENTS, {"oids": oids}).fetchall()
    if dependents:
        named = "; ".join(f"{what} uses {function}" for what, function in dependents)
        raise SqlObjectsError(
            f"cannot re-apply the SQL objects: {named}. A table's default, constraint or index "
            "must not call a function of wallet_service/sql/ (it would be dropped with it); "
            "define such a function in a versioned migration instead."
        )
    # One statement, no CASCADE: the routines may call each other, nothing else may depend on them.
    conn.execute("DROP ROUTINE " + ", ".join(signature for _, signature in routines))


def apply_sql_objects(
    conn: psycopg.Connection[Any], sources: Sequence[SqlFile] | None = None
) -> bool:
    """Bring the database's functions, triggers and views to `sources` (default: the shipped
    files), unless the digest stored by the last apply says they already are. Runs in the
    connection's current transaction, which the caller commits; the caller holds the migration
    lock. Returns whether anything was applied."""
    sources = manifest_files() if sources is None else sources
    wanted = digest(sources)
    row = conn.execute("SELECT digest FROM sql_objects").fetchone()
    if row is not None and row[0] == wanted:
        return False
    drop_sql_objects(conn)
    for name, text in sources:
        try:
            conn.execute(text)  # no parameters: sent as it is
        except psycopg.Error as exc:
            raise SqlObjectsError(f"sql/{name}: {exc}") from exc
    conn.execute(
        "INSERT INTO sql_objects (digest) VALUES (%s) ON CONFLICT (singleton) "
        "DO UPDATE SET digest = excluded.digest, applied_at = now()",
        (wanted,),
    )
    log.info(
        "applied the SQL objects (%s, digest %s)", ", ".join(n for n, _ in sources), wanted[:12]
    )
    return True
