"""One helper scopes statements to a tenant; nothing else filters on agency_id by hand; all
SQL is built and run in repositories.

- A hand-written tenant filter: ``Model.agency_id`` compared, ``Model.agency_id.in_(...)``,
  ``filter_by(agency_id=...)``, anywhere but the tenancy helper.
- SQL outside a repository module (``repository.py``, the system scope ``kernel/system.py``,
  the helpers ``kernel/tenancy.py`` and ``kernel/repository.py``): a statement built with
  SQLAlchemy's ``select``/``update``/``delete``/``insert``/``text``/``exists`` (imported by
  name, or through the module: ``sa.select``) or the tenancy helper's
  ``scoped_select``/``scoped_template``/``scoped_update``/``scoped_delete``; a statement refined
  (``.where()``, ``.with_for_update()``, ``.returning()``), an ``.in_()`` or
  ``.filter_by()``; or SQL run (``.execute``/``.scalar``/``.scalars``, and a session's
  ``.get``/``.stream``/``.stream_scalars``). Controllers import no repository module. Each
  exception below names its reason; stale ones fail.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "agency"
# The helper itself, and the repository of the tenant table whose key *is* the agency id.
ALLOWED = {SRC / "kernel" / "tenancy.py", SRC / "tenant" / "repository.py"}


def _names_agency(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "agency_id"


def _model_column(node: ast.AST) -> bool:
    """``Model.agency_id``: a column in a SQL expression (model classes are capitalised)."""
    return (
        _names_agency(node)
        and isinstance(node.value, ast.Name)  # type: ignore[attr-defined]
        and node.value.id[:1].isupper()  # type: ignore[attr-defined]
    )


def hand_written_filters(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        # A join condition compares two columns (A.agency_id == B.agency_id): that is fine.
        if any(_model_column(s) for s in sides) and not all(_model_column(s) for s in sides):
            found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    return found


def tenant_filter_calls(path: Path) -> list[str]:
    """``Model.agency_id.in_(...)`` and ``filter_by(agency_id=...)``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        if node.func.attr == "in_" and _model_column(node.func.value):
            found.append(f"{path.relative_to(SRC)}:{node.lineno}")
        if node.func.attr == "filter_by" and any(k.arg == "agency_id" for k in node.keywords):
            found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    return found


def test_no_hand_written_tenant_filters() -> None:
    offenders = [
        hit
        for path in SRC.rglob("*.py")
        if path not in ALLOWED
        for hit in [*hand_written_filters(path), *tenant_filter_calls(path)]
    ]
    assert offenders == [], f"use scoped_select/scoped_update/scoped_delete instead: {offenders}"


def test_the_lint_catches_a_hand_written_filter(tmp_path: Path) -> None:
    sample = SRC / "sample_for_lint.py"
    bad = tmp_path / "bad.py"
    bad.write_text("stmt = select(Brand).where(Brand.agency_id == subject.agency_id)\n")
    try:
        sample.write_text(bad.read_text())
        assert hand_written_filters(sample) == ["sample_for_lint.py:1"]
    finally:
        sample.unlink()


def test_the_lint_catches_in_and_filter_by(tmp_path: Path) -> None:
    sample = SRC / "sample_for_lint.py"
    try:
        sample.write_text(
            "a = select(Brand).where(Brand.agency_id.in_(ids))\n"
            "b = query.filter_by(agency_id=subject.agency_id)\n"
        )
        assert sorted(tenant_filter_calls(sample)) == [
            "sample_for_lint.py:1",
            "sample_for_lint.py:2",
        ]
    finally:
        sample.unlink()


BUILDERS = frozenset(
    {"select", "update", "delete", "insert", "text", "exists", "union", "union_all"}
)
TENANT_BUILDERS = frozenset({"scoped_select", "scoped_template", "scoped_update", "scoped_delete"})
RUNNERS = frozenset(
    {
        "execute",
        "scalar",
        "scalars",
        "in_",
        "filter_by",
        "where",
        "with_for_update",
        "returning",
        "fetch",  # a hot read's statement, on the driver's connection (``HotRead``)
    }
)
# Run SQL when called on a session (``session.get(Model, id)``), not on anything else.
SESSION_RUNNERS = frozenset({"get", "stream", "stream_scalars"})
REPOSITORY_MODULES = {
    SRC / "kernel" / name for name in ("system.py", "tenancy.py", "repository.py")
}
OUTSIDE_REPOSITORIES_ALLOWED: dict[str, str] = {
    "kernel/migrate.py": "schema and role grants when migrating, not data",
    "kernel/rls.py": "row-level security DDL, run by migrations",
    "kernel/db.py": "SQLite connection pragmas",
    "health/endpoints.py": "the readiness probe's SELECT 1 on a bare connection",
    "brand/models.py": "brand_scope: how the table belongs to a brand, composed by the helper",
    "publication/models.py": "brand_scope: how the table belongs to a brand, composed by the "
    "helper",
    # TODO(idempotency and authentication move, issue 10): their owner moves the SQL.
    "kernel/idempotency.py": "idempotency keys read and written where the request settles",
}


