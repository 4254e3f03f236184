"""The OpenAPI 3.1 document: one operation per `google.api.http` rule the edge transcodes.

An RPC is left out when it has no rule (internal RPCs, server streams: those are listed under their
service's tag as gRPC only) or when RBAC refuses it at the edge. For each operation:
- the path template as written (`/v1/events/{event_id}`, `/v1/bookings/{booking_id}:cancel`), a
  nested field's variable named with underscores (`{event.id}` is the parameter `event_id`);
- path variables as path parameters; the body as the rule's `body` says (`*`: the request without
  its path fields; a field name: that field); every other request field as a query parameter, by
  JSON name, nested message fields dotted, repeated ones repeatable (`?tags=a&tags=b`);
- the reply as the response message prints, and every error status with its reasons (errors.py);
- `security` from jwt_authn: a bearer token where it requires one, optional where it allows
  anonymous calls (a token that is sent must still be valid);
- `operationId` `<Service>_<Method>`, summary and description from the proto comments.
"""

from __future__ import annotations

import re
from typing import Any

from google.api.http_pb2 import HttpRule

from scripts.openapi.contract import REQUIRED, Contract, Field, Method, field_behaviors, http_rule
from scripts.openapi.edge import Edge, Token
from scripts.openapi.errors import EdgeReply, add_components, error_responses, split_errors
from scripts.openapi.schemas import WELL_KNOWN, Mode, Schema, Schemas

OPENAPI_VERSION = "3.1.0"
SECURITY_SCHEME = "bearerAuth"
_VARIABLE = re.compile(r"\{([a-zA-Z0-9_.]+)(?:=\*)?\}")
_ANY_VARIABLE = re.compile(r"\{[^}]*\}")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")
_HTTP_BODY = "google.api.HttpBody"

# Replies that are raw bytes (google.api.HttpBody): their media type and shape, which the proto
# cannot say. The generator refuses an HttpBody RPC missing here.
HTTP_BODY_REPLIES: dict[str, tuple[str, Schema]] = {
    "seatmesh.users.v1.UserService.GetJwks": (
        "application/json",
        {
            "type": "object",
            "description": "A JSON Web Key Set (RFC 7517): the Ed25519 keys that verify access tokens.",
            "required": ["keys"],
            "properties": {
                "keys": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["kty", "kid"],
                        "properties": {
                            name: {"type": "string"} for name in ("kty", "crv", "x", "kid", "use", "alg")
                        },
                    },
                }
            },
        },
    ),
}

# Requests whose body is raw bytes (a field of type google.api.HttpBody named by the rule's body):
# their media type and shape. The generator refuses such an RPC missing here.
HTTP_BODY_REQUESTS: dict[str, tuple[str, Schema]] = {
    "seatmesh.payments.v1.PaymentService.ReceiveStripeWebhook": (
        "application/json",
        {
            "type": "object",
            "description": "A Stripe event (https://docs.stripe.com/api/events/object) exactly as Stripe "
            "sent it, signed in the Stripe-Signature header.",
            "required": ["id", "type"],
            "properties": {
                "id": {"type": "string", "description": "The event's id (evt_...)."},
                "type": {"type": "string", "description": "What happened, e.g. checkout.session.completed."},
                "data": {"type": "object", "description": "The object the event is about."},
            },
        },
    ),
}

_INTRODUCTION = """\
The REST face of seatmesh, as Envoy transcodes it to the gRPC services (generated from the protos
and the edge's configuration by `scripts/gen`; do not edit).

JSON follows the protobuf mapping: lowerCamelCase names, 64-bit integers as strings, enums by name,
times in RFC 3339 (UTC in replies). Every error is a `google.rpc.Status` with typed details; branch
on the ErrorInfo `reason`, which is stable, never on the message.

Sign in with `POST /v1/auth:login`, then send `Authorization: Bearer <accessToken>` (in this page:
"Authorize"). Live updates are gRPC server streams on the same port, not REST: each service's
description lists its own."""


