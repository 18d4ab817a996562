//! The FCM provider against the FCM stand-in: what reaches the device, the access token's life
//! (one exchange for many sends, re-auth after a 401, a refused service account), and how each
//! of FCM's answers comes back as an outcome.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{collections::BTreeMap, path::Path, sync::Arc, time::Duration};

use notifier::{
    providers::{Outcome, fcm::Fcm, fcm_auth::ServiceAccount},
    push::Push,
};
use serde_json::{Value, json};
use testkit::push::{Received, fcm::FcmStandIn};

const CHAT: &str = "0b7e9c3e-8a51-4f0c-9d7a-3f1e2a4b5c6d";

fn push(collapse_key: Option<&str>) -> Push {
    Push {
        title: "Ada".into(),
        body: "are you there?".into(),
        data: data(),
        collapse_key: collapse_key.map(Into::into),
        ttl: Duration::from_secs(86_400),
    }
}

fn data() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("event_type".into(), "message.created".into()),
        ("event_id".into(), "e1".into()),
        ("chat_id".into(), CHAT.into()),
        ("message_id".into(), "m1".into()),
    ])
}

fn fcm(stand_in: &FcmStandIn) -> Fcm {
    let account = ServiceAccount::load(&stand_in.service_account_file()).unwrap();
    Fcm::new(account, stand_in.url(), None).unwrap()
}

