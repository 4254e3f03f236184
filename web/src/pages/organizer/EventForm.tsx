import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { useMemo, useRef, useState } from "preact/hooks";
import { events } from "../../api/clients";
import type { Problem } from "../../api/errors";
import { describeAmountProblem } from "../../components/payments";
import {
  CheckboxField,
  ErrorNotice,
  Loading,
  Notice,
  Page,
  SelectField,
  SubmitButton,
  TextAreaField,
  TextField,
  TimeZoneField,
  useViewerZone,
} from "../../components/ui";
import type { Event } from "../../gen/seatmesh/events/v1/events_pb";
import { Event_State } from "../../gen/seatmesh/events/v1/events_pb";
import { type Action, useAction, useLoad } from "../../hooks";
import { type Translate, useI18n } from "../../i18n";
import { newRequestId } from "../../ids";
import {
  type Amount,
  amountOf,
  CURRENCIES,
  decimalText,
  isZero,
  MAX_PRICE_MAJOR,
  moneyOf,
  parseAmount,
} from "../../money";
import { navigate } from "../../router";
import { instantToWallTime, isValidTimeZone, knownTimeZones, wallTimeToInstant } from "../../time";

interface Draft {
  /** Per seat, as typed; empty for a free event. */
  price: string;
  currency: string;
  refundHours: string;
  /** Minutes seats wait for payment; empty for the default. */
  holdMinutes: string;
  title: string;
  description: string;
  start: string;
  end: string;
  timeZone: string;
  city: string;
  venue: string;
  capacity: string;
  maxSeatsPerBooking: string;
  tags: string;
  requiresApproval: boolean;
}

type EventFields = Pick<
  Event,
  | "title"
  | "description"
  | "timeZone"
  | "city"
  | "venue"
  | "capacity"
  | "maxSeatsPerBooking"
  | "tags"
  | "requiresApproval"
> & {
  startTime: Date;
  endTime: Date;
  price: Amount | null;
  refundHours: number;
  /** Null: the default hold. */
  holdSeconds: number | null;
};

// Events' bounds (services/events/domain/events.py), checked here first so a person sees every
// problem at once; the server checks them again.
const MAX_REFUND_HOURS = 8_760;
const MIN_HOLD_SECONDS = 2 * 60;
const MAX_HOLD_SECONDS = 24 * 60 * 60;
const DEFAULT_CURRENCY = "EUR";

function draftOf(event: Event): Draft {
  const zone = isValidTimeZone(event.timeZone) ? event.timeZone : "UTC";
  const paid = event.price && !isZero(event.price) ? amountOf(event.price) : null;
  return {
    price: paid ? decimalText(paid) : "",
    currency: paid?.currency ?? DEFAULT_CURRENCY,
    refundHours: String(event.refundPolicy?.fullRefundUntilHoursBeforeStart ?? 0),
    holdMinutes: event.paymentHold ? String(Number(event.paymentHold.seconds) / 60) : "",
    title: event.title,
    description: event.description,
    start: event.startTime ? instantToWallTime(timestampDate(event.startTime), zone) : "",
    end: event.endTime ? instantToWallTime(timestampDate(event.endTime), zone) : "",
    timeZone: event.timeZone,
    city: event.city,
    venue: event.venue,
    capacity: String(event.capacity),
    maxSeatsPerBooking: event.maxSeatsPerBooking ? String(event.maxSeatsPerBooking) : "",
    tags: event.tags.join(", "),
    requiresApproval: event.requiresApproval,
  };
}

function emptyDraft(zone: string): Draft {
  return {
    price: "",
    currency: DEFAULT_CURRENCY,
    refundHours: "0",
    holdMinutes: "",
    title: "",
    description: "",
    start: "",
    end: "",
    timeZone: zone,
    city: "",
    venue: "",
    capacity: "",
    maxSeatsPerBooking: "",
    tags: "",
    requiresApproval: false,
  };
}

function localProblem(t: Translate, fields: { field: string; description: string }[]): Problem {
  return {
    message: t("error.fields"),
    reason: "",
    code: null,
    fields: fields.map((field) => ({ ...field, label: t(`field.${field.field}` as "field.title") })),
  };
}

