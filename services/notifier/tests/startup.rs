//! The contract's start-up behaviour: `--help`, and one line naming the variable when the
//! configuration cannot work, before anything connects.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn notifier(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_notifier"))
        .env_clear()
        .env("DATA_DIR", dir.path().join("data"))
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(!dir.path().join("data").exists(), "DATA_DIR was created before the configuration was checked");
    (out.status.code(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn help_lists_every_provider_setting() {
    let out = Command::new(env!("CARGO_BIN_EXE_notifier")).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for variable in [
        "KAFKA_BROKERS",
        "NOTIFIER_GROUP_ID",
        "FCM_SERVICE_ACCOUNT_FILE",
        "FCM_API_URL",
        "APNS_KEY_FILE",
        "APNS_KEY_ID",
        "APNS_TEAM_ID",
        "APNS_TOPIC",
        "APNS_URL",
        "VAPID_PRIVATE_KEY_FILE",
        "VAPID_SUBJECT",
        "WEBPUSH_ENDPOINT_HOSTS",
        "PUSH_PREVIEW",
        "PUSH_TTL_SECONDS",
        "PUSH_CA_FILE",
        "NOTIFIER_LEASE_SECONDS",
        "NOTIFIER_INSTANCE_ID",
    ] {
        assert!(help.contains(&format!("[env: {variable}")), "{variable} is not in --help");
    }
}

#[test]
fn each_misconfiguration_is_one_line_naming_its_variable() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "not json").unwrap();
    let garbage = garbage.display().to_string();
    let key = dir.path().join("vapid.pem");
    std::fs::write(&key, shared::webpush::vapid::VapidKey::generate().unwrap().to_pkcs8_pem().unwrap()).unwrap();
    let key = key.display().to_string();
    let kafka = ("KAFKA_BROKERS", "127.0.0.1:9");
    let cases: [(&[(&str, &str)], &str); 7] = [
        (
            &[("FCM_SERVICE_ACCOUNT_FILE", &garbage)],
            "KAFKA_BROKERS: required: the notifier reads the notification events",
        ),
        (&[kafka], "FCM_SERVICE_ACCOUNT_FILE: no push provider is configured"),
        (&[kafka, ("FCM_SERVICE_ACCOUNT_FILE", &garbage)], "FCM_SERVICE_ACCOUNT_FILE: "),
        (&[kafka, ("FCM_SERVICE_ACCOUNT_FILE", "/nonexistent.json")], "FCM_SERVICE_ACCOUNT_FILE: cannot read"),
        (&[kafka, ("VAPID_PRIVATE_KEY_FILE", &key)], "VAPID_SUBJECT: required with VAPID_PRIVATE_KEY_FILE"),
        (&[kafka, ("VAPID_PRIVATE_KEY_FILE", &garbage), ("VAPID_SUBJECT", "mailto:a@b.c")], "VAPID_PRIVATE_KEY_FILE: "),
        (&[kafka, ("APNS_KEY_FILE", &garbage)], "APNS_KEY_ID: required with APNS_KEY_FILE"),
    ];
    for (env, expected) in cases {
        let (code, stderr) = notifier(env);
        assert_eq!(code, Some(2), "{env:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{env:?}: {stderr}");
        assert!(stderr.starts_with("notifier: invalid configuration: "), "{env:?}: {stderr}");
        assert!(stderr.contains(expected), "{env:?}: {stderr} lacks {expected:?}");
        // Named once: the reason does not repeat the variable.
        let variable = expected.split(':').next().unwrap();
        assert_eq!(stderr.matches(&format!("{variable}:")).count(), 1, "{stderr}");
    }
}

#[test]
fn a_busy_port_is_one_line_and_creates_nothing() {
    let mut command = Command::new(env!("CARGO_BIN_EXE_notifier"));
    command.env_clear().env("KAFKA_BROKERS", "127.0.0.1:9").env("VAPID_SUBJECT", "mailto:a@b.c");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("vapid.pem");
    std::fs::write(&key, shared::webpush::vapid::VapidKey::generate().unwrap().to_pkcs8_pem().unwrap()).unwrap();
    command.env("VAPID_PRIVATE_KEY_FILE", &key);
    testkit::startup::assert_busy_port_refused("notifier", command);
}
