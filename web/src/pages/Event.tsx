import { useEffect, useRef, useState } from "preact/hooks";
import { bookings, events } from "../api/clients";
import { describeError, type Problem } from "../api/errors";
import { follow, type LiveState } from "../api/live";
import { session } from "../api/session";
import { SeatsLeft } from "../components/EventCard";
import {
  holdMinutes,
  isPaidEvent,
  MoneyText,
  PaymentDue,
  PriceTag,
  RefundPolicyText,
} from "../components/payments";
import {
  Badge,
  CheckboxField,
  ErrorNotice,
  EventTime,
  LoadMore,
  Loading,
  LocalTime,
  Notice,
  Page,
  SelectField,
  StarRating,
  Stars,
  SubmitButton,
} from "../components/ui";
import {
  type Booking,
  Booking_State,
  ListBookingsRequest_Perspective,
} from "../gen/seatmesh/bookings/v1/bookings_pb";
import { type Availability, type Event, Event_State, type Review } from "../gen/seatmesh/events/v1/events_pb";
import { Role } from "../gen/seatmesh/users/v1/users_pb";
import { useAction, useLoad, usePages } from "../hooks";
import { useI18n } from "../i18n";
import { newRequestId } from "../ids";
import { useInboxNews } from "../inbox";
import { amountOf, formatAmount } from "../money";
import { bookingState, eventState, isActiveBooking, isOrganizer } from "../labels";
import { useProfile } from "../profiles";
import { queryString, useLocation } from "../router";
import { useStore } from "../store";
import { timestampDate } from "@bufbuild/protobuf/wkt";

function LiveSeats(props: { event: Event; availability: Availability | null; live: LiveState }) {
  const { t } = useI18n();
  const capacity = props.availability?.capacity ?? props.event.capacity;
  const available = props.availability?.seatsAvailable ?? props.event.seatsAvailable;
  const state = props.availability?.state ?? props.event.state;
  return (
    <div class="seats">
      <p class="seat-count" aria-live="polite" aria-atomic="true" data-testid="seats-left">
        {state === Event_State.SCHEDULED
          ? t("event.seatsOf", { count: available, capacity })
          : t(eventState(state).label)}
      </p>
      <p class="live-state muted" data-state={props.live}>
        <span class={`dot ${props.live}`} aria-hidden="true" /> {t(`live.${props.live}`)}
      </p>
    </div>
  );
}

function Organizer(props: { organizerId: string }) {
  const { t } = useI18n();
  const organizer = useProfile(props.organizerId);
  return (
    <section class="card" aria-labelledby="organizer-title">
      <h2 id="organizer-title">{t("event.organizer")}</h2>
      {organizer === undefined ? <Loading /> : null}
      {organizer === null ? <p class="muted">{t("event.organizerUnknown")}</p> : null}
      {organizer ? (
        <>
          <p class="name">{organizer.displayName}</p>
          <p>
            {t("event.hostRating")}{" "}
            <Stars average={organizer.hostRating?.average ?? 0} count={organizer.hostRating?.count ?? 0} />
          </p>
        </>
      ) : null}
      <p>
        <a href={`/${queryString({ organizer: props.organizerId, state: "any" })}`}>
          {t("event.moreByOrganizer")}
        </a>
      </p>
    </section>
  );
}

function BookingSummary(props: { booking: Booking; onCancelled: () => void; onChange: () => void }) {
  const { t } = useI18n();
  const cancel = useAction();
  const state = bookingState(props.booking.state);
  return (
    <div class="booking-summary" data-testid="my-booking">
      <p>
        <Badge tone={state.tone}>{t(state.label)}</Badge> {t("booking.seats", { count: props.booking.seats })}
        {props.booking.state === Booking_State.WAITLISTED && props.booking.waitlistPosition > 0
          ? ` · ${t("booking.position", { position: props.booking.waitlistPosition })}`
          : null}
        {props.booking.amount && props.booking.state !== Booking_State.AWAITING_PAYMENT ? (
          <>
            {" · "}
            <MoneyText money={props.booking.amount} />
          </>
        ) : null}
      </p>
      <p class="muted">{t(state.explain)}</p>
      {props.booking.state === Booking_State.AWAITING_PAYMENT ? (
        <PaymentDue booking={props.booking} onChange={props.onChange} />
      ) : null}
      <ErrorNotice problem={cancel.problem} />
      <button
        type="button"
        class="danger"
        disabled={cancel.busy}
        onClick={() =>
          void cancel.run(async () => {
            if (!confirm(t("booking.cancelConfirm"))) return;
            await bookings.cancelBooking({ bookingId: props.booking.id });
            props.onCancelled();
          })
        }
      >
        {cancel.busy ? t("action.working") : t("booking.cancel")}
      </button>
    </div>
  );
}

