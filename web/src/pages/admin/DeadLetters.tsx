import { notifications } from "../../api/clients";
import { AdminTabs } from "../../components/nav";
import { LoadMore, LocalTime, Page } from "../../components/ui";
import type { DeadLetter } from "../../gen/seatmesh/notifications/v1/notifications_pb";
import { usePages } from "../../hooks";
import { useI18n } from "../../i18n";

export function AdminDeadLetters() {
  const { t } = useI18n();
  const pages = usePages<DeadLetter>(async (pageToken) => {
    const page = await notifications.listDeadLetters({ pageSize: 25, pageToken });
    return { items: page.deadLetters, nextPageToken: page.nextPageToken };
  }, []);
  return (
    <Page title={t("admin.deadLettersTitle")} lead={t("admin.deadLettersLead")}>
      <AdminTabs />
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">{t("admin.messageType")}</th>
              <th scope="col">{t("admin.stream")}</th>
              <th scope="col">{t("admin.attempts")}</th>
              <th scope="col">{t("admin.lastError")}</th>
              <th scope="col">{t("admin.deadSince")}</th>
            </tr>
          </thead>
          <tbody>
            {pages.items.map((letter) => (
              <tr key={letter.id}>
                <th scope="row" class="wrap">
                  {letter.type}
                  <br />
                  <span class="muted small">{letter.eventId}</span>
                </th>
                <td class="wrap">{letter.stream}</td>
                <td>{letter.attempts}</td>
                <td class="wrap">{letter.error}</td>
                <td>
                  <LocalTime at={letter.deadTime} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <LoadMore pages={pages} empty={t("admin.noDeadLetters")} />
    </Page>
  );
}
