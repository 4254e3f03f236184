// Payments as lists (ListPayments): a buyer's own, an event's for its organizer, everyone's for
// admins, each with its refunds; organizers and admins mark manual payments paid and refund here.
import { payments } from "../api/clients";
import { session } from "../api/session";
import { AdminTabs } from "../components/nav";
import { PaymentCard } from "../components/payments";
import { LoadMore, Page, SelectField } from "../components/ui";
import {
  ListPaymentsRequest_Perspective,
  type Payment,
  Payment_State,
  Payment_StateSchema,
} from "../gen/seatmesh/payments/v1/payments_pb";
import { Role } from "../gen/seatmesh/users/v1/users_pb";
import { usePages } from "../hooks";
import { useI18n } from "../i18n";
import { enumName, PAYMENT_STATE_FILTERS, paymentState, paymentStateByName } from "../labels";
import { navigate, queryString, useLocation } from "../router";
import { useStore } from "../store";

const PAGE_SIZE = 20;

/**
 * One list of payments. As ORGANIZER the caller manages what it lists (their events' payments, or
 * for admins everyone's); as BUYER it only reads.
 */
export function PaymentList(props: {
  perspective: ListPaymentsRequest_Perspective;
  eventId?: string;
  state?: Payment_State;
  empty: string;
  /** False on an event's own page, where the event goes without saying. */
  showEvent?: boolean;
  onChange?: (payment: Payment) => void;
}) {
  const current = useStore(session);
  const organizing = props.perspective === ListPaymentsRequest_Perspective.ORGANIZER;
  const pages = usePages<Payment>(
    async (pageToken) => {
      const page = await payments.listPayments({
        perspective: props.perspective,
        eventId: props.eventId ?? "",
        state: props.state ?? Payment_State.STATE_UNSPECIFIED,
        pageSize: PAGE_SIZE,
        pageToken,
      });
      return { items: page.payments, nextPageToken: page.nextPageToken };
    },
    [props.perspective, props.eventId, props.state, current?.user.id],
  );
  const manages = (payment: Payment): boolean =>
    organizing && (current?.user.role === Role.ADMIN || payment.organizerId === current?.user.id);
  return (
    <>
      <ul class="list">
        {pages.items.map((payment) => (
          <PaymentCard
            key={payment.id}
            payment={payment}
            manage={manages(payment)}
            showBuyer={organizing}
            showEvent={props.showEvent}
            onChange={(changed) => {
              pages.update((items) => items.map((item) => (item.id === changed.id ? changed : item)));
              props.onChange?.(changed);
            }}
          />
        ))}
      </ul>
      <LoadMore pages={pages} empty={props.empty} />
    </>
  );
}

function StateFilter(props: { value: string; onValue: (value: string) => void }) {
  const { t } = useI18n();
  return (
    <SelectField
      label={t("payments.state")}
      name="state"
      value={props.value}
      onValue={props.onValue}
      options={[
        { value: "", label: t("payments.anyState") },
        ...PAYMENT_STATE_FILTERS.map((known) => ({
          value: enumName(Payment_StateSchema, known),
          label: t(paymentState(known).label),
        })),
      ]}
    />
  );
}

/** The signed-in person's own payments, with their refunds. */
export function MyPaymentsPage() {
  const { t } = useI18n();
  const { query } = useLocation();
  const stateName = query.get("state") ?? "";
  return (
    <Page title={t("payments.mineTitle")} lead={t("payments.mineLead")}>
      <div class="toolbar">
        <StateFilter
          value={stateName}
          onValue={(value) => navigate(`/payments${queryString({ state: value })}`)}
        />
        <a href="/bookings">{t("payments.toBookings")}</a>
      </div>
      <PaymentList
        perspective={ListPaymentsRequest_Perspective.BUYER}
        state={paymentStateByName(stateName)}
        empty={t("payments.noneMine")}
      />
    </Page>
  );
}

/** Admins: every payment of every event, to refund any of them (or confirm a manual one). */
export function AdminPaymentsPage() {
  const { t } = useI18n();
  const { query } = useLocation();
  const stateName = query.get("state") ?? "";
  const eventId = query.get("event") ?? "";
  const show = (next: { state?: string; event?: string }): void =>
    navigate(`/admin/payments${queryString({ state: stateName, event: eventId, ...next })}`);
  return (
    <Page title={t("admin.paymentsTitle")} lead={t("admin.paymentsLead")}>
      <AdminTabs />
      <div class="toolbar">
        <StateFilter value={stateName} onValue={(value) => show({ state: value })} />
        {eventId ? (
          <p class="chip">
            {t("payments.oneEvent")}{" "}
            <button type="button" class="link" onClick={() => show({ event: "" })}>
              {t("payments.allEvents")}
            </button>
          </p>
        ) : null}
      </div>
      <PaymentList
        perspective={ListPaymentsRequest_Perspective.ORGANIZER}
        eventId={eventId}
        state={paymentStateByName(stateName)}
        empty={t("payments.none")}
      />
    </Page>
  );
}
