import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { describeError, formFieldOf } from "../src/api/errors";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../src/gen/google/rpc/error_details_pb";
import { translator } from "../src/i18n";
import { hasMessage } from "../src/i18n/en";
import errorsPy from "../../scripts/openapi/errors.py?raw";

const en = translator("en");
const ru = translator("ru");

// What the gRPC-web transport hands over: details still encoded, as grpc-status-details-bin had them.
function failure(
  code: Code,
  details: { type: string; value: Uint8Array }[],
  message = "raw server text",
): ConnectError {
  const error = new ConnectError(message, code);
  error.details.push(...details);
  return error;
}

function errorInfo(reason: string, metadata: Record<string, string> = {}) {
  return {
    type: ErrorInfoSchema.typeName,
    value: toBinary(ErrorInfoSchema, create(ErrorInfoSchema, { reason, domain: "seatmesh.dev", metadata })),
  };
}

describe("describeError", () => {
  it("words a refusal by its reason, with its metadata", () => {
    const problem = describeError(
      failure(Code.FailedPrecondition, [errorInfo("SOLD_OUT", { seats_available: "2" })]),
      en,
    );
    expect(problem.reason).toBe("SOLD_OUT");
    expect(problem.message).toBe("Not enough seats left (2 free). Book fewer seats or join the waitlist.");
    expect(describeError(failure(Code.Unauthenticated, [errorInfo("INVALID_CREDENTIALS")]), ru).message).toBe(
      "Неверная почта или пароль.",
    );
  });

  it("attaches field problems to the form fields they name", () => {
    const badRequest = create(BadRequestSchema, {
      fieldViolations: [
        { field: "event.start_time", description: "must be in the future" },
        { field: "password", description: "must be at least 10 characters long" },
      ],
    });
    const problem = describeError(
      failure(Code.InvalidArgument, [
        { type: BadRequestSchema.typeName, value: toBinary(BadRequestSchema, badRequest) },
      ]),
      en,
    );
    expect(problem.message).toBe("Please correct the fields below.");
    expect(problem.fields).toEqual([
      { field: "startTime", label: "Starts", description: "must be in the future" },
      { field: "password", label: "Password", description: "must be at least 10 characters long" },
    ]);
  });

  it("says when to try again", () => {
    const retry = {
      type: RetryInfoSchema.typeName,
      value: toBinary(RetryInfoSchema, create(RetryInfoSchema, { retryDelay: { seconds: 840n, nanos: 0 } })),
    };
    const problem = describeError(
      failure(Code.ResourceExhausted, [errorInfo("TOO_MANY_LOGIN_ATTEMPTS"), retry]),
      en,
    );
    expect(problem.message).toBe("Too many failed sign-ins. Try again in 14 minutes.");
    const soon = describeError(
      failure(Code.ResourceExhausted, [
        {
          type: RetryInfoSchema.typeName,
          value: toBinary(RetryInfoSchema, create(RetryInfoSchema, { retryDelay: { seconds: 3n } })),
        },
      ]),
      ru,
    );
    expect(soon.message).toBe("Слишком много запросов. Подождите немного. Попробуйте через 3 секунды.");
  });

  it("falls back to the code, never to the raw message", () => {
    const unknownReason = describeError(failure(Code.Unavailable, [errorInfo("SOMETHING_NEW")]), en);
    expect(unknownReason.message).toBe("The service is unavailable right now. Please try again in a moment.");
    const bare = describeError(failure(Code.Internal, [], "Unexpected <class 'KeyError'>: 'x'"), en);
    expect(bare.message).not.toContain("KeyError");
    expect(describeError(new Error("boom"), en).message).toBe(en("code.Unknown"));
  });

  it("tells an unreachable server from a failing one", () => {
    const offline = new ConnectError(
      "Failed to fetch",
      Code.Unknown,
      undefined,
      undefined,
      new TypeError("Failed to fetch"),
    );
    expect(describeError(offline, en).message).toBe(
      "The server cannot be reached. Check your connection and try again.",
    );
  });

  it("maps request paths to form fields", () => {
    expect(formFieldOf("booking.seats")).toBe("seats");
    expect(formFieldOf("user.display_name")).toBe("displayName");
    expect(formFieldOf("preferences.kinds[2].sms")).toBe("kinds[2].sms");
    expect(formFieldOf("max_seats_per_booking")).toBe("maxSeatsPerBooking");
  });

  it("maps the parts of an amount and of a refund policy to the one field a form has for each", () => {
    expect(formFieldOf("event.price.nanos")).toBe("price");
    expect(formFieldOf("event.price.currency_code")).toBe("currency");
    expect(formFieldOf("event.refund_policy.full_refund_until_hours_before_start")).toBe("refundHours");
    expect(formFieldOf("event.payment_hold")).toBe("paymentHold");
    expect(formFieldOf("amount.currency_code")).toBe("amount");
  });

  it("words payments' refusals", () => {
    const tooMuch = describeError(
      failure(Code.FailedPrecondition, [errorInfo("REFUND_EXCEEDS_CAPTURED", { refundable: "5.00 EUR" })]),
      en,
    );
    expect(tooMuch.message).toBe("At most 5.00 EUR can still be refunded.");
    expect(describeError(failure(Code.FailedPrecondition, [errorInfo("HOLD_EXPIRED")]), ru).message).toBe(
      "Время на оплату вышло; места больше не держатся за вами.",
    );
  });
});

describe("every reason the services document", () => {
  // Reasons only services meet, among themselves or with Stripe: never a person in the console.
  const BETWEEN_SERVICES = new Set([
    "INVALID_SERVICE_CREDENTIALS",
    "RESERVATION_RELEASED",
    "RESERVATION_ID_REUSED",
    "WEBHOOK_SIGNATURE_INVALID",
    "STRIPE_NOT_CONFIGURED",
  ]);

  it("has words (scripts/openapi/errors.py lists them)", () => {
    const reasons = [...errorsPy.matchAll(/^ {4}"([A-Z0-9_]+)": Reason\(/gm)].map((match) => match[1]);
    expect(reasons.length).toBeGreaterThan(50);
    const missing = reasons.filter(
      (reason) => !BETWEEN_SERVICES.has(reason) && !hasMessage(`reason.${reason}`),
    );
    expect(missing).toEqual([]);
  });
});
