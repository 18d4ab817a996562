//! `import-users`: copies the original Flask service's `user` table (id, username, email,
//! password, created_at) into ours. Passwords stay the bcrypt hashes they were (they verify,
//! and are upgraded at the next login). Rows already present, by username or email, are
//! skipped, so running it twice is harmless.

use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, QueryResult, Statement, sea_query::OnConflict};
use shared::{
    config::DatabaseUrl,
    entities::users::{self, Entity as User},
    username_key::UsernameKey,
};
use uuid::Uuid;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub read: usize,
    pub imported: usize,
    pub skipped: usize,
}

pub async fn import_users(target: &DatabaseConnection, from: &str) -> anyhow::Result<ImportReport> {
    let url: DatabaseUrl = from.parse().map_err(|e| anyhow::anyhow!("--from: {e}"))?;
    let source = shared::db::connect_url(&url, 2).await.map_err(|e| anyhow::anyhow!("--from: cannot connect: {e}"))?;
    let rows = source
        .query_all_raw(Statement::from_string(
            source.get_database_backend(),
            r#"SELECT id, username, email, password, created_at FROM "user" ORDER BY id"#,
        ))
        .await?;
    let mut report = ImportReport { read: rows.len(), ..Default::default() };
    for batch in rows.chunks(BATCH_ROWS) {
        let users =
            batch.iter().map(|row| legacy_user(row).map(users::ActiveModel::from)).collect::<Result<Vec<_>, _>>()?;
        // One statement per batch; a row that conflicts (by id, username or email) is left out
        // of the count of inserted rows, and so counted as skipped.
        let inserted = User::insert_many(users)
            .on_conflict(OnConflict::new().do_nothing().to_owned())
            .exec_without_returning(target)
            .await?;
        let inserted = usize::try_from(inserted).unwrap_or(batch.len()).min(batch.len());
        report.imported += inserted;
        report.skipped += batch.len() - inserted;
    }
    Ok(report)
}

/// Rows per INSERT: 8 columns each stays far below the bind-parameter limits of SQLite (32,766)
/// and Postgres (65,535), and a round trip per row (47 s for 10,000 users) becomes one per 500.
const BATCH_ROWS: usize = 500;

/// A legacy row as one of ours. A UUID id is kept; an integer id (the Flask default) cannot
/// be, so the user gets a new one.
fn legacy_user(row: &QueryResult) -> anyhow::Result<users::Model> {
    let id = row
        .try_get::<Uuid>("", "id")
        .ok()
        .or_else(|| row.try_get::<String>("", "id").ok().and_then(|s| Uuid::parse_str(&s).ok()))
        .unwrap_or_else(Uuid::new_v4);
    let username: String = row.try_get("", "username")?;
    let email: String = row.try_get("", "email")?;
    let created_at = row
        .try_get::<DateTime<Utc>>("", "created_at")
        .or_else(|_| row.try_get::<NaiveDateTime>("", "created_at").map(|naive| naive.and_utc()))
        .unwrap_or_else(|_| Utc::now());
    Ok(users::Model {
        id,
        username_key: UsernameKey::fold(&username),
        username,
        email_key: email.to_lowercase(),
        email,
        password_hash: row.try_get("", "password")?,
        fcm_token: None,
        created_at,
        deleted_at: None,
    })
}
