use std::collections::{HashMap, HashSet};

use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde_json::json;

use crate::helpers::{Backend, spawn};

async fn paging_through_thousands_misses_and_repeats_no_one_despite_inserts(backend: Backend) {
    let suite = spawn(backend).await;
    let (token, _) = suite.register("pager").await;
    let names: Vec<String> = (0..3000).map(|i| format!("user{:05}x{}", (i * 7919) % 10007, i % 7)).collect();
    let seeded: HashMap<String, uuid::Uuid> = suite.seed(&names).await.into_iter().collect();

    let mut seen = HashSet::new();
    let mut order = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/users/show?limit=100&cursor={c}"),
            None => "/users/show?limit=100".to_owned(),
        };
        let resp = suite.get(&path, Some(&token)).await;
        assert_eq!(resp.status, 200, "{}", resp.body);
        for user in resp.body["users"].as_array().unwrap() {
            let name = user["username"].as_str().unwrap().to_owned();
            assert!(seen.insert(name.clone()), "{name} repeated");
            if let Some(id) = seeded.get(&name) {
                assert_eq!(user["user_id"], id.to_string());
            }
            order.push(name.to_ascii_lowercase());
        }
        pages += 1;
        // Others register meanwhile, before and after the cursor.
        suite.seed(&[format!("aaa{pages}new"), format!("zzz{pages}new"), format!("user05000y{pages}")]).await;
        match resp.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let missed: Vec<&String> = seeded.keys().filter(|name| !seen.contains(*name)).collect();
    assert!(missed.is_empty(), "{} seeded users never listed", missed.len());
    assert!(order.windows(2).all(|w| w[0] < w[1]), "not in username order");
    assert!(pages >= 30, "{pages} pages");
}

async fn listing_parameters_are_checked(backend: Backend) {
    let suite = spawn(backend).await;
    let (token, _) = suite.register("checker").await;
    let first = suite.get("/users/show", Some(&token)).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body["users"].as_array().unwrap().len(), 1);
    assert!(first.body.get("next_cursor").is_none_or(|c| c.is_null()), "{}", first.body);
    for (query, field) in [("limit=0", "limit"), ("limit=101", "limit"), ("cursor=bogus", "cursor")] {
        let resp = suite.get(&format!("/users/show?{query}"), Some(&token)).await;
        assert_eq!((resp.status, &resp.body["field"]), (400, &json!(field)), "{query}");
    }
    let resp = suite.get("/users/show?limit=abc", Some(&token)).await;
    assert_eq!((resp.status, &resp.body["code"]), (400, &json!("invalid_request")));
}

/// The plans the database chooses for the prefix search and the listing: index range scans.
async fn the_prefix_search_and_listing_use_the_username_index(backend: Backend) {
    let suite = spawn(backend).await;
    let names: Vec<String> = (0..20_000).map(|i| format!("plan{i:06}")).collect();
    suite.seed(&names).await;
    let (explain, analyze) = match backend {
        Backend::Postgres => ("EXPLAIN", "ANALYZE users"),
        Backend::Sqlite => ("EXPLAIN QUERY PLAN", "ANALYZE"),
    };
    suite.db.execute_unprepared(analyze).await.unwrap();
    let prefix = "SELECT id, username, username_key FROM users WHERE username_key >= 'plan0001' \
                  AND username_key < 'plan0001\u{10FFFF}' ORDER BY username_key LIMIT 20";
    let page = "SELECT id, username, username_key FROM users WHERE username_key > 'plan010000' \
                ORDER BY username_key LIMIT 21";
    for query in [prefix, page] {
        let rows = suite
            .db
            .query_all_raw(Statement::from_string(suite.db.get_database_backend(), format!("{explain} {query}")))
            .await
            .unwrap();
        let plan: Vec<String> = rows
            .iter()
            .map(|row| match suite.db.get_database_backend() {
                DatabaseBackend::Postgres => row.try_get_by_index::<String>(0).unwrap(),
                _ => row.try_get::<String>("", "detail").unwrap(),
            })
            .collect();
        let plan = plan.join("\n");
        eprintln!("{query}\n{plan}");
        assert!(plan.contains("users_username_key_unique"), "{plan}");
        assert!(!plan.contains("Seq Scan") && !plan.contains("SCAN users"), "{plan}");
    }
}

testkit::on_both_backends!(
    paging_through_thousands_misses_and_repeats_no_one_despite_inserts,
    listing_parameters_are_checked,
    the_prefix_search_and_listing_use_the_username_index,
);
