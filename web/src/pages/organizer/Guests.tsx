import { timestampDate } from "@bufbuild/protobuf/wkt";
import { useRef, useState } from "preact/hooks";
import { bookings, events, notifications } from "../../api/clients";
import { isPaidEvent, MoneyText } from "../../components/payments";
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
  Stars,
  SubmitButton,
  TextAreaField,
  TextField,
} from "../../components/ui";
import {
  type Booking,
  Booking_State,
  Booking_StateSchema,
  ListBookingsRequest_Perspective,
} from "../../gen/seatmesh/bookings/v1/bookings_pb";
import type { Event } from "../../gen/seatmesh/events/v1/events_pb";
import { Channel } from "../../gen/seatmesh/notifications/v1/notifications_pb";
import { ListPaymentsRequest_Perspective } from "../../gen/seatmesh/payments/v1/payments_pb";
import { useAction, useLoad, usePages } from "../../hooks";
import { useI18n } from "../../i18n";
import { newRequestId } from "../../ids";
import {
  BOOKING_STATE_FILTERS,
  bookingState,
  bookingStateByName,
  enumName,
  isActiveBooking,
} from "../../labels";
import { forgetProfile, useProfile } from "../../profiles";
import { navigate, queryString, useLocation } from "../../router";
import { session } from "../../api/session";
import { useStore } from "../../store";
import { PaymentList } from "../Payments";

function Guest(props: { userId: string }) {
  const { t } = useI18n();
  const guest = useProfile(props.userId);
  if (guest === undefined) return <span class="muted">…</span>;
  if (guest === null) return <span>{props.userId.slice(0, 8)}</span>;
  return (
    <span>
      <strong>{guest.displayName}</strong>{" "}
      <span class="muted">
        {t("guests.guestRating")}{" "}
        <Stars average={guest.guestRating?.average ?? 0} count={guest.guestRating?.count ?? 0} />
      </span>
    </span>
  );
}

function GuestRow(props: { booking: Booking; event: Event; onChange: (booking: Booking) => void }) {
  const { t } = useI18n();
  const { booking } = props;
  const state = bookingState(booking.state);
  const action = useAction();
  const [rating, setRating] = useState("");
  const [note, setNote] = useState("");
  const [rated, setRated] = useState(false);
  const started = props.event.startTime ? timestampDate(props.event.startTime) <= new Date() : false;
  const ended = props.event.endTime ? timestampDate(props.event.endTime) <= new Date() : false;
  const scope = `guest-${booking.id}`;
  return (
    <li class="card guest" data-testid="guest">
      <p>
        <Guest userId={booking.userId} />
      </p>
      <p>
        <Badge tone={state.tone}>{t(state.label)}</Badge> {t("booking.seats", { count: booking.seats })}
        {booking.state === Booking_State.WAITLISTED && booking.waitlistPosition > 0
          ? ` · ${t("booking.position", { position: booking.waitlistPosition })}`
          : null}{" "}
        ·{" "}
        <span class="muted">
          {t("guests.booked")} <LocalTime at={booking.createTime} />
        </span>
        {booking.amount ? (
          <>
            {" · "}
            <MoneyText money={booking.amount} />
          </>
        ) : null}
      </p>
      {booking.state === Booking_State.AWAITING_PAYMENT && booking.holdExpireTime ? (
        <p class="muted">
          {t("guests.holdUntil")} <LocalTime at={booking.holdExpireTime} />
        </p>
      ) : null}
      <ErrorNotice problem={action.problem} />
      {rated ? <Notice kind="success">{t("guests.rated")}</Notice> : null}
      {booking.state === Booking_State.AWAITING_APPROVAL || (isActiveBooking(booking.state) && !ended) ? (
        <TextField
          label={t("guests.note")}
          name="reason"
          scope={scope}
          hint={t("guests.noteHint")}
          maxLength={500}
          problem={action.problem}
          value={note}
          onValue={setNote}
        />
      ) : null}
      <div class="actions">
        {booking.state === Booking_State.AWAITING_APPROVAL ? (
          <>
            <button
              type="button"
              disabled={action.busy}
              onClick={() =>
                void action.run(async () =>
                  props.onChange(await bookings.approveBooking({ bookingId: booking.id })),
                )
              }
            >
              {t("guests.approve")}
            </button>
            <button
              type="button"
              class="secondary"
              disabled={action.busy}
              onClick={() =>
                void action.run(async () =>
                  props.onChange(
                    await bookings.rejectBooking({ bookingId: booking.id, reason: note.trim() }),
                  ),
                )
              }
            >
              {t("guests.reject")}
            </button>
          </>
        ) : null}
        {isActiveBooking(booking.state) && !ended ? (
          <button
            type="button"
            class="danger"
            disabled={action.busy}
            onClick={() =>
              void action.run(async () => {
                if (!confirm(t("guests.cancelConfirm"))) return;
                props.onChange(await bookings.cancelBooking({ bookingId: booking.id, reason: note.trim() }));
              })
            }
          >
            {t("guests.cancel")}
          </button>
        ) : null}
      </div>
      {booking.state === Booking_State.CONFIRMED && started && !rated ? (
        <form
          class="inline-form"
          aria-label={t("guests.rateLabel")}
          onSubmit={(submit) => {
            submit.preventDefault();
            void action.run(async () => {
              await bookings.rateGuest({ bookingId: booking.id, rating: Number(rating) });
              forgetProfile(booking.userId);
              setRated(true);
            });
          }}
        >
          <SelectField
            label={t("guests.rate")}
            name="rating"
            scope={scope}
            required
            problem={action.problem}
            value={rating}
            onValue={setRating}
            options={[
              { value: "", label: t("review.choose") },
              ...[5, 4, 3, 2, 1].map((stars) => ({
                value: String(stars),
                label: t("review.stars", { count: stars }),
              })),
            ]}
          />
          <SubmitButton busy={action.busy} label={t("guests.rateSubmit")} class="secondary" />
        </form>
      ) : null}
    </li>
  );
}

