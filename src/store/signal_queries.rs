//! The audit log's leads for inspectors (CONTRACT §13): groups of events
//! that meet a signal's condition, and the events of one group. Conditions
//! and group columns are constants of [`SignalSql`]; every value is bound.

use super::{Store, StoreError};

/// Data calls: those that touch a citizen's, company's or property's data.
pub(super) const DATA_ACTIONS: &str = "action IN ('national_id.verify', 'commercial_register.verify', \
     'real_estate.verify', 'security_check.submit', 'sms.send')";
/// Calls that reached the data (not refused before).
pub(super) const DATA_OUTCOMES: &str = "outcome IN ('match', 'mismatch', 'not_found', 'accepted')";

/// One kind of signal as SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalSql {
    /// Mismatches and stopped calls per operator and subject.
    ClaimGuessing,
    /// Data calls without a case reference, per operator.
    NoCaseRef,
    /// Data calls of these clients outside their working intervals
    /// (`[start, end)`, RFC 3339 UTC as the log writes it), per operator.
    OffHours { client_ids: Vec<String>, working: Vec<(String, String)> },
    /// Distinct subjects of data calls, per operator.
    ManySubjects,
    /// Distinct centers that looked up one citizen.
    ManyCenters,
}

/// The columns a signal groups by.
const OPERATOR: [&str; 3] = ["client_id", "center_id", "operator_id"];

impl SignalSql {
    pub(super) fn group_columns(&self) -> &'static [&'static str] {
        match self {
            SignalSql::ClaimGuessing => &["client_id", "center_id", "operator_id", "subject"],
            SignalSql::ManyCenters => &["subject"],
            _ => &OPERATOR,
        }
    }

    /// What `distinct` counts.
    pub(super) fn distinct(&self) -> &'static str {
        match self {
            SignalSql::ManySubjects => "subject",
            SignalSql::ManyCenters => "center_id",
            _ => "id",
        }
    }

    /// Appends the kind's condition (values bound) to a `WHERE` clause.
    pub(super) fn push_condition<DB: sqlx::Database>(&self, qb: &mut sqlx::QueryBuilder<DB>)
    where
        for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    {
        match self {
            SignalSql::ClaimGuessing => {
                qb.push(" AND outcome IN ('mismatch', 'too_many_mismatches') AND subject IS NOT NULL");
            }
            SignalSql::NoCaseRef => {
                qb.push(format!(" AND {DATA_ACTIONS} AND {DATA_OUTCOMES} AND case_ref IS NULL"));
            }
            SignalSql::OffHours { client_ids, working } => {
                qb.push(format!(" AND {DATA_ACTIONS} AND {DATA_OUTCOMES} AND client_id IN ("));
                let mut ids = qb.separated(", ");
                for id in client_ids {
                    ids.push_bind(id.clone());
                }
                qb.push(")");
                for (i, (start, end)) in working.iter().enumerate() {
                    qb.push(if i == 0 { " AND NOT (" } else { " OR " });
                    qb.push("(at >= ").push_bind(start.clone()).push(" AND at < ").push_bind(end.clone()).push(")");
                }
                if !working.is_empty() {
                    qb.push(")");
                }
            }
            SignalSql::ManySubjects => {
                qb.push(format!(" AND {DATA_ACTIONS} AND {DATA_OUTCOMES} AND subject IS NOT NULL"));
            }
            SignalSql::ManyCenters => {
                qb.push(format!(
                    " AND action IN ('national_id.verify', 'security_check.submit') AND {DATA_OUTCOMES} \
                     AND subject IS NOT NULL AND center_id IS NOT NULL"
                ));
            }
        }
    }
}

/// Events of one group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignalGroup {
    pub client_id: Option<String>,
    pub center_id: Option<String>,
    pub operator_id: Option<String>,
    pub subject: Option<String>,
    pub count: i64,
    /// Distinct subjects (`many_subjects`) or centers (`many_centers`).
    pub distinct: i64,
    pub first_at: String,
    pub last_at: String,
}

/// Most event ids one signal lists.
pub const MAX_EVENT_IDS: i64 = 100;

