"""The REST contract (gen/openapi.json) against what the edge really serves.

The spec is generated from the descriptor set and the Envoy configuration (scripts/openapi); these
tests read both again on their own where they can, so a generator mistake cannot hide behind itself:
every HTTP rule Envoy transcodes is an operation and nothing else is, every operation is routed to
the service that implements it, a token is optional exactly where the README says, the README's
route table matches the spec, and the reasons in the spec are the reasons the services raise.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc_tools
import pytest
import yaml
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2
from openapi_spec_validator import validate

from scripts.envoy_config import (
    IMAGE_SITE_PACKAGES,
    MAX_STATIC_FILE_BYTES,
    SERVICES,
    SITE_PACKAGES,
    STATIC_FILES,
    SWAGGER_UI,
    EdgeConfig,
    render,
)
from scripts.openapi.contract import ContractMismatch, load
from scripts.openapi.document import build
from scripts.openapi.edge import Edge, load_edge, sample_path
from scripts.openapi.errors import CODE_NUMBER, HTTP_STATUS, REASONS

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "gen" / "openapi.json"
HTTP_METHODS = ("get", "put", "post", "delete", "patch")

# What the README promises: these need no token; every other operation does.
ANONYMOUS_OPERATIONS = {
    "UserService_RegisterUser",
    "UserService_VerifyEmail",
    "UserService_ResendVerification",
    "UserService_Login",
    "UserService_RefreshToken",
    "UserService_GetJwks",
    "UserService_GetUser",
    "EventService_GetEvent",
    "EventService_ListEvents",
    "EventService_ListTags",
    "EventService_ListReviews",
    "PaymentService_ReceiveStripeWebhook",
}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return json.loads(SPEC.read_text())


@pytest.fixture(scope="module")
def envoy() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(
        render(EdgeConfig(endpoints={name: [("127.0.0.1", 1)] for name in SERVICES}))
    )
    return config


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def _http_filter(envoy: dict[str, Any], name: str) -> dict[str, Any]:
    manager = envoy["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    found: dict[str, Any] = next(f["typed_config"] for f in manager["http_filters"] if f["name"] == name)
    return found


# -- the spec and the edge ------------------------------------------------------------------------


def test_the_spec_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1.")
    validate(spec)


def test_every_http_rule_envoy_transcodes_is_an_operation_and_nothing_else(
    spec: dict[str, Any], envoy: dict[str, Any]
) -> None:
    transcoded = set(_http_filter(envoy, "envoy.filters.http.grpc_json_transcoder")["services"])
    refused = {
        permission["url_path"]["path"]["exact"]
        for policy in _http_filter(envoy, "envoy.filters.http.rbac")["rules"]["policies"].values()
        for permission in policy["permissions"]
    }
    descriptors = descriptor_pb2.FileDescriptorSet.FromString((ROOT / "gen" / "seatmesh.pb").read_bytes())
    expected = {}
    for file in descriptors.file:
        for service in file.service:
            full_name = f"{file.package}.{service.name}"
            for method in service.method:
                if full_name not in transcoded or not method.options.HasExtension(annotations_pb2.http):
                    continue
                rule = method.options.Extensions[annotations_pb2.http]
                verb = rule.WhichOneof("pattern")
                grpc_path = f"/{full_name}/{method.name}"
                if grpc_path not in refused:
                    expected[(verb, getattr(rule, verb))] = grpc_path
    actual = {}
    for method, path, operation in _operations(spec):
        verb, template = operation["x-http-rule"].split(" ")
        assert (verb.lower(), re.sub(r"\{[^}]+\}", "{}", template)) == (
            method,
            re.sub(r"\{[^}]+\}", "{}", path),
        )
        actual[(method, template)] = operation["x-grpc-method"]
    assert actual == expected


def test_every_operation_is_routed_to_its_service_without_grpc_headers(spec: dict[str, Any]) -> None:
    edge = load_edge()
    clusters = {full_name: name for name, full_name in SERVICES.items()}
    for method, path, operation in _operations(spec):
        route = edge.route(method.upper(), sample_path(path))
        assert route is not None, path
        assert route["route"]["cluster"] == clusters[operation["x-grpc-method"].split("/")[1]], path
        assert "envoy.filters.http.header_mutation" in route["typed_per_filter_config"], path


def test_a_token_is_optional_exactly_where_the_readme_says(spec: dict[str, Any]) -> None:
    for _, path, operation in _operations(spec):
        if operation["operationId"] in ANONYMOUS_OPERATIONS:
            assert operation["security"] == [{}, {"bearerAuth": []}], path
        else:
            assert operation["security"] == [{"bearerAuth": []}], path
            assert "UNAUTHENTICATED" in operation["responses"]["401"]["x-error-reasons"], path


def test_operation_ids_are_service_and_method(spec: dict[str, Any]) -> None:
    for _, _, operation in _operations(spec):
        service, method = operation["x-grpc-method"].strip("/").split("/")
        assert operation["operationId"] == f"{service.rsplit('.', 1)[1]}_{method}"


def test_error_answers_sit_under_the_http_status_of_their_grpc_code(spec: dict[str, Any]) -> None:
    for _, path, operation in _operations(spec):
        for status, response in operation["responses"].items():
            if status == "200":
                continue
            assert response["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Status"
            }
            for reason in response["x-error-reasons"]:
                if reason in REASONS:
                    assert HTTP_STATUS[REASONS[reason].code] == int(status), (path, reason)
                    assert CODE_NUMBER[REASONS[reason].code] in response["x-grpc-codes"], (path, reason)


def test_every_route_in_the_readme_table_is_in_the_spec_and_back(spec: dict[str, Any]) -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("The REST surface")
    # Up to the next section: later tables (performance) have rows per service too.
    surface = readme[start : readme.index("\n## ", start)]
    rows = [
        line
        for line in surface.splitlines()
        if re.match(r"^\| (users|events|bookings|notifications|payments) \|", line)
    ]
    assert len(rows) == 5
    listed = set()
    for row in rows:
        cell = re.sub(r"\([^)]*\)", "", row.split("|")[2])  # parentheses hold parameters, not routes
        methods: list[str] = []
        last_path = ""
        for token in re.findall(r"`([^`]+)`", cell):
            verb = re.match(
                r"^((?:GET|POST|PATCH|DELETE|PUT)(?:/(?:GET|POST|PATCH|DELETE|PUT))*) (.+)$", token
            )
            if verb:
                methods, token = verb[1].split("/"), verb[2]
            token = token.split("?")[0]
            if token.startswith(":"):
                token = last_path.split(":")[0] + token
            path = token if token.startswith("/") else f"/v1/{token}"
            last_path = token
            listed.update((method.lower(), re.sub(r"\{[^}]+\}", "{}", path)) for method in methods)
    in_spec = {(method, re.sub(r"\{[^}]+\}", "{}", path)) for method, path, _ in _operations(spec)}
    assert listed == in_spec


def test_every_operation_parameter_and_field_is_described(spec: dict[str, Any]) -> None:
    undocumented = []
    for _, _path, operation in _operations(spec):
        if not operation["summary"]:
            undocumented.append(operation["operationId"])
        for parameter in operation.get("parameters", []):
            if not parameter.get("description"):
                undocumented.append(f"{operation['operationId']} {parameter['name']}")
        body = (
            operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
        )
        for name, field in body.get("properties", {}).items():
            if not field.get("description"):
                undocumented.append(f"{operation['operationId']} body {name}")
    for name, schema in spec["components"]["schemas"].items():
        if not schema.get("description"):
            undocumented.append(name)
        for field_name, field in schema.get("properties", {}).items():
            if not field.get("description"):
                undocumented.append(f"{name}.{field_name}")
    assert not undocumented, "write the proto comments of: " + ", ".join(undocumented)


def test_streams_are_listed_as_grpc_only(spec: dict[str, Any]) -> None:
    grpc_only = {tag["name"]: tag["x-grpc-only"] for tag in spec["tags"]}
    assert grpc_only["EventService"] == ["WatchAvailability"]
    assert grpc_only["NotificationService"] == ["WatchNotifications"]
    assert "WatchAvailability" in next(t for t in spec["tags"] if t["name"] == "EventService")["description"]


# -- reasons ----------------------------------------------------------------------------------------

_FIRST_ARGUMENT_IS_REASON = {
    "failed_precondition": "FAILED_PRECONDITION",
    "already_exists": "ALREADY_EXISTS",
    "aborted": "ABORTED",
    "resource_exhausted": "RESOURCE_EXHAUSTED",
    "unavailable": "UNAVAILABLE",
}
_CODE_OF_HELPER = {
    "permission_denied": "PERMISSION_DENIED",
    "unauthenticated": "UNAUTHENTICATED",
    "bad_field": "INVALID_ARGUMENT",
    "invalid_argument": "INVALID_ARGUMENT",
}


def _raised_reasons(tree: ast.AST) -> list[tuple[str, str, int]]:
    """(reason, gRPC code, line) of every error built with a literal reason."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        literal = next(
            (
                keyword.value.value
                for keyword in node.keywords
                if keyword.arg == "reason" and isinstance(keyword.value, ast.Constant)
            ),
            None,
        )
        if name in _FIRST_ARGUMENT_IS_REASON and node.args and isinstance(node.args[0], ast.Constant):
            found.append((node.args[0].value, _FIRST_ARGUMENT_IS_REASON[name], node.lineno))
        elif name in _CODE_OF_HELPER and isinstance(literal, str):
            found.append((literal, _CODE_OF_HELPER[name], node.lineno))
        elif name == "ServiceError" and isinstance(literal, str) and node.args:
            code = node.args[0]
            if isinstance(code, ast.Attribute):
                found.append((literal, code.attr, node.lineno))
    return found


