// Every failure a person sees is a sentence: by ErrorInfo.reason when the service gave one (the
// stable contract the README lists), else by the gRPC code; never a raw status or a stack. Field
// problems from google.rpc.BadRequest are attached to the form fields they name.
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb";
import type { MessageKey, Translate } from "../i18n";
import { hasMessage } from "../i18n/en";

export interface FieldProblem {
  /** The request field in camelCase without its wrapper ("event.start_time" -> "startTime"). */
  field: string;
  /** Translated label of the field, or its path when the console has no label for it. */
  label: string;
  description: string;
}

export interface Problem {
  message: string;
  reason: string;
  code: Code | null;
  fields: FieldProblem[];
}

// Request wrappers whose inner fields forms show directly.
const WRAPPERS = ["event.", "booking.", "user.", "preferences."];

function camel(segment: string): string {
  return segment.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
}

// Parts of a message that a form edits as one field: a Money's units, nanos and currency are one
// amount (with its currency picked apart, where a form lets people choose it), and a refund
// policy is its one number of hours.
const FIELD_ALIASES: Record<string, string> = {
  "price.units": "price",
  "price.nanos": "price",
  "price.currencyCode": "currency",
  "amount.units": "amount",
  "amount.nanos": "amount",
  "amount.currencyCode": "amount",
  "refundPolicy.fullRefundUntilHoursBeforeStart": "refundHours",
};

export function formFieldOf(path: string): string {
  let field = path;
  for (const wrapper of WRAPPERS) {
    if (field.startsWith(wrapper)) {
      field = field.slice(wrapper.length);
      break;
    }
  }
  const camelCased = field.split(".").map(camel).join(".");
  return FIELD_ALIASES[camelCased] ?? camelCased;
}

function codeName(code: Code): string {
  return Code[code] ?? "Unknown";
}

function retrySeconds(error: ConnectError): number | null {
  const [retry] = error.findDetails(RetryInfoSchema);
  if (!retry?.retryDelay) return null;
  const seconds = Number(retry.retryDelay.seconds) + retry.retryDelay.nanos / 1e9;
  return Math.max(1, Math.ceil(seconds));
}

function isNetworkFailure(error: ConnectError): boolean {
  // fetch() rejects with a TypeError when the server cannot be reached at all.
  return error.cause instanceof TypeError;
}

export function describeError(error: unknown, t: Translate): Problem {
  const connect = ConnectError.from(error);
  if (connect.code === Code.Canceled) {
    return { message: t("error.cancelled"), reason: "", code: connect.code, fields: [] };
  }
  if (isNetworkFailure(connect)) {
    return { message: t("error.network"), reason: "", code: null, fields: [] };
  }
  const [info] = connect.findDetails(ErrorInfoSchema);
  const reason = info?.reason ?? "";
  const metadata: Record<string, string | number> = { ...(info?.metadata ?? {}) };
  const seconds = retrySeconds(connect);
  if (seconds !== null) metadata.seconds = seconds;

  const fields: FieldProblem[] = [];
  for (const badRequest of connect.findDetails(BadRequestSchema)) {
    for (const violation of badRequest.fieldViolations) {
      const field = formFieldOf(violation.field);
      const labelKey = `field.${field}`;
      fields.push({
        field,
        label: field ? (hasMessage(labelKey) ? t(labelKey) : violation.field) : "",
        description: violation.description,
      });
    }
  }

  const reasonKey = `reason.${reason}`;
  let message: string;
  if (reason && hasMessage(reasonKey)) {
    message = t(reasonKey as MessageKey, metadata);
  } else if (fields.length > 0) {
    message = t("error.fields");
  } else {
    const codeKey = `code.${codeName(connect.code)}`;
    message = hasMessage(codeKey) ? t(codeKey as MessageKey, metadata) : t("code.Unknown");
  }
  if (seconds !== null) {
    const wait =
      seconds >= 120
        ? t("error.retryAfterMinutes", { count: Math.ceil(seconds / 60) })
        : t("error.retryAfter", { count: seconds });
    message = `${message} ${wait}`;
  }
  return { message, reason, code: connect.code, fields };
}

export function reasonOf(error: unknown): string {
  const [info] = ConnectError.from(error).findDetails(ErrorInfoSchema);
  return info?.reason ?? "";
}