macro_rules! signal_queries {
    ($store:ty, $db:ty) => {
        impl $store {
            pub async fn signal_groups(
                &self,
                kind: &super::signal_queries::SignalSql,
                from: &str,
                to: &str,
                min: i64,
                limit: i64,
            ) -> Result<Vec<super::signal_queries::SignalGroup>, StoreError> {
                let columns = kind.group_columns();
                let select: Vec<String> = ["client_id", "center_id", "operator_id", "subject"]
                    .iter()
                    .map(|c| if columns.contains(c) { c.to_string() } else { "CAST(NULL AS TEXT)".to_owned() })
                    .collect();
                let distinct = kind.distinct();
                let mut qb: QueryBuilder<$db> = QueryBuilder::new(format!(
                    "SELECT {}, COUNT(*), COUNT(DISTINCT {distinct}), MIN(at), MAX(at) FROM audit_events \
                     WHERE at >= ",
                    select.join(", ")
                ));
                qb.push_bind(from.to_owned()).push(" AND at < ").push_bind(to.to_owned());
                kind.push_condition(&mut qb);
                qb.push(format!(" GROUP BY {} HAVING COUNT(DISTINCT {distinct}) >= ", columns.join(", ")));
                qb.push_bind(min);
                qb.push(" ORDER BY 6 DESC LIMIT ").push_bind(limit);
                let rows = qb.build().fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r| {
                        Ok(super::signal_queries::SignalGroup {
                            client_id: r.try_get(0)?,
                            center_id: r.try_get(1)?,
                            operator_id: r.try_get(2)?,
                            subject: r.try_get(3)?,
                            count: r.try_get(4)?,
                            distinct: r.try_get(5)?,
                            first_at: r.try_get(6)?,
                            last_at: r.try_get(7)?,
                        })
                    })
                    .collect()
            }

            pub async fn signal_event_ids(
                &self,
                kind: &super::signal_queries::SignalSql,
                from: &str,
                to: &str,
                group: &super::signal_queries::SignalGroup,
            ) -> Result<Vec<String>, StoreError> {
                let mut qb: QueryBuilder<$db> = QueryBuilder::new("SELECT id FROM audit_events WHERE at >= ");
                qb.push_bind(from.to_owned()).push(" AND at < ").push_bind(to.to_owned());
                kind.push_condition(&mut qb);
                for (column, value) in [
                    ("client_id", &group.client_id),
                    ("center_id", &group.center_id),
                    ("operator_id", &group.operator_id),
                    ("subject", &group.subject),
                ] {
                    if kind.group_columns().contains(&column) {
                        match value {
                            Some(v) => qb.push(format!(" AND {column} = ")).push_bind(v.clone()),
                            None => qb.push(format!(" AND {column} IS NULL")),
                        };
                    }
                }
                qb.push(" ORDER BY seq LIMIT ").push_bind(super::signal_queries::MAX_EVENT_IDS);
                let rows = qb.build().fetch_all(&self.pool).await?;
                rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
            }
        }
    };
}

pub(super) use signal_queries;

impl Store {
    /// Groups of events in `[from, to)` meeting `kind`, with at least `min`
    /// distinct events (or subjects, or centers), the largest first, at most `limit`.
    pub async fn signal_groups(
        &self,
        kind: &SignalSql,
        from: &str,
        to: &str,
        min: i64,
        limit: i64,
    ) -> Result<Vec<SignalGroup>, StoreError> {
        match self {
            Store::Sqlite(s) => s.signal_groups(kind, from, to, min, limit).await,
            Store::Postgres(s) => s.signal_groups(kind, from, to, min, limit).await,
        }
    }

    /// The first event ids (chain order) of one group, at most 100.
    pub async fn signal_event_ids(
        &self,
        kind: &SignalSql,
        from: &str,
        to: &str,
        group: &SignalGroup,
    ) -> Result<Vec<String>, StoreError> {
        match self {
            Store::Sqlite(s) => s.signal_event_ids(kind, from, to, group).await,
            Store::Postgres(s) => s.signal_event_ids(kind, from, to, group).await,
        }
    }
}
