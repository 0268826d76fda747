"""One helper scopes statements to a tenant; nothing else filters on agency_id by hand."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "agency"
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


def test_no_hand_written_tenant_filters() -> None:
    offenders = [
        hit
        for path in SRC.rglob("*.py")
        if path not in ALLOWED
        for hit in hand_written_filters(path)
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
