// The organizers' sales report (GetSalesReport): per event and over a period, with a chart.
// Organizers see their own events; admins everyone's, or one organizer's. The period is whole days
// in the viewer's zone, kept in the address bar like the event filters.
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { useState } from "preact/hooks";
import { payments } from "../../api/clients";
import { session } from "../../api/session";
import { salesSeries, seriesCurrencies, utcDay } from "../../chart";
import { MoneyText } from "../../components/payments";
import { bucketLabel, SalesChart } from "../../components/SalesChart";
import {
  Badge,
  ErrorNotice,
  Loading,
  LocalTime,
  Notice,
  Page,
  TextField,
  useViewerZone,
} from "../../components/ui";
import type { EventSales, SalesReport } from "../../gen/seatmesh/payments/v1/payments_pb";
import { Role } from "../../gen/seatmesh/users/v1/users_pb";
import { useLoad } from "../../hooks";
import { useI18n } from "../../i18n";
import { salesEventState } from "../../labels";
import { formatAmount } from "../../money";
import { PersonName } from "../../profiles";
import { navigate, queryString, useLocation } from "../../router";
import { useStore } from "../../store";
import { dateStartInstant } from "../../time";
import type { Problem } from "../../api/errors";

// The report pages by event; the chart needs every event's days, so all pages are read, up to
// this many (200 events each).
const PAGE_SIZE = 200;
const MAX_PAGES = 10;
// Without a start, the chart shows at least two weeks, so a first sale is a bar among days.
const CHART_MIN_DAYS = 14;

interface LoadedReport {
  report: SalesReport;
  events: EventSales[];
  truncated: boolean;
}

interface ReportFilters {
  event: string;
  organizer: string;
  from: string;
  to: string;
}

