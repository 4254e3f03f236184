"""gRPC handlers of BookingService: proto <-> domain, and who may do what."""

from seatmesh.bookings.v1 import bookings_pb2, bookings_pb2_grpc
from services.runtime.app import method_access

SERVICE = bookings_pb2.DESCRIPTOR.services_by_name["BookingService"]
ACCESS = method_access(SERVICE)


class BookingServiceServicer(bookings_pb2_grpc.BookingServiceServicer):
    """RPCs not overridden here answer UNIMPLEMENTED until their issue lands."""
