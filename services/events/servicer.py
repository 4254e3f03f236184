"""gRPC handlers of EventService: proto <-> domain, and who may do what."""

from seatmesh.events.v1 import events_pb2, events_pb2_grpc
from services.runtime.app import method_access

SERVICE = events_pb2.DESCRIPTOR.services_by_name["EventService"]
ACCESS = method_access(
    SERVICE,
    public={"GetEvent", "ListEvents", "ListTags", "ListReviews", "WatchAvailability"},
    internal={"ReserveSeats", "ReleaseSeats", "BatchGetEvents"},
)


class EventServiceServicer(events_pb2_grpc.EventServiceServicer):
    """RPCs not overridden here answer UNIMPLEMENTED until their issue lands."""