/** The draft as event fields, or the problems a person can fix before anything is sent. */
function parseDraft(draft: Draft, t: Translate, language: string): EventFields | Problem {
  const problems: { field: string; description: string }[] = [];
  let price: Amount | null = null;
  if (draft.price.trim() !== "") {
    const parsed = parseAmount(draft.price, draft.currency, { maxMajor: MAX_PRICE_MAJOR });
    if ("problem" in parsed) {
      problems.push({
        field: "price",
        description: describeAmountProblem(parsed.problem, draft.currency, t, language),
      });
    } else {
      price = parsed.amount;
    }
  }
  const refundHours = Number(draft.refundHours.trim() || "0");
  if (!Number.isInteger(refundHours) || refundHours < 0 || refundHours > MAX_REFUND_HOURS) {
    problems.push({
      field: "refundHours",
      description: t("form.wholeNumberBetween", { min: 0, max: MAX_REFUND_HOURS }),
    });
  }
  let holdSeconds: number | null = null;
  if (draft.holdMinutes.trim() !== "") {
    const seconds = Number(draft.holdMinutes.trim().replace(",", ".")) * 60;
    if (!Number.isInteger(seconds) || seconds < MIN_HOLD_SECONDS || seconds > MAX_HOLD_SECONDS) {
      problems.push({ field: "paymentHold", description: t("eventForm.holdRange") });
    } else {
      holdSeconds = seconds;
    }
  }
  const zoneKnown = isValidTimeZone(draft.timeZone.trim());
  if (!zoneKnown) problems.push({ field: "timeZone", description: t("form.unknownZone") });
  const zone = zoneKnown ? draft.timeZone.trim() : "UTC";
  const start = wallTimeToInstant(draft.start, zone);
  const end = wallTimeToInstant(draft.end, zone);
  if (!start) problems.push({ field: "startTime", description: t("form.needDateTime") });
  if (!end) problems.push({ field: "endTime", description: t("form.needDateTime") });
  const capacity = Number(draft.capacity);
  if (!Number.isInteger(capacity) || draft.capacity.trim() === "") {
    problems.push({ field: "capacity", description: t("form.needWholeNumber") });
  }
  const maxSeats = draft.maxSeatsPerBooking.trim() === "" ? 0 : Number(draft.maxSeatsPerBooking);
  if (!Number.isInteger(maxSeats))
    problems.push({ field: "maxSeatsPerBooking", description: t("form.needWholeNumber") });
  if (problems.length > 0 || !start || !end) return localProblem(t, problems);
  return {
    title: draft.title.trim(),
    description: draft.description.trim(),
    startTime: start,
    endTime: end,
    timeZone: zone,
    city: draft.city.trim(),
    venue: draft.venue.trim(),
    capacity,
    maxSeatsPerBooking: maxSeats,
    tags: [
      ...new Set(
        draft.tags
          .split(",")
          .map((tag) => tag.trim().toLowerCase())
          .filter(Boolean),
      ),
    ],
    requiresApproval: draft.requiresApproval,
    price,
    refundHours,
    holdSeconds,
  };
}

function isProblem(value: EventFields | Problem): value is Problem {
  return "message" in value && "fields" in value;
}

function toWire(fields: EventFields) {
  const { price, refundHours, holdSeconds, ...plain } = fields;
  return {
    ...plain,
    startTime: timestampFromDate(fields.startTime),
    endTime: timestampFromDate(fields.endTime),
    // No price is a free event (and, named in an update mask, makes one free).
    price: price ? moneyOf(price) : undefined,
    refundPolicy: { fullRefundUntilHoursBeforeStart: refundHours },
    paymentHold: holdSeconds === null ? undefined : { seconds: BigInt(holdSeconds), nanos: 0 },
  };
}

