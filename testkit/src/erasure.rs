//! Whether a text is still anywhere in a database: every column of every table, read as
//! text (JSON included), on Postgres and on SQLite. What an erasure test asks after the fact.

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};

/// The tables (`table.column` on SQLite, `table` on Postgres) holding `text` somewhere.
pub async fn tables_holding(db: &DatabaseConnection, text: &str) -> Vec<String> {
    let backend = db.get_database_backend();
    let like = format!("%{}%", text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    let mut found = Vec::new();
    match backend {
        DatabaseBackend::Postgres => {
            let tables =
                strings(db, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'").await;
            for table in tables {
                let sql = format!(r#"SELECT count(*) AS n FROM "{table}" AS t WHERE t::text LIKE $1"#);
                if count(db, Statement::from_sql_and_values(backend, sql, [like.clone().into()])).await > 0 {
                    found.push(table);
                }
            }
        }
        _ => {
            let tables = strings(db, "SELECT name FROM sqlite_master WHERE type = 'table'").await;
            for table in tables {
                let columns = strings(db, &format!("SELECT name FROM pragma_table_info('{table}')")).await;
                for column in columns {
                    let sql = format!(
                        r#"SELECT count(*) AS n FROM "{table}" WHERE CAST("{column}" AS TEXT) LIKE ? ESCAPE '\'"#
                    );
                    if count(db, Statement::from_sql_and_values(backend, sql, [like.clone().into()])).await > 0 {
                        found.push(format!("{table}.{column}"));
                    }
                }
            }
        }
    }
    found
}

async fn strings(db: &DatabaseConnection, sql: &str) -> Vec<String> {
    let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
    rows.iter().map(|row| row.try_get_by_index::<String>(0).unwrap()).collect()
}

async fn count(db: &DatabaseConnection, statement: Statement) -> i64 {
    let row = db.query_one_raw(statement).await.unwrap().unwrap();
    row.try_get::<i64>("", "n").unwrap()
}
