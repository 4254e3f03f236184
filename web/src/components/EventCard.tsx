import type { Event } from "../gen/seatmesh/events/v1/events_pb";
import { Event_State } from "../gen/seatmesh/events/v1/events_pb";
import { useI18n } from "../i18n";
import { eventState } from "../labels";
import { PriceTag } from "./payments";
import { Badge, EventTime, Stars } from "./ui";

export function SeatsLeft(props: { available: number; capacity: number; state: Event_State }) {
  const { t } = useI18n();
  if (props.state !== Event_State.SCHEDULED) {
    return <Badge tone={eventState(props.state).tone}>{t(eventState(props.state).label)}</Badge>;
  }
  if (props.available === 0) return <Badge tone="bad">{t("event.soldOut")}</Badge>;
  return (
    <Badge tone={props.available <= Math.max(3, props.capacity / 10) ? "warn" : "good"}>
      {t("event.seatsLeft", { count: props.available })}
    </Badge>
  );
}

export function EventCard(props: { event: Event }) {
  const { event } = props;
  return (
    <li class="card event-card">
      <h3>
        <a href={`/events/${event.id}`}>{event.title}</a>
      </h3>
      <p class="when">
        <EventTime at={event.startTime} zone={event.timeZone} />
      </p>
      <p class="where">{[event.venue, event.city].filter(Boolean).join(", ")}</p>
      <p class="facts">
        <SeatsLeft available={event.seatsAvailable} capacity={event.capacity} state={event.state} />{" "}
        <Stars average={event.ratingAverage} count={event.ratingCount} />
      </p>
      <p class="facts">
        <PriceTag event={event} />
      </p>
      {event.tags.length > 0 ? (
        <ul class="tag-list">
          {event.tags.map((tag) => (
            <li key={tag}>
              <a href={`/?tag=${encodeURIComponent(tag)}`}>#{tag}</a>
            </li>
          ))}
        </ul>
      ) : null}
    </li>
  );
}
