// One gRPC-web transport through Envoy (same origin, same port as REST), with the session's
// token on every call, and a client per service generated from protos/ by protoc-gen-es.
import { createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { BookingService } from "../gen/seatmesh/bookings/v1/bookings_pb";
import { EventService } from "../gen/seatmesh/events/v1/events_pb";
import { NotificationService } from "../gen/seatmesh/notifications/v1/notifications_pb";
import { PaymentService } from "../gen/seatmesh/payments/v1/payments_pb";
import { UserService } from "../gen/seatmesh/users/v1/users_pb";
import { apiBaseUrl, authInterceptor } from "./session";

const transport = createGrpcWebTransport({ baseUrl: apiBaseUrl, interceptors: [authInterceptor] });

export const users = createClient(UserService, transport);
export const events = createClient(EventService, transport);
export const bookings = createClient(BookingService, transport);
export const notifications = createClient(NotificationService, transport);
export const payments = createClient(PaymentService, transport);