def build(contract: Contract, edge: Edge, *, version: str) -> dict[str, Any]:
    schemas = Schemas(contract)
    add_components(schemas)
    replies = edge.replies()
    internal = edge.internal_methods
    paths: dict[str, dict[str, Any]] = {}
    tags = []
    replies_of: list[tuple[dict[str, Any], str]] = []
    for service_name in edge.transcoded_services:
        service = contract.services[service_name]
        grpc_only = []
        for method in service.method:
            grpc_path = f"/{service_name}/{method.name}"
            rule = http_rule(method)
            if grpc_path in internal:
                continue
            if rule is None:
                if method.server_streaming:
                    grpc_only.append(method)
                continue
            http_method, template = _pattern(rule)
            operation = _operation(contract, schemas, edge, replies, service_name, method, rule)
            paths.setdefault(_openapi_path(template), {})[http_method] = operation
            replies_of.append((operation, method.output_type.lstrip(".")))
        tags.append(_tag(contract, service_name, grpc_only))
    _add_links(contract, replies_of)
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "seatmesh", "version": version, "description": _INTRODUCTION},
        "servers": [{"url": "/", "description": "the edge that serves this document (same origin)"}],
        "tags": tags,
        "paths": paths,
        "components": {
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "An access token from `POST /v1/auth:login` (or `/v1/auth:refresh`).",
                }
            }
        },
    }
    schemas.finish(document)
    return document


def _add_links(contract: Contract, replies_of: list[tuple[dict[str, Any], str]]) -> None:
    """OpenAPI links from a reply that carries a resource (`Event`, with its `id`) or a page of them
    (the first one) to every operation taking that resource's id in its path (`{event_id}`): what a
    client (or the fuzz's stateful phase) can call next with what it just got."""
    takers: dict[str, list[str]] = {}
    for operation, _ in replies_of:
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                takers.setdefault(parameter["name"], []).append(operation["operationId"])
    for operation, reply_type in replies_of:
        links = {}
        for pointer, resource in _resources_in(contract, reply_type):
            parameter = _snake(contract.local_names[resource]) + "_id"
            for target in takers.get(parameter, []):
                if target != operation["operationId"]:
                    links[target] = {
                        "operationId": target,
                        "parameters": {parameter: f"$response.body#{pointer}"},
                    }
        if links:
            operation["responses"]["200"]["links"] = links


def _resources_in(contract: Contract, type_name: str) -> list[tuple[str, str]]:
    """(JSON pointer to an id, resource type) in a reply: the reply itself when it has an `id`, or
    the first item of each repeated field of such messages."""
    message = contract.messages.get(type_name)
    if message is None:
        return []
    if any(field.name == "id" for field in message.field):
        return [("/id", type_name)]
    found = []
    for field in message.field:
        if field.label == Field.LABEL_REPEATED and field.type == Field.TYPE_MESSAGE:
            item = field.type_name.lstrip(".")
            if any(child.name == "id" for child in contract.messages[item].field):
                found.append((f"/{field.json_name}/0/id", item))
    return found


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name.replace(".", "")).lower()


def _tag(contract: Contract, service_name: str, grpc_only: list[Method]) -> dict[str, Any]:
    description = contract.comment(service_name)
    if grpc_only:
        lines = [
            f"- `{method.name}`: {contract.comment(f'{service_name}.{method.name}')}" for method in grpc_only
        ]
        description += "\n\ngRPC only (server streams, on the same port):\n\n" + "\n".join(lines)
    return {
        "name": service_name.rsplit(".", 1)[1],
        "description": description,
        "x-grpc-service": service_name,
        "x-grpc-only": [method.name for method in grpc_only],
    }


def _pattern(rule: HttpRule) -> tuple[str, str]:
    kind = rule.WhichOneof("pattern")
    if kind not in ("get", "put", "post", "delete", "patch"):
        raise ValueError(f"unsupported HTTP rule pattern {kind!r}")
    if rule.additional_bindings or rule.response_body:
        raise ValueError(
            "additional_bindings and response_body are not used by seatmesh; teach the generator"
        )
    return kind, getattr(rule, kind)


