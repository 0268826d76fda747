"""What each operation of the OpenAPI document says, derived from its handler.

What an operation documents is derived here from what its handler declares, never listed
by hand per route, so that the document cannot drift from the behaviour:

- guards: a route that is not ``public`` answers 401 without credentials and 403 without
  the permission; every route answers 400 for a malformed request and 500 for a fault;
- a path parameter: 404 (a missing object and another agency's look the same);
- a body it reads: 413 when it is larger than the limit;
- a write (POST, PUT, PATCH, DELETE): 409 against the object's state, 422 against a rule;
- an ``If-Match`` parameter: the header is required, 428 without it, 412 when stale
  (:func:`agency.kernel.http.check_if_match`); Litestar would answer a missing required
  header with a 400, so the parameter stays optional to Litestar and is marked required
  in the document only;
- an ``Idempotency-Key`` parameter: 409 while its twin runs, 422 when reused;
- a route where credentials are presented without a login: 429 (rate limited);
- anything else a route can answer is named in ``opt={"problems": [...]}`` next to it.

Request bodies that refuse unknown fields (msgspec ``forbid_unknown_fields``) say
``additionalProperties: false``: see :class:`StrictStructSchemaPlugin`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from litestar import Litestar

# Litestar's own Struct plugin is not exported; it is extended rather than copied.
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.enums import ParamType
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import Operation, Parameter, Schema
from litestar.params import ParameterKwarg
from litestar.routes import HTTPRoute
from litestar.typing import FieldDefinition

from agency.kernel.problems import STANDARD_RESPONSES, problem_spec
from agency.kernel.ratelimit import guards_credentials

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
        codes.add(413)
    headers = header_parameters(handler)
    if IF_MATCH in headers:
        codes |= {412, 428}
    if IDEMPOTENCY_KEY in headers:
        codes |= {409, 422}
    if guards_credentials(handler):
        codes.add(429)  # rate limited where credentials are presented without a login
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


def header_parameters(handler: HTTPRouteHandler) -> set[str]:
    """Names of the headers the handler, or a dependency it uses, takes as parameters."""
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