function BookForm(props: { event: Event; available: number; onBooked: (booking: Booking) => void }) {
  const { t, language } = useI18n();
  const limit = Math.max(1, Math.min(props.event.maxSeatsPerBooking || 10, props.event.capacity));
  const [seats, setSeats] = useState("1");
  const [waitlist, setWaitlist] = useState(props.available === 0);
  const action = useAction();
  // One id per booking attempt: a retry after a lost answer returns the same booking.
  const requestId = useRef(newRequestId());
  useEffect(() => {
    if (props.available === 0) setWaitlist(true);
  }, [props.available]);

  return (
    <form
      class="book-form"
      onSubmit={(submit) => {
        submit.preventDefault();
        void action.run(async () => {
          const booking = await bookings.createBooking({
            booking: { eventId: props.event.id, seats: Number(seats), joinWaitlist: waitlist },
            requestId: requestId.current,
          });
          requestId.current = newRequestId();
          props.onBooked(booking);
        });
      }}
    >
      <SelectField
        label={t("book.seats")}
        name="seats"
        problem={action.problem}
        value={seats}
        onValue={setSeats}
        options={Array.from({ length: limit }, (_, index) => ({
          value: String(index + 1),
          label: String(index + 1),
        }))}
      />
      <CheckboxField
        label={t("book.waitlist")}
        name="joinWaitlist"
        hint={t("book.waitlistHint")}
        checked={waitlist}
        onChecked={setWaitlist}
      />
      {props.event.requiresApproval ? <p class="muted">{t("book.needsApproval")}</p> : null}
      {props.event.price && isPaidEvent(props.event) ? (
        <>
          <p data-testid="book-total">
            {t("book.total", {
              total: formatAmount(
                { ...amountOf(props.event.price), minor: amountOf(props.event.price).minor * BigInt(seats) },
                language,
              ),
            })}
          </p>
          <p class="muted">
            {t(props.event.requiresApproval ? "book.payAfterApproval" : "book.payAfter", {
              count: holdMinutes(props.event.paymentHold),
            })}
          </p>
        </>
      ) : null}
      <ErrorNotice problem={action.problem} />
      <SubmitButton busy={action.busy} label={t("book.submit")} busyLabel={t("book.submitting")} />
    </form>
  );
}

function BookingPanel(props: { event: Event; available: number; state: Event_State }) {
  const { t } = useI18n();
  const current = useStore(session);
  const { path } = useLocation();
  const [outcome, setOutcome] = useState<Booking | null>(null);
  const mine = useLoad(
    async () =>
      current
        ? (
            await bookings.listBookings({
              eventId: props.event.id,
              perspective: ListBookingsRequest_Perspective.GUEST,
              pageSize: 20,
            })
          ).bookings
        : [],
    [props.event.id, current?.user.id],
  );
  // A payment confirmed, a hold expired, a host's answer: the inbox hears of it first.
  useInboxNews(() => {
    if (current) mine.reload();
  });

  if (!current) {
    return (
      <p>
        <a class="button" href={`/signin${queryString({ next: path })}`}>
          {t("book.signIn")}
        </a>
      </p>
    );
  }
  if (current.user.id === props.event.organizerId) return <p class="muted">{t("book.ownEvent")}</p>;
  if (mine.loading && !mine.data) return <Loading />;
  if (mine.problem) return <ErrorNotice problem={mine.problem} onRetry={mine.reload} />;

  const active = (mine.data ?? []).find((booking) => isActiveBooking(booking.state));
  const started = props.event.startTime ? timestampDate(props.event.startTime) <= new Date() : false;
  return (
    <>
      {outcome ? <BookingOutcome booking={outcome} /> : null}
      {active ? (
        <BookingSummary
          booking={active}
          onCancelled={() => {
            setOutcome(null);
            mine.reload();
          }}
          onChange={mine.reload}
        />
      ) : props.state !== Event_State.SCHEDULED || started ? (
        <p class="muted">{t("book.closed")}</p>
      ) : (
        <BookForm
          event={props.event}
          available={props.available}
          onBooked={(booking) => {
            setOutcome(booking);
            mine.reload();
          }}
        />
      )}
    </>
  );
}

function BookingOutcome(props: { booking: Booking }) {
  const { t } = useI18n();
  const { state } = props.booking;
  const key =
    state === Booking_State.CONFIRMED
      ? "book.done.confirmed"
      : state === Booking_State.AWAITING_APPROVAL
        ? "book.done.awaiting"
        : state === Booking_State.AWAITING_PAYMENT
          ? "book.done.awaitingPayment"
          : state === Booking_State.WAITLISTED
            ? "book.done.waitlisted"
            : state === Booking_State.REJECTED
              ? "book.done.rejected"
              : "book.done.pending";
  return (
    <Notice kind={state === Booking_State.REJECTED ? "warning" : "success"}>
      {t(key, { position: props.booking.waitlistPosition })}
    </Notice>
  );
}