// Updatable fields and their proto paths, for the update mask.
const MASK: Record<keyof EventFields, string> = {
  title: "title",
  description: "description",
  startTime: "start_time",
  endTime: "end_time",
  timeZone: "time_zone",
  city: "city",
  venue: "venue",
  capacity: "capacity",
  maxSeatsPerBooking: "max_seats_per_booking",
  tags: "tags",
  requiresApproval: "requires_approval",
  price: "price",
  refundHours: "refund_policy",
  holdSeconds: "payment_hold",
};

function comparable(value: EventFields[keyof EventFields]): unknown {
  if (value instanceof Date) return value.getTime();
  if (Array.isArray(value)) return value.join("\u0000");
  if (value && typeof value === "object") return `${value.currency} ${value.minor}`;
  return value;
}

function changedPaths(before: EventFields, after: EventFields): string[] {
  return (Object.keys(MASK) as (keyof EventFields)[])
    .filter((key) => comparable(before[key]) !== comparable(after[key]))
    .map((key) => MASK[key]);
}

function EventFieldset(props: { draft: Draft; onDraft: (draft: Draft) => void; problem: Problem | null }) {
  const { t, language } = useI18n();
  const zones = useMemo(knownTimeZones, []);
  const currencyOptions = useMemo(() => {
    const names = new Intl.DisplayNames(language, { type: "currency" });
    return CURRENCIES.map((code) => ({ value: code, label: `${code} · ${names.of(code) ?? code}` }));
  }, [language]);
  const { draft, problem } = props;
  const set = <K extends keyof Draft>(key: K, value: Draft[K]): void =>
    props.onDraft({ ...draft, [key]: value });
  return (
    <>
      <TextField
        label={t("field.title")}
        name="title"
        required
        maxLength={200}
        problem={problem}
        value={draft.title}
        onValue={(value) => set("title", value)}
      />
      <TextAreaField
        label={t("field.description")}
        name="description"
        rows={5}
        problem={problem}
        value={draft.description}
        onValue={(value) => set("description", value)}
      />
      <TimeZoneField
        label={t("field.timeZone")}
        name="timeZone"
        hint={t("eventForm.zoneHint")}
        problem={problem}
        value={draft.timeZone}
        onValue={(value) => set("timeZone", value)}
        zones={zones}
      />
      <div class="two">
        <TextField
          label={t("field.startTime")}
          name="startTime"
          type="datetime-local"
          required
          hint={t("eventForm.inZone", { zone: draft.timeZone || "UTC" })}
          problem={problem}
          value={draft.start}
          onValue={(value) => set("start", value)}
        />
        <TextField
          label={t("field.endTime")}
          name="endTime"
          type="datetime-local"
          required
          hint={t("eventForm.inZone", { zone: draft.timeZone || "UTC" })}
          problem={problem}
          value={draft.end}
          onValue={(value) => set("end", value)}
        />
      </div>
      <div class="two">
        <TextField
          label={t("field.city")}
          name="city"
          required
          problem={problem}
          value={draft.city}
          onValue={(value) => set("city", value)}
        />
        <TextField
          label={t("field.venue")}
          name="venue"
          problem={problem}
          value={draft.venue}
          onValue={(value) => set("venue", value)}
        />
      </div>
      <div class="two">
        <TextField
          label={t("field.capacity")}
          name="capacity"
          type="number"
          inputMode="numeric"
          min={1}
          max={100000}
          required
          problem={problem}
          value={draft.capacity}
          onValue={(value) => set("capacity", value)}
        />
        <TextField
          label={t("field.maxSeatsPerBooking")}
          name="maxSeatsPerBooking"
          type="number"
          inputMode="numeric"
          min={1}
          hint={t("eventForm.maxSeatsHint")}
          problem={problem}
          value={draft.maxSeatsPerBooking}
          onValue={(value) => set("maxSeatsPerBooking", value)}
        />
      </div>
      <TextField
        label={t("field.tags")}
        name="tags"
        hint={t("eventForm.tagsHint")}
        problem={problem}
        value={draft.tags}
        onValue={(value) => set("tags", value)}
      />
      <CheckboxField
        label={t("field.requiresApproval")}
        name="requiresApproval"
        hint={t("eventForm.approvalHint")}
        problem={problem}
        checked={draft.requiresApproval}
        onChecked={(checked) => set("requiresApproval", checked)}
      />
      <fieldset class="tickets">
        <legend>{t("eventForm.tickets")}</legend>
        <div class="two">
          <TextField
            label={t("field.price")}
            name="price"
            inputMode="text"
            autoComplete="off"
            hint={t("eventForm.priceHint")}
            problem={problem}
            value={draft.price}
            onValue={(value) => set("price", value)}
          />
          <SelectField
            label={t("field.currency")}
            name="currency"
            problem={problem}
            value={draft.currency}
            onValue={(value) => set("currency", value)}
            options={currencyOptions}
          />
        </div>
        {draft.price.trim() !== "" ? (
          <div class="two">
            <TextField
              label={t("field.refundHours")}
              name="refundHours"
              type="number"
              inputMode="numeric"
              min={0}
              max={MAX_REFUND_HOURS}
              hint={t("eventForm.refundHint")}
              problem={problem}
              value={draft.refundHours}
              onValue={(value) => set("refundHours", value)}
            />
            <TextField
              label={t("field.paymentHold")}
              name="paymentHold"
              inputMode="numeric"
              autoComplete="off"
              hint={t("eventForm.holdHint")}
              problem={problem}
              value={draft.holdMinutes}
              onValue={(value) => set("holdMinutes", value)}
            />
          </div>
        ) : (
          <p class="muted small">{t("eventForm.freeHint")}</p>
        )}
      </fieldset>
    </>
  );
}

