// Money on pages: prices, refund policies, a booking's hold while its guest pays, and payments
// with their refunds (for the buyer, the organizer and admins alike).
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import { useEffect, useRef, useState } from "preact/hooks";
import { payments } from "../api/clients";
import type { Problem } from "../api/errors";
import type { Booking } from "../gen/seatmesh/bookings/v1/bookings_pb";
import type { Event } from "../gen/seatmesh/events/v1/events_pb";
import type { Money } from "../gen/google/type/money_pb";
import { type Payment, Payment_State } from "../gen/seatmesh/payments/v1/payments_pb";
import { useAction } from "../hooks";
import { type Translate, useI18n } from "../i18n";
import { newRequestId } from "../ids";
import { paymentState, refundInitiator, refundState } from "../labels";
import {
  type Amount,
  type AmountProblem,
  amountOf,
  exponentOf,
  formatAmount,
  formatMoney,
  isZero,
  MAX_PRICE_MAJOR,
  moneyOf,
  parseAmount,
} from "../money";
import { PersonName } from "../profiles";
import { Badge, ErrorNotice, EventTime, LocalTime, Notice, SubmitButton, TextField } from "./ui";

/** How long seats are held while a buyer pays when the event does not say (events' default). */
const DEFAULT_HOLD_SECONDS = 15 * 60;

/** Why a typed amount is refused, in words (with the currency's own number of decimals). */
export function describeAmountProblem(
  problem: AmountProblem,
  currency: string,
  t: Translate,
  language: string,
): string {
  switch (problem) {
    case "format":
      return t("money.problem.format");
    case "digits":
      return exponentOf(currency) === 0
        ? t("money.problem.noDecimals", { currency })
        : t("money.problem.digits", { currency, count: exponentOf(currency) });
    case "zero":
      return t("money.problem.zero");
    case "tooLarge":
      return t("money.problem.tooLarge", {
        max: formatAmount(
          { minor: MAX_PRICE_MAJOR * 10n ** BigInt(exponentOf(currency)), currency },
          language,
        ),
      });
  }
}

export function MoneyText(props: { money: Money | undefined }) {
  const { language } = useI18n();
  return <span class="money">{formatMoney(props.money, language)}</span>;
}

export function isPaidEvent(event: Pick<Event, "price">): boolean {
  return !isZero(event.price);
}

/** The price per seat, or "Free". */
export function PriceTag(props: { event: Pick<Event, "price"> }) {
  const { t, language } = useI18n();
  if (!isPaidEvent(props.event)) return <Badge tone="neutral">{t("price.free")}</Badge>;
  return (
    <span class="price" data-testid="price">
      {t("price.perSeat", { price: formatMoney(props.event.price, language) })}
    </span>
  );
}

/** What a guest who cancels gets back, with the last moment for a full refund in the event's zone. */
export function RefundPolicyText(props: {
  hours: number;
  startTime: Timestamp | undefined;
  timeZone: string;
}) {
  const { t } = useI18n();
  if (props.hours === 0 || !props.startTime) return <>{t("refund.policyUntilStart")}</>;
  const deadline = new Date(timestampDate(props.startTime).getTime() - props.hours * 3_600_000);
  return (
    <>
      {t("refund.policyHours", { count: props.hours })}{" "}
      <span class="muted">
        ({t("refund.until")} <EventTime at={timestampFromDate(deadline)} zone={props.timeZone} />)
      </span>
      {t("refund.noneAfter")}
    </>
  );
}

/** Minutes seats are held for payment (the event's hold, else the default). */
export function holdMinutes(hold: Duration | undefined): number {
  const seconds = hold ? Number(hold.seconds) : DEFAULT_HOLD_SECONDS;
  return Math.round((seconds || DEFAULT_HOLD_SECONDS) / 60);
}

