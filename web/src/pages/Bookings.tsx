import { timestampDate } from "@bufbuild/protobuf/wkt";
import { useState } from "preact/hooks";
import { bookings, payments } from "../api/clients";
import type { Problem } from "../api/errors";
import { MoneyText, PaymentDue } from "../components/payments";
import {
  Badge,
  ErrorNotice,
  EventTime,
  LoadMore,
  Loading,
  Notice,
  Page,
  SelectField,
  SubmitButton,
  TextAreaField,
} from "../components/ui";
import {
  type Booking,
  Booking_State,
  Booking_StateSchema,
  ListBookingsRequest_Perspective,
} from "../gen/seatmesh/bookings/v1/bookings_pb";
import { type Payment, Payment_State } from "../gen/seatmesh/payments/v1/payments_pb";
import { useAction, useLoad, usePages } from "../hooks";
import { type MessageKey, useI18n } from "../i18n";
import { useInboxNews } from "../inbox";
import {
  BOOKING_STATE_FILTERS,
  bookingState,
  bookingStateByName,
  enumName,
  isActiveBooking,
} from "../labels";
import { navigate, queryString, useLocation } from "../router";

const PAGE_SIZE = 20;
// Looking for past bookings reads at most this many pages per click (the API filters upcoming only).
const PAST_SCAN_PAGES = 5;

type View = "upcoming" | "past" | "all";

function hasStarted(booking: Booking): boolean {
  return booking.eventStartTime ? timestampDate(booking.eventStartTime) <= new Date() : false;
}

function RatingSelect(props: {
  label: string;
  name: string;
  scope: string;
  value: string;
  onValue: (value: string) => void;
  problem: Problem | null;
}) {
  const { t } = useI18n();
  return (
    <SelectField
      label={props.label}
      name={props.name}
      scope={props.scope}
      problem={props.problem}
      value={props.value}
      onValue={props.onValue}
      required
      options={[
        { value: "", label: t("review.choose") },
        ...[5, 4, 3, 2, 1].map((stars) => ({
          value: String(stars),
          label: t("review.stars", { count: stars }),
        })),
      ]}
    />
  );
}

function ReviewForm(props: { booking: Booking; onDone: () => void }) {
  const { t } = useI18n();
  const [eventRating, setEventRating] = useState("");
  const [hostRating, setHostRating] = useState("");
  const [comment, setComment] = useState("");
  const action = useAction();
  const scope = `review-${props.booking.id}`;
  return (
    <form
      class="inline-form"
      aria-label={t("review.formLabel", { title: props.booking.eventTitle })}
      onSubmit={(submit) => {
        submit.preventDefault();
        void action.run(async () => {
          await bookings.reviewBooking({
            bookingId: props.booking.id,
            eventRating: Number(eventRating),
            hostRating: Number(hostRating),
            comment: comment.trim(),
          });
          props.onDone();
        });
      }}
    >
      <RatingSelect
        label={t("review.eventRating")}
        name="eventRating"
        scope={scope}
        value={eventRating}
        onValue={setEventRating}
        problem={action.problem}
      />
      <RatingSelect
        label={t("review.hostRating")}
        name="hostRating"
        scope={scope}
        value={hostRating}
        onValue={setHostRating}
        problem={action.problem}
      />
      <TextAreaField
        label={t("review.comment")}
        name="comment"
        scope={scope}
        problem={action.problem}
        value={comment}
        onValue={setComment}
        maxLength={2000}
        rows={3}
      />
      <ErrorNotice problem={action.problem} />
      <SubmitButton busy={action.busy} label={t("review.submit")} />
    </form>
  );
}

/** The booking as it is now (a payment or a hold may have moved it on). */
async function refresh(bookingId: string, onChange: (booking: Booking) => void): Promise<void> {
  try {
    onChange(await bookings.getBooking({ bookingId }));
  } catch {
    // The list keeps what it showed; the next news or visit reads it again.
  }
}