export function NewEventPage() {
  const { t, language } = useI18n();
  const zone = useViewerZone();
  const [draft, setDraft] = useState<Draft>(() => emptyDraft(zone));
  const [localIssue, setLocalIssue] = useState<Problem | null>(null);
  const action = useAction();
  // One id per event being created: a retry after a lost answer returns the same event.
  const requestId = useRef(newRequestId());
  const problem = localIssue ?? action.problem;

  return (
    <Page title={t("eventForm.newTitle")}>
      <form
        class="narrow"
        onSubmit={(submit) => {
          submit.preventDefault();
          const parsed = parseDraft(draft, t, language);
          if (isProblem(parsed)) {
            setLocalIssue(parsed);
            return;
          }
          setLocalIssue(null);
          void action.run(async () => {
            const created = await events.createEvent({ event: toWire(parsed), requestId: requestId.current });
            navigate(`/events/${created.id}`);
          });
        }}
      >
        <EventFieldset draft={draft} onDraft={setDraft} problem={problem} />
        <ErrorNotice problem={problem} />
        <SubmitButton busy={action.busy} label={t("eventForm.create")} />
      </form>
    </Page>
  );
}

function EditForm(props: {
  event: Event;
  saved: boolean;
  onSubmitting: () => void;
  onSaved: (event: Event | null) => void;
  onReload: () => void;
}) {
  const { t, language } = useI18n();
  const [draft, setDraft] = useState<Draft>(() => draftOf(props.event));
  const [localIssue, setLocalIssue] = useState<Problem | null>(null);
  const action = useAction();
  // Someone saved the event after this form read it: their changes must not be overwritten blind.
  const conflict = action.problem?.reason === "ETAG_MISMATCH";
  const problem = localIssue ?? (conflict ? null : action.problem);
  const original = parseDraft(draftOf(props.event), t, language);

  return (
    <form
      class="narrow"
      aria-labelledby="edit-title"
      onSubmit={(submit) => {
        submit.preventDefault();
        props.onSubmitting();
        const parsed = parseDraft(draft, t, language);
        if (isProblem(parsed)) {
          setLocalIssue(parsed);
          return;
        }
        setLocalIssue(null);
        const paths = isProblem(original) ? Object.values(MASK) : changedPaths(original, parsed);
        if (paths.length === 0) {
          props.onSaved(null);
          return;
        }
        void action.run(async () => {
          const updated = await events.updateEvent({
            event: { ...toWire(parsed), id: props.event.id, etag: props.event.etag },
            updateMask: { paths },
          });
          props.onSaved(updated);
        });
      }}
    >
      <h2 id="edit-title">{t("eventForm.details")}</h2>
      {conflict ? (
        <div class="notice warning" role="alert" data-testid="etag-conflict">
          <p>{t("eventForm.conflict")}</p>
          <button type="button" onClick={props.onReload}>
            {t("eventForm.reload")}
          </button>
        </div>
      ) : null}
      <EventFieldset draft={draft} onDraft={setDraft} problem={problem} />
      <ErrorNotice problem={problem} />
      {props.saved ? <Notice kind="success">{t("eventForm.saved")}</Notice> : null}
      <SubmitButton busy={action.busy} label={t("action.save")} />
    </form>
  );
}

