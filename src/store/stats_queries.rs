//! The audit log's statistics (CONTRACT §13): events counted per group,
//! outcome, cache use and duration, in one scan of the filtered window; the
//! rows are folded in [`crate::audit::stats`]. Group expressions are
//! constants of [`GroupBy`]; every value is bound.

use super::{Store, StoreError};
use crate::audit::AuditFilter;
use crate::audit::stats::{GroupBy, StatsCell};

pub(super) fn stats_sql_head(group_by: &[GroupBy]) -> (String, String) {
    let keys: Vec<&str> = group_by.iter().map(|g| g.sql()).collect();
    let mut select = String::from("SELECT ");
    for k in &keys {
        select.push_str(&format!("{k}, "));
    }
    select.push_str("outcome, cache, duration_ms, COUNT(*) FROM audit_events WHERE 1=1");
    let mut group = String::from(" GROUP BY ");
    for k in &keys {
        group.push_str(&format!("{k}, "));
    }
    group.push_str("outcome, cache, duration_ms");
    (select, group)
}

/// Uses the `push_filter` of `shared_queries!` (invoke after it).
macro_rules! stats_queries {
    ($store:ty, $db:ty) => {
        impl $store {
            pub async fn audit_stats(
                &self,
                group_by: &[crate::audit::stats::GroupBy],
                filter: &AuditFilter,
            ) -> Result<Vec<crate::audit::stats::StatsCell>, StoreError> {
                let (select, group) = super::stats_queries::stats_sql_head(group_by);
                let mut qb: QueryBuilder<$db> = QueryBuilder::new(select);
                push_filter(&mut qb, filter);
                qb.push(group);
                let rows = qb.build().fetch_all(&self.pool).await?;
                let n = group_by.len();
                rows.iter()
                    .map(|r| {
                        Ok(crate::audit::stats::StatsCell {
                            keys: (0..n).map(|i| r.try_get(i)).collect::<Result<_, _>>()?,
                            outcome: r.try_get(n)?,
                            cache: r.try_get(n + 1)?,
                            duration_ms: r.try_get(n + 2)?,
                            count: r.try_get(n + 3)?,
                        })
                    })
                    .collect()
            }
        }
    };
}

pub(super) use stats_queries;

impl Store {
    /// The events matching `filter`, counted per group of `group_by`,
    /// outcome, cache use and duration.
    pub async fn audit_stats(&self, group_by: &[GroupBy], filter: &AuditFilter) -> Result<Vec<StatsCell>, StoreError> {
        match self {
            Store::Sqlite(s) => s.audit_stats(group_by, filter).await,
            Store::Postgres(s) => s.audit_stats(group_by, filter).await,
        }
    }
}
