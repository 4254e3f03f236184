import { events } from "../api/clients";
import { EventCard } from "../components/EventCard";
import { LoadMore, Page, useViewerZone } from "../components/ui";
import type { Event } from "../gen/seatmesh/events/v1/events_pb";
import { usePages } from "../hooks";
import { useI18n } from "../i18n";
import { useLocation } from "../router";
import { FilterForm, filtersFromQuery, listRequest } from "./eventFilters";

const PAGE_SIZE = 12;

export function EventsPage() {
  const { t } = useI18n();
  const { query } = useLocation();
  const zone = useViewerZone();
  const key = query.toString();
  const filters = filtersFromQuery(query, "scheduled");
  const pages = usePages<Event>(
    async (pageToken) => {
      const page = await events.listEvents(listRequest(filters, zone, PAGE_SIZE, pageToken));
      return { items: page.events, nextPageToken: page.nextPageToken };
    },
    [key, zone],
  );

  return (
    <Page title={t("events.title")}>
      <FilterForm key={key} filters={filters} basePath="/" defaultState="scheduled" />
      <h2 class="visually-hidden">{t("events.results")}</h2>
      <ul class="cards" aria-busy={pages.loading ? "true" : "false"}>
        {pages.items.map((event) => (
          <EventCard key={event.id} event={event} />
        ))}
      </ul>
      <LoadMore pages={pages} empty={t("events.none")} />
    </Page>
  );
}
