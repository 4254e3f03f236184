"""gRPC handlers of UserService: proto <-> domain, and who may do what."""

from seatmesh.users.v1 import users_pb2, users_pb2_grpc
from services.runtime.app import method_access

SERVICE = users_pb2.DESCRIPTOR.services_by_name["UserService"]
ACCESS = method_access(
    SERVICE,
    public={
        "RegisterUser",
        "VerifyEmail",
        "ResendVerification",
        "Login",
        "RefreshToken",
        "GetJwks",
        "GetUser",
        "IssueServiceToken",
    },
    internal={"BatchGetUsers"},
)


class UserServiceServicer(users_pb2_grpc.UserServiceServicer):
    """RPCs not overridden here answer UNIMPLEMENTED until their issue lands."""
