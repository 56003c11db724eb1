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

    /// The position in [`GROUP_KEY`] of the group column whose values
    /// narrow a read of the groups' events the most.
    pub(super) fn narrowing_column(&self) -> usize {
        match self {
            SignalSql::ClaimGuessing | SignalSql::ManyCenters => 3,
            _ => 2,
        }
    }

    /// [`GROUP_KEY`] as a select list: the kind's group columns, NULL for the others.
    pub(super) fn group_select(&self) -> Vec<String> {
        let columns = self.group_columns();
        GROUP_KEY
            .iter()
            .map(|c| if columns.contains(c) { c.to_string() } else { format!("CAST(NULL AS TEXT) AS {c}") })
            .collect()
    }

    /// What `distinct` counts: distinct subjects or centers, or calls
    /// (each event is distinct).
    pub(super) fn distinct(&self) -> &'static str {
        match self {
            SignalSql::ManySubjects => "COUNT(DISTINCT subject)",
            SignalSql::ManyCenters => "COUNT(DISTINCT center_id)",
            _ => "COUNT(*)",
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
                // As an expression: through the client index SQLite would
                // read every event of these clients over the whole log.
                qb.push(format!(" AND {DATA_ACTIONS} AND {DATA_OUTCOMES} AND (client_id || '') IN ("));
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

/// The columns a group is told by, in [`SignalGroup`]'s order.
pub(super) const GROUP_KEY: [&str; 4] = ["client_id", "center_id", "operator_id", "subject"];

/// A group's values of [`GROUP_KEY`].
pub(super) fn group_key(g: &SignalGroup) -> [Option<&String>; 4] {
    [g.client_id.as_ref(), g.center_id.as_ref(), g.operator_id.as_ref(), g.subject.as_ref()]
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
                let select = kind.group_select();
                let distinct = kind.distinct();
                let mut qb: QueryBuilder<$db> = QueryBuilder::new(format!(
                    "SELECT {}, COUNT(*), {distinct}, MIN(at), MAX(at) FROM audit_events \
                     WHERE at >= ",
                    select.join(", ")
                ));
                qb.push_bind(from.to_owned()).push(" AND at < ").push_bind(to.to_owned());
                kind.push_condition(&mut qb);
                qb.push(format!(" GROUP BY {} HAVING {distinct} >= ", columns.join(", ")));
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
                groups: &[super::signal_queries::SignalGroup],
            ) -> Result<Vec<Vec<String>>, StoreError> {
                use super::signal_queries::{GROUP_KEY, MAX_EVENT_IDS, group_key};
                if groups.is_empty() {
                    return Ok(Vec::new());
                }
                // One scan of the window through the time index for all the
                // groups: the first ids of each group by a window function,
                // narrowed to the groups' values of the most telling column,
                // written as an expression so that no other index is chosen
                // (a per-group read through the operator's or client's index
                // walks their whole history before the window).
                let mut qb: QueryBuilder<$db> = QueryBuilder::new(format!(
                    "SELECT {}, id FROM (SELECT {}, id, ROW_NUMBER() OVER (PARTITION BY {} ORDER BY seq) AS rn \
                     FROM audit_events WHERE at >= ",
                    GROUP_KEY.join(", "),
                    kind.group_select().join(", "),
                    kind.group_columns().join(", ")
                ));
                qb.push_bind(from.to_owned()).push(" AND at < ").push_bind(to.to_owned());
                kind.push_condition(&mut qb);
                let index = kind.narrowing_column();
                let narrow = GROUP_KEY[index];
                let mut values: Vec<&String> = groups.iter().filter_map(|g| group_key(g)[index]).collect();
                values.sort_unstable();
                values.dedup();
                qb.push(" AND (");
                let listed = !values.is_empty();
                if listed {
                    qb.push(format!("({narrow} || '') IN ("));
                    let mut list = qb.separated(", ");
                    for v in values {
                        list.push_bind(v.clone());
                    }
                    qb.push(")");
                }
                if groups.iter().any(|g| group_key(g)[index].is_none()) {
                    qb.push(if listed { " OR " } else { "" });
                    qb.push(format!("{narrow} IS NULL"));
                }
                qb.push(")) AS e WHERE rn <= ").push_bind(MAX_EVENT_IDS).push(" ORDER BY rn");
                let wanted: std::collections::HashMap<[Option<&String>; 4], usize> =
                    groups.iter().enumerate().map(|(i, g)| (group_key(g), i)).collect();
                let mut ids = vec![Vec::new(); groups.len()];
                for r in qb.build().fetch_all(&self.pool).await? {
                    let key: [Option<String>; 4] = [r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?];
                    if let Some(&i) = wanted.get(&[key[0].as_ref(), key[1].as_ref(), key[2].as_ref(), key[3].as_ref()])
                    {
                        ids[i].push(r.try_get(4)?);
                    }
                }
                Ok(ids)
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

    /// The first event ids (chain order) of each group, at most 100 each,
    /// in the order of `groups`.
    pub async fn signal_event_ids(
        &self,
        kind: &SignalSql,
        from: &str,
        to: &str,
        groups: &[SignalGroup],
    ) -> Result<Vec<Vec<String>>, StoreError> {
        match self {
            Store::Sqlite(s) => s.signal_event_ids(kind, from, to, groups).await,
            Store::Postgres(s) => s.signal_event_ids(kind, from, to, groups).await,
        }
    }
}
