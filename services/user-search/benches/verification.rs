//! What checking the access token costs a lookup: requests per second of user-search's
//! `GET /users/username/{username}` with a token (the client sends the same one every time, as
//! clients do, so the verifier's memory of verified tokens is warm) next to the same route
//! with the guard taken off, in the same process, the same run. Run by `scripts/bench`.
//!
//! Both servers are built the way user-search builds itself (same database pool, same
//! middleware, keys from a release `auth-api`'s JWKS) and run on a runtime of their own, two
//! workers; the load generator runs on another. The two are measured in turn, twice each, so
//! drift on a shared machine falls on both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use auth_api::tokens::{SigningKey, TokenIssuer};
use clap::Parser;
use poem::web::Data;
use poem_openapi::{OpenApi, OpenApiService, param::Path, payload::Json};
use sea_orm::Database;
use shared::{
    ApiResult,
    config::TokenSettings,
    http::Plumbing,
    jwks::JwksClient,
    server::Listener,
    tokens::{KeySource, TokenVerifier},
};
use testkit::{
    Running,
    bench::{self, Process, Report, Row, Run, closed_loop, percent},
};
use user_search::{
    config::Cli,
    routes::{self, SearchState, UserRef},
    startup::{self, SearchService},
};
use uuid::Uuid;

const USERS: u64 = 10_000;
const CLIENTS: usize = 32;
const AUTH_PORT: u16 = 18192;

/// user-search's lookup by name without its `BearerAuth` guard: the handler otherwise the same.
struct Unguarded;

#[OpenApi]
impl Unguarded {
    #[oai(path = "/users/username/:username", method = "get")]
    async fn by_username(&self, state: Data<&Arc<SearchState>>, username: Path<String>) -> ApiResult<Json<UserRef>> {
        Ok(Json(routes::find_by_name(&state, &username.0).await?))
    }
}

async fn lookups(base: String, token: Option<Arc<String>>, window: Duration) -> Run {
    closed_loop(CLIENTS, Duration::from_secs(1), window, move |client, n| {
        let (base, token) = (base.clone(), token.clone());
        async move {
            // A different user each time, spread over the table (a multiplicative hash of n).
            let user = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) % USERS + 1;
            let mut req = client.get(format!("{base}/users/username/user{user}"));
            if let Some(token) = &token {
                req = req.bearer_auth(token.as_str());
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 200);
            resp.bytes().await.unwrap();
        }
    })
    .await
}

/// Mean time of one `verify` of each token, in µs.
async fn verify_cost(verifier: &TokenVerifier, tokens: &[String]) -> f64 {
    let start = std::time::Instant::now();
    for token in tokens {
        verifier.verify(token).await.unwrap();
    }
    start.elapsed().as_secs_f64() * 1e6 / tokens.len() as f64
}

