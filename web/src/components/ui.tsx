import type { ComponentChildren, InputHTMLAttributes, TextareaHTMLAttributes } from "preact";
import { useEffect, useRef } from "preact/hooks";
import type { FieldProblem, Problem } from "../api/errors";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { useI18n } from "../i18n";
import type { Pages } from "../hooks";
import { browserTimeZone, formatDateTime, isValidTimeZone, sameWallTime } from "../time";

// The first page of a visit keeps the browser's focus; every later one moves focus to its heading,
// so screen readers announce where a link led (a single-page app gets no page load to do it).
let pagesShown = 0;

export function Page(props: { title: string; children: ComponentChildren; lead?: ComponentChildren }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${props.title} · seatmesh`;
  }, [props.title]);
  useEffect(() => {
    pagesShown += 1;
    if (pagesShown > 1) heading.current?.focus();
  }, []);
  return (
    <section class="page" aria-labelledby="page-title">
      <h1 id="page-title" tabIndex={-1} ref={heading}>
        {props.title}
      </h1>
      {props.lead ? <p class="lead">{props.lead}</p> : null}
      {props.children}
    </section>
  );
}

export function ErrorNotice(props: { problem: Problem | null; onRetry?: () => void }) {
  const { t } = useI18n();
  if (!props.problem) return null;
  const listed = props.problem.fields.filter((field) => field.description);
  return (
    <div class="notice error" role="alert">
      <p>{props.problem.message}</p>
      {listed.length > 0 ? (
        <ul>
          {listed.map((field) => (
            <li key={field.field + field.description}>
              {field.label ? <strong>{field.label}: </strong> : null}
              {field.description}
            </li>
          ))}
        </ul>
      ) : null}
      {props.onRetry ? (
        <button type="button" class="secondary" onClick={props.onRetry}>
          {t("action.retry")}
        </button>
      ) : null}
    </div>
  );
}

export function Notice(props: { kind?: "info" | "success" | "warning"; children: ComponentChildren }) {
  return (
    <div class={`notice ${props.kind ?? "info"}`} role="status">
      {props.children}
    </div>
  );
}

function fieldProblem(problem: Problem | null | undefined, name: string): FieldProblem | undefined {
  return problem?.fields.find((field) => field.field === name);
}

interface FieldShell {
  label: string;
  name: string;
  /** Distinguishes ids when two forms on one page have a field of the same name. */
  scope?: string;
  hint?: string;
  problem?: Problem | null;
}

function useFieldIds(shell: FieldShell, problem: FieldProblem | undefined) {
  const { name, hint } = shell;
  const id = `${shell.scope ?? "field"}-${name}`;
  const described = [hint ? `${id}-hint` : "", problem ? `${id}-error` : ""].filter(Boolean).join(" ");
  return { id, described: described || undefined };
}

function FieldMessages(props: { id: string; hint?: string; problem?: FieldProblem }) {
  return (
    <>
      {props.hint ? (
        <span class="hint" id={`${props.id}-hint`}>
          {props.hint}
        </span>
      ) : null}
      {props.problem ? (
        <span class="field-error" id={`${props.id}-error`}>
          {props.problem.description}
        </span>
      ) : null}
    </>
  );
}

// The input attributes these fields pass through. Preact 11 types <input> as a union that ties
// `role` to `type`, which a wrapper with a variable `type` cannot satisfy statically.
interface InputOptions {
  type?: "text" | "email" | "password" | "search" | "tel" | "date" | "datetime-local" | "number";
  required?: boolean;
  autoComplete?: string;
  inputMode?: "numeric" | "text" | "email" | "tel";
  min?: number;
  max?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  list?: string;
  spellcheck?: boolean;
}

type InputProps = FieldShell &
  InputOptions & {
    value: string;
    onValue: (value: string) => void;
  };

export function TextField({ label, name, hint, scope, problem, value, onValue, ...input }: InputProps) {
  const invalid = fieldProblem(problem, name);
  const { id, described } = useFieldIds({ label, name, hint, scope }, invalid);
  const attributes = {
    ...input,
    id,
    name,
    value,
    "aria-invalid": invalid ? "true" : undefined,
    "aria-describedby": described,
    onInput: (event: Event) => onValue((event.currentTarget as HTMLInputElement).value),
  } as InputHTMLAttributes<HTMLInputElement>;
  return (
    <div class={`field${invalid ? " invalid" : ""}`}>
      <label for={id}>{label}</label>
      <input {...attributes} />
      <FieldMessages id={id} hint={hint} problem={invalid} />
    </div>
  );
}

type AreaProps = FieldShell &
  Omit<TextareaHTMLAttributes<HTMLTextAreaElement>, "name" | "onInput" | "value" | "label"> & {
    value: string;
    onValue: (value: string) => void;
  };

export function TextAreaField({ label, name, hint, scope, problem, value, onValue, ...area }: AreaProps) {
  const invalid = fieldProblem(problem, name);
  const { id, described } = useFieldIds({ label, name, hint, scope }, invalid);
  return (
    <div class={`field${invalid ? " invalid" : ""}`}>
      <label for={id}>{label}</label>
      <textarea
        {...area}
        id={id}
        name={name}
        value={value}
        aria-invalid={invalid ? "true" : undefined}
        aria-describedby={described}
        onInput={(event) => onValue(event.currentTarget.value)}
      />
      <FieldMessages id={id} hint={hint} problem={invalid} />
    </div>
  );
}

type SelectProps = FieldShell & {
  value: string;
  onValue: (value: string) => void;
  options: { value: string; label: string }[];
  required?: boolean;
};

export function SelectField({
  label,
  name,
  hint,
  scope,
  problem,
  value,
  onValue,
  options,
  required,
}: SelectProps) {
  const invalid = fieldProblem(problem, name);
  const { id, described } = useFieldIds({ label, name, hint, scope }, invalid);
  return (
    <div class={`field${invalid ? " invalid" : ""}`}>
      <label for={id}>{label}</label>
      <select
        id={id}
        name={name}
        value={value}
        required={required}
        aria-invalid={invalid ? "true" : undefined}
        aria-describedby={described}
        onChange={(event) => onValue(event.currentTarget.value)}
      >
        {options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
      <FieldMessages id={id} hint={hint} problem={invalid} />
    </div>
  );
}

export function CheckboxField(
  props: FieldShell & { checked: boolean; onChecked: (checked: boolean) => void },
) {
  const invalid = fieldProblem(props.problem, props.name);
  const { id, described } = useFieldIds(props, invalid);
  return (
    <div class={`field checkbox${invalid ? " invalid" : ""}`}>
      <input
        type="checkbox"
        id={id}
        name={props.name}
        checked={props.checked}
        aria-invalid={invalid ? "true" : undefined}
        aria-describedby={described}
        onChange={(event) => props.onChecked(event.currentTarget.checked)}
      />
      <label for={id}>{props.label}</label>
      <FieldMessages id={id} hint={props.hint} problem={invalid} />
    </div>
  );
}

/** A zone picked by its IANA name, with every zone the browser knows as suggestions. */
export function TimeZoneField(
  props: FieldShell & { value: string; onValue: (value: string) => void; zones: string[] },
) {
  const { t } = useI18n();
  const listId = `zones-${props.scope ?? "field"}-${props.name}`;
  const known = props.value === "" || isValidTimeZone(props.value);
  return (
    <>
      <TextField
        label={props.label}
        name={props.name}
        scope={props.scope}
        hint={known ? props.hint : t("form.unknownZone")}
        problem={props.problem}
        value={props.value}
        onValue={props.onValue}
        list={listId}
        autoComplete="off"
        spellcheck={false}
        required
      />
      <datalist id={listId}>
        {props.zones.map((zone) => (
          <option key={zone} value={zone} />
        ))}
      </datalist>
    </>
  );
}

export function SubmitButton(props: { busy: boolean; label: string; busyLabel?: string; class?: string }) {
  const { t } = useI18n();
  return (
    <button
      type="submit"
      class={props.class}
      disabled={props.busy}
      aria-busy={props.busy ? "true" : undefined}
    >
      {props.busy ? (props.busyLabel ?? t("action.working")) : props.label}
    </button>
  );
}

export function LoadMore<T>(props: { pages: Pages<T>; empty: string }) {
  const { t } = useI18n();
  const { pages } = props;
  return (
    <div class="load-more">
      <ErrorNotice problem={pages.problem} onRetry={pages.hasMore ? pages.loadMore : pages.reload} />
      {pages.loading ? (
        <p role="status" class="muted">
          {t("status.loading")}
        </p>
      ) : null}
      {!pages.loading && !pages.problem && pages.items.length === 0 && props.empty ? (
        <p class="muted">{props.empty}</p>
      ) : null}
      {!pages.loading && pages.hasMore ? (
        <button type="button" class="secondary" onClick={pages.loadMore}>
          {t("action.showMore")}
        </button>
      ) : null}
    </div>
  );
}

export function Loading() {
  const { t } = useI18n();
  return (
    <p role="status" class="muted">
      {t("status.loading")}
    </p>
  );
}

export function Stars(props: { average: number; count: number }) {
  const { t, language } = useI18n();
  if (props.count === 0) return <span class="muted">{t("rating.none")}</span>;
  const average = new Intl.NumberFormat(language, {
    maximumFractionDigits: 1,
    minimumFractionDigits: 1,
  }).format(props.average);
  return (
    <span class="stars" aria-label={t("rating.aria", { average, count: props.count })}>
      <span aria-hidden="true">★ {average}</span>{" "}
      <span class="muted" aria-hidden="true">
        ({t("rating.count", { count: props.count })})
      </span>
    </span>
  );
}

/** One person's rating, 1 to 5 stars. */
export function StarRating(props: { stars: number }) {
  const { t } = useI18n();
  const stars = Math.max(0, Math.min(5, Math.round(props.stars)));
  return (
    <span class="stars" role="img" aria-label={t("rating.outOfFive", { stars })}>
      <span aria-hidden="true">{"★".repeat(stars)}</span>
      <span aria-hidden="true" class="muted">
        {"☆".repeat(5 - stars)}
      </span>
    </span>
  );
}

/**
 * The zone a person reads times in: this device's. (Accounts carry a time_zone too, but it is
 * UTC until someone changes it, so the device knows better where its reader is.)
 */
export function useViewerZone(): string {
  return browserTimeZone();
}

/** An instant in the event's zone, and in the viewer's too when their clocks differ. */
export function EventTime(props: { at: Timestamp | undefined; zone: string }) {
  const { t, language } = useI18n();
  const viewer = useViewerZone();
  if (!props.at) return null;
  const instant = timestampDate(props.at);
  const zone = isValidTimeZone(props.zone) ? props.zone : "UTC";
  const there = formatDateTime(instant, zone, language);
  return (
    <span class="event-time">
      <time dateTime={instant.toISOString()}>{there}</time> <span class="zone">({zone})</span>
      {sameWallTime(instant, zone, viewer) ? null : (
        <span class="viewer-time">
          {" · "}
          {t("time.yours", { time: formatDateTime(instant, viewer, language), zone: viewer })}
        </span>
      )}
    </span>
  );
}

/** An instant in the viewer's zone (inbox, deliveries: things that happened to them). */
export function LocalTime(props: { at: Timestamp | undefined }) {
  const { language } = useI18n();
  const viewer = useViewerZone();
  if (!props.at) return null;
  const instant = timestampDate(props.at);
  return <time dateTime={instant.toISOString()}>{formatDateTime(instant, viewer, language)}</time>;
}

export function Badge(props: { tone?: "good" | "warn" | "bad" | "neutral"; children: ComponentChildren }) {
  return <span class={`badge ${props.tone ?? "neutral"}`}>{props.children}</span>;
}
