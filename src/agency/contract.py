"""What each operation of the OpenAPI document says, derived from its handler.

What an operation documents is derived here from what its handler declares, never listed
by hand per route, so that the document cannot drift from the behaviour:

- guards: a route that is not ``public`` answers 401 without credentials and 403 without
  the permission; every route answers 400 for a malformed request and 500 for a fault;
- a query, header or cookie parameter, or a body: 422 naming every field that is not valid
  (:mod:`agency.kernel.validation`);
- a path parameter: 404 (a missing object and another agency's look the same);
- a body it reads: 413 when it is larger than the limit;
- a write (POST, PUT, PATCH, DELETE): 409 against the object's state, 422 against a rule;
- an ``If-Match`` parameter: the header is required, 428 without it, 412 when stale
  (:func:`agency.kernel.http.check_if_match`); Litestar would answer a missing required
  header with a 400, so the parameter stays optional to Litestar and is marked required
  in the document only;
- an ``Idempotency-Key`` parameter: 409 while its twin runs, 422 when reused;
- a route where credentials are presented without a login: 429 (rate limited);
- response headers: ``ETag`` on every answer whose type some ``PATCH`` edits (with
  ``If-Match``), ``Location`` on a 201 whose type a ``GET /things/{id}`` reads (sent by
  :class:`agency.kernel.http.CreatedLocation`), ``Idempotent-Replayed`` where an
  ``Idempotency-Key`` is taken;
- anything else a route can answer is named in ``opt={"problems": [...]}`` next to it;
- the ``operationId`` is the handler's name in camelCase (``list_brands``: ``listBrands``),
  or the ``operation_id`` its decorator gives where the name alone would be unclear: client
  generators turn it into a method name, so it stays stable when the path changes.

Request bodies that refuse unknown fields (msgspec ``forbid_unknown_fields``) say
``additionalProperties: false``: see :class:`StrictStructSchemaPlugin`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from litestar import Litestar, Response

# Litestar's own Struct plugin is not exported; it is extended rather than copied.
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.enums import ParamType
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIHeader,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Schema,
)
from litestar.params import ParameterKwarg
from litestar.routes import HTTPRoute
from litestar.typing import FieldDefinition

from agency.kernel.problems import STANDARD_RESPONSES, problem_spec
from agency.kernel.ratelimit import rate_limited

IF_MATCH = "If-Match"
IDEMPOTENCY_KEY = "Idempotency-Key"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
BODIES = frozenset({"POST", "PUT", "PATCH"})


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """A msgspec Struct that refuses unknown fields is documented with
    ``additionalProperties: false``; Litestar's own plugin leaves every object open."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return super().is_plugin_supported_field(field_definition) and bool(
            getattr(field_definition.type_, "__struct_config__", None)
            and field_definition.type_.__struct_config__.forbid_unknown_fields
        )

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        schema.additional_properties = False
        return schema


def operation_id(handler: HTTPRouteHandler, method: Any, path_components: list[Any]) -> str:
    """``list_brands`` -> ``listBrands`` (Litestar's default prefixes the whole path)."""
    first, *rest = handler.handler_name.split("_")
    return first + "".join(word.title() for word in rest)


def document_contract(app: Litestar) -> None:
    """Give every operation the problem statuses and header rules its handler implies."""
    for route, handler in _handlers(app):
        codes = problem_statuses(route, handler)
        responses = dict(handler.responses or {})
        for code in sorted(codes):
            responses.setdefault(code, problem_spec(STANDARD_RESPONSES[code]))
        handler.responses = responses
        if not handler.opt.get("public"):
            handler.security = handler.security  # the top-level bearer requirement
        else:
            handler.security = [{}]
        if IF_MATCH in header_parameters(handler):
            handler.operation_class = _requiring_header(handler.operation_class, IF_MATCH)


def problem_statuses(route: HTTPRoute, handler: HTTPRouteHandler) -> set[int]:
    """The problem statuses a handler can answer, from its guards, parameters and method."""
    codes = {400, 500}
    if not handler.opt.get("public"):
        codes |= {401, 403}
    if route.path_parameters:
        codes.add(404)
    methods = set(handler.http_methods)
    if methods & WRITES:
        codes |= {409, 422}
    if methods & BODIES and reads_body(handler):
        codes |= {413, 422}
    if takes_parameters(route, handler):
        codes.add(422)
    headers = header_parameters(handler)
    if IF_MATCH in headers:
        codes |= {412, 428}
    if IDEMPOTENCY_KEY in headers:
        codes |= {409, 422}
    if rate_limited(handler):
        codes.add(429)  # per address and account where credentials are presented, else per token
    codes |= set(handler.opt.get("problems", ()))
    return codes


def reads_body(handler: HTTPRouteHandler) -> bool:
    """A ``data`` parameter, or a body the handler reads itself (and documents as such)."""
    if "data" in handler.parsed_fn_signature.parameters:
        return True
    if handler.opt.get("streamed_body"):
        return True
    # An operation class that describes a body the handler reads itself (media, CSV).
    return handler.operation_class().request_body is not None


def _fields(handler: HTTPRouteHandler) -> list[FieldDefinition]:
    """The parameters of the handler and of every dependency it uses, directly or not."""
    providers = handler.resolve_dependencies()
    fields: list[FieldDefinition] = []
    pending = [handler.parsed_fn_signature.parameters]
    seen: set[str] = set()
    while pending:
        for name, field in pending.pop().items():
            fields.append(field)
            if name in providers and name not in seen:
                seen.add(name)
                pending.append(providers[name].parsed_fn_signature.parameters)
    return fields