/** "14:05" or "1:02:09": what is left until `until`, ticking every second. */
export function Countdown(props: { until: Timestamp; onEnd?: () => void }) {
  const end = timestampDate(props.until).getTime();
  const [now, setNow] = useState(Date.now());
  const onEnd = useRef(props.onEnd);
  onEnd.current = props.onEnd;
  useEffect(() => {
    if (end <= Date.now()) return;
    const timer = setInterval(() => {
      const current = Date.now();
      setNow(current);
      if (current >= end) {
        clearInterval(timer);
        onEnd.current?.();
      }
    }, 1000);
    return () => clearInterval(timer);
  }, [end]);
  const left = Math.max(0, Math.ceil((end - now) / 1000));
  const hours = Math.floor(left / 3600);
  const minutes = Math.floor((left % 3600) / 60);
  const seconds = left % 60;
  const two = (value: number): string => String(value).padStart(2, "0");
  const text = hours > 0 ? `${hours}:${two(minutes)}:${two(seconds)}` : `${minutes}:${two(seconds)}`;
  // A timer region is not read aloud on every tick; the end time beside it is.
  return (
    <span role="timer" class="countdown" data-testid="hold-countdown">
      {text}
    </span>
  );
}

/** How to pay a manual payment: to the organizer, quoting the payment's id. */
function ManualInstructions(props: { payment: Payment }) {
  const { t, language } = useI18n();
  return (
    <Notice>
      {t("pay.manual", { amount: formatMoney(props.payment.amount, language) })}{" "}
      <code class="payment-id">{props.payment.id}</code>
      <br />
      {t("pay.manualConfirm")}
    </Notice>
  );
}

/**
 * A booking that holds seats until its guest pays: the total, the time left, and the way to pay
 * (Stripe's checkout page, or for manual payments what to tell the organizer).
 */
export function PaymentDue(props: { booking: Booking; onChange: () => void }) {
  const { t, language } = useI18n();
  const { booking } = props;
  const pay = useAction();
  const [manual, setManual] = useState<Payment | null>(null);
  const [leaving, setLeaving] = useState(false);
  const [holdOver, setHoldOver] = useState(() =>
    booking.holdExpireTime ? timestampDate(booking.holdExpireTime).getTime() <= Date.now() : false,
  );

  // Back from the checkout page with the browser's Back button, this page may come back as it was
  // left (the back/forward cache): ready to pay again, not still "opening the payment page".
  useEffect(() => {
    const onShow = (shown: PageTransitionEvent): void => {
      if (shown.persisted) setLeaving(false);
    };
    globalThis.addEventListener("pageshow", onShow);
    return () => globalThis.removeEventListener("pageshow", onShow);
  }, []);

  // Without a checkout page the payment is manual (or not opened yet): read which it is.
  useEffect(() => {
    if (booking.checkoutUrl || !booking.paymentId) return;
    let current = true;
    payments.getPayment({ paymentId: booking.paymentId }).then(
      (payment) => {
        if (current && !payment.checkoutUrl && payment.state === Payment_State.PENDING) setManual(payment);
      },
      () => undefined,
    );
    return () => {
      current = false;
    };
  }, [booking.id, booking.paymentId, booking.checkoutUrl]);

  const total = formatMoney(booking.amount, language);
  return (
    <div class="payment-due" data-testid="payment-due">
      <p>
        <strong>{t("pay.total")}</strong> <span data-testid="amount-due">{total}</span>
      </p>
      {booking.holdExpireTime ? (
        <p>
          {holdOver ? (
            t("pay.holdOver")
          ) : (
            <>
              {t("pay.timeLeft")}{" "}
              <Countdown
                until={booking.holdExpireTime}
                onEnd={() => {
                  setHoldOver(true);
                  props.onChange();
                }}
              />{" "}
              <span class="muted">
                ({t("pay.holdUntil")} <LocalTime at={booking.holdExpireTime} />)
              </span>
            </>
          )}
        </p>
      ) : null}
      {manual ? (
        <ManualInstructions payment={manual} />
      ) : (
        <>
          <button
            type="button"
            disabled={pay.busy || leaving || holdOver}
            aria-busy={pay.busy || leaving ? "true" : undefined}
            onClick={() =>
              void pay.run(async () => {
                // The checkout page the booking had may have closed meanwhile: ask for the current one.
                const payment = await payments.createCheckout({ bookingId: booking.id });
                if (payment.checkoutUrl) {
                  setLeaving(true);
                  globalThis.location.assign(payment.checkoutUrl);
                } else if (payment.state === Payment_State.PENDING) {
                  setManual(payment);
                } else {
                  props.onChange();
                }
              })
            }
          >
            {leaving ? t("pay.leaving") : t("pay.now", { amount: total })}
          </button>
          <p class="muted small">{t("pay.leaveHint")}</p>
        </>
      )}
      <ErrorNotice problem={pay.problem} />
    </div>
  );
}

