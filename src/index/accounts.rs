//! The SQL of accounts (PROTOCOL.md §5), shared by SQLite and Postgres:
//! [`accounts_sql!`] implements [`crate::accounts::AccountStore`] for an
//! index struct. It is expanded after [`super::sql::sql_index!`] in the
//! same module, whose imports (`sqlx::Row`, `QueryBuilder`) and `db_err`
//! it uses.

/// Site lists of memberships and invitations: a JSON array, `NULL` for
/// every site.
pub fn sites_json(sites: Option<&[i64]>) -> Option<String> {
    sites.map(|s| serde_json::Value::from(s.to_vec()).to_string())
}

/// Reads a stored site list; unreadable text limits to no site (never to
/// every site).
pub fn parse_sites(text: Option<String>) -> Option<Vec<i64>> {
    text.map(|t| serde_json::from_str(&t).unwrap_or_default())
}

/// Reads a stored role; an unknown name is the least one, `viewer`, and
/// logged.
pub fn parse_role(name: &str) -> reel_protocol::accounts::Role {
    reel_protocol::accounts::Role::parse(name).unwrap_or_else(|| {
        tracing::warn!(role = name, "unknown role stored: read as viewer");
        reel_protocol::accounts::Role::Viewer
    })
}

macro_rules! accounts_sql {
    ($name:ident, $db:ty, $row:ty) => {
mod accounts_impl {
use reel_actors::traits::StoreResult;
use reel_protocol::accounts::{AuditEntry, Invitation, Member, OrgInfo, Role, TokenInfo};
use sqlx::{QueryBuilder, Row};

use super::$name;
use super::db_err;
use crate::accounts::store::{
    Access, AccountStore, InvitationRecord, InvitationRefusal, LoginRecord, NewAudit,
    TokenLookup, TokenRecord, UserRecord,
};
use crate::index::accounts::{parse_role, parse_sites, sites_json};

fn access_from_row(r: &$row) -> Result<Access, sqlx::Error> {
    Ok(Access {
        org: OrgInfo {
            id: r.try_get("org_id")?,
            name: r.try_get("org_name")?,
        },
        role: parse_role(&r.try_get::<String, _>("role")?),
        sites: parse_sites(r.try_get("sites")?),
    })
}

#[async_trait::async_trait]
impl AccountStore for $name {
    async fn org_by_name(&self, name: &str) -> StoreResult<i64> {
        self.org_id(name)
            .await
            .map_err(|e| reel_actors::traits::StoreError::Other(crate::secrets::redact(&e.to_string())))
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(
            "SELECT u.id, u.email, u.name, u.password_hash, \
             (SELECT m.org_id FROM memberships m WHERE m.user_id = u.id \
              ORDER BY m.created_at, m.org_id LIMIT 1) AS org_id \
             FROM users u WHERE lower(u.email) = lower($1)",
        )
        .bind(email)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.map(|r| -> Result<UserRecord, sqlx::Error> {
            Ok(UserRecord {
                id: r.try_get("id")?,
                email: r.try_get("email")?,
                name: r.try_get("name")?,
                password_hash: r.try_get("password_hash")?,
                org_id: r.try_get("org_id")?,
            })
        })
        .transpose()
        .map_err(db_err)
    }

    async fn create_user(
        &self,
        org_id: i64,
        email: &str,
        name: &str,
        password_hash: &str,
        role: Role,
        sites: Option<&[i64]>,
    ) -> StoreResult<Option<i64>> {
        let now = reel_actors::now_ms();
        let mut tx = self.pool
            .begin_with(<$db as crate::index::WriteTx>::BEGIN)
            .await.map_err(db_err)?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO users (org_id, email, name, role, created_at, password_hash) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(org_id)
        .bind(email.to_lowercase())
        .bind(name)
        .bind(role.as_str())
        .bind(now)
        .bind(password_hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(id) = id else { return Ok(None) };
        sqlx::query(
            "INSERT INTO memberships (user_id, org_id, role, sites, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(org_id)
        .bind(role.as_str())
        .bind(sites_json(sites))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(Some(id))
    }

    async fn set_password(&self, email: &str, password_hash: &str) -> StoreResult<bool> {
        let n = sqlx::query("UPDATE users SET password_hash = $1 WHERE lower(email) = lower($2)")
            .bind(password_hash)
            .bind(email)
            .execute(&self.pool)
            .await
            .map_err(db_err)?
            .rows_affected();
        Ok(n == 1)
    }

    async fn access(&self, user_id: i64, org_id: i64) -> StoreResult<Option<Access>> {
        let row = sqlx::query(
            "SELECT m.role, m.sites, o.id AS org_id, o.name AS org_name FROM memberships m \
             JOIN organizations o ON o.id = m.org_id WHERE m.user_id = $1 AND m.org_id = $2",
        )
        .bind(user_id)
        .bind(org_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.map(|r| access_from_row(&r)).transpose().map_err(db_err)
    }

    async fn members(&self, org_id: i64) -> StoreResult<Vec<Member>> {
        let rows = sqlx::query(
            "SELECT u.id, u.email, u.name, m.role, m.sites, m.created_at FROM memberships m \
             JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY u.id",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| -> Result<Member, sqlx::Error> {
                Ok(Member {
                    user_id: r.try_get("id")?,
                    email: r.try_get("email")?,
                    name: r.try_get("name")?,
                    role: parse_role(&r.try_get::<String, _>("role")?),
                    sites: parse_sites(r.try_get("sites")?),
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect::<Result<_, _>>()
            .map_err(db_err)
    }

    async fn update_member(
        &self,
        org_id: i64,
        user_id: i64,
        role: Role,
        sites: Option<&[i64]>,
    ) -> StoreResult<bool> {
        let n = sqlx::query(
            "UPDATE memberships SET role = $1, sites = $2 WHERE org_id = $3 AND user_id = $4",
        )
        .bind(role.as_str())
        .bind(sites_json(sites))
        .bind(org_id)
        .bind(user_id)
        .execute(&self.pool)
        .await
        .map_err(db_err)?
        .rows_affected();
        Ok(n == 1)
    }

    async fn remove_member(&self, org_id: i64, user_id: i64, now: i64) -> StoreResult<bool> {
        let mut tx = self.pool
            .begin_with(<$db as crate::index::WriteTx>::BEGIN)
            .await.map_err(db_err)?;
        let n = sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        sqlx::query(
            "UPDATE login_sessions SET revoked_at = $1 \
             WHERE user_id = $2 AND org_id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(user_id)
        .bind(org_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(n == 1)
    }

    async fn create_login(
        &self,
        id_hash: &str,
        user_id: i64,
        org_id: i64,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO login_sessions (id_hash, user_id, org_id, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(id_hash)
        .bind(user_id)
        .bind(org_id)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(db_err)
    }

    async fn login(
        &self,
        id_hash: &str,
        now: i64,
        idle_ms: i64,
        touch_ms: i64,
    ) -> StoreResult<Option<LoginRecord>> {
        let row = sqlx::query(
            "SELECT l.user_id, l.last_seen_at, u.email, u.name, m.role, m.sites, \
             o.id AS org_id, o.name AS org_name \
             FROM login_sessions l JOIN users u ON u.id = l.user_id \
             JOIN memberships m ON m.user_id = l.user_id AND m.org_id = l.org_id \
             JOIN organizations o ON o.id = l.org_id \
             WHERE l.id_hash = $1 AND l.revoked_at IS NULL AND l.expires_at > $2 \
             AND l.last_seen_at > $3",
        )
        .bind(id_hash)
        .bind(now)
        .bind(now.saturating_sub(idle_ms))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some(r) = row else { return Ok(None) };
        let last_seen: i64 = r.try_get("last_seen_at").map_err(db_err)?;
        let login = LoginRecord {
            user_id: r.try_get("user_id").map_err(db_err)?,
            email: r.try_get("email").map_err(db_err)?,
            name: r.try_get("name").map_err(db_err)?,
            access: access_from_row(&r).map_err(db_err)?,
        };
        if last_seen < now.saturating_sub(touch_ms) {
            sqlx::query("UPDATE login_sessions SET last_seen_at = $1 WHERE id_hash = $2")
                .bind(now)
                .bind(id_hash)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
        }
        Ok(Some(login))
    }

    async fn revoke_login(&self, id_hash: &str, now: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE login_sessions SET revoked_at = $1 WHERE id_hash = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id_hash)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(db_err)
    }

    async fn create_token(
        &self,
        org_id: i64,
        name: &str,
        role: Role,
        token_hash: &str,
        now: i64,
        expires_at: Option<i64>,
    ) -> StoreResult<i64> {
        sqlx::query_scalar(
            "INSERT INTO api_tokens (org_id, name, role, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(org_id)
        .bind(name)
        .bind(role.as_str())
        .bind(token_hash)
        .bind(now)
        .bind(expires_at)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn token_by_hash(&self, hash: &str, now: i64) -> StoreResult<TokenLookup> {
        let row = sqlx::query(
            "SELECT t.id, t.name, t.role, t.expires_at, o.id AS org_id, o.name AS org_name \
             FROM api_tokens t JOIN organizations o ON o.id = t.org_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some(r) = row else {
            return Ok(TokenLookup::Unknown);
        };
        let expires_at: Option<i64> = r.try_get("expires_at").map_err(db_err)?;
        if expires_at.is_some_and(|at| at <= now) {
            return Ok(TokenLookup::Expired);
        }
        Ok(TokenLookup::Valid(TokenRecord {
            id: r.try_get("id").map_err(db_err)?,
            name: r.try_get("name").map_err(db_err)?,
            access: Access {
                org: OrgInfo {
                    id: r.try_get("org_id").map_err(db_err)?,
                    name: r.try_get("org_name").map_err(db_err)?,
                },
                role: parse_role(&r.try_get::<String, _>("role").map_err(db_err)?),
                sites: None,
            },
        }))
    }

    async fn tokens(&self, org_id: Option<i64>) -> StoreResult<Vec<TokenInfo>> {
        let mut q: QueryBuilder<$db> = QueryBuilder::new(
            "SELECT id, name, role, created_at, expires_at, revoked_at FROM api_tokens WHERE 1 = 1",
        );
        if let Some(org) = org_id {
            q.push(" AND org_id = ").push_bind(org);
        }
        q.push(" ORDER BY id DESC");
        let rows = q.build().fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter()
            .map(|r| -> Result<TokenInfo, sqlx::Error> {
                Ok(TokenInfo {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    role: parse_role(&r.try_get::<String, _>("role")?),
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect::<Result<_, _>>()
            .map_err(db_err)
    }

    async fn revoke_token(&self, org_id: Option<i64>, id: i64, now: i64) -> StoreResult<bool> {
        let mut q: QueryBuilder<$db> = QueryBuilder::new("UPDATE api_tokens SET revoked_at = ");
        q.push_bind(now)
            .push(" WHERE revoked_at IS NULL AND id = ")
            .push_bind(id);
        if let Some(org) = org_id {
            q.push(" AND org_id = ").push_bind(org);
        }
        let n = q
            .build()
            .execute(&self.pool)
            .await
            .map_err(db_err)?
            .rows_affected();
        Ok(n == 1)
    }

    async fn create_invitation(
        &self,
        org_id: i64,
        email: &str,
        role: Role,
        sites: Option<&[i64]>,
        code_hash: &str,
        created_by: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<i64> {
        sqlx::query_scalar(
            "INSERT INTO invitations (org_id, email, role, sites, code_hash, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(org_id)
        .bind(email.to_lowercase())
        .bind(role.as_str())
        .bind(sites_json(sites))
        .bind(code_hash)
        .bind(created_by)
        .bind(now)
        .bind(expires_at)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn invitations(&self, org_id: i64) -> StoreResult<Vec<Invitation>> {
        let rows = sqlx::query(
            "SELECT id, email, role, sites, created_at, expires_at, used_at, revoked_at \
             FROM invitations WHERE org_id = $1 ORDER BY id DESC",
        )
        .bind(org_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| -> Result<Invitation, sqlx::Error> {
                Ok(Invitation {
                    id: r.try_get("id")?,
                    email: r.try_get("email")?,
                    role: parse_role(&r.try_get::<String, _>("role")?),
                    sites: parse_sites(r.try_get("sites")?),
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                    used_at: r.try_get("used_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect::<Result<_, _>>()
            .map_err(db_err)
    }

    async fn revoke_invitation(&self, org_id: i64, id: i64, now: i64) -> StoreResult<bool> {
        let n = sqlx::query(
            "UPDATE invitations SET revoked_at = $1 \
             WHERE org_id = $2 AND id = $3 AND revoked_at IS NULL AND used_at IS NULL",
        )
        .bind(now)
        .bind(org_id)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db_err)?
        .rows_affected();
        Ok(n == 1)
    }

    async fn accept_invitation(
        &self,
        code_hash: &str,
        name: &str,
        password_hash: &str,
        now: i64,
    ) -> StoreResult<Result<(InvitationRecord, i64), InvitationRefusal>> {
        let mut tx = self.pool
            .begin_with(<$db as crate::index::WriteTx>::BEGIN)
            .await.map_err(db_err)?;
        let row = sqlx::query(
            "SELECT id, org_id, email, role, sites, expires_at, used_at, revoked_at \
             FROM invitations WHERE code_hash = $1",
        )
        .bind(code_hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(r) = row else {
            return Ok(Err(InvitationRefusal::Unknown));
        };
        let get = |c: &str| r.try_get::<Option<i64>, _>(c).map_err(db_err);
        if get("revoked_at")?.is_some() {
            return Ok(Err(InvitationRefusal::Revoked));
        }
        if get("used_at")?.is_some() {
            return Ok(Err(InvitationRefusal::Used));
        }
        if get("expires_at")?.is_some_and(|at| at <= now) {
            return Ok(Err(InvitationRefusal::Expired));
        }
        let inv = InvitationRecord {
            id: r.try_get("id").map_err(db_err)?,
            org_id: r.try_get("org_id").map_err(db_err)?,
            email: r.try_get("email").map_err(db_err)?,
            role: parse_role(&r.try_get::<String, _>("role").map_err(db_err)?),
            sites: parse_sites(r.try_get("sites").map_err(db_err)?),
        };
        let used = sqlx::query(
            "UPDATE invitations SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(inv.id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        if used != 1 {
            return Ok(Err(InvitationRefusal::Used));
        }
        let existing: Option<(i64, i64)> = sqlx::query_as(
            "SELECT u.id, (SELECT COUNT(*) FROM memberships m WHERE m.user_id = u.id) \
             FROM users u WHERE lower(u.email) = lower($1)",
        )
        .bind(&inv.email)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let user_id = match existing {
            Some((_, memberships)) if memberships > 0 => {
                return Ok(Err(InvitationRefusal::AccountExists));
            }
            Some((id, _)) => {
                sqlx::query(
                    "UPDATE users SET name = $1, password_hash = $2, org_id = $3, role = $4 WHERE id = $5",
                )
                .bind(name)
                .bind(password_hash)
                .bind(inv.org_id)
                .bind(inv.role.as_str())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                id
            }
            None => sqlx::query_scalar(
                "INSERT INTO users (org_id, email, name, role, created_at, password_hash) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(inv.org_id)
            .bind(inv.email.to_lowercase())
            .bind(name)
            .bind(inv.role.as_str())
            .bind(now)
            .bind(password_hash)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?,
        };
        sqlx::query(
            "INSERT INTO memberships (user_id, org_id, role, sites, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(user_id)
        .bind(inv.org_id)
        .bind(inv.role.as_str())
        .bind(sites_json(inv.sites.as_deref()))
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(Ok((inv, user_id)))
    }

    async fn audit(&self, e: &NewAudit, now: i64) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, org_id, actor, ip, action, target) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(now)
        .bind(e.org_id)
        .bind(&e.actor)
        .bind(&e.ip)
        .bind(e.action)
        .bind(&e.target)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(db_err)
    }

    async fn audit_once(&self, e: &NewAudit, now: i64, since: i64) -> StoreResult<()> {
        let seen: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM audit_log WHERE target = $1 AND action = $2 AND at >= $3 \
             AND actor = $4 AND org_id = $5 LIMIT 1",
        )
        .bind(&e.target)
        .bind(e.action)
        .bind(since)
        .bind(&e.actor)
        .bind(e.org_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        if seen.is_some() {
            return Ok(());
        }
        self.audit(e, now).await
    }

    async fn audit_page(
        &self,
        org_id: i64,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<(i64, AuditEntry)>> {
        let rows = sqlx::query(
            "SELECT id, at, actor, ip, action, target FROM audit_log \
             WHERE org_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(org_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| -> Result<(i64, AuditEntry), sqlx::Error> {
                Ok((
                    r.try_get("id")?,
                    AuditEntry {
                        at: r.try_get("at")?,
                        actor: r.try_get("actor")?,
                        ip: r.try_get("ip")?,
                        action: r.try_get("action")?,
                        target: r.try_get("target")?,
                    },
                ))
            })
            .collect::<Result<_, _>>()
            .map_err(db_err)
    }
}
}
    };
}

pub(crate) use accounts_sql;
