"""JSON columns decoded a page at a time read exactly as they read one by one."""

from __future__ import annotations

import json

from agency.kernel.db import json_values


def test_a_page_of_documents_decodes_as_each_alone() -> None:
    texts = ['{"name": ["A", "Été ✓"]}', "{}", '{"n": 3, "r": 0.5, "deep": {"x": [null]}}']
    assert json_values(texts) == [json.loads(text) for text in texts]
    assert json_values([]) == []


def test_documents_msgspec_refuses_are_read_as_json_reads_them() -> None:
    """A number beyond a float's range (msgspec refuses it, json.loads reads infinity)."""
    texts = ['{"a": 1}', '{"big": 123456789012345678901234567890}', '{"far": 1e400}']
    assert json_values(texts) == [json.loads(text) for text in texts]
