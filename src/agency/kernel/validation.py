"""Every invalid field of a request, each with a stable code, not only the first one.

msgspec stops at the first error it meets, which suits decoding but not a form: a frontend
wants to mark every wrong field at once. :func:`body_errors` therefore walks a refused body
against its type, field by field and item by item, converting each part with msgspec itself
(so the rules applied are exactly those of decoding, never a second description of them), and
collects one :class:`~agency.kernel.errors.FieldError` per part msgspec refuses. msgspec's
English sentence becomes a code and figures (:func:`leaf_error`), worded again in the caller's
language when the answer is written. Litestar's own refusals of query, path and header
parameters come through :func:`parameter_errors`, with the same codes.
"""

from __future__ import annotations

import enum
import re
import types
import typing
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import msgspec

from agency.kernel.errors import FieldError
from agency.kernel.i18n import N_, Plural, Text

# Every code a field error may carry for a schema rule, with what it means (the invalid-input
# problem's page lists them). Business rules add their own codes, listed beside them.
CODES: dict[str, str] = {
    "required": N_("The field is missing and has no default."),
    "unknown_field": N_("The request names a field this operation does not take."),
    "type": N_("The value is of another JSON type (params: expected, got)."),
    "too_short": N_("The text is shorter than allowed (params: min characters)."),
    "too_long": N_("The text is longer than allowed (params: max characters)."),
    "too_few": N_("The list has fewer items than required (params: min)."),
    "too_many": N_("The list has more items than allowed (params: max)."),
    "too_small": N_("The number is below the minimum (params: min, exclusive)."),
    "too_large": N_("The number is above the maximum (params: max, exclusive)."),
    "multiple_of": N_("The number is not a multiple of the step (params: step)."),
    "pattern": N_("The text does not have the expected form (params: pattern)."),
    "enum": N_("The value is not one of those allowed (params: allowed)."),
    "format": N_("The text is not a valid date, time, UUID... (params: format)."),
    "nul_character": N_("The text holds the NUL character (U+0000), which nothing may store."),
    "invalid": N_("Another rule of the field is broken; the message says which."),
}

_AT = re.compile(r" - at `\$(?P<where>[^`]*)`$")
_INDEX = re.compile(r"\[(\d+)\]")
_JSON_NAMES = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "object": "object",
    "array": "array",
    "null": "null",
    "datetime": "date-time",
    "date": "date",
    "time": "time",
    "uuid": "UUID",
    "decimal": "decimal",
}
_FORMATS = {
    "UUID": "uuid",
    "RFC3339 encoded datetime": "date-time",
    "RFC3339 encoded date": "date",
    "RFC3339 encoded time": "time",
    "ISO8601 duration": "duration",
    "decimal string": "decimal",
    "base64 encoded string": "base64",
}


def _path_of(message: str) -> tuple[str, list[str]]:
    """msgspec's "Expected `int`, got `str` - at `$.items[0].n`" as (sentence, [items, 0, n])."""
    found = _AT.search(message)
    if found is None:
        return message, []
    where = _INDEX.sub(r".\1", found.group("where")).lstrip(".")
    return message[: found.start()], [p for p in where.split(".") if p]