export function Reviews(props: { eventId: string; heading?: string; level?: 2 | 3 }) {
  const { t } = useI18n();
  const pages = usePages<Review>(
    async (pageToken) => {
      const page = await events.listReviews({ eventId: props.eventId, pageSize: 10, pageToken });
      return { items: page.reviews, nextPageToken: page.nextPageToken };
    },
    [props.eventId],
  );
  return (
    <section aria-labelledby={`reviews-title-${props.eventId}`}>
      {props.level === 3 ? (
        <h3 id={`reviews-title-${props.eventId}`}>{props.heading ?? t("event.reviews")}</h3>
      ) : (
        <h2 id={`reviews-title-${props.eventId}`}>{props.heading ?? t("event.reviews")}</h2>
      )}
      <ul class="reviews">
        {pages.items.map((review) => (
          <li key={review.id} class="card">
            <p>
              <strong>{review.authorName || t("review.someone")}</strong> ·{" "}
              <LocalTime at={review.createTime} />
            </p>
            <p>
              {t("review.event")}: <StarRating stars={review.eventRating} /> · {t("review.host")}:{" "}
              <StarRating stars={review.hostRating} />
            </p>
            {review.comment ? <blockquote>{review.comment}</blockquote> : null}
          </li>
        ))}
      </ul>
      <LoadMore pages={pages} empty={t("event.noReviews")} />
    </section>
  );
}

export function EventPage(props: { eventId: string }) {
  const { t } = useI18n();
  const current = useStore(session);
  const loaded = useLoad(() => events.getEvent({ eventId: props.eventId }), [props.eventId]);
  const [availability, setAvailability] = useState<Availability | null>(null);
  const [live, setLive] = useState<LiveState>("connecting");
  const [liveProblem, setLiveProblem] = useState<Problem | null>(null);

  useEffect(() => {
    setAvailability(null);
    return follow(
      (options) => events.watchAvailability({ eventId: props.eventId }, options),
      setAvailability,
      (state, error) => {
        setLive(state);
        setLiveProblem(state === "stopped" && error ? describeError(error, t) : null);
      },
    );
    // The stream follows the event, not the language.
  }, [props.eventId]);

  const event = loaded.data;
  if (!event) {
    return (
      <Page title={loaded.problem ? t("event.unavailable") : t("status.loading")}>
        {loaded.problem ? <ErrorNotice problem={loaded.problem} onRetry={loaded.reload} /> : <Loading />}
      </Page>
    );
  }
  const state = availability?.state ?? event.state;
  const available = availability?.seatsAvailable ?? event.seatsAvailable;
  const manages =
    current &&
    (current.user.id === event.organizerId || current.user.role === Role.ADMIN) &&
    isOrganizer(current.user.role);

  return (
    <Page title={event.title}>
      <div class="event-layout">
        <div class="event-main">
          <p>
            <Badge tone={eventState(state).tone}>{t(eventState(state).label)}</Badge>{" "}
            <SeatsLeft available={available} capacity={event.capacity} state={state} />
            {event.requiresApproval ? <Badge tone="neutral">{t("event.approval")}</Badge> : null}
          </p>
          <dl class="facts-list">
            <dt>{t("event.starts")}</dt>
            <dd>
              <EventTime at={event.startTime} zone={event.timeZone} />
            </dd>
            <dt>{t("event.ends")}</dt>
            <dd>
              <EventTime at={event.endTime} zone={event.timeZone} />
            </dd>
            <dt>{t("event.where")}</dt>
            <dd>{[event.venue, event.city].filter(Boolean).join(", ")}</dd>
            <dt>{t("event.price")}</dt>
            <dd>
              <PriceTag event={event} />
            </dd>
            {isPaidEvent(event) ? (
              <>
                <dt>{t("event.refunds")}</dt>
                <dd data-testid="refund-policy">
                  <RefundPolicyText
                    hours={event.refundPolicy?.fullRefundUntilHoursBeforeStart ?? 0}
                    startTime={event.startTime}
                    timeZone={event.timeZone}
                  />
                </dd>
              </>
            ) : null}
            <dt>{t("event.rating")}</dt>
            <dd>
              <Stars average={event.ratingAverage} count={event.ratingCount} />
            </dd>
            {event.tags.length > 0 ? (
              <>
                <dt>{t("event.tags")}</dt>
                <dd>
                  <ul class="tag-list">
                    {event.tags.map((tag) => (
                      <li key={tag}>
                        <a href={`/?tag=${encodeURIComponent(tag)}`}>#{tag}</a>
                      </li>
                    ))}
                  </ul>
                </dd>
              </>
            ) : null}
          </dl>
          {event.description ? <div class="description">{event.description}</div> : null}
          <Reviews eventId={event.id} />
        </div>
        <aside class="event-side">
          <section class="card" aria-labelledby="book-title">
            <h2 id="book-title">{t("event.book")}</h2>
            <LiveSeats event={event} availability={availability} live={live} />
            <ErrorNotice problem={liveProblem} />
            <BookingPanel event={event} available={available} state={state} />
          </section>
          {manages ? (
            <section class="card" aria-labelledby="manage-title">
              <h2 id="manage-title">{t("event.manage")}</h2>
              <ul class="plain">
                <li>
                  <a href={`/organize/events/${event.id}/edit`}>{t("event.edit")}</a>
                </li>
                <li>
                  <a href={`/organize/events/${event.id}/guests`}>{t("event.guests")}</a>
                </li>
              </ul>
            </section>
          ) : null}
          <Organizer organizerId={event.organizerId} />
        </aside>
      </div>
    </Page>
  );
}
