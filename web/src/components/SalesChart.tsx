// The sales report's chart: inline SVG drawn here (no chart library), bars per day or month, with
// the same numbers in a table beside it for screen readers and for anyone who wants them exact.
import { type BucketUnit, axisTop, niceStep, type SalesBucket, type SalesSeries } from "../chart";
import { useI18n } from "../i18n";
import { exponentOf, formatAmount } from "../money";

const WIDTH = 720;
const HEIGHT = 260;
const MARGIN = { top: 14, right: 12, bottom: 40, left: 80 };
const MAX_LABELS = 8;
// A period of a few days keeps slim bars, centred, rather than a wall of colour.
const MAX_SLOT = 64;

/** "seats", or a currency code: money received and given back in it. */
export type ChartMetric = string;

interface Series {
  name: "seats" | "captured" | "refunded";
  values: number[];
  text: (value: number) => string;
}

function bucketDate(key: string): Date {
  const [year, month, day] = key.split("-").map(Number);
  return new Date(Date.UTC(year, month - 1, day || 1));
}

export function bucketLabel(key: string, unit: BucketUnit, language: string): string {
  return new Intl.DateTimeFormat(
    language,
    unit === "day"
      ? { day: "numeric", month: "short", timeZone: "UTC" }
      : { month: "short", year: "numeric", timeZone: "UTC" },
  ).format(bucketDate(key));
}

/** Minor units as a plottable number of major units (precision beyond a pixel does not matter here). */
function major(minor: bigint | undefined, currency: string): number {
  return Number(minor ?? 0n) / 10 ** exponentOf(currency);
}

export function SalesChart(props: { series: SalesSeries; metric: ChartMetric; title: string }) {
  const { t, language } = useI18n();
  const { buckets, unit } = props.series;
  const money = props.metric !== "seats";
  const currency = props.metric;
  const asMoney = (value: number): string =>
    formatAmount({ minor: BigInt(Math.round(value * 10 ** exponentOf(currency))), currency }, language);
  const series: Series[] = money
    ? [
        {
          name: "captured",
          values: buckets.map((bucket) => major(bucket.captured.get(currency), currency)),
          text: asMoney,
        },
        {
          name: "refunded",
          values: buckets.map((bucket) => major(bucket.refunded.get(currency), currency)),
          text: asMoney,
        },
      ]
    : [
        {
          name: "seats",
          values: buckets.map((bucket) => bucket.seats),
          text: (value) => t("booking.seats", { count: value }),
        },
      ];
  const highest = Math.max(0, ...series.flatMap((one) => one.values));
  const step = niceStep(highest, 4, !money);
  const top = axisTop(highest, step);
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const slot = Math.min(MAX_SLOT, buckets.length > 0 ? plotWidth / buckets.length : plotWidth);
  const offset = MARGIN.left + (plotWidth - slot * buckets.length) / 2;
  const groupWidth = Math.max(1, slot * 0.8);
  const barWidth = groupWidth / series.length;
  const y = (value: number): number => MARGIN.top + plotHeight - (value / top) * plotHeight;
  const labelEvery = Math.max(1, Math.ceil(buckets.length / MAX_LABELS));
  const tickValues = Array.from({ length: Math.round(top / step) + 1 }, (_, index) => index * step);
  const tickText = money
    ? (value: number) =>
        new Intl.NumberFormat(language, {
          style: "currency",
          currency,
          maximumFractionDigits: 0,
          minimumFractionDigits: 0,
        }).format(value)
    : (value: number) => new Intl.NumberFormat(language).format(value);

  const best = buckets.reduce<{ bucket: SalesBucket; value: number } | null>((found, bucket, index) => {
    const value = series[0].values[index];
    return value > 0 && (!found || value > found.value) ? { bucket, value } : found;
  }, null);
  const summary =
    buckets.length === 0
      ? t("sales.chartEmpty")
      : t("sales.chartSummary", {
          from: bucketLabel(buckets[0].key, unit, language),
          to: bucketLabel(buckets[buckets.length - 1].key, unit, language),
          most: best ? `${bucketLabel(best.bucket.key, unit, language)}: ${series[0].text(best.value)}` : "—",
        });

  return (
    <figure class="sales-chart-figure">
      <svg
        class="sales-chart"
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        role="img"
        aria-labelledby="sales-chart-title sales-chart-desc"
        data-testid="sales-chart"
      >
        <title id="sales-chart-title">{props.title}</title>
        <desc id="sales-chart-desc">{summary}</desc>
        {tickValues.map((value) => (
          <g key={value} class="tick">
            <line x1={MARGIN.left} x2={WIDTH - MARGIN.right} y1={y(value)} y2={y(value)} />
            <text x={MARGIN.left - 6} y={y(value)} dy="0.32em" text-anchor="end">
              {tickText(value)}
            </text>
          </g>
        ))}
        {buckets.map((bucket, index) => {
          const left = offset + index * slot + (slot - groupWidth) / 2;
          const label = bucketLabel(bucket.key, unit, language);
          return (
            <g key={bucket.key} data-key={bucket.key}>
              {series.map((one, position) => {
                const value = one.values[index];
                if (value <= 0) return null;
                return (
                  <rect
                    key={one.name}
                    class={`bar ${one.name}`}
                    data-testid="chart-bar"
                    data-value={String(value)}
                    x={left + position * barWidth}
                    y={y(value)}
                    width={Math.max(1, barWidth - 1)}
                    height={Math.max(1, MARGIN.top + plotHeight - y(value))}
                  >
                    <title>{`${label} · ${t(`sales.series.${one.name}`)}: ${one.text(value)}`}</title>
                  </rect>
                );
              })}
              {index % labelEvery === 0 ? (
                <text
                  class="x-label"
                  x={left + groupWidth / 2}
                  y={HEIGHT - MARGIN.bottom + 18}
                  text-anchor="middle"
                >
                  {label}
                </text>
              ) : null}
            </g>
          );
        })}
        <line
          class="axis"
          x1={MARGIN.left}
          x2={WIDTH - MARGIN.right}
          y1={MARGIN.top + plotHeight}
          y2={MARGIN.top + plotHeight}
        />
      </svg>
      <figcaption>
        {series.length > 1 ? (
          <ul class="legend">
            {series.map((one) => (
              <li key={one.name}>
                <span class={`swatch ${one.name}`} aria-hidden="true" /> {t(`sales.series.${one.name}`)}
              </li>
            ))}
          </ul>
        ) : null}
        <span class="muted small">{t(unit === "day" ? "sales.daysUtc" : "sales.monthsUtc")}</span>
      </figcaption>
    </figure>
  );
}