function MessageGuests(props: { eventId: string }) {
  const { t } = useI18n();
  const [title, setTitle] = useState("");
  const [body, setBody] = useState("");
  const [email, setEmail] = useState(true);
  const [sms, setSms] = useState(false);
  const [sent, setSent] = useState<number | null>(null);
  const action = useAction();
  const requestId = useRef(newRequestId());
  return (
    <form
      class="narrow"
      aria-labelledby="message-title"
      onSubmit={(submit) => {
        submit.preventDefault();
        setSent(null);
        void action.run(async () => {
          const channels = [Channel.IN_APP, ...(email ? [Channel.EMAIL] : []), ...(sms ? [Channel.SMS] : [])];
          const reply = await notifications.sendNotification({
            eventId: props.eventId,
            title: title.trim(),
            body: body.trim(),
            channels,
            requestId: requestId.current,
          });
          requestId.current = newRequestId();
          setSent(reply.recipientCount);
          setTitle("");
          setBody("");
        });
      }}
    >
      <h2 id="message-title">{t("guests.message")}</h2>
      <p class="muted">{t("guests.messageLead")}</p>
      <TextField
        label={t("field.title")}
        name="title"
        scope="message"
        required
        maxLength={200}
        problem={action.problem}
        value={title}
        onValue={setTitle}
      />
      <TextAreaField
        label={t("field.body")}
        name="body"
        scope="message"
        required
        rows={4}
        maxLength={5000}
        problem={action.problem}
        value={body}
        onValue={setBody}
      />
      <p class="muted small">{t("guests.inAppAlways")}</p>
      <CheckboxField
        label={t("channel.email")}
        name="email"
        scope="message"
        checked={email}
        onChecked={setEmail}
      />
      <CheckboxField label={t("channel.sms")} name="sms" scope="message" checked={sms} onChecked={setSms} />
      <ErrorNotice problem={action.problem} />
      {sent !== null ? <Notice kind="success">{t("guests.sent", { count: sent })}</Notice> : null}
      <SubmitButton busy={action.busy} label={t("guests.send")} />
    </form>
  );
}

export function GuestsPage(props: { eventId: string }) {
  const { t } = useI18n();
  const { query } = useLocation();
  const current = useStore(session);
  const stateName = query.get("state") ?? "";
  const state = bookingStateByName(stateName);
  const loaded = useLoad(() => events.getEvent({ eventId: props.eventId }), [props.eventId]);
  const pages = usePages<Booking>(
    async (pageToken) => {
      const page = await bookings.listBookings({
        perspective: ListBookingsRequest_Perspective.HOST,
        eventId: props.eventId,
        state,
        pageSize: 25,
        pageToken,
      });
      return { items: page.bookings, nextPageToken: page.nextPageToken };
    },
    [props.eventId, state],
  );

  const event = loaded.data;
  // ListBookings as HOST lists the bookings of the caller's own events, admins' included.
  const organizes = event?.organizerId === current?.user.id;
  if (!event) {
    return (
      <Page title={t("guests.title")}>
        {loaded.problem ? <ErrorNotice problem={loaded.problem} onRetry={loaded.reload} /> : <Loading />}
      </Page>
    );
  }
  return (
    <Page title={t("guests.titleOf", { title: event.title })}>
      <p>
        <EventTime at={event.startTime} zone={event.timeZone} /> ·{" "}
        {t("organize.taken", { taken: event.seatsTaken, capacity: event.capacity })}
      </p>
      <p>
        <a href={`/events/${event.id}`}>{t("eventForm.view")}</a> ·{" "}
        <a href={`/organize/events/${event.id}/edit`}>{t("event.edit")}</a>
        {isPaidEvent(event) ? (
          <>
            {" · "}
            <a href={`/organize/sales${queryString({ event: event.id })}`}>{t("organize.sales")}</a>
          </>
        ) : null}
      </p>
      <section aria-labelledby="guest-list-title">
        <h2 id="guest-list-title">{t("guests.list")}</h2>
        {organizes ? null : <Notice>{t("guests.notOrganizer")}</Notice>}
        <div class="toolbar">
          <SelectField
            label={t("bookings.state")}
            name="state"
            value={stateName}
            onValue={(value) =>
              navigate(`/organize/events/${event.id}/guests${queryString({ state: value })}`)
            }
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
            <GuestRow
              key={booking.id}
              booking={booking}
              event={event}
              onChange={(changed) => {
                pages.update((items) => items.map((item) => (item.id === changed.id ? changed : item)));
                loaded.reload();
              }}
            />
          ))}
        </ul>
        <LoadMore pages={pages} empty={t("guests.none")} />
      </section>
      {isPaidEvent(event) ? (
        <section id="payments" aria-labelledby="payments-title">
          <h2 id="payments-title">{t("guests.payments")}</h2>
          <p class="muted">{t("guests.paymentsLead")}</p>
          <PaymentList
            perspective={ListPaymentsRequest_Perspective.ORGANIZER}
            eventId={event.id}
            showEvent={false}
            empty={t("guests.noPayments")}
            onChange={() => {
              // Bookings confirms a booking paid by hand a bus message later; reading the guest
              // list and the seat counts again shows it if it is done, the payment's note says so if not.
              pages.reload();
              loaded.reload();
            }}
          />
        </section>
      ) : null}
      <MessageGuests eventId={event.id} />
    </Page>
  );
}