def leaf_error(sentence: str, path: list[str], source: str, type_: Any = None) -> FieldError:
    """One of msgspec's (or Litestar's) sentences as a coded error; ``type_`` names the allowed
    values of an enumeration."""
    field = ".".join(path) or None

    def error(code: str, message: Text, **params: Any) -> FieldError:
        return FieldError(message, code, field, source, params)

    if m := re.match(r"Object missing required field `([^`]+)`", sentence):
        return FieldError(Text("Required."), "required", _join(field, m[1]), source)
    if m := re.match(r"Object contains unknown field `([^`]+)`", sentence):
        name = _join(field, m[1])
        return FieldError(Text("Unknown field: not accepted here."), "unknown_field", name, source)
    if m := re.match(r"Expected `(\w+)`, got `(\w+)`", sentence):
        expected, got = _JSON_NAMES.get(m[1], m[1]), _JSON_NAMES.get(m[2], m[2])
        message = Text("Expected {expected}, not {got}.", expected=expected, got=got)
        return error("type", message, expected=expected, got=got)
    if m := re.match(r"Expected `(\w+)` of length ([<>]=) (\d+)", sentence):
        return _length_error(field, source, m[1] == "str", m[2] == ">=", int(m[3]))
    if m := re.match(r"Expected `\w+` (>=|>|<=|<) (\S+)", sentence):
        limit = _number(m[2])
        if m[1] == ">=":
            return error("too_small", Text("At least {min}.", min=limit), min=limit)
        if m[1] == ">":
            message = Text("More than {min}.", min=limit)
            return error("too_small", message, min=limit, exclusive=True)
        if m[1] == "<=":
            return error("too_large", Text("At most {max}.", max=limit), max=limit)
        message = Text("Less than {max}.", max=limit)
        return error("too_large", message, max=limit, exclusive=True)
    if m := re.match(r"Expected `\w+` that's a multiple of (\S+)", sentence):
        step = _number(m[1])
        return error("multiple_of", Text("A multiple of {step}.", step=step), step=step)
    if m := re.match(r"Expected `\w+` matching regex '(.*)'$", sentence):
        return error("pattern", Text("Not in the expected form."), pattern=m[1])
    if sentence.startswith("Invalid enum value"):
        allowed = allowed_values(type_)
        if allowed:
            listed = ", ".join(str(a) for a in allowed)
            return error("enum", Text("One of: {allowed}.", allowed=listed), allowed=allowed)
        return error("enum", Text("Not one of the values allowed."))
    if (m := re.match(r"Invalid (.+)$", sentence)) and (known := _FORMATS.get(m[1])):
        return error("format", Text("Not a valid {format}.", format=known), format=known)
    # A rule of the type itself (a __post_init__ check), worded by the code that made it.
    return FieldError(sentence, "invalid", field, source)


def _length_error(
    field: str | None, source: str, text: bool, least: bool, limit: int
) -> FieldError:
    if text and least:
        message = Plural("At least {n} character.", "At least {n} characters.", limit, n=limit)
        return FieldError(message, "too_short", field, source, {"min": limit})
    if text:
        message = Plural("At most {n} character.", "At most {n} characters.", limit, n=limit)
        return FieldError(message, "too_long", field, source, {"max": limit})
    if least:
        message = Plural("At least {n} item.", "At least {n} items.", limit, n=limit)
        return FieldError(message, "too_few", field, source, {"min": limit})
    message = Plural("At most {n} item.", "At most {n} items.", limit, n=limit)
    return FieldError(message, "too_many", field, source, {"max": limit})


def _join(field: str | None, name: str) -> str:
    return f"{field}.{name}" if field else name


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def allowed_values(type_: Any) -> list[Any]:
    """The values an enumeration (or a ``Literal``) allows, wherever it hides in ``type_``."""
    for part in _alternatives(type_):
        if isinstance(part, type) and issubclass(part, enum.Enum):
            return [member.value for member in part]
        if typing.get_origin(part) is Literal:
            return list(typing.get_args(part))
    return []


def _unannotated(type_: Any) -> tuple[Any, tuple[Any, ...]]:
    """``Annotated[T, meta...]`` as (T, metas); other types as they are."""
    if typing.get_origin(type_) is Annotated:
        base, *metas = typing.get_args(type_)
        inner, more = _unannotated(base)
        return inner, (*more, *metas)
    return type_, ()


def _members(type_: Any) -> Iterator[Any]:
    """The members of a union (``X | None``), each with its own annotations; a type that is
    not a union yields itself."""
    base, _ = _unannotated(type_)
    if typing.get_origin(base) in (typing.Union, types.UnionType):
        yield from typing.get_args(base)
    else:
        yield type_


def _alternatives(type_: Any) -> Iterator[Any]:
    for member in _members(type_):
        yield _unannotated(member)[0]