function CancelEvent(props: { event: Event; onCancelled: (event: Event) => void }) {
  const { t } = useI18n();
  const [reason, setReason] = useState("");
  const action = useAction();
  return (
    <form
      class="narrow danger-zone"
      aria-labelledby="cancel-title"
      onSubmit={(submit) => {
        submit.preventDefault();
        void action.run(async () => {
          if (!confirm(t("eventForm.cancelConfirm"))) return;
          props.onCancelled(await events.cancelEvent({ eventId: props.event.id, reason: reason.trim() }));
        });
      }}
    >
      <h2 id="cancel-title">{t("eventForm.cancelTitle")}</h2>
      <p>{t("eventForm.cancelLead")}</p>
      <TextAreaField
        label={t("field.reason")}
        name="reason"
        scope="cancel"
        rows={2}
        problem={action.problem}
        value={reason}
        onValue={setReason}
      />
      <ErrorNotice problem={action.problem} />
      <SubmitButton busy={action.busy} class="danger" label={t("eventForm.cancelSubmit")} />
    </form>
  );
}

function DeleteEvent(props: { event: Event; action: Action }) {
  const { t } = useI18n();
  const { action } = props;
  return (
    <section class="narrow danger-zone" aria-labelledby="delete-title">
      <h2 id="delete-title">{t("eventForm.deleteTitle")}</h2>
      <p>{t("eventForm.deleteLead")}</p>
      <ErrorNotice problem={action.problem} />
      <button
        type="button"
        class="danger"
        disabled={action.busy}
        onClick={() =>
          void action.run(async () => {
            if (!confirm(t("eventForm.deleteConfirm"))) return;
            await events.deleteEvent({ eventId: props.event.id, etag: props.event.etag });
            navigate("/organize");
          })
        }
      >
        {t("eventForm.deleteSubmit")}
      </button>
    </section>
  );
}

export function EditEventPage(props: { eventId: string }) {
  const { t } = useI18n();
  const loaded = useLoad(() => events.getEvent({ eventId: props.eventId }), [props.eventId]);
  const remove = useAction();
  const [saved, setSaved] = useState(false);
  const event = loaded.data;
  if (!event) {
    return (
      <Page title={t("eventForm.editTitle")}>
        {loaded.problem ? <ErrorNotice problem={loaded.problem} onRetry={loaded.reload} /> : <Loading />}
      </Page>
    );
  }
  const editable = event.state === Event_State.SCHEDULED;
  return (
    <Page title={t("eventForm.editTitleOf", { title: event.title })}>
      <p>
        <a href={`/events/${event.id}`}>{t("eventForm.view")}</a> ·{" "}
        <a href={`/organize/events/${event.id}/guests`}>{t("event.guests")}</a>
      </p>
      {editable ? (
        <>
          <EditForm
            key={event.etag}
            event={event}
            saved={saved}
            onSubmitting={() => setSaved(false)}
            onSaved={(updated) => {
              setSaved(true);
              if (updated) loaded.setData(updated);
            }}
            onReload={() => {
              setSaved(false);
              loaded.reload();
            }}
          />
          <CancelEvent event={event} onCancelled={loaded.setData} />
          <DeleteEvent event={event} action={remove} />
        </>
      ) : (
        <Notice>{t("eventForm.notEditable")}</Notice>
      )}
    </Page>
  );
}