#[tokio::test]
async fn a_push_reaches_the_device_whole() {
    let stand_in = FcmStandIn::start().await;
    let fcm = fcm(&stand_in);

    assert_eq!(fcm.send("device-a", &push(Some(CHAT))).await, Outcome::Sent);
    assert_eq!(fcm.send("device-b", &push(None)).await, Outcome::Sent);

    assert_eq!(
        stand_in.received(),
        vec![
            Received {
                device: "device-a".into(),
                title: "Ada".into(),
                body: "are you there?".into(),
                data: data(),
                collapse: Some(CHAT.into()),
            },
            Received {
                device: "device-b".into(),
                title: "Ada".into(),
                body: "are you there?".into(),
                data: data(),
                collapse: None,
            },
        ]
    );
    assert_eq!(stand_in.refused(), Vec::<String>::new());
    assert_eq!(stand_in.tokens_issued(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_exchange_serves_twenty_concurrent_sends() {
    let stand_in = FcmStandIn::start().await;
    let fcm = Arc::new(fcm(&stand_in));
    let push = Arc::new(push(Some(CHAT)));

    let mut sends = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (fcm, push) = (fcm.clone(), push.clone());
        sends.spawn(async move { fcm.send(&format!("device-{i}"), &push).await });
    }
    let outcomes = sends.join_all().await;

    assert_eq!(outcomes, vec![Outcome::Sent; 20]);
    assert_eq!(stand_in.tokens_issued(), 1);
    assert_eq!(stand_in.requests(), 20);
    assert_eq!(stand_in.received().len(), 20);
}

#[tokio::test]
async fn an_expired_access_token_costs_one_401_and_one_exchange() {
    let stand_in = FcmStandIn::start().await;
    let fcm = fcm(&stand_in);
    assert_eq!(fcm.send("device-a", &push(None)).await, Outcome::Sent);

    stand_in.expire_tokens();

    assert_eq!(fcm.send("device-a", &push(None)).await, Outcome::Sent);
    assert_eq!(stand_in.refused(), vec!["send: access token expired".to_owned()]);
    assert_eq!(stand_in.tokens_issued(), 2);
    assert_eq!(stand_in.requests(), 3);
    assert_eq!(stand_in.received().len(), 2);
}

#[tokio::test]
async fn a_second_401_after_re_auth_is_retried_later() {
    let stand_in = FcmStandIn::start().await;
    let fcm = fcm(&stand_in);
    stand_in.respond_next(2, 401, None);

    let outcome = fcm.send("device-a", &push(None)).await;

    assert_eq!(
        outcome,
        Outcome::Retry {
            after: None,
            reason: "FCM 401 Unauthorized: UNAUTHENTICATED: Request had invalid authentication credentials. \
                     Expected OAuth 2 access token, login cookie or other valid authentication credential. \
                     See https://developers.google.com/identity/sign-in/web/devconsole-project."
                .into()
        }
    );
    assert_eq!(stand_in.tokens_issued(), 2);
    assert_eq!(stand_in.requests(), 2);
}

#[tokio::test]
async fn a_service_account_with_the_wrong_key_is_refused_by_the_token_endpoint() {
    let stand_in = FcmStandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut account: Value = serde_json::from_slice(&std::fs::read(stand_in.service_account_file()).unwrap()).unwrap();
    account["private_key"] = json!(FcmStandIn::foreign_private_key_pem());
    let file = write_json(dir.path(), &account);
    let fcm = Fcm::new(ServiceAccount::load(&file).unwrap(), stand_in.url(), None).unwrap();

    let outcome = fcm.send("device-a", &push(None)).await;

    assert_eq!(
        outcome,
        Outcome::Rejected {
            reason: "FCM token endpoint refused the service account: 400 Bad Request: invalid_grant: \
                     Invalid JWT Signature."
                .into()
        }
    );
    assert_eq!(stand_in.refused(), vec!["token endpoint: invalid_grant: Invalid JWT Signature.".to_owned()]);
    assert_eq!(stand_in.tokens_issued(), 0);
    assert_eq!(stand_in.requests(), 0);
}

#[tokio::test]
async fn a_token_endpoint_that_is_down_is_retried_later() {
    let stand_in = FcmStandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut account: Value = serde_json::from_slice(&std::fs::read(stand_in.service_account_file()).unwrap()).unwrap();
    // A port nothing listens on: bound, then released.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    account["token_uri"] = json!(format!("http://{closed}/token"));
    let fcm = Fcm::new(ServiceAccount::load(&write_json(dir.path(), &account)).unwrap(), stand_in.url(), None).unwrap();

    let outcome = fcm.send("device-a", &push(None)).await;

    let Outcome::Retry { after: None, reason } = &outcome else { panic!("{outcome:?}") };
    assert!(reason.starts_with("FCM token endpoint unavailable: error sending request"), "{reason}");
    assert!(reason.contains("Connection refused"), "{reason}");
    assert_eq!(stand_in.requests(), 0);
}

#[tokio::test]
async fn a_forgotten_device_is_gone() {
    let stand_in = FcmStandIn::start().await;
    let fcm = fcm(&stand_in);
    stand_in.forget_device("device-a");

    assert_eq!(
        fcm.send("device-a", &push(None)).await,
        Outcome::Gone { reason: "FCM 404 Not Found: UNREGISTERED: Requested entity was not found.".into() }
    );
    assert_eq!(fcm.send("device-b", &push(None)).await, Outcome::Sent);
    assert_eq!(stand_in.refused(), vec!["send: device-a is unregistered".to_owned()]);
}

#[tokio::test]
async fn quota_exceeded_is_retried_after_the_time_fcm_asks() {
    let stand_in = FcmStandIn::start().await;
    let fcm = fcm(&stand_in);
    stand_in.respond_next(1, 429, Some(2));

    assert_eq!(
        fcm.send("device-a", &push(None)).await,
        Outcome::Retry {
            after: Some(Duration::from_secs(2)),
            reason: "FCM 429 Too Many Requests: QUOTA_EXCEEDED: Quota exceeded for quota metric 'Send requests' \
                     and limit 'Send requests per minute'."
                .into()
        }
    );
    assert_eq!(fcm.send("device-a", &push(None)).await, Outcome::Sent);
    assert_eq!(stand_in.requests(), 2);
}

#[tokio::test]
async fn fcm_down_is_retried() {
    let stand_in = FcmStandIn::start().await;
    let fcm = fcm(&stand_in);
    stand_in.set_down(true);

    assert_eq!(
        fcm.send("device-a", &push(None)).await,
        Outcome::Retry {
            after: None,
            reason: "FCM 503 Service Unavailable: UNAVAILABLE: The service is currently unavailable.".into()
        }
    );
    stand_in.set_down(false);
    assert_eq!(fcm.send("device-a", &push(None)).await, Outcome::Sent);
}

#[tokio::test]
async fn the_stand_in_refuses_what_fcm_refuses() {
    let stand_in = FcmStandIn::start().await;
    let client = reqwest_client();
    let url = format!("{}/v1/projects/{}/messages:send", stand_in.url(), stand_in.project_id());

    let response = client.post(&url).bearer_auth("ya29.made-up").json(&json!({"message": {}})).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");

    let response = client
        .post(format!("{}/token", stand_in.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"error": "unsupported_grant_type", "error_description": "Invalid grant_type: client_credentials"})
    );
    assert_eq!(
        stand_in.refused(),
        vec![
            "send: access token not issued here".to_owned(),
            "token endpoint: unsupported_grant_type: Invalid grant_type: client_credentials".to_owned()
        ]
    );
}

#[test]
fn a_bad_service_account_file_is_named_with_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let load = |path: &Path| ServiceAccount::load(path).unwrap_err();
    let valid = json!({
        "type": "service_account",
        "project_id": "p",
        "private_key_id": "k",
        "private_key": FcmStandIn::foreign_private_key_pem(),
        "client_email": "a@p.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    });
    assert!(ServiceAccount::load(&write_json(dir.path(), &valid)).is_ok());

    let missing = dir.path().join("missing.json");
    assert_eq!(
        load(&missing),
        format!("FCM_SERVICE_ACCOUNT_FILE: cannot read {}: No such file or directory (os error 2)", missing.display())
    );

    let not_json = dir.path().join("not.json");
    std::fs::write(&not_json, "private_key = x").unwrap();
    assert_eq!(
        load(&not_json),
        format!("FCM_SERVICE_ACCOUNT_FILE: {} is not JSON: expected value at line 1 column 1", not_json.display())
    );

    let mut user = valid.clone();
    user["type"] = json!("authorized_user");
    assert_eq!(
        load(&write_json(dir.path(), &user)),
        "FCM_SERVICE_ACCOUNT_FILE: not a service account: type is \"authorized_user\""
    );

    for field in ["project_id", "client_email", "private_key", "token_uri"] {
        let mut partial = valid.clone();
        partial.as_object_mut().unwrap().remove(field);
        assert_eq!(
            load(&write_json(dir.path(), &partial)),
            format!("FCM_SERVICE_ACCOUNT_FILE: not a service account: missing {field}")
        );
    }

    let mut garbled = valid.clone();
    garbled["private_key"] = json!("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n");
    let error = load(&write_json(dir.path(), &garbled));
    assert!(
        error.starts_with("FCM_SERVICE_ACCOUNT_FILE: private_key is not an RSA private key in PKCS#8 PEM: "),
        "{error}"
    );
    assert!(!error.contains("BEGIN"), "the key's text stays out of the error: {error}");
}

#[tokio::test]
async fn bad_provider_settings_are_named() {
    let stand_in = FcmStandIn::start().await;
    let account = || ServiceAccount::load(&stand_in.service_account_file()).unwrap();

    let error = Fcm::new(account(), "fcm.googleapis.com".into(), None).err().unwrap();
    assert_eq!(error.to_string(), "FCM_API_URL: not a URL: fcm.googleapis.com: relative URL without a base");
    let error = Fcm::new(account(), stand_in.url(), Some(b"not a certificate")).err().unwrap();
    assert_eq!(error.to_string(), "PUSH_CA_FILE: no certificate in it");
}

fn write_json(dir: &Path, value: &Value) -> std::path::PathBuf {
    let path = dir.join(format!("{}.json", next_name()));
    std::fs::write(&path, serde_json::to_vec(value).unwrap()).unwrap();
    path
}

fn next_name() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("account-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn reqwest_client() -> reqwest::Client {
    shared::http_client::builder().build().unwrap()
}