def _openapi_path(template: str) -> str:
    for variable in _ANY_VARIABLE.findall(template):
        if not _VARIABLE.fullmatch(variable):
            raise ValueError(
                f"unsupported path variable {variable} in {template!r}: only {{field}} and {{field=*}}"
            )
    return _VARIABLE.sub(lambda match: "{" + _parameter_name(match[1]) + "}", template)


def _parameter_name(field_path: str) -> str:
    """A path variable's parameter name: a nested field (`event.id`) with underscores, because
    OpenAPI treats `/v1/events/{event.id}` and `/v1/events/{event_id}` as one path and tools
    format templates as identifiers."""
    return field_path.replace(".", "_")


def _summary(text: str) -> str:
    first = _SENTENCE_END.split(text.strip(), maxsplit=1)[0]
    return first.rstrip(".")


def _operation(
    contract: Contract,
    schemas: Schemas,
    edge: Edge,
    replies: dict[int, EdgeReply],
    service_name: str,
    method: Method,
    rule: HttpRule,
) -> dict[str, Any]:
    http_method, template = _pattern(rule)
    full_name = f"{service_name}.{method.name}"
    description, reasons = split_errors(contract.comment(full_name))
    request_name = method.input_type.lstrip(".")
    request = contract.messages[request_name]
    path_fields = _VARIABLE.findall(template)
    operation: dict[str, Any] = {
        "operationId": f"{service_name.rsplit('.', 1)[1]}_{method.name}",
        "tags": [service_name.rsplit(".", 1)[1]],
        "summary": _summary(description),
        "description": description,
    }
    parameters = [_path_parameter(contract, schemas, request_name, field_path) for field_path in path_fields]
    top_level_path_fields = {field_path.split(".")[0] for field_path in path_fields}
    body_field = rule.body
    mode = Mode.UPDATE if http_method == "patch" else Mode.CREATE
    if body_field == "*":
        body_schema = schemas.message_schema(request_name, mode, exclude=frozenset(top_level_path_fields))
        body_schema.pop("description", None)
        operation["requestBody"] = _request_body(body_schema, required=True)
    elif body_field:
        field = _field(request, body_field)
        required = REQUIRED in field_behaviors(field)
        if field.type_name.lstrip(".") == _HTTP_BODY:
            if full_name not in HTTP_BODY_REQUESTS:
                raise ValueError(f"{full_name} takes raw bytes: describe them in HTTP_BODY_REQUESTS")
            media_type, raw_schema = HTTP_BODY_REQUESTS[full_name]
            operation["requestBody"] = {"required": required, "content": {media_type: {"schema": raw_schema}}}
        else:
            body_schema = schemas.message_ref(field.type_name, mode)
            operation["requestBody"] = _request_body(body_schema, required=required)
    if body_field != "*":
        for field in request.field:
            if field.name in top_level_path_fields or field.name == body_field:
                continue
            parameters.extend(_query_parameters(contract, schemas, request_name, field, prefix=""))
    if parameters:
        operation["parameters"] = parameters
    token = edge.token(http_method.upper(), template)
    operation["responses"] = {
        "200": _success(contract, schemas, full_name, method),
        **error_responses(
            _all_reasons(reasons, token),
            _edge_replies(replies, has_path_fields=bool(path_fields), has_body=bool(body_field)),
        ),
    }
    if token is Token.REQUIRED:
        operation["security"] = [{SECURITY_SCHEME: []}]
    elif token is Token.OPTIONAL:
        operation["security"] = [{}, {SECURITY_SCHEME: []}]
    else:
        operation["security"] = []
    operation["x-grpc-method"] = f"/{service_name}/{method.name}"
    operation["x-http-rule"] = f"{http_method.upper()} {template}"
    return operation


