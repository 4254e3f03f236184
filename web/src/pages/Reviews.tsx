import { useState } from "preact/hooks";
import { events, users } from "../api/clients";
import { session } from "../api/session";
import { EventTime, LoadMore, Loading, ErrorNotice, Page, Stars } from "../components/ui";
import { type Event, Event_State } from "../gen/seatmesh/events/v1/events_pb";
import { useLoad, usePages } from "../hooks";
import { useI18n } from "../i18n";
import { isOrganizer } from "../labels";
import { useStore } from "../store";
import { Reviews } from "./Event";

function EventReviews(props: { event: Event }) {
  const { t } = useI18n();
  const [open, setOpen] = useState(false);
  const { event } = props;
  return (
    <li class="card">
      <h3>
        <a href={`/events/${event.id}`}>{event.title}</a>
      </h3>
      <p>
        <EventTime at={event.startTime} zone={event.timeZone} />
      </p>
      <p>
        <Stars average={event.ratingAverage} count={event.ratingCount} />
      </p>
      {event.ratingCount > 0 ? (
        <button
          type="button"
          class="secondary"
          aria-expanded={open ? "true" : "false"}
          onClick={() => setOpen(!open)}
        >
          {open ? t("reviews.hide") : t("reviews.show")}
        </button>
      ) : null}
      {open ? (
        <Reviews eventId={event.id} heading={t("reviews.of", { title: event.title })} level={3} />
      ) : null}
    </li>
  );
}

function MyEventsReviews(props: { organizerId: string }) {
  const { t } = useI18n();
  const pages = usePages<Event>(
    async (pageToken) => {
      const page = await events.listEvents({
        organizerId: props.organizerId,
        state: Event_State.COMPLETED,
        orderBy: "start_time desc",
        pageSize: 10,
        pageToken,
      });
      return { items: page.events, nextPageToken: page.nextPageToken };
    },
    [props.organizerId],
  );
  return (
    <section aria-labelledby="event-reviews-title">
      <h2 id="event-reviews-title">{t("reviews.ofMyEvents")}</h2>
      <ul class="list">
        {pages.items.map((event) => (
          <EventReviews key={event.id} event={event} />
        ))}
      </ul>
      <LoadMore pages={pages} empty={t("reviews.noCompletedEvents")} />
    </section>
  );
}

export function ReviewsPage() {
  const { t } = useI18n();
  const current = useStore(session);
  const me = useLoad(() => users.getCurrentUser({}), [current?.user.id]);
  if (!current) return null;
  const user = me.data ?? current.user;
  return (
    <Page title={t("reviews.title")} lead={t("reviews.lead")}>
      <section class="card" aria-labelledby="ratings-title">
        <h2 id="ratings-title">{t("reviews.myRatings")}</h2>
        {me.loading && !me.data ? <Loading /> : null}
        <ErrorNotice problem={me.problem} onRetry={me.reload} />
        <dl class="facts-list">
          <dt>{t("reviews.asGuest")}</dt>
          <dd>
            <Stars average={user.guestRating?.average ?? 0} count={user.guestRating?.count ?? 0} />
          </dd>
          {isOrganizer(user.role) || (user.hostRating?.count ?? 0) > 0 ? (
            <>
              <dt>{t("reviews.asHost")}</dt>
              <dd>
                <Stars average={user.hostRating?.average ?? 0} count={user.hostRating?.count ?? 0} />
              </dd>
            </>
          ) : null}
        </dl>
        <p class="muted small">{t("reviews.guestRatingNote")}</p>
      </section>
      {isOrganizer(user.role) ? <MyEventsReviews organizerId={user.id} /> : null}
      <p>
        <a href="/bookings?view=past">{t("reviews.writeFromBookings")}</a>
      </p>
    </Page>
  );
}
