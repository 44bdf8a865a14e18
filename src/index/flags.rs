//! The SQL of feature flag rules (docs/operations.md, "Feature flags"),
//! shared by SQLite and Postgres: [`flags_sql!`] implements
//! [`FlagStore`](reel_actors::flags::FlagStore) for an index struct. It is
//! expanded after `sql_index!` in the same module, whose `db_err` and
//! `probe` it uses. The struct has a `flags` probe: the table comes with
//! a migration (SQLite 0013, Postgres 0026), and until it ran every flag
//! reads as its default and writes fail.

macro_rules! flags_sql {
    ($name:ident, $db:ty, $row:ty) => {
mod flags_impl {
use async_trait::async_trait;
use reel_actors::flags::FlagStore;
use reel_actors::traits::{StoreError, StoreResult};
use reel_protocol::flags::{Flag, FlagRule, FlagRuleRecord, FlagScope};

use super::$name;
use super::db_err;

impl $name {
    /// Does `flag_rules` exist yet? (See [`crate::index::ColumnProbe`].)
    async fn has_flags(&self) -> StoreResult<bool> {
        self.probe(&self.flags, "SELECT flag FROM flag_rules WHERE 1 = 0").await
    }

    async fn need_flags(&self) -> StoreResult<()> {
        if self.has_flags().await? {
            Ok(())
        } else {
            Err(StoreError::Other(
                "the index has no flag_rules table yet: run `reel migrate`".into(),
            ))
        }
    }
}

#[async_trait]
impl FlagStore for $name {
    async fn flag_rules(&self) -> StoreResult<Vec<FlagRuleRecord>> {
        if !self.has_flags().await? {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, String, i64, String, i64)> = sqlx::query_as(
            "SELECT flag, scope, scope_id, rule, updated_at FROM flag_rules \
             ORDER BY flag, scope, scope_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .filter_map(|(flag, scope, id, rule, at)| {
                let read = FlagRuleRecord::from_row(&flag, &scope, id, &rule, at);
                if read.is_none() {
                    tracing::debug!(flag, scope, scope_id = id, rule, "flag rule of a newer version ignored");
                }
                read
            })
            .collect())
    }

    async fn set_flag_rule(
        &self,
        flag: Flag,
        scope: FlagScope,
        rule: FlagRule,
        now: i64,
    ) -> StoreResult<()> {
        self.need_flags().await?;
        sqlx::query(
            "INSERT INTO flag_rules (flag, scope, scope_id, rule, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (flag, scope, scope_id) DO UPDATE SET rule = excluded.rule, updated_at = excluded.updated_at",
        )
        .bind(flag.name())
        .bind(scope.kind())
        .bind(scope.id())
        .bind(rule.as_text())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn clear_flag_rule(&self, flag: Flag, scope: FlagScope) -> StoreResult<bool> {
        self.need_flags().await?;
        let done = sqlx::query(
            "DELETE FROM flag_rules WHERE flag = $1 AND scope = $2 AND scope_id = $3",
        )
        .bind(flag.name())
        .bind(scope.kind())
        .bind(scope.id())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn session_owner(&self, session_id: &str) -> StoreResult<Option<(i64, i64)>> {
        sqlx::query_as(
            "SELECT sites.org_id, s.site_id FROM sessions s JOIN sites ON sites.id = s.site_id \
             WHERE s.id = $1",
        )
        .bind(session_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn scope_exists(&self, scope: FlagScope) -> StoreResult<bool> {
        let sql = match scope {
            FlagScope::Global => return Ok(true),
            FlagScope::Org(_) => "SELECT id FROM organizations WHERE id = $1",
            FlagScope::Site(_) => "SELECT id FROM sites WHERE id = $1",
        };
        let found: Option<i64> = sqlx::query_scalar(sql)
            .bind(scope.id())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(found.is_some())
    }
}
}
    };
}

pub(crate) use flags_sql;
