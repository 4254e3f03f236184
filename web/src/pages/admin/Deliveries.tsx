import { notifications } from "../../api/clients";
import { AdminTabs } from "../../components/nav";
import { Badge, LoadMore, LocalTime, Page, SelectField } from "../../components/ui";
import { type Delivery, Delivery_State } from "../../gen/seatmesh/notifications/v1/notifications_pb";
import { usePages } from "../../hooks";
import { useI18n } from "../../i18n";
import { channelLabel, deliveryState, kindLabel } from "../../labels";
import { navigate, queryString, useLocation } from "../../router";

const STATES = [Delivery_State.FAILED, Delivery_State.PENDING, Delivery_State.SENT];

export function AdminDeliveries() {
  const { t } = useI18n();
  const { query } = useLocation();
  const stateName = query.get("state") ?? "";
  const state =
    STATES.find((known) => Delivery_State[known] === stateName) ?? Delivery_State.STATE_UNSPECIFIED;
  const pages = usePages<Delivery>(
    async (pageToken) => {
      const page = await notifications.listDeliveries({ state, pageSize: 25, pageToken });
      return { items: page.deliveries, nextPageToken: page.nextPageToken };
    },
    [state],
  );
  return (
    <Page title={t("admin.deliveriesTitle")} lead={t("admin.deliveriesLead")}>
      <AdminTabs />
      <SelectField
        label={t("admin.deliveryState")}
        name="state"
        value={stateName}
        onValue={(value) => navigate(`/admin/deliveries${queryString({ state: value })}`)}
        options={[
          { value: "", label: t("admin.anyDeliveryState") },
          ...STATES.map((known) => ({ value: Delivery_State[known], label: t(deliveryState(known).label) })),
        ]}
      />
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">{t("admin.what")}</th>
              <th scope="col">{t("admin.to")}</th>
              <th scope="col">{t("admin.state")}</th>
              <th scope="col">{t("admin.attempts")}</th>
              <th scope="col">{t("admin.lastError")}</th>
              <th scope="col">{t("admin.updated")}</th>
            </tr>
          </thead>
          <tbody>
            {pages.items.map((delivery) => {
              const shown = deliveryState(delivery.state);
              return (
                <tr key={delivery.id}>
                  <th scope="row">
                    {kindLabel(delivery.kind, t)}
                    <br />
                    <span class="muted small">{channelLabel(delivery.channel, t)}</span>
                  </th>
                  <td class="wrap">{delivery.address}</td>
                  <td>
                    <Badge tone={shown.tone}>{t(shown.label)}</Badge>
                  </td>
                  <td>{delivery.attempts}</td>
                  <td class="wrap">{delivery.lastError}</td>
                  <td>
                    <LocalTime at={delivery.updateTime ?? delivery.createTime} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <LoadMore pages={pages} empty={t("admin.noDeliveries")} />
    </Page>
  );
}
