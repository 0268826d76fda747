"""Prism serving a network's published OpenAPI description on loopback, for connector tests.

Prism (``@stoplight/prism-cli``, installed by ``npm ci --prefix tests/peers``) mocks every
operation of the description and validates each request against it; what it finds wrong is
listed in the ``sl-violations`` response header. :func:`reject_request_violations` is an
httpx response hook that turns any request violation of severity ``Error`` into a test
failure, so every request a connector builds is held against the network's own description.

Failures are injected with the request header ``Prefer: code=<status>``: Prism then answers
with the response the description documents for that status, or with its ``default``
response when the operation documents none (X documents its errors only as ``default``).

Prism answers with examples from the description, or values sampled from the schemas when
there are none, and its sampler ignores ``pattern``: identifiers come back as ``"string"``,
which the same description then refuses when the connector sends them back (``DELETE
/2/tweets/string``). :func:`with_identifier_examples` gives such identifier schemas an
example that their own pattern accepts; request validation is unchanged, since examples
only shape Prism's answers.

One defect of a description is repaired the same way: Pinterest's ``metric_types`` items are
a ``oneOf`` of two string enums that share most of their values, so a value in both (such as
``IMPRESSION``, which its reference pages ask for) can never match "exactly one";
:func:`with_overlapping_enums_merged` makes such a ``oneOf`` the one enum it means.

Two more defects are repaired on request, per description. Mastodon's community-maintained
description gives ``POST /api/v1/statuses`` a ``oneOf`` of a text status and a media status
that do not exclude each other (a status with text and media is both), so its body is read
as ``anyOf`` (:func:`with_body_any_of`); and its response examples are partial (the one for
``verify_credentials`` has no ``id``, the one for a single status is a list), so Prism
answers from the schemas instead (:func:`without_examples`).

Prism cannot reach every state an answer describes: it samples a property that has no example
from the first value of its enum, so Pinterest's media upload status is always ``registered``
and a video would never be seen processed. :func:`with_answer_examples` gives such an answer
named examples (the first is Prism's default; a test asks for another with ``Prefer:
example=<name>``), each a value its own schema accepts.

Prism serves a description without its servers' base path (Pinterest answers ``/pins``,
not ``/v5/pins``), so connectors take their base URL from the context.

Run ``python -m tests.support.prism`` for a self-check.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx

from tests.support.servers import ServerError, _ServerBase

ROOT = Path(__file__).resolve().parents[2]
PRISM_BIN = ROOT / "tests" / "peers" / "node_modules" / ".bin" / "prism"
# The descriptions are test data kept in the repository (tests/specs, with their sources).
SPECS_DIR = Path(os.environ.get("AGENCY_NETWORK_SPECS", ROOT / "tests" / "specs"))

# Identifiers that satisfy the patterns these descriptions put on ids.
IDENTIFIER_EXAMPLE = "1849203948571629342"
SHORT_IDENTIFIER_EXAMPLE = "549755885175"
ID_NAME = re.compile(r"(^|_)id$")
SIMPLE = {"type", "enum", "description", "title"}  # keys of a plain enum schema


class RequestViolation(AssertionError):
    """Prism found that a request breaks the network's published description."""


def spec_path(name: str) -> Path:
    path = SPECS_DIR / name
    if not path.is_file():
        raise ServerError(
            f"{path} is missing: the network descriptions live in tests/specs "
            "(or set AGENCY_NETWORK_SPECS)"
        )
    return path


def _pattern_example(schema: dict[str, Any]) -> str | None:
    pattern = schema.get("pattern")
    max_length = schema.get("maxLength")
    for candidate in (IDENTIFIER_EXAMPLE, SHORT_IDENTIFIER_EXAMPLE):
        if max_length is not None and len(candidate) > max_length:
            continue
        # These descriptions' patterns are plain enough for Python and ECMAScript to agree.
        if pattern is None or re.search(pattern, candidate):
            return candidate
    return None


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def with_identifier_examples(spec: dict[str, Any], *, numeric_ids: bool) -> dict[str, Any]:
    """``spec`` with examples for identifier strings (see the module docstring).

    Strings with a ``pattern`` get an example the pattern accepts; with ``numeric_ids``, so do
    string properties named ``id`` or ``*_id`` that carry no pattern (X's media upload answers
    give its media id no pattern, yet ``POST /2/tweets`` demands digits).
    """
    for node in _walk(spec):
        fixed = node.get("type") == "string" and not {"example", "enum"} & node.keys()
        if fixed and "pattern" in node and (example := _pattern_example(node)) is not None:
            node["example"] = example
        properties = node.get("properties")
        if not (numeric_ids and isinstance(properties, dict)):
            continue
        for name, prop in properties.items():
            if (
                ID_NAME.search(name)
                and isinstance(prop, dict)
                and prop.get("type") == "string"
                and not {"example", "examples", "enum", "format", "pattern"} & prop.keys()
            ):
                prop["example"] = IDENTIFIER_EXAMPLE
    return spec