def test_the_reason_catalogue_is_what_the_services_raise() -> None:
    wrong = []
    literals: set[str] = set()
    for source in sorted((ROOT / "services").rglob("*.py")):
        tree = ast.parse(source.read_text(), str(source))
        literals |= {
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
        for reason, code, line in _raised_reasons(tree):
            where = f"{source.relative_to(ROOT)}:{line}"
            if reason not in REASONS:
                wrong.append(f"{where}: {reason} is missing from scripts/openapi/errors.py REASONS")
            elif REASONS[reason].code != code:
                wrong.append(f"{where}: {reason} is {code} here, {REASONS[reason].code} in REASONS")
    stale = sorted(set(REASONS) - literals)
    assert not wrong, "\n".join(wrong)
    assert not stale, f"no service raises {stale} any more: remove them from REASONS and the proto comments"


# -- the generator on a contract of its own ---------------------------------------------------------

_DEMO_PROTO = """
syntax = "proto3";

package demo.v1;

import "google/api/annotations.proto";
import "google/api/field_behavior.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/field_mask.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";
import "google/rpc/error_details.proto";
import "google/rpc/status.proto";

// Things.
service ThingService {
  // Reads a thing. Anyone may.
  //
  // Errors: NOT_FOUND.
  rpc GetThing(GetThingRequest) returns (Thing) {
    option (google.api.http) = {get: "/v1/tags/{thing_id}"};
  }
  // Changes a thing.
  rpc UpdateThing(UpdateThingRequest) returns (Thing) {
    option (google.api.http) = {patch: "/v1/events/{thing.id}" body: "thing"};
  }
  // Renames a thing.
  rpc RenameThing(RenameThingRequest) returns (Thing) {
    option (google.api.http) = {post: "/v1/events/{thing_id}:rename" body: "*"};
  }
  // Internal: refused at the edge.
  rpc PurgeThing(RenameThingRequest) returns (Thing) {
    option (google.api.http) = {post: "/v1/events/{thing_id}:purge" body: "*"};
  }
  // Every change of a thing.
  rpc WatchThing(GetThingRequest) returns (stream Thing);
}

// A thing.
message Thing {
  // How a thing feels.
  enum Mood {
    // Unknown.
    MOOD_UNSPECIFIED = 0;
    // Glad.
    GLAD = 1;
  }
  // Its id. A UUID.
  string id = 1 [(google.api.field_behavior) = OUTPUT_ONLY];
  // 1–20 characters.
  string name = 2 [(google.api.field_behavior) = REQUIRED];
  int64 big = 3;
  uint64 huge = 4;
  Mood mood = 5;
  google.protobuf.Timestamp when = 6;
  google.protobuf.Duration lasts = 7;
  google.protobuf.Int32Value maybe = 8;
  // At most 3 labels, each at most 8 characters.
  repeated string labels = 9;
  map<int32, string> notes = 10;
  oneof shape {
    string round = 11;
    string square = 12;
  }
  optional int32 rank = 13;
  // 1–5.
  int32 stars = 14;
  Thing parent = 15;
  bytes blob = 16;
}

message GetThingRequest {
  string thing_id = 1 [(google.api.field_behavior) = REQUIRED];
  Filter filter = 2;
  repeated string labels = 3;
}

message Filter {
  string mood_name = 1;
  google.protobuf.Timestamp after = 2;
}

message UpdateThingRequest {
  Thing thing = 1 [(google.api.field_behavior) = REQUIRED];
  google.protobuf.FieldMask update_mask = 2;
}

message RenameThingRequest {
  string thing_id = 1;
  string name = 2 [(google.api.field_behavior) = REQUIRED];
}
"""


@pytest.fixture(scope="module")
def demo_sets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The demo contract built twice, as scripts/gen builds seatmesh: without and with comments."""
    directory = tmp_path_factory.mktemp("demo")
    (directory / "demo.proto").write_text(_DEMO_PROTO)
    annotated = directory / "annotated.pb"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{directory}",
            f"-I{ROOT / 'protos'}",
            f"-I{Path(grpc_tools.__file__).parent / '_proto'}",
            "--include_imports",
            "--include_source_info",
            f"--descriptor_set_out={annotated}",
            "demo.proto",
        ],
        check=True,
    )
    served = descriptor_pb2.FileDescriptorSet.FromString(annotated.read_bytes())
    for file in served.file:
        file.ClearField("source_code_info")
    (directory / "served.pb").write_bytes(served.SerializeToString())
    return directory / "served.pb", annotated


@pytest.fixture(scope="module")
def demo(demo_sets: tuple[Path, Path], envoy: dict[str, Any]) -> dict[str, Any]:
    """The spec of the demo contract behind the real edge configuration, with the demo's service
    transcoded and its PurgeThing refused by RBAC like the internal RPCs."""
    config = json.loads(json.dumps(envoy))
    _http_filter(config, "envoy.filters.http.grpc_json_transcoder")["services"] = ["demo.v1.ThingService"]
    policies = _http_filter(config, "envoy.filters.http.rbac")["rules"]["policies"]
    next(iter(policies.values()))["permissions"].append(
        {"url_path": {"path": {"exact": "/demo.v1.ThingService/PurgeThing"}}}
    )
    document = build(load(*demo_sets), Edge(config), version="test")
    validate(document)
    return document


def test_the_generator_maps_paths_bodies_and_query_parameters(demo: dict[str, Any]) -> None:
    assert set(demo["paths"]) == {
        "/v1/tags/{thing_id}",
        "/v1/events/{thing_id}",
        "/v1/events/{thing_id}:rename",
    }
    get = demo["paths"]["/v1/tags/{thing_id}"]["get"]
    parameters = {parameter["name"]: parameter for parameter in get["parameters"]}
    assert parameters["thing_id"]["in"] == "path"
    assert parameters["thing_id"]["required"]
    assert parameters["filter.moodName"]["in"] == "query"
    assert parameters["filter.after"]["schema"] == {"type": "string", "format": "date-time"}
    assert parameters["labels"]["schema"]["type"] == "array"
    assert parameters["labels"]["explode"]
    assert get["security"] == [{}, {"bearerAuth": []}]
    assert "NOT_FOUND" in get["responses"]["404"]["x-error-reasons"]
    assert get["summary"] == "Reads a thing"

    patch = demo["paths"]["/v1/events/{thing_id}"]["patch"]
    assert patch["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ThingUpdate"
    }
    assert [parameter["name"] for parameter in patch["parameters"]] == ["thing_id", "updateMask"]
    assert patch["x-http-rule"] == "PATCH /v1/events/{thing.id}"
    assert patch["security"] == [{"bearerAuth": []}]

    rename = demo["paths"]["/v1/events/{thing_id}:rename"]["post"]
    body = rename["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"name"}
    assert body["required"] == ["name"]
    assert demo["tags"][0]["x-grpc-only"] == ["WatchThing"]


def test_the_generator_follows_the_protobuf_json_mapping(demo: dict[str, Any]) -> None:
    schemas = demo["components"]["schemas"]
    thing = schemas["Thing"]
    fields = thing["properties"]
    assert fields["id"]["format"] == "uuid"
    assert (fields["name"]["minLength"], fields["name"]["maxLength"]) == (1, 20)
    assert fields["big"]["type"] == "string"
    assert fields["big"]["format"] == "int64"
    assert fields["huge"]["format"] == "uint64"
    assert fields["mood"]["$ref"] == "#/components/schemas/ThingMood"
    assert schemas["ThingMood"]["enum"] == ["MOOD_UNSPECIFIED", "GLAD"]
    assert fields["when"]["format"] == "date-time"
    assert fields["lasts"]["type"] == "string"
    assert "pattern" in fields["lasts"]
    assert fields["maybe"]["type"] == "integer"
    assert fields["labels"]["maxItems"] == 3
    assert fields["labels"]["items"]["maxLength"] == 8
    assert fields["notes"]["additionalProperties"]["type"] == "string"
    assert fields["notes"]["propertyNames"]["pattern"] == r"^-?[0-9]+$"
    assert (fields["stars"]["minimum"], fields["stars"]["maximum"]) == (1, 5)
    assert fields["parent"]["$ref"] == "#/components/schemas/Thing"
    assert fields["blob"]["format"] == "byte"
    assert thing["not"] == {"anyOf": [{"required": ["round", "square"]}]}
    # Replies always carry the fields without presence; the rest only when set.
    assert set(thing["required"]) == {"id", "name", "big", "huge", "mood", "labels", "notes", "stars", "blob"}
    # The update shape: nothing OUTPUT_ONLY, nothing required.
    update = schemas["ThingUpdate"]
    assert "id" not in update["properties"]
    assert "required" not in update


def test_the_generator_refuses_comments_of_another_contract(
    demo_sets: tuple[Path, Path], tmp_path: Path
) -> None:
    served, annotated = demo_sets
    changed = descriptor_pb2.FileDescriptorSet.FromString(annotated.read_bytes())
    next(file for file in changed.file if file.name == "demo.proto").message_type[0].field[
        1
    ].json_name = "other"
    (tmp_path / "changed.pb").write_bytes(changed.SerializeToString())
    with pytest.raises(ContractMismatch):
        load(served, tmp_path / "changed.pb")


# -- files the edge serves --------------------------------------------------------------------------


def test_static_files_exist_and_fit_what_envoy_accepts() -> None:
    for static in STATIC_FILES:
        location = Path(static.location(str(ROOT), str(SITE_PACKAGES)))
        assert location.is_file(), location
        assert location.stat().st_size <= MAX_STATIC_FILE_BYTES, location


def test_the_docs_page_loads_nothing_but_what_the_edge_serves() -> None:
    page = (ROOT / "envoy" / "docs.html").read_text()
    served = {static.path for static in STATIC_FILES}
    references = set(re.findall(r'(?:src|href|url)\s*[:=]\s*"([^"]+)"', page))
    assert references, "the page references nothing?"
    assert references <= served, references - served
    assert not re.search(r"https?://", page), "the page must work offline"
    assert f"/docs/{SWAGGER_UI.name}/swagger-ui-bundle.js" in references


def test_image_paths_follow_the_dockerfile() -> None:
    base = re.search(r"^FROM python:(\d+\.\d+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert base is not None
    assert f"/usr/local/lib/python{base[1]}/site-packages" == IMAGE_SITE_PACKAGES
    assert "swagger-ui-bundle-v2" in (ROOT / "requirements.txt").read_text()
