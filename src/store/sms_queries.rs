//! The outbox's queries (SMS messages, their history, idempotency keys and
//! opt-outs), written once for both backends like `queries.rs`, whose
//! conventions (`$n` placeholders, `begin_write()`, `write_turn()`,
//! `HISTORY_ORDER`, `SKIP_LOCKED`) they share. Expanded beside
//! `shared_queries!`, whose imports it uses.

/// An [`SmsMessageRow`](super::SmsMessageRow) from a row of `SMS_COLUMNS`,
/// read with `$row.$get(i)?` (sqlx's `try_get`, rusqlite's `get`).
macro_rules! sms_row {
    ($row:ident, $get:ident) => {
        super::SmsMessageRow {
            id: $row.$get(0)?,
            client_id: $row.$get(1)?,
            kind: $row.$get(2)?,
            to_e164: $row.$get(3)?,
            case_ref: $row.$get(4)?,
            lang: $row.$get(5)?,
            status_key: $row.$get(6)?,
            text: $row.$get(7)?,
            encoding: $row.$get(8)?,
            segments: $row.$get(9)?,
            status: $row.$get(10)?,
            attempts: $row.$get(11)?,
            created_at: $row.$get(12)?,
            sent_at: $row.$get(13)?,
            delivered_at: $row.$get(14)?,
            last_error: $row.$get(15)?,
            next_attempt_at: $row.$get(16)?,
            smsc_id: $row.$get(17)?,
        }
    };
}

macro_rules! sms_queries {
    ($store:ty, $db:ty, $row:ty) => {
        fn row_to_sms(r: &$row) -> Result<SmsMessageRow, StoreError> {
            Ok(super::sms_queries::sms_row!(r, try_get))
        }

        impl $store {
            async fn add_history(
                tx: &mut super::WriteTx<$db>,
                id: &str,
                status: &str,
                at: &str,
                detail: Option<&str>,
            ) -> Result<(), StoreError> {
                sqlx::query("INSERT INTO sms_history (message_id, status, at, detail) VALUES ($1, $2, $3, $4)")
                    .bind(id)
                    .bind(status)
                    .bind(at)
                    .bind(detail)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            pub async fn sms_message(&self, id: &str) -> Result<Option<SmsMessageRow>, StoreError> {
                let sql = format!("SELECT {SMS_COLUMNS} FROM sms_messages WHERE id = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
                row.as_ref().map(row_to_sms).transpose()
            }

            pub async fn sms_history(&self, id: &str) -> Result<Vec<SmsHistoryRow>, StoreError> {
                let sql = format!(
                    "SELECT status, at, detail FROM sms_history WHERE message_id = $1 ORDER BY {}",
                    Self::HISTORY_ORDER
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_all(&self.pool).await?;
                Ok(rows
                    .into_iter()
                    .map(|r| SmsHistoryRow { status: r.get(0), at: r.get(1), detail: r.get(2) })
                    .collect())
            }

            /// Claims queued messages due at `now` until `lease_until` (see
            /// [`Self::claim_due_security_checks`]); oldest first.
            pub async fn claim_due_sms(
                &self,
                now: &str,
                lease_until: &str,
                limit: u32,
            ) -> Result<Vec<SmsMessageRow>, StoreError> {
                let _turn = self.write_turn().await;
                let sql = format!(
                    "UPDATE sms_messages SET next_attempt_at = $1 WHERE id IN (SELECT id FROM sms_messages \
                     WHERE status = 'queued' AND next_attempt_at <= $2 ORDER BY next_attempt_at, created_at \
                     LIMIT $3{}) RETURNING {SMS_COLUMNS}",
                    Self::SKIP_LOCKED
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(lease_until)
                    .bind(now)
                    .bind(limit as i64)
                    .fetch_all(&self.pool)
                    .await?;
                let mut due = rows.iter().map(row_to_sms).collect::<Result<Vec<_>, _>>()?;
                due.sort_by(|a, b| a.created_at.cmp(&b.created_at));
                Ok(due)
            }

            pub async fn sms_mark_retry(
                &self,
                id: &str,
                attempts: i64,
                next_at: Option<&str>,
                error: &str,
                at: &str,
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin_write().await?;
                let mut failed = false;
                match next_at {
                    Some(next) => {
                        sqlx::query(
                            "UPDATE sms_messages SET attempts = $1, next_attempt_at = $2, last_error = $3 \
                             WHERE id = $4 AND status = 'queued'",
                        )
                        .bind(attempts)
                        .bind(next)
                        .bind(error)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    }
                    None => {
                        let n = sqlx::query(
                            "UPDATE sms_messages SET attempts = $1, status = 'failed', last_error = $2 \
                             WHERE id = $3 AND status = 'queued'",
                        )
                        .bind(attempts)
                        .bind(error)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                        if n == 1 {
                            Self::add_history(&mut tx, id, "failed", at, Some(error)).await?;
                        }
                        failed = n == 1;
                    }
                }
                tx.commit().await?;
                Ok(failed)
            }

            pub async fn sms_set_opt_out(&self, phone: &str, out: bool, at: &str) -> Result<(), StoreError> {
                let _turn = self.write_turn().await;
                if out {
                    sqlx::query("INSERT INTO sms_opt_outs (phone, at) VALUES ($1, $2) ON CONFLICT (phone) DO NOTHING")
                        .bind(phone)
                        .bind(at)
                        .execute(&self.pool)
                        .await?;
                } else {
                    sqlx::query("DELETE FROM sms_opt_outs WHERE phone = $1").bind(phone).execute(&self.pool).await?;
                }
                Ok(())
            }

            pub async fn sms_is_opted_out(&self, phone: &str) -> Result<bool, StoreError> {
                let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sms_opt_outs WHERE phone = $1")
                    .bind(phone)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(n > 0)
            }

            pub async fn sms_recent_notifications(
                &self,
                phone: &str,
                limit: u32,
            ) -> Result<Vec<SmsMessageRow>, StoreError> {
                let sql = format!(
                    "SELECT {SMS_COLUMNS} FROM sms_messages WHERE to_e164 = $1 AND kind = 'notification' \
                     AND status IN ('sent', 'delivered') ORDER BY created_at DESC LIMIT $2"
                );
                let rows =
                    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(phone).bind(limit as i64).fetch_all(&self.pool).await?;
                rows.iter().map(row_to_sms).collect()
            }

            pub async fn sms_queued(&self) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar("SELECT COUNT(*) FROM sms_messages WHERE status = 'queued'")
                    .fetch_one(&self.pool)
                    .await?)
            }
        }
    };
}

pub(super) use {sms_queries, sms_row};