/** Part or all of what is left of a payment, given back: the organizer's or an admin's doing. */
function RefundForm(props: { payment: Payment; onDone: (payment: Payment) => void }) {
  const { t, language } = useI18n();
  const { payment } = props;
  const [amount, setAmount] = useState("");
  const [reason, setReason] = useState("");
  const [localIssue, setLocalIssue] = useState<Problem | null>(null);
  const action = useAction();
  // One id per refund being asked for: a retry after a lost answer makes no second refund.
  const requestId = useRef(newRequestId());
  const captured = payment.captured ? amountOf(payment.captured) : null;
  const refunded = payment.refunded ? amountOf(payment.refunded).minor : 0n;
  if (!captured) return null;
  const left = { minor: captured.minor - refunded, currency: captured.currency };
  const problem = localIssue ?? action.problem;
  const scope = `refund-${payment.id}`;
  const amountIssue = (description: string): Problem => ({
    message: t("error.fields"),
    reason: "",
    code: null,
    fields: [{ field: "amount", label: t("field.amount"), description }],
  });
  return (
    <form
      class="inline-form"
      aria-label={t("refund.formLabel", { title: payment.eventTitle })}
      onSubmit={(submit) => {
        submit.preventDefault();
        let wanted: Amount | null = null;
        if (amount.trim() !== "") {
          const parsed = parseAmount(amount, left.currency);
          if ("problem" in parsed) {
            setLocalIssue(amountIssue(describeAmountProblem(parsed.problem, left.currency, t, language)));
            return;
          }
          if (parsed.amount.minor > left.minor) {
            setLocalIssue(amountIssue(t("refund.tooMuch", { left: formatAmount(left, language) })));
            return;
          }
          wanted = parsed.amount;
        }
        setLocalIssue(null);
        void action.run(async () => {
          const updated = await payments.refundPayment({
            paymentId: payment.id,
            amount: wanted ? moneyOf(wanted) : undefined,
            reason: reason.trim(),
            requestId: requestId.current,
          });
          requestId.current = newRequestId();
          setAmount("");
          setReason("");
          props.onDone(updated);
        });
      }}
    >
      <TextField
        label={t("refund.amount", { currency: left.currency })}
        name="amount"
        scope={scope}
        inputMode="text"
        autoComplete="off"
        hint={t("refund.amountHint", { left: formatAmount(left, language) })}
        problem={problem}
        value={amount}
        onValue={setAmount}
      />
      <TextField
        label={t("refund.reason")}
        name="reason"
        scope={scope}
        maxLength={500}
        hint={t("refund.reasonHint")}
        problem={problem}
        value={reason}
        onValue={setReason}
      />
      <ErrorNotice problem={problem} />
      <SubmitButton busy={action.busy} class="danger" label={t("refund.submit")} />
    </form>
  );
}

/**
 * One payment: what it is for, where it is, what came in and went back. `manage` (the event's
 * organizer or an admin) adds "mark as paid" for manual payments and refunds.
 */