def _all_reasons(listed: list[str], token: Token) -> list[str]:
    """The RPC's own reasons and those of the runtime around every RPC."""
    runtime = ["UNDECODABLE_REQUEST", "INVALID_TOKEN", "TOKEN_EXPIRED", "DEPENDENCY_UNAVAILABLE"]
    if token is Token.REQUIRED:
        runtime.append("UNAUTHENTICATED")
    return list(dict.fromkeys([*listed, *runtime]))


def _edge_replies(replies: dict[int, EdgeReply], *, has_path_fields: bool, has_body: bool) -> list[EdgeReply]:
    """Envoy's own answers this route can get: a request it cannot map (400), a token refused
    (401, or 403 for another audience), no path (404) when a path id makes the URL unmappable, a
    body over the buffer limit (413), headers over the limit (431), and a service that is down,
    broken or slow (502-504)."""
    statuses = [400, 401, 403, 431, 502, 503, 504]
    if has_path_fields:
        statuses.append(404)
    if has_body:
        statuses.append(413)
    return [replies[status] for status in statuses if status in replies]


def _request_body(schema: Schema, *, required: bool) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _success(contract: Contract, schemas: Schemas, full_name: str, method: Method) -> dict[str, Any]:
    reply_type = method.output_type.lstrip(".")
    if reply_type == _HTTP_BODY:
        if full_name not in HTTP_BODY_REPLIES:
            raise ValueError(f"{full_name} replies with raw bytes: describe them in HTTP_BODY_REPLIES")
        media_type, schema = HTTP_BODY_REPLIES[full_name]
    else:
        media_type, schema = "application/json", schemas.message_ref(reply_type, Mode.OUTPUT)
    comment = contract.comment(reply_type) if reply_type not in WELL_KNOWN else ""
    return {
        "description": _summary(comment) if comment else "OK",
        "content": {media_type: {"schema": schema}},
    }


def _field(message: Any, name: str) -> Field:
    for field in message.field:
        if field.name == name:
            assert isinstance(field, Field)
            return field
    raise ValueError(f"{message.name} has no field {name!r}")


def _path_parameter(
    contract: Contract, schemas: Schemas, request_name: str, field_path: str
) -> dict[str, Any]:
    owner, field = _resolve_field(contract, request_name, field_path)
    schema = schemas.field_schema(owner, field, Mode.CREATE)
    description = schema.pop("description", "")
    parameter: dict[str, Any] = {"name": _parameter_name(field_path), "in": "path", "required": True}
    if description:
        parameter["description"] = description
    parameter["schema"] = schema
    return parameter


def _resolve_field(contract: Contract, message_name: str, field_path: str) -> tuple[str, Field]:
    owner = message_name
    parts = field_path.split(".")
    for part in parts[:-1]:
        owner = _field(contract.messages[owner], part).type_name.lstrip(".")
    return owner, _field(contract.messages[owner], parts[-1])


def _query_parameters(
    contract: Contract, schemas: Schemas, owner: str, field: Field, prefix: str, depth: int = 0
) -> list[dict[str, Any]]:
    name = prefix + field.json_name
    is_message = field.type == Field.TYPE_MESSAGE and field.type_name.lstrip(".") not in WELL_KNOWN
    if is_message:
        nested = field.type_name.lstrip(".")
        if field.label == Field.LABEL_REPEATED or depth > 4 or contract.messages[nested].options.map_entry:
            return []  # repeated messages and maps have no query-string form
        found = []
        for child in contract.messages[nested].field:
            found.extend(_query_parameters(contract, schemas, nested, child, f"{name}.", depth + 1))
        return found
    schema = schemas.field_schema(owner, field, Mode.CREATE)
    description = schema.pop("description", "")
    parameter: dict[str, Any] = {"name": name, "in": "query"}
    if description:
        parameter["description"] = description
    if REQUIRED in field_behaviors(field):
        parameter["required"] = True
    if field.label == Field.LABEL_REPEATED:
        parameter["style"] = "form"
        parameter["explode"] = True
    parameter["schema"] = schema
    return [parameter]