fn main() {
    if !bench::invoked_by_cargo_bench() {
        println!("the token verification benchmark runs with scripts/bench");
        return;
    }
    let window = bench::seconds("BENCH_SECONDS", 6);
    let servers = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let load = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();

    let url = load.block_on(async {
        let url = bench::fresh_database("chat_suite_bench_tokens").await;
        bench::insert_users(&Database::connect(&url).await.unwrap(), USERS).await;
        url
    });
    let key = SigningKey::generate().unwrap();
    let issuer = TokenIssuer::new(
        SigningKey::from_pem(key.to_pem()).unwrap(),
        TokenSettings { issuer: "chat-suite".into(), audience: "chat-suite".into() },
        Duration::from_secs(3600),
    );
    let _auth = Process::start(
        &bench::env("AUTH_API_BIN"),
        AUTH_PORT,
        &[
            ("DATABASE_URL", url.clone()),
            ("DATA_DIR", std::env::temp_dir().display().to_string()),
            ("JWT_SIGNING_KEY", key.to_pem().to_owned()),
        ],
    );
    let jwks = format!("http://127.0.0.1:{AUTH_PORT}/.well-known/jwks.json");
    let cli = Cli::try_parse_from([
        "user-search",
        "--listen-addr",
        "127.0.0.1:0",
        "--database-url",
        &url,
        "--jwks-url",
        &jwks,
        // Both servers ask the database every time: the guard's cost is what is measured.
        "--lookup-cache-entries",
        "0",
    ])
    .unwrap();

    let (guarded, unguarded) = servers.block_on(async {
        let guarded = Running::start(startup::build(&cli).await.unwrap());
        let db = shared::db::connect(&cli.common).await.unwrap();
        let keys = KeySource::Remote(JwksClient::required(cli.jwks_url.as_deref()).unwrap());
        let service =
            SearchService::new(shared::read_replica::Reads::primary_only(db), keys, &cli.common.tokens, &cli.search);
        let plumbing = Plumbing::new(service.dependencies.clone(), cli.common.cors_allowed_origins.clone());
        let app = service.provide(plumbing.app(OpenApiService::new(Unguarded, "unguarded", "0")));
        let unguarded = Running::start(
            Listener::bind("user-search", "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap()
                .serve(app, (&cli.common).into()),
        );
        (guarded, unguarded)
    });

    let token = Arc::new(issuer.issue(Uuid::new_v4(), "bench").unwrap());
    let (with_token, without) = load.block_on(async {
        let mut with_token = Vec::new();
        let mut without = Vec::new();
        for _ in 0..2 {
            with_token.push(lookups(guarded.address.clone(), Some(token.clone()), window).await);
            without.push(lookups(unguarded.address.clone(), None, window).await);
        }
        (with_token[0].merge(&with_token[1]), without[0].merge(&without[1]))
    });

    // The verifier alone: a remembered token, and fresh ones (a signature check each).
    let (warm, cold) = load.block_on(async {
        let verifier =
            TokenVerifier::new(KeySource::Remote(JwksClient::required(Some(&jwks)).unwrap()), &cli.common.tokens);
        let fresh: Vec<String> = (0..2000).map(|i| issuer.issue(Uuid::new_v4(), &format!("u{i}")).unwrap()).collect();
        verify_cost(&verifier, &fresh[..1]).await; // fetches the key set
        let cold = verify_cost(&verifier, &fresh[1..]).await;
        let same = vec![token.to_string(); 100_000];
        verify_cost(&verifier, &same[..1]).await;
        let warm = verify_cost(&verifier, &same).await;
        (warm, cold)
    });
    let ratio = with_token.rate() / without.rate();
    let mut report = Report::new(
        "3-token-verification",
        "user-search: what verifying the access token costs",
        format!(
            "`scripts/bench` → `services/user-search/benches/verification.rs`. {USERS} users; \
             {CLIENTS} keep-alive clients ask `GET /users/username/user<n>` for a different user \
             each time, {} s per round after 1 s of warm-up, two rounds each way in turn: once \
             through user-search as it ships (bearer token, the same one every time, so the \
             verifier remembers it), once through the same handler, pool and middleware with the \
             guard taken off. Both servers run in one process on a runtime of two workers; the load \
             on another. The verifier alone is timed after: one remembered token 100,000 times, and \
             1,999 fresh tokens (a signature check each).",
            window.as_secs()
        ),
    );
    report
        .row(Row {
            measure: "lookups with a token (warm verifier)".into(),
            figure: format!(
                "{:.0} /s (p50 {:.2} ms, p99 {:.2} ms)",
                with_token.rate(),
                ms(&with_token, 0.5),
                ms(&with_token, 0.99)
            ),
            ceiling: format!(
                "{:.0} /s without the guard (p50 {:.2} ms, p99 {:.2} ms)",
                without.rate(),
                ms(&without, 0.5),
                ms(&without, 0.99)
            ),
            ratio: percent(ratio),
            goal: "≥ 90 % (verification costs ≤ 10 %)".into(),
            met: Some(ratio >= 0.9),
        })
        .row(Row::info("one verify of a remembered token", format!("{warm:.2} µs")))
        .row(Row::info("one verify of a fresh token (EdDSA signature check)", format!("{cold:.1} µs")))
        .explanation(include_str!("verification.md"));
    if report.missed() {
        let profile = load.block_on(async {
            let load = lookups(guarded.address.clone(), Some(token.clone()), Duration::from_secs(6));
            bench::Profile::during(Duration::from_secs(1), Duration::from_secs(5), load).await
        });
        report.profile(profile);
    }
    servers.block_on(async {
        guarded.stop().await;
        unguarded.stop().await;
    });
    report.write();
}

fn ms(run: &Run, quantile: f64) -> f64 {
    run.latencies.quantile(quantile).as_secs_f64() * 1000.0
}