def with_overlapping_enums_merged(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with each ``oneOf`` of overlapping string enums merged into one enum."""
    for node in _walk(spec):
        members = node.get("oneOf")
        if not (isinstance(members, list) and len(members) > 1):
            continue
        if not all(isinstance(m, dict) and {"type", "enum"} <= set(m) <= SIMPLE for m in members):
            continue
        enums = [m["enum"] for m in members]
        if all(m["type"] == "string" for m in members) and set(enums[0]).intersection(*enums[1:]):
            del node["oneOf"]
            node |= {"type": "string", "enum": sorted({v for e in enums for v in e})}
    return spec


def with_body_any_of(
    spec: dict[str, Any], operations: tuple[tuple[str, str], ...]
) -> dict[str, Any]:
    """``spec`` where the JSON request body of each (method, path) reads ``oneOf`` as ``anyOf``."""
    for method, path in operations:
        schema = spec["paths"][path][method]["requestBody"]["content"]["application/json"]
        schema["schema"]["anyOf"] = schema["schema"].pop("oneOf")
    return spec


def without_examples(node: Any, *, names: bool = False) -> Any:
    """``node`` without any example, so that Prism samples its answers from the schemas.

    ``names`` marks a ``properties`` map, whose keys are property names, not keywords.
    """
    if isinstance(node, dict):
        if not names:
            node.pop("example", None)
            node.pop("examples", None)
        for key, value in node.items():
            without_examples(value, names=not names and key == "properties")
    elif isinstance(node, list):
        for value in node:
            without_examples(value)
    return node


Answers = tuple[tuple[str, str, str, dict[str, Any]], ...]


def with_answer_examples(spec: dict[str, Any], answers: Answers) -> dict[str, Any]:
    """``spec`` where the JSON answer of each (method, path, status) has these named examples.

    The first example is the one Prism answers unless ``Prefer: example=<name>`` asks for
    another.
    """
    for method, path, status, examples in answers:
        responses = spec["paths"][path][method]["responses"]
        content = responses[status]["content"]["application/json"]
        content.pop("example", None)
        content["examples"] = {name: {"value": value} for name, value in examples.items()}
    return spec


class PrismServer(_ServerBase):
    """``prism mock`` of one description on a free loopback port."""

    name = "prism"

    def __init__(
        self,
        spec: str,
        *,
        numeric_ids: bool = False,
        body_any_of: tuple[tuple[str, str], ...] = (),
        sampled_answers: bool = False,
        answer_examples: Answers = (),
    ) -> None:
        super().__init__(None, None, "agency-prism-")
        if not PRISM_BIN.exists():
            self.close()
            raise ServerError(f"{PRISM_BIN} is missing: run `npm ci --prefix tests/peers`")
        described = json.loads(spec_path(spec).read_text(encoding="utf-8"))
        self.spec_path = self.dir / spec
        if sampled_answers:
            described = without_examples(described)
        prepared = with_identifier_examples(described, numeric_ids=numeric_ids)
        prepared = with_body_any_of(prepared, body_any_of)
        prepared = with_answer_examples(prepared, answer_examples)
        self.spec_path.write_text(
            json.dumps(with_overlapping_enums_merged(prepared)),
            encoding="utf-8",
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _spawn(self, log: IO[bytes]) -> subprocess.Popen[bytes]:
        command = [str(PRISM_BIN), "mock", str(self.spec_path), "-h", self.host]
        return subprocess.Popen(
            [*command, "-p", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.dir,
        )

    def _is_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/", timeout=1):
                return True
        except urllib.error.HTTPError:
            return True  # Prism answers 404 for "/": it is listening
        except OSError:
            return False


TRUNCATED = "Too many violations! "


def _listed(raw: str) -> list[dict[str, Any]]:
    """The violations in the header; Prism cuts a long list (requests' come first)."""
    text = raw.removeprefix(TRUNCATED)
    try:
        listed: list[dict[str, Any]] = json.loads(text)
        return listed
    except ValueError:
        pass
    found: list[dict[str, Any]] = []
    decoder, index, end = json.JSONDecoder(), text.find("{"), 0
    while index != -1:
        try:
            item, end = decoder.raw_decode(text, index)
        except ValueError:
            break
        found.append(item)
        index = text.find("{", end)
    if '["request"' in text[end:]:
        cut = {"location": ["request"], "severity": "Error", "message": "(cut) " + text[end:]}
        found.append(cut)
    return found


def request_violations(response: httpx.Response) -> list[dict[str, Any]]:
    """The errors Prism found in the request (not in its own sampled answer)."""
    raw = response.headers.get("sl-violations")
    if not raw:
        return []
    return [
        v
        for v in _listed(raw)
        if str(v.get("severity", "")).lower() == "error" and v.get("location", [""])[0] == "request"
    ]


async def reject_request_violations(response: httpx.Response) -> None:
    """httpx response hook: fail the test on any request that breaks the description."""
    violations = request_violations(response)
    if violations:
        request = response.request
        words = "; ".join(str(v.get("message")) for v in violations)
        raise RequestViolation(f"{request.method} {request.url.path}: {words}")


def prism_client(*, record: list[httpx.Request] | None = None, **kwargs: Any) -> httpx.AsyncClient:
    """An httpx client whose every answer from Prism is checked for request violations.

    With ``record``, every request sent is appended to it (bodies already read).
    """

    async def keep(request: httpx.Request) -> None:
        if record is not None:
            await request.aread()
            record.append(request)

    hooks = {"request": [keep], "response": [reject_request_violations]}
    return httpx.AsyncClient(event_hooks=hooks, timeout=30.0, **kwargs)


if __name__ == "__main__":
    with PrismServer("x-api-v2.json", numeric_ids=True) as server:
        server.start(timeout=120)
        answer = httpx.get(f"{server.url}/2/users/me", headers={"Authorization": "Bearer t"})
        print(server.url, answer.status_code, answer.json()["data"]["id"])