def _struct_for(type_: Any, value: Any) -> type[msgspec.Struct] | None:
    if not isinstance(value, dict):
        return None
    structs = [
        t for t in _alternatives(type_) if isinstance(t, type) and issubclass(t, msgspec.Struct)
    ]
    return structs[0] if len(structs) == 1 else None


def _items_of(type_: Any, value: Any) -> tuple[Any, Any] | None:
    """For a list value and a list type: (the type of its items, the list type with items of
    any type but the same length rules), to check the list apart from its items."""
    if not isinstance(value, list):
        return None
    for member in _members(type_):
        inner, metas = _unannotated(member)
        if typing.get_origin(inner) in (list, set, frozenset):
            (item,) = typing.get_args(inner) or (Any,)
            shell = Annotated[(list[Any], *metas)] if metas else list[Any]
            return item, shell
    return None


def _refusal(value: Any, type_: Any) -> msgspec.ValidationError | None:
    try:
        msgspec.convert(value, type_, strict=True)
    except msgspec.ValidationError as exc:
        return exc
    return None


def _walk(value: Any, type_: Any, path: list[str], out: list[FieldError]) -> None:
    refusal = _refusal(value, type_)
    if refusal is None:
        return
    before = len(out)
    struct = _struct_for(type_, value)
    items = _items_of(type_, value) if struct is None else None
    if struct is not None:
        _walk_struct(value, struct, path, out)
    elif items is not None:
        item_type, shell = items
        if (whole := _refusal(value, shell)) is not None:
            sentence, where = _path_of(str(whole))
            out.append(leaf_error(sentence, [*path, *where], "body", type_))
        for index, item in enumerate(value):
            _walk(item, item_type, [*path, str(index)], out)
    if len(out) == before:
        # A leaf, or a rule over several fields: msgspec's own first error says it.
        sentence, where = _path_of(str(refusal))
        out.append(leaf_error(sentence, [*path, *where], "body", type_))


def _walk_struct(
    value: dict[str, Any], struct: type[msgspec.Struct], path: list[str], out: list[FieldError]
) -> None:
    fields = msgspec.structs.fields(struct)
    known = {f.encode_name for f in fields}
    if struct.__struct_config__.forbid_unknown_fields:
        for name in value:
            if name not in known:
                message = Text("Unknown field: not accepted here.")
                out.append(FieldError(message, "unknown_field", ".".join([*path, name]), "body"))
    for f in fields:
        if f.encode_name in value:
            _walk(value[f.encode_name], f.type, [*path, f.encode_name], out)
        elif f.required:
            out.append(
                FieldError(Text("Required."), "required", ".".join([*path, f.encode_name]), "body")
            )


def body_errors(value: Any, type_: Any) -> list[FieldError]:
    """Every part of a decoded JSON body that ``type_`` refuses (empty if it accepts it)."""
    out: list[FieldError] = []
    _walk(value, type_, [], out)
    return out


def parameter_errors(extra: Any) -> list[FieldError]:
    """Litestar's list of refused parameters (``{"key", "source", "message"}``) as coded
    errors; its ``source`` is an enum whose name must not reach a client."""
    if not isinstance(extra, list):
        return []
    errors = []
    for item in extra:
        if not isinstance(item, dict):
            continue
        source = item.get("source")
        source = getattr(source, "value", source)
        key = str(item.get("key") or "") or None
        sentence, where = _path_of(str(item.get("message", "invalid")))
        path = [*(key.split(".") if key else []), *where]
        errors.append(leaf_error(sentence, path, str(source) if source else "body"))
    return errors


_MISSING = re.compile(r"Missing required (\w+) parameter '([^']+)'")


def missing_parameter(detail: str) -> FieldError | None:
    """Litestar's "Missing required header parameter 'x' for path ..." as an error."""
    found = _MISSING.match(detail)
    if found is None:
        return None
    return FieldError(Text("Required."), "required", found[2], found[1])
