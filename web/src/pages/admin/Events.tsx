import { events } from "../../api/clients";
import { AdminTabs } from "../../components/nav";
import { LoadMore, Page, useViewerZone } from "../../components/ui";
import type { Event } from "../../gen/seatmesh/events/v1/events_pb";
import { usePages } from "../../hooks";
import { useI18n } from "../../i18n";
import { useLocation } from "../../router";
import { FilterForm, filtersFromQuery, listRequest } from "../eventFilters";
import { OrganizerEventRow } from "../organizer/MyEvents";

export function AdminEvents() {
  const { t } = useI18n();
  const { query } = useLocation();
  const zone = useViewerZone();
  const key = query.toString();
  const filters = filtersFromQuery(query, "any");
  const pages = usePages<Event>(
    async (pageToken) => {
      const page = await events.listEvents(listRequest(filters, zone, 20, pageToken));
      return { items: page.events, nextPageToken: page.nextPageToken };
    },
    [key, zone],
  );
  return (
    <Page title={t("admin.eventsTitle")}>
      <AdminTabs />
      <FilterForm key={key} filters={filters} basePath="/admin/events" defaultState="any" />
      <ul class="list">
        {pages.items.map((event) => (
          <OrganizerEventRow key={event.id} event={event} />
        ))}
      </ul>
      <LoadMore pages={pages} empty={t("events.none")} />
    </Page>
  );
}
