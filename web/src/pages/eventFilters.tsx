// Every filter and sort ListEvents has, kept in the address bar so a search can be shared,
// reloaded and stepped back through.
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { useState } from "preact/hooks";
import { events } from "../api/clients";
import { CheckboxField, SelectField, TextField } from "../components/ui";
import { Event_State, type ListEventsRequestSchema } from "../gen/seatmesh/events/v1/events_pb";
import { useI18n } from "../i18n";
import { useLoad } from "../hooks";
import { navigate, queryString } from "../router";
import { dateStartInstant } from "../time";

export interface EventFilters {
  query: string;
  city: string;
  tags: string[];
  state: string;
  after: string;
  before: string;
  available: boolean;
  minRating: string;
  organizer: string;
  order: string;
}

const ORDERS = ["start_time", "start_time desc", "rating desc", "create_time desc"] as const;
const STATES: Record<string, Event_State> = {
  scheduled: Event_State.SCHEDULED,
  cancelled: Event_State.CANCELLED,
  completed: Event_State.COMPLETED,
  any: Event_State.STATE_UNSPECIFIED,
};

export function filtersFromQuery(query: URLSearchParams, defaultState: string): EventFilters {
  const order = query.get("order") ?? "";
  const state = query.get("state") ?? defaultState;
  return {
    query: query.get("q") ?? "",
    city: query.get("city") ?? "",
    tags: query.getAll("tag"),
    state: state in STATES ? state : defaultState,
    after: query.get("after") ?? "",
    before: query.get("before") ?? "",
    available: query.get("available") === "1",
    minRating: query.get("rating") ?? "",
    organizer: query.get("organizer") ?? "",
    order: (ORDERS as readonly string[]).includes(order) ? order : "start_time",
  };
}

function queryFromFilters(filters: EventFilters, defaultState: string): string {
  return queryString({
    q: filters.query.trim(),
    city: filters.city.trim(),
    tag: filters.tags,
    state: filters.state === defaultState ? "" : filters.state,
    after: filters.after,
    before: filters.before,
    available: filters.available,
    rating: filters.minRating,
    organizer: filters.organizer,
    order: filters.order === "start_time" ? "" : filters.order,
  });
}

/** The ListEvents request for these filters; dates are whole days in the viewer's zone. */
export function listRequest(
  filters: EventFilters,
  zone: string,
  pageSize: number,
  pageToken: string,
): MessageInitShape<typeof ListEventsRequestSchema> {
  const after = dateStartInstant(filters.after, zone);
  const beforeDay = dateStartInstant(filters.before, zone);
  // "Before 24 December" includes the 24th: the boundary is the start of the next day.
  const before = beforeDay ? new Date(beforeDay.getTime() + 86_400_000) : null;
  return {
    pageSize,
    pageToken,
    query: filters.query.trim(),
    city: filters.city.trim(),
    tags: filters.tags,
    state: STATES[filters.state] ?? Event_State.STATE_UNSPECIFIED,
    startTimeAfter: after ? timestampFromDate(after) : undefined,
    startTimeBefore: before ? timestampFromDate(before) : undefined,
    hasAvailableSeats: filters.available,
    minRating: filters.minRating ? Number(filters.minRating) : 0,
    organizerId: filters.organizer,
    orderBy: filters.order,
  };
}

export function FilterForm(props: { filters: EventFilters; basePath: string; defaultState: string }) {
  const { t } = useI18n();
  const [draft, setDraft] = useState<EventFilters>(props.filters);
  const tags = useLoad(() => events.listTags({ pageSize: 40 }), []);
  const set = <K extends keyof EventFilters>(key: K, value: EventFilters[K]): void =>
    setDraft((current) => ({ ...current, [key]: value }));
  const toggleTag = (tag: string, on: boolean): void =>
    set("tags", on ? [...draft.tags, tag] : draft.tags.filter((known) => known !== tag));

  const tagNames = new Set([...(tags.data?.tags.map((tag) => tag.name) ?? []), ...draft.tags]);

  return (
    <form
      class="filters"
      role="search"
      aria-label={t("filters.label")}
      onSubmit={(event) => {
        event.preventDefault();
        navigate(props.basePath + queryFromFilters(draft, props.defaultState));
      }}
    >
      <div class="filter-grid">
        <TextField
          label={t("filters.query")}
          name="q"
          type="search"
          value={draft.query}
          onValue={(value) => set("query", value)}
        />
        <TextField
          label={t("filters.city")}
          name="city"
          value={draft.city}
          onValue={(value) => set("city", value)}
          autoComplete="address-level2"
        />
        <TextField
          label={t("filters.after")}
          name="after"
          type="date"
          value={draft.after}
          onValue={(value) => set("after", value)}
        />
        <TextField
          label={t("filters.before")}
          name="before"
          type="date"
          value={draft.before}
          onValue={(value) => set("before", value)}
        />
        <SelectField
          label={t("filters.state")}
          name="state"
          value={draft.state}
          onValue={(value) => set("state", value)}
          options={[
            { value: "scheduled", label: t("event.state.scheduled") },
            { value: "completed", label: t("event.state.completed") },
            { value: "cancelled", label: t("event.state.cancelled") },
            { value: "any", label: t("filters.anyState") },
          ]}
        />
        <SelectField
          label={t("filters.rating")}
          name="rating"
          value={draft.minRating}
          onValue={(value) => set("minRating", value)}
          options={[
            { value: "", label: t("filters.anyRating") },
            { value: "3", label: t("filters.ratingAtLeast", { rating: 3 }) },
            { value: "4", label: t("filters.ratingAtLeast", { rating: 4 }) },
            { value: "4.5", label: t("filters.ratingAtLeast", { rating: 4.5 }) },
          ]}
        />
        <SelectField
          label={t("filters.order")}
          name="order"
          value={draft.order}
          onValue={(value) => set("order", value)}
          options={[
            { value: "start_time", label: t("order.startTime") },
            { value: "start_time desc", label: t("order.startTimeDesc") },
            { value: "rating desc", label: t("order.ratingDesc") },
            { value: "create_time desc", label: t("order.createTimeDesc") },
          ]}
        />
        <CheckboxField
          label={t("filters.available")}
          name="available"
          checked={draft.available}
          onChecked={(checked) => set("available", checked)}
        />
      </div>
      {tagNames.size > 0 ? (
        <fieldset class="tags">
          <legend>{t("filters.tags")}</legend>
          {[...tagNames].map((tag) => {
            const count = tags.data?.tags.find((known) => known.name === tag)?.eventCount;
            return (
              <label key={tag} class="tag-option">
                <input
                  type="checkbox"
                  name="tag"
                  value={tag}
                  checked={draft.tags.includes(tag)}
                  onChange={(event) => toggleTag(tag, event.currentTarget.checked)}
                />
                {tag}
                {count !== undefined ? <span class="muted"> ({count})</span> : null}
              </label>
            );
          })}
        </fieldset>
      ) : null}
      {draft.organizer ? (
        <p class="chip">
          {t("filters.organizer")}{" "}
          <button type="button" class="link" onClick={() => set("organizer", "")}>
            {t("filters.clearOrganizer")}
          </button>
        </p>
      ) : null}
      <div class="actions">
        <button type="submit">{t("filters.apply")}</button>
        <a href={props.basePath} class="button secondary">
          {t("filters.reset")}
        </a>
      </div>
    </form>
  );
}