// Bookings whose state may still change without the person doing anything.
const MOVING = new Set([
  Booking_State.PENDING,
  Booking_State.AWAITING_APPROVAL,
  Booking_State.AWAITING_PAYMENT,
  Booking_State.WAITLISTED,
]);

/**
 * Where the checkout sent the buyer back to (payments gives Stripe /bookings?payment=<id> as the
 * success URL): how the payment went, and what became of the booking, read again on live news
 * until the payment is settled.
 */
function PaymentOutcome(props: { paymentId: string }) {
  const { t } = useI18n();
  const loaded = useLoad(async () => {
    const payment = await payments.getPayment({ paymentId: props.paymentId });
    const booking = await bookings.getBooking({ bookingId: payment.bookingId });
    return { payment, booking };
  }, [props.paymentId]);
  useInboxNews(loaded.reload);
  if (!loaded.data) {
    return loaded.problem ? <ErrorNotice problem={loaded.problem} onRetry={loaded.reload} /> : <Loading />;
  }
  const { payment, booking } = loaded.data;
  return (
    <div class="notice-stack" data-testid="payment-outcome">
      <Notice kind={outcomeTone(payment, booking)}>
        <p>
          <strong>{t(outcomeKey(payment, booking), { title: payment.eventTitle })}</strong>
        </p>
        <p>
          <MoneyText money={payment.amount} /> · {t("booking.seats", { count: payment.seats })} ·{" "}
          {t(bookingState(booking.state).label)}
        </p>
        {payment.state === Payment_State.PENDING ? (
          <button type="button" class="secondary" onClick={loaded.reload}>
            {t("payReturn.checkAgain")}
          </button>
        ) : null}
      </Notice>
      {booking.state === Booking_State.AWAITING_PAYMENT && payment.state !== Payment_State.PENDING ? (
        <PaymentDue booking={booking} onChange={loaded.reload} />
      ) : null}
    </div>
  );
}

function outcomeKey(payment: Payment, booking: Booking): MessageKey {
  switch (payment.state) {
    case Payment_State.SUCCEEDED:
      return booking.state === Booking_State.CONFIRMED ? "payReturn.confirmed" : "payReturn.paidNotKept";
    case Payment_State.FAILED:
      return "payReturn.failed";
    case Payment_State.EXPIRED:
      return "payReturn.expired";
    default:
      return "payReturn.waiting";
  }
}

function outcomeTone(payment: Payment, booking: Booking): "success" | "warning" | "info" {
  if (payment.state === Payment_State.SUCCEEDED) {
    return booking.state === Booking_State.CONFIRMED ? "success" : "warning";
  }
  return payment.state === Payment_State.PENDING ? "info" : "warning";
}

function BookingItem(props: { booking: Booking; onChange: (booking: Booking) => void }) {
  const { t } = useI18n();
  const { booking } = props;
  const state = bookingState(booking.state);
  const cancel = useAction();
  const [reviewing, setReviewing] = useState(false);
  const [reviewed, setReviewed] = useState(false);
  const started = hasStarted(booking);
  return (
    <li class="card booking" data-testid="booking">
      <h2 class="h3">
        <a href={`/events/${booking.eventId}`}>{booking.eventTitle || t("booking.untitled")}</a>
      </h2>
      <p>
        <EventTime at={booking.eventStartTime} zone={booking.eventTimeZone} />
      </p>
      <p>
        <Badge tone={state.tone}>{t(state.label)}</Badge> {t("booking.seats", { count: booking.seats })}
        {booking.state === Booking_State.WAITLISTED && booking.waitlistPosition > 0
          ? ` · ${t("booking.position", { position: booking.waitlistPosition })}`
          : null}
        {booking.amount && booking.state !== Booking_State.AWAITING_PAYMENT ? (
          <>
            {" · "}
            <MoneyText money={booking.amount} />
          </>
        ) : null}
      </p>
      <p class="muted">{t(state.explain)}</p>
      {booking.state === Booking_State.AWAITING_PAYMENT && !started ? (
        <PaymentDue booking={booking} onChange={() => void refresh(booking.id, props.onChange)} />
      ) : null}
      <ErrorNotice problem={cancel.problem} />
      {reviewed ? <Notice kind="success">{t("review.thanks")}</Notice> : null}
      <div class="actions">
        {isActiveBooking(booking.state) && !started ? (
          <button
            type="button"
            class="danger"
            disabled={cancel.busy}
            onClick={() =>
              void cancel.run(async () => {
                if (!confirm(t("booking.cancelConfirm"))) return;
                props.onChange(await bookings.cancelBooking({ bookingId: booking.id }));
              })
            }
          >
            {cancel.busy ? t("action.working") : t("booking.cancel")}
          </button>
        ) : null}
        {booking.state === Booking_State.CONFIRMED && started && !reviewed ? (
          <button
            type="button"
            class="secondary"
            aria-expanded={reviewing ? "true" : "false"}
            onClick={() => setReviewing(!reviewing)}
          >
            {t("review.write")}
          </button>
        ) : null}
      </div>
      {reviewing && !reviewed ? (
        <ReviewForm
          booking={booking}
          onDone={() => {
            setReviewing(false);
            setReviewed(true);
          }}
        />
      ) : null}
    </li>
  );
}

