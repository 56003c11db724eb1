//! The audit log's statistics (CONTRACT §13): events counted per group,
//! outcome, cache use and duration bucket, from the summary for whole days
//! and from the events otherwise (see [`super::audit_summary::plan`]); the
//! rows are folded in [`crate::audit::stats`]. Group expressions are
//! constants; every value is bound.

use super::audit_summary::Source;
use super::{Store, StoreError};
use crate::audit::AuditFilter;
use crate::audit::stats::{GroupBy, StatsCell};

/// Uses the `push_filter` of `shared_queries!` (invoke after it).
macro_rules! stats_queries {
    ($store:ty, $db:ty) => {
        impl $store {
            /// The cells of one part of a read.
            pub(super) async fn audit_stats_part(
                &self,
                group_by: &[crate::audit::stats::GroupBy],
                source: &super::audit_summary::Source,
            ) -> Result<Vec<crate::audit::stats::StatsCell>, StoreError> {
                let mut qb: QueryBuilder<$db>;
                let group = match source {
                    super::audit_summary::Source::Events(filter) | super::audit_summary::Source::Window(filter) => {
                        let columns = match source {
                            super::audit_summary::Source::Window(_) => super::queries::Columns::Unindexed,
                            _ => super::queries::Columns::Indexed,
                        };
                        let (select, group) = super::audit_summary::events_sql(group_by);
                        qb = QueryBuilder::new(select);
                        push_filter_as(&mut qb, filter, columns);
                        group
                    }
                    super::audit_summary::Source::Summary { from_day, to_day, filter } => {
                        let (select, group) = super::audit_summary::summary_sql(group_by);
                        qb = QueryBuilder::new(select);
                        // The summary's columns are the events' (subject aside, never asked of it).
                        let equalities = AuditFilter { from: None, to: None, ..filter.clone() };
                        push_filter(&mut qb, &equalities);
                        qb.push(" AND day >= ").push_bind(from_day.clone());
                        qb.push(" AND day < ").push_bind(to_day.clone());
                        group
                    }
                };
                qb.push(group);
                let rows = qb.build().fetch_all(&self.pool).await?;
                let n = group_by.len();
                rows.iter()
                    .map(|r| {
                        super::audit_summary::cell(n, |i| r.try_get(i), |i| r.try_get(i), |i| r.try_get(i))
                            .map_err(StoreError::from)
                    })
                    .collect()
            }
        }
    };
}

pub(super) use stats_queries;

impl Store {
    /// The events matching `filter`, counted per group of `group_by`,
    /// outcome, cache use and duration bucket: whole UTC days from the
    /// summary, the rest from the events.
    pub async fn audit_stats(&self, group_by: &[GroupBy], filter: &AuditFilter) -> Result<Vec<StatsCell>, StoreError> {
        let mut cells = Vec::new();
        for source in super::audit_summary::plan(filter) {
            cells.extend(self.audit_stats_part(group_by, &source).await?);
        }
        Ok(cells)
    }

    /// The same counts from the events alone (what the summary must agree with).
    pub async fn audit_stats_from_events(
        &self,
        group_by: &[GroupBy],
        filter: &AuditFilter,
    ) -> Result<Vec<StatsCell>, StoreError> {
        self.audit_stats_part(group_by, &Source::Events(filter.clone())).await
    }

    async fn audit_stats_part(&self, group_by: &[GroupBy], source: &Source) -> Result<Vec<StatsCell>, StoreError> {
        match self {
            Store::Sqlite(s) => s.audit_stats_part(group_by, source).await,
            Store::Postgres(s) => s.audit_stats_part(group_by, source).await,
        }
    }
}
