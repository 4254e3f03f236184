import { events } from "../../api/clients";
import { session } from "../../api/session";
import { isPaidEvent, PriceTag } from "../../components/payments";
import { Badge, EventTime, LoadMore, Page } from "../../components/ui";
import { type Event, Event_State } from "../../gen/seatmesh/events/v1/events_pb";
import { usePages } from "../../hooks";
import { useI18n } from "../../i18n";
import { eventState } from "../../labels";
import { queryString } from "../../router";
import { useStore } from "../../store";

export function OrganizerEventRow(props: { event: Event }) {
  const { t } = useI18n();
  const { event } = props;
  const state = eventState(event.state);
  return (
    <li class="card" data-testid="organizer-event">
      <h2 class="h3">
        <a href={`/events/${event.id}`}>{event.title}</a>
      </h2>
      <p>
        <EventTime at={event.startTime} zone={event.timeZone} />
      </p>
      <p>
        <Badge tone={state.tone}>{t(state.label)}</Badge>{" "}
        {t("organize.taken", { taken: event.seatsTaken, capacity: event.capacity })}
        {event.requiresApproval ? ` · ${t("event.approval")}` : ""} · <PriceTag event={event} />
      </p>
      <p class="actions">
        <a href={`/organize/events/${event.id}/guests`}>{t("event.guests")}</a>
        {event.state === Event_State.SCHEDULED ? (
          <a href={`/organize/events/${event.id}/edit`}>{t("event.edit")}</a>
        ) : null}
        {isPaidEvent(event) ? (
          <a href={`/organize/sales${queryString({ event: event.id })}`}>{t("organize.sales")}</a>
        ) : null}
      </p>
    </li>
  );
}

export function MyEventsPage() {
  const { t } = useI18n();
  const current = useStore(session);
  const organizerId = current?.user.id ?? "";
  const pages = usePages<Event>(
    async (pageToken) => {
      const page = await events.listEvents({
        organizerId,
        orderBy: "start_time desc",
        pageSize: 20,
        pageToken,
      });
      return { items: page.events, nextPageToken: page.nextPageToken };
    },
    [organizerId],
  );
  return (
    <Page title={t("organize.title")}>
      <p class="actions">
        <a class="button" href="/organize/new">
          {t("organize.new")}
        </a>
        <a class="button secondary" href="/organize/sales">
          {t("organize.salesReport")}
        </a>
      </p>
      <ul class="list">
        {pages.items.map((event) => (
          <OrganizerEventRow key={event.id} event={event} />
        ))}
      </ul>
      <LoadMore pages={pages} empty={t("organize.none")} />
    </Page>
  );
}