export function PaymentCard(props: {
  payment: Payment;
  manage: boolean;
  /** Whose payment it is: for organizers and admins. */
  showBuyer?: boolean;
  /** Which event it is for: not on the event's own pages. */
  showEvent?: boolean;
  onChange: (payment: Payment) => void;
}) {
  const { t } = useI18n();
  const { payment } = props;
  const state = paymentState(payment.state);
  const markPaid = useAction();
  const [refunding, setRefunding] = useState(false);
  const [refundedNow, setRefundedNow] = useState(false);
  const [markedNow, setMarkedNow] = useState(false);
  const captured = payment.captured ? amountOf(payment.captured).minor : 0n;
  const refunded = payment.refunded ? amountOf(payment.refunded).minor : 0n;
  const manual = payment.provider === "manual";
  return (
    <li class="card payment" data-testid="payment">
      <h3>
        {props.showEvent === false ? (
          <PersonName userId={payment.buyerId} />
        ) : (
          <a href={`/events/${payment.eventId}`}>{payment.eventTitle || t("booking.untitled")}</a>
        )}
      </h3>
      <p>
        <Badge tone={state.tone}>{t(state.label)}</Badge> <MoneyText money={payment.amount} /> ·{" "}
        {t("booking.seats", { count: payment.seats })} ·{" "}
        <span class="muted">{t(manual ? "payment.provider.manual" : "payment.provider.stripe")}</span>
      </p>
      {props.showBuyer && props.showEvent !== false ? (
        <p>
          {t("payment.buyer")} <PersonName userId={payment.buyerId} />
        </p>
      ) : null}
      <p class="muted">{t(state.explain)}</p>
      {payment.state === Payment_State.FAILED && payment.failureReason ? (
        <p class="muted">
          {t("payment.failureReason")} {payment.failureReason}
        </p>
      ) : null}
      {captured > 0n ? (
        <p data-testid="payment-money">
          {t("payment.captured")} <MoneyText money={payment.captured} />
          {refunded > 0n ? (
            <>
              {" · "}
              {t("payment.refunded")} <MoneyText money={payment.refunded} />
            </>
          ) : null}
        </p>
      ) : null}
      {payment.refunds.length > 0 ? (
        <ul class="plain refunds" aria-label={t("payment.refunds")}>
          {payment.refunds.map((refund) => {
            const shown = refundState(refund.state);
            return (
              <li key={refund.id} data-testid="refund">
                <Badge tone={shown.tone}>{t(shown.label)}</Badge> <MoneyText money={refund.amount} /> ·{" "}
                {refundInitiator(refund.initiatedBy, t)} · <LocalTime at={refund.createTime} />
                {refund.reason ? <span class="muted"> · {refund.reason}</span> : null}
              </li>
            );
          })}
        </ul>
      ) : null}
      {!props.manage && payment.fullRefundDeadline && payment.state === Payment_State.SUCCEEDED ? (
        <p class="muted small">
          {t("payment.fullRefundUntil")} <LocalTime at={payment.fullRefundDeadline} />
        </p>
      ) : null}
      <p class="muted small">
        {t("payment.number")} <code class="payment-id">{payment.id}</code> ·{" "}
        <LocalTime at={payment.createTime} />
      </p>
      <ErrorNotice problem={markPaid.problem} />
      {refundedNow ? <Notice kind="success">{t("refund.done")}</Notice> : null}
      {markedNow ? <Notice kind="success">{t("payment.markedPaid")}</Notice> : null}
      {props.manage ? (
        <div class="actions">
          {manual && payment.state !== Payment_State.SUCCEEDED ? (
            <button
              type="button"
              disabled={markPaid.busy}
              onClick={() =>
                void markPaid.run(async () => {
                  if (!confirm(t("payment.markPaidConfirm"))) return;
                  const paid = await payments.markPaid({ paymentId: payment.id });
                  setMarkedNow(true);
                  props.onChange(paid);
                })
              }
            >
              {markPaid.busy ? t("action.working") : t("payment.markPaid")}
            </button>
          ) : null}
          {captured > refunded ? (
            <button
              type="button"
              class="secondary"
              aria-expanded={refunding ? "true" : "false"}
              onClick={() => {
                setRefundedNow(false);
                setRefunding(!refunding);
              }}
            >
              {t("refund.open")}
            </button>
          ) : null}
        </div>
      ) : null}
      {props.manage && refunding && captured > refunded ? (
        <RefundForm
          payment={payment}
          onDone={(updated) => {
            setRefunding(false);
            setRefundedNow(true);
            props.onChange(updated);
          }}
        />
      ) : null}
    </li>
  );
}