export function BookingsPage() {
  const { t } = useI18n();
  const { query } = useLocation();
  const view: View = query.get("view") === "past" ? "past" : query.get("view") === "all" ? "all" : "upcoming";
  const stateFilter = query.get("state") ?? "";
  const state = bookingStateByName(stateFilter);

  const pages = usePages<Booking>(
    async (pageToken) => {
      let token = pageToken;
      for (let scanned = 0; ; scanned += 1) {
        const page = await bookings.listBookings({
          perspective: ListBookingsRequest_Perspective.GUEST,
          upcomingOnly: view === "upcoming",
          state,
          pageSize: PAGE_SIZE,
          pageToken: token,
        });
        const items = view === "past" ? page.bookings.filter(hasStarted) : page.bookings;
        if (items.length > 0 || !page.nextPageToken || scanned + 1 >= PAST_SCAN_PAGES) {
          return { items, nextPageToken: page.nextPageToken };
        }
        token = page.nextPageToken;
      }
    },
    [view, state],
  );

  const replace = (changed: Booking): void =>
    pages.update((items) => items.map((item) => (item.id === changed.id ? changed : item)));
  useInboxNews(() => {
    for (const booking of pages.items) if (MOVING.has(booking.state)) void refresh(booking.id, replace);
  });

  const paymentId = query.get("payment") ?? "";
  const show = (next: { view?: View; state?: string }): void =>
    navigate(
      `/bookings${queryString({
        view: (next.view ?? view) === "upcoming" ? "" : (next.view ?? view),
        state: next.state ?? stateFilter,
      })}`,
    );

  return (
    <Page title={t("bookings.title")}>
      {paymentId ? <PaymentOutcome paymentId={paymentId} /> : null}
      <p>
        <a href="/payments">{t("bookings.payments")}</a>
      </p>
      <div class="toolbar">
        <div class="segmented" role="group" aria-label={t("bookings.which")}>
          {(["upcoming", "past", "all"] as const).map((option) => (
            <button
              key={option}
              type="button"
              aria-pressed={view === option ? "true" : "false"}
              onClick={() => show({ view: option })}
            >
              {t(`bookings.view.${option}`)}
            </button>
          ))}
        </div>
        <SelectField
          label={t("bookings.state")}
          name="state"
          value={stateFilter}
          onValue={(value) => show({ state: value })}
          options={[
            { value: "", label: t("bookings.anyState") },
            ...BOOKING_STATE_FILTERS.map((known) => ({
              value: enumName(Booking_StateSchema, known),
              label: t(bookingState(known).label),
            })),
          ]}
        />
      </div>
      <ul class="list">
        {pages.items.map((booking) => (
          <BookingItem key={booking.id} booking={booking} onChange={replace} />
        ))}
      </ul>
      <LoadMore pages={pages} empty={t("bookings.none")} />
    </Page>
  );
}
