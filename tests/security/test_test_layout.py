"""The suite's own walls: a test module imports what it shares from ``tests/support/``,
``tests/helpers.py`` or ``tests/conftest.py``, never from another test module.

Importing a scenario or a fixture out of another ``test_*.py`` ties two domains' tests
together (moving or renaming one breaks the other) and runs that module's import-time
work again; what two modules share belongs with the support code.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _imported_modules(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:
            found.append("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return found


def imports_of_test_modules(root: Path) -> list[str]:
    """Each import under ``root`` of a ``test_*`` module (or a relative one), where it is."""
    wrong = []
    for path in sorted(root.rglob("*.py")):
        if "node_modules" in path.parts:
            continue
        for module in _imported_modules(path):
            if module.rsplit(".", 1)[-1].startswith("test_") or module.startswith("."):
                wrong.append(f"{path.relative_to(root)} imports {module}")
    return wrong


def test_no_test_module_imports_another() -> None:
    assert imports_of_test_modules(TESTS) == [], "move what is shared to tests/support/"


def test_the_guard_finds_a_scenario_imported_from_a_test_module(tmp_path: Path) -> None:
    (tmp_path / "support").mkdir()
    (tmp_path / "support" / "scenes.py").write_text("from tests.helpers import create_brand\n")
    (tmp_path / "test_a.py").write_text("from tests.support.scenes import Scene\n")
    assert imports_of_test_modules(tmp_path) == []
    (tmp_path / "test_b.py").write_text(
        "from tests.reporting.test_reporting import Maison\nfrom .test_a import x\n"
    )
    assert imports_of_test_modules(tmp_path) == [
        "test_b.py imports tests.reporting.test_reporting",
        "test_b.py imports .test_a",
    ]
