"""gRPC handlers of NotificationService: proto <-> domain, and who may do what."""

from seatmesh.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from services.runtime.app import method_access

SERVICE = notifications_pb2.DESCRIPTOR.services_by_name["NotificationService"]
ACCESS = method_access(SERVICE)


class NotificationServiceServicer(notifications_pb2_grpc.NotificationServiceServicer):
    """RPCs not overridden here answer UNIMPLEMENTED until their issue lands."""