# Names Litestar gives a handler itself rather than reading them from the request's fields.
_RESERVED = frozenset({"request", "state", "headers", "cookies", "query", "scope", "body", "data"})


def takes_parameters(route: HTTPRoute, handler: HTTPRouteHandler) -> bool:
    """Whether the handler reads a query, header or cookie parameter (whose value may be
    refused)."""
    providers = handler.resolve_dependencies()
    for field in _fields(handler):
        if field.name in route.path_parameters or field.name in providers:
            continue
        kwarg = field.kwarg_definition
        if isinstance(kwarg, ParameterKwarg) and kwarg.param_type != ParamType.PATH:
            return True
        if kwarg is None and field.name not in _RESERVED:
            return True
    return False


def header_parameters(handler: HTTPRouteHandler) -> set[str]:
    """Names of the headers the handler, or a dependency it uses, takes as parameters."""
    fields = _fields(handler)
    return {
        field.kwarg_definition.name or field.name
        for field in fields
        if isinstance(field.kwarg_definition, ParameterKwarg)
        and field.kwarg_definition.param_type == ParamType.HEADER
    }


def _handlers(app: Litestar) -> Iterator[tuple[HTTPRoute, HTTPRouteHandler]]:
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                if handler.resolve_include_in_schema():
                    yield route, handler


def _requiring_header(base: type[Operation], name: str) -> type[Operation]:
    """``base`` with the header parameter ``name`` marked required."""

    def __post_init__(self: Operation) -> None:
        if hasattr(base, "__post_init__"):
            base.__post_init__(self)
        for parameter in self.parameters or ():
            if isinstance(parameter, Parameter) and parameter.name == name:
                parameter.required = True

    # A dataclass again: the generated __init__ only calls a __post_init__ it knew of.
    subclass = type(f"{base.__name__}Requiring{name.replace('-', '')}", (base,), {})
    subclass.__post_init__ = __post_init__  # type: ignore[attr-defined]
    return dataclass(subclass)


RESPONSE_HEADERS = {
    "ETag": OpenAPIHeader(
        description="The object's version: send it back in `If-Match` to edit it.",
        schema=Schema(type=OpenAPIType.STRING),
    ),
    "Location": OpenAPIHeader(
        description="Where the object just created is read.",
        schema=Schema(type=OpenAPIType.STRING, format=None),
    ),
    "Idempotent-Replayed": OpenAPIHeader(
        description=(
            "`true` when this is the stored answer to an earlier request with the same "
            "`Idempotency-Key` (nothing was done again)."
        ),
        schema=Schema(type=OpenAPIType.STRING, enum=["true"]),
    ),
}


def returned_type(handler: HTTPRouteHandler) -> type | None:
    """The body type a handler answers with (``Response[T]``: ``T``)."""
    annotation = handler.parsed_fn_signature.return_type
    if annotation.is_subclass_of(Response) and annotation.inner_types:
        annotation = annotation.inner_types[0]
    found = annotation.annotation
    return found if isinstance(found, type) else None


def editable_types(app: Litestar) -> set[type]:
    """The answer types of the edits that take ``If-Match``: their answers carry an ETag."""
    return {
        found
        for _, handler in _handlers(app)
        if IF_MATCH in header_parameters(handler) and (found := returned_type(handler))
    }


def created_locations(app: Litestar) -> dict[Callable[..., Any], str]:
    """Each creating handler's function, and the path that reads what it creates."""
    readers: list[tuple[str, type]] = []
    for route, handler in _handlers(app):
        path = route.path_format
        if "GET" in handler.http_methods and len(route.path_parameters) == 1 and path.endswith("}"):
            found = returned_type(handler)
            if found is not None:
                readers.append((path, found))
    locations = {}
    for _, handler in _handlers(app):
        created = returned_type(handler)
        # A caller without credentials (a connect link) could not read it anyway.
        if handler.status_code != 201 or created is None or handler.opt.get("public"):
            continue
        paths = sorted(path for path, read in readers if issubclass(created, read))
        if paths:
            locations[handler.fn] = paths[0]
    return locations


def document_headers(app: Litestar, schema: OpenAPI) -> None:
    """Each success answer lists the ``ETag``, ``Location`` and ``Idempotent-Replayed``
    headers its handler sends."""
    editable = editable_types(app)
    locations = created_locations(app)
    for route, handler in _handlers(app):
        item = (schema.paths or {})[route.path_format or "/"]
        names: dict[str, bool] = {}
        answer = returned_type(handler)
        if answer is not None and any(issubclass(answer, t) for t in editable):
            # A replayed creation answers the stored body only.
            names["ETag"] = handler.status_code != 201
        if handler.fn in locations:
            names["Location"] = True
        if IDEMPOTENCY_KEY in header_parameters(handler):
            names["Idempotent-Replayed"] = False
        for method in handler.http_methods:
            operation: Operation | None = getattr(item, method.lower(), None)
            for status, response in (operation.responses or {}).items() if operation else ():
                if status.startswith("2") and isinstance(response, OpenAPIResponse):
                    response.headers = {
                        **(response.headers or {}),
                        **{name: _header(name, required) for name, required in names.items()},
                    }


def _header(name: str, required: bool) -> OpenAPIHeader:
    header = RESPONSE_HEADERS[name]
    return OpenAPIHeader(description=header.description, schema=header.schema, required=required)