export function SalesPage() {
  const { t, language } = useI18n();
  const { query } = useLocation();
  const current = useStore(session);
  const zone = useViewerZone();
  const filters: ReportFilters = {
    event: query.get("event") ?? "",
    organizer: query.get("organizer") ?? "",
    from: query.get("from") ?? "",
    to: query.get("to") ?? "",
  };
  const [from, setFrom] = useState(filters.from);
  const [to, setTo] = useState(filters.to);
  const [localIssue, setLocalIssue] = useState<Problem | null>(null);
  const [metric, setMetric] = useState("seats");
  const admin = current?.user.role === Role.ADMIN;

  const start = dateStartInstant(filters.from, zone);
  const toDay = dateStartInstant(filters.to, zone);
  // "To 24 December" includes the 24th: the report's end is the start of the next day.
  const end = toDay ? new Date(toDay.getTime() + 86_400_000) : null;
  const loaded = useLoad<LoadedReport>(async () => {
    const events: EventSales[] = [];
    let first: SalesReport | null = null;
    let pageToken = "";
    for (let page = 0; page < MAX_PAGES; page += 1) {
      const report = await payments.getSalesReport({
        eventId: filters.event,
        organizerId: filters.organizer,
        startTime: start ? timestampFromDate(start) : undefined,
        endTime: end ? timestampFromDate(end) : undefined,
        pageSize: PAGE_SIZE,
        pageToken,
      });
      first ??= report;
      events.push(...report.events);
      if (!report.nextPageToken) return { report: first, events, truncated: false };
      pageToken = report.nextPageToken;
    }
    return { report: first as SalesReport, events, truncated: true };
  }, [query.toString(), zone]);

  const show = (next: Partial<ReportFilters>): void =>
    navigate(`/organize/sales${queryString({ ...filters, ...next })}`);

  const data = loaded.data;
  const single = filters.event && data?.events.length === 1 ? data.events[0] : null;
  const series = data
    ? salesSeries(
        data.events.flatMap((event) => event.days),
        {
          first: data.report.startTime ? utcDay(timestampDate(data.report.startTime)) : undefined,
          last: data.report.endTime
            ? utcDay(new Date(timestampDate(data.report.endTime).getTime() - 1))
            : undefined,
          minDays: CHART_MIN_DAYS,
        },
      )
    : null;
  const currencies = series ? seriesCurrencies(series) : [];
  const shownMetric = metric === "seats" || currencies.includes(metric) ? metric : "seats";
  const noSalesYet = loaded.problem?.reason === "NOT_FOUND" && filters.event !== "";
  const problem = localIssue ?? (noSalesYet ? null : loaded.problem);

  return (
    <Page
      title={single ? t("sales.titleOf", { title: single.eventTitle }) : t("sales.title")}
      lead={t("sales.lead")}
    >
      <form
        class="filters"
        role="search"
        aria-label={t("sales.period")}
        onSubmit={(submit) => {
          submit.preventDefault();
          if (from && to && from > to) {
            setLocalIssue({
              message: t("error.fields"),
              reason: "",
              code: null,
              fields: [{ field: "endTime", label: t("sales.to"), description: t("sales.toBeforeFrom") }],
            });
            return;
          }
          setLocalIssue(null);
          show({ from, to });
        }}
      >
        <div class="filter-grid">
          <TextField
            label={t("sales.from")}
            name="startTime"
            type="date"
            problem={problem}
            value={from}
            onValue={setFrom}
          />
          <TextField
            label={t("sales.to")}
            name="endTime"
            type="date"
            problem={problem}
            value={to}
            onValue={setTo}
          />
        </div>
        <p class="muted small">{t("sales.periodHint", { zone })}</p>
        {filters.event ? (
          <p class="chip">
            {t("sales.oneEvent")}{" "}
            <button type="button" class="link" onClick={() => show({ event: "" })}>
              {t("sales.allEvents")}
            </button>
          </p>
        ) : null}
        {filters.organizer ? (
          <p class="chip">
            {t("sales.oneOrganizer")} <PersonName userId={filters.organizer} />{" "}
            <button type="button" class="link" onClick={() => show({ organizer: "" })}>
              {t("sales.allOrganizers")}
            </button>
          </p>
        ) : null}
        <div class="actions">
          <button type="submit">{t("sales.show")}</button>
          <button type="button" class="secondary" onClick={loaded.reload}>
            {t("sales.refresh")}
          </button>
        </div>
      </form>
      <ErrorNotice problem={problem} onRetry={localIssue ? undefined : loaded.reload} />
      {noSalesYet ? <Notice>{t("sales.noneForEvent")}</Notice> : null}
      {loaded.loading && !data ? <Loading /> : null}
      {data && series ? (
        <div aria-busy={loaded.loading ? "true" : "false"}>
          <p class="muted">
            {data.report.startTime ? (
              <>
                {t("sales.periodFrom")} <LocalTime at={data.report.startTime} />{" "}
              </>
            ) : (
              <>{t("sales.periodSinceFirst")} </>
            )}
            {t("sales.periodTo")} <LocalTime at={data.report.endTime} />
          </p>
          <section aria-labelledby="totals-title">
            <h2 id="totals-title">{t("sales.totals")}</h2>
            {data.report.totals.length === 0 ? (
              <p class="muted">{t("sales.noMoney")}</p>
            ) : (
              <ul class="cards totals">
                {data.report.totals.map((total) => (
                  <li key={total.captured?.currencyCode} class="card" data-testid="sales-total">
                    <dl class="facts-list">
                      <dt>{t("sales.seatsSold")}</dt>
                      <dd data-testid="total-seats">{total.seatsSold}</dd>
                      <dt>{t("sales.captured")}</dt>
                      <dd data-testid="total-captured">
                        <MoneyText money={total.captured} />
                      </dd>
                      <dt>{t("sales.refunded")}</dt>
                      <dd data-testid="total-refunded">
                        <MoneyText money={total.refunded} />
                      </dd>
                      <dt>{t("sales.revenue")}</dt>
                      <dd data-testid="total-revenue">
                        <strong>
                          <MoneyText money={total.revenue} />
                        </strong>
                      </dd>
                    </dl>
                  </li>
                ))}
              </ul>
            )}
          </section>
          <section aria-labelledby="chart-title">
            <h2 id="chart-title">{t(series.unit === "day" ? "sales.byDay" : "sales.byMonth")}</h2>
            <div class="segmented" role="group" aria-label={t("sales.metric")}>
              {["seats", ...currencies].map((option) => (
                <button
                  key={option}
                  type="button"
                  aria-pressed={shownMetric === option ? "true" : "false"}
                  onClick={() => setMetric(option)}
                >
                  {option === "seats" ? t("sales.metricSeats") : t("sales.metricMoney", { currency: option })}
                </button>
              ))}
            </div>
            <SalesChart
              series={series}
              metric={shownMetric}
              title={
                shownMetric === "seats"
                  ? t("sales.chartSeats")
                  : t("sales.chartMoney", { currency: shownMetric })
              }
            />
            <details class="chart-data">
              <summary>{t("sales.showNumbers")}</summary>
              <div class="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">{t(series.unit === "day" ? "sales.day" : "sales.month")}</th>
                      <th scope="col">{t("sales.bookings")}</th>
                      <th scope="col">{t("sales.seats")}</th>
                      <th scope="col">{t("sales.captured")}</th>
                      <th scope="col">{t("sales.refunded")}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {series.buckets
                      .filter(
                        (bucket) =>
                          bucket.bookings > 0 || bucket.captured.size > 0 || bucket.refunded.size > 0,
                      )
                      .map((bucket) => (
                        <tr key={bucket.key}>
                          <th scope="row">{bucketLabel(bucket.key, series.unit, language)}</th>
                          <td>{bucket.bookings}</td>
                          <td>{bucket.seats}</td>
                          <td>
                            {[...bucket.captured]
                              .map(([currency, minor]) => formatAmount({ minor, currency }, language))
                              .join(", ")}
                          </td>
                          <td>
                            {[...bucket.refunded]
                              .map(([currency, minor]) => formatAmount({ minor, currency }, language))
                              .join(", ")}
                          </td>
                        </tr>
                      ))}
                  </tbody>
                </table>
              </div>
            </details>
          </section>
          <section aria-labelledby="per-event-title">
            <h2 id="per-event-title">{t("sales.perEvent")}</h2>
            {data.truncated ? (
              <Notice kind="warning">{t("sales.truncated", { count: data.events.length })}</Notice>
            ) : null}
            {data.events.length === 0 ? (
              <p class="muted">{t("sales.noEvents")}</p>
            ) : (
              <div class="table-wrap">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">{t("sales.event")}</th>
                      <th scope="col">{t("sales.seatsSold")}</th>
                      <th scope="col">{t("sales.fillRate")}</th>
                      <th scope="col">{t("sales.waitlist")}</th>
                      <th scope="col">{t("sales.captured")}</th>
                      <th scope="col">{t("sales.refunded")}</th>
                      <th scope="col">{t("sales.revenue")}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.events.map((event) => (
                      <SalesRow
                        key={event.eventId}
                        event={event}
                        admin={admin}
                        onOnly={() => show({ event: event.eventId })}
                        onOrganizer={() => show({ organizer: event.organizerId })}
                      />
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </section>
        </div>
      ) : null}
    </Page>
  );
}

function SalesRow(props: { event: EventSales; admin: boolean; onOnly: () => void; onOrganizer: () => void }) {
  const { t, language } = useI18n();
  const { event } = props;
  const state = salesEventState(event.eventState);
  const percent = new Intl.NumberFormat(language, { style: "percent", maximumFractionDigits: 0 });
  return (
    <tr data-testid="sales-row">
      <th scope="row" class="wrap">
        <a href={`/events/${event.eventId}`}>{event.eventTitle}</a>
        <br />
        <span class="small">
          <LocalTime at={event.eventStartTime} />
        </span>
        <br />
        <Badge tone={state.tone}>{t(state.label)}</Badge>
        {props.admin ? (
          <>
            <br />
            <span class="small">
              {t("sales.organizer")}{" "}
              <button type="button" class="link" onClick={props.onOrganizer}>
                <PersonName userId={event.organizerId} />
              </button>
            </span>
          </>
        ) : null}
        <br />
        <span class="small actions">
          <button type="button" class="link" onClick={props.onOnly}>
            {t("sales.onlyThis")}
          </button>
          <a href={`/organize/events/${event.eventId}/guests`}>{t("sales.payments")}</a>
        </span>
      </th>
      <td data-testid="row-seats">
        {t("sales.ofCapacity", { sold: event.seatsSold, capacity: event.capacity })}
      </td>
      <td>{percent.format(event.fillRate)}</td>
      <td>{event.waitlistLength}</td>
      <td data-testid="row-captured">
        <MoneyText money={event.captured} />
      </td>
      <td data-testid="row-refunded">
        <MoneyText money={event.refunded} />
        {event.refundCount > 0 ? (
          <span class="muted small"> ({t("sales.refundCount", { count: event.refundCount })})</span>
        ) : null}
      </td>
      <td data-testid="row-revenue">
        <strong>
          <MoneyText money={event.revenue} />
        </strong>
      </td>
    </tr>
  );
}
