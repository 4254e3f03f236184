"""The REST contract as OpenAPI 3.1, generated from what the edge really serves.

Inputs are the ones Envoy uses: the descriptor set its transcoder loads (gen/seatmesh.pb, with the
`google.api.http` rules), and the Envoy configuration rendered from envoy/envoy.yaml.j2 (which
services are transcoded, which RPCs RBAC refuses, which paths jwt_authn requires a token on). The
comments come from a second build of the same protos with source info, checked to be the same
contract. `scripts/gen` writes gen/openapi.json with it, so `make check-gen` covers the spec.

    python -m scripts.openapi --descriptor gen/seatmesh.pb --source-info contract.pb --output gen/openapi.json

- `contract`: the descriptors and their comments;
- `schemas`: protobuf messages as JSON Schema the way the transcoder prints and parses them;
- `errors`: `google.rpc.Status` answers, the HTTP status of each gRPC code, the reason catalogue;
- `edge`: facts read from the rendered Envoy configuration;
- `document`: the paths, operations and the document itself;
- `fuzz` and `hooks`: schemathesis against the edge with that document (`scripts/fuzz`).
"""
