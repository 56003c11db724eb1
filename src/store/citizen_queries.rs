//! Queries for citizens asking 5960 about their data (CONTRACT §12): the
//! events about one subject since a time, and the access alerts citizens
//! asked for (`citizen_watches`). Written once for both backends like
//! `queries.rs`; expanded beside `shared_queries!`, whose imports it uses.

/// One citizen's request to be told of each access to their data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchRow {
    pub national_id: String,
    /// E.164: the number registered to the ID when the citizen asked.
    pub phone: String,
    pub lang: String,
    pub since: String,
    pub last_alert_at: Option<String>,
}

macro_rules! citizen_queries {
    ($store:ty, $db:ty, $row:ty) => {
        use super::citizen_queries::WatchRow;

        fn row_to_watch(r: &$row) -> Result<WatchRow, StoreError> {
            Ok(WatchRow {
                national_id: r.try_get(0)?,
                phone: r.try_get(1)?,
                lang: r.try_get(2)?,
                since: r.try_get(3)?,
                last_alert_at: r.try_get(4)?,
            })
        }

        impl $store {
            /// Events about `subject` at or after `since` whose action is one
            /// of `actions`, newest first, at most `limit`.
            pub async fn subject_events_since(
                &self,
                subject: &str,
                since: &str,
                actions: &[&str],
                limit: u32,
            ) -> Result<Vec<AuditEvent>, StoreError> {
                if actions.is_empty() {
                    return Ok(Vec::new());
                }
                let mut qb: QueryBuilder<$db> =
                    QueryBuilder::new(format!("SELECT {EVENT_COLUMNS} FROM audit_events WHERE subject = "));
                qb.push_bind(subject.to_owned()).push(" AND at >= ").push_bind(since.to_owned());
                qb.push(" AND action IN (");
                let mut list = qb.separated(", ");
                for action in actions {
                    list.push_bind(action.to_string());
                }
                qb.push(") ORDER BY seq DESC LIMIT ").push_bind(limit as i64);
                let rows = qb.build().fetch_all(&self.pool).await?;
                rows.iter().map(row_to_event).collect()
            }

            /// Starts (or restarts) alerts for `national_id` to `phone`.
            pub async fn watch_set(
                &self,
                national_id: &str,
                phone: &str,
                lang: &str,
                since: &str,
            ) -> Result<(), StoreError> {
                let _turn = self.write_turn().await;
                sqlx::query(
                    "INSERT INTO citizen_watches (national_id, phone, lang, since, last_alert_at) \
                     VALUES ($1, $2, $3, $4, NULL) ON CONFLICT (national_id) DO UPDATE SET \
                     phone = excluded.phone, lang = excluded.lang, since = excluded.since, last_alert_at = NULL",
                )
                .bind(national_id)
                .bind(phone)
                .bind(lang)
                .bind(since)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            pub async fn watch_get(&self, national_id: &str) -> Result<Option<WatchRow>, StoreError> {
                let row = sqlx::query(
                    "SELECT national_id, phone, lang, since, last_alert_at FROM citizen_watches WHERE national_id = $1",
                )
                .bind(national_id)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(row_to_watch).transpose()
            }

            /// Claims the next alert for `national_id`: true (and `last_alert_at`
            /// set to `at`) only when none was sent after `not_after`, so that
            /// of concurrent callers and replicas exactly one sends it.
            pub async fn watch_claim_alert(
                &self,
                national_id: &str,
                at: &str,
                not_after: &str,
            ) -> Result<bool, StoreError> {
                let _turn = self.write_turn().await;
                let done = sqlx::query(
                    "UPDATE citizen_watches SET last_alert_at = $2 WHERE national_id = $1 \
                     AND (last_alert_at IS NULL OR last_alert_at <= $3)",
                )
                .bind(national_id)
                .bind(at)
                .bind(not_after)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            /// Watches whose last alert is at or before `not_after` (or that had
            /// none) and that have a shown event since: an answered call
            /// (2xx) with one of `actions`, by a client not in `hidden`.
            pub async fn watches_with_pending(
                &self,
                not_after: &str,
                actions: &[&str],
                hidden: &[&str],
                limit: u32,
            ) -> Result<Vec<WatchRow>, StoreError> {
                if actions.is_empty() {
                    return Ok(Vec::new());
                }
                let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                    "SELECT w.national_id, w.phone, w.lang, w.since, w.last_alert_at FROM citizen_watches w \
                     WHERE (w.last_alert_at IS NULL OR w.last_alert_at <= ",
                );
                qb.push_bind(not_after.to_owned());
                qb.push(
                    ") AND EXISTS (SELECT 1 FROM audit_events e WHERE e.subject = w.national_id \
                     AND e.at >= COALESCE(w.last_alert_at, w.since) AND e.http_status >= 200 AND e.http_status < 300 \
                     AND e.action IN (",
                );
                let mut list = qb.separated(", ");
                for action in actions {
                    list.push_bind(action.to_string());
                }
                qb.push(")");
                if !hidden.is_empty() {
                    qb.push(" AND (e.client_id IS NULL OR e.client_id NOT IN (");
                    let mut list = qb.separated(", ");
                    for client in hidden {
                        list.push_bind(client.to_string());
                    }
                    qb.push("))");
                }
                qb.push(") ORDER BY w.national_id LIMIT ").push_bind(limit as i64);
                let rows = qb.build().fetch_all(&self.pool).await?;
                rows.iter().map(row_to_watch).collect()
            }

            /// Ends every alert going to `phone` (it texted STOP).
            pub async fn watch_remove_phone(&self, phone: &str) -> Result<u64, StoreError> {
                let _turn = self.write_turn().await;
                let done =
                    sqlx::query("DELETE FROM citizen_watches WHERE phone = $1").bind(phone).execute(&self.pool).await?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(super) use citizen_queries;