def sql_outside_repositories(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    builders = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if ((node.module or "").startswith("sqlalchemy") and alias.name in BUILDERS)
        or (node.module == "agency.kernel.tenancy" and alias.name in TENANT_BUILDERS)
    }
    modules = {  # import sqlalchemy as sa: sa.select(...)
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name.startswith("sqlalchemy")
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if (
                (isinstance(func, ast.Name) and func.id in builders)
                or (isinstance(func, ast.Attribute) and func.attr in RUNNERS)
                or (
                    isinstance(func, ast.Attribute)
                    and func.attr in BUILDERS
                    and _dotted(func.value) in modules
                )
                or (
                    isinstance(func, ast.Attribute)
                    and func.attr in SESSION_RUNNERS
                    and _dotted(func.value).split(".")[-1] == "session"
                )
            ):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}")
        if (
            path.name == "endpoints.py"
            and isinstance(node, ast.ImportFrom)
            and (node.module or "").endswith(".repository")
        ):
            found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    return found


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` for a chain of names and attributes, else ``""``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


def _outside_repositories() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "repository.py" or path in REPOSITORY_MODULES:
            continue
        hits = sql_outside_repositories(path)
        if hits:
            found[str(path.relative_to(SRC))] = hits
    return found


def test_all_sql_is_in_repositories() -> None:
    found = _outside_repositories()
    offenders = [
        hit
        for name, hits in found.items()
        if name not in OUTSIDE_REPOSITORIES_ALLOWED
        for hit in hits
    ]
    assert offenders == [], f"move these statements into a repository: {offenders}"
    stale = set(OUTSIDE_REPOSITORIES_ALLOWED) - set(found)
    assert stale == set(), f"no SQL left here: remove from the allow-list: {stale}"


def test_the_lint_catches_sql_outside_repositories() -> None:
    sample = SRC / "sample_for_lint.py"
    try:
        sample.write_text(
            "from sqlalchemy import delete as remove, select\n"
            "stmt = select(Brand.id)\n"
            "await session.execute(remove(Brand))\n"
        )
        assert sql_outside_repositories(sample) == [
            "sample_for_lint.py:2",
            "sample_for_lint.py:3",
            "sample_for_lint.py:3",
        ]
    finally:
        sample.unlink()


def test_the_lint_catches_statements_built_or_run_any_other_way() -> None:
    sample = SRC / "sample_for_lint.py"
    try:
        sample.write_text(
            "import sqlalchemy as sa\n"
            "from agency.kernel.tenancy import scoped_select\n"
            "a = sa.select(Brand.id)\n"
            "b = scoped_select(Brand, subject)\n"
            "c = repo.listing().where(Brand.name == name)\n"
            "d = stmt.with_for_update()\n"
            "e = await self.session.get(Brand, brand_id)\n"
            "f = await session.stream_scalars(stmt)\n"
            "g = settings.get('name')\n"  # not a session: fine
            "h = request.stream()\n"  # not a session: fine
        )
        assert sql_outside_repositories(sample) == [
            f"sample_for_lint.py:{line}" for line in (3, 4, 5, 6, 7, 8)
        ]
    finally:
        sample.unlink()


def test_the_lint_catches_hot_reads_outside_repositories() -> None:
    """A statement built once for every agency, and a statement run on the driver's
    connection (``HotRead``), belong in repositories too."""
    sample = SRC / "sample_for_lint.py"
    try:
        sample.write_text(
            "from agency.kernel.tenancy import scoped_template\n"
            "a = scoped_template(Brand, Brand.id)\n"
            "b = await driver.fetch(sql, agency_id)\n"
        )
        assert sql_outside_repositories(sample) == ["sample_for_lint.py:2", "sample_for_lint.py:3"]
    finally:
        sample.unlink()
