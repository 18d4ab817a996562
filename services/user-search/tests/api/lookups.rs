use serde_json::json;

use crate::helpers::{Backend, keys, spawn};

async fn exact_lookups_ignore_case_and_answer_the_stored_spelling(backend: Backend) {
    let suite = spawn(backend).await;
    let (token, zoe) = suite.register("Zoe_Q").await;
    let expected = json!({"username": "Zoe_Q", "user_id": zoe});
    for path in [
        "/users/show?username=zoe_q",
        "/users/username/ZOE_Q",
        "/users/username/Zoe_Q",
        &format!("/users/user_id/{zoe}"),
    ] {
        let resp = suite.get(path, Some(&token)).await;
        assert_eq!((resp.status, &resp.body), (200, &expected), "{path}");
        assert_eq!(keys(&resp.body), ["user_id", "username"], "nothing else leaks: {path}");
    }
}

async fn unknown_users_are_404_and_malformed_names_and_ids_400(backend: Backend) {
    let suite = spawn(backend).await;
    let (token, _) = suite.register("yann").await;
    let longest = "x".repeat(256);
    for path in ["/users/show?username=nobody", "/users/username/nobody", &format!("/users/username/{longest}")] {
        let resp = suite.get(path, Some(&token)).await;
        assert_eq!(
            (resp.status, resp.body),
            (404, json!({"error": "no user with this username", "code": "not_found"})),
            "{path}"
        );
    }
    // What the document refuses (`maxLength` 256, no control characters) is a 400 naming the
    // parameter: 300 characters were a 404. Control characters reached Postgres and came
    // back as 500s before they were caught at all.
    let too_long = "x".repeat(257);
    for path in [
        format!("/users/username/{too_long}"),
        format!("/users/show?username={too_long}"),
        "/users/username/ya%00nn".to_owned(),
        "/users/show?username=ya%00nn".to_owned(),
        "/users/show?username=".to_owned(),
    ] {
        let resp = suite.get(&path, Some(&token)).await;
        let error = "username: must be 1 to 256 characters long, without control characters";
        assert_eq!(
            (resp.status, resp.body),
            (400, json!({"error": error, "code": "invalid_field", "field": "username"})),
            "{path}"
        );
    }
    let resp = suite.get("/users/search?q=ya%00", Some(&token)).await;
    assert_eq!((resp.status, resp.body), (200, json!({"users": []})));
    let resp = suite.get(&format!("/users/user_id/{}", uuid::Uuid::new_v4()), Some(&token)).await;
    assert_eq!((resp.status, resp.body), (404, json!({"error": "no user with this id", "code": "not_found"})));
    let resp = suite.get("/users/user_id/not-a-uuid", Some(&token)).await;
    assert_eq!(
        (resp.status, resp.body),
        (400, json!({"error": "user_id: not a UUID", "code": "invalid_field", "field": "user_id"}))
    );
}

async fn prefix_search_is_case_insensitive_ordered_and_bounded(backend: Backend) {
    let suite = spawn(backend).await;
    let (token, _) = suite.register("searcher").await;
    let names: Vec<String> = ["Abby", "abe", "ABEL", "abner", "Ab.x", "ab_z", "zab", "a", "bab", "Ab-1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    suite.seed(&names[..7].iter().chain(&names[8..]).cloned().collect::<Vec<_>>()).await;

    let resp = suite.get("/users/search?q=aB", Some(&token)).await;
    assert_eq!(resp.status, 200, "{}", resp.body);
    let found: Vec<&str> =
        resp.body["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    // Bytewise (ASCII) order of the lowercased names: '-' < '.' < '_' < letters.
    assert_eq!(found, ["Ab-1", "Ab.x", "ab_z", "Abby", "abe", "ABEL", "abner"]);
    assert_eq!(keys(&resp.body["users"][0]), ["user_id", "username"]);

    let resp = suite.get("/users/search?q=ABE", Some(&token)).await;
    let found: Vec<&str> =
        resp.body["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert_eq!(found, ["abe", "ABEL"]);
    let resp = suite.get("/users/search?q=ab&limit=2", Some(&token)).await;
    assert_eq!(resp.body["users"].as_array().unwrap().len(), 2);
    let resp = suite.get("/users/search?q=nomatch", Some(&token)).await;
    assert_eq!((resp.status, resp.body), (200, json!({"users": []})));

    for bad in ["/users/search", "/users/search?q=", &format!("/users/search?q={}", "a".repeat(33))] {
        let resp = suite.get(bad, Some(&token)).await;
        assert_eq!((resp.status, &resp.body["field"]), (400, &json!("q")), "{bad}");
    }
    let resp = suite.get("/users/search?q=ab&limit=101", Some(&token)).await;
    assert_eq!((resp.status, &resp.body["field"]), (400, &json!("limit")));
}

testkit::on_both_backends!(
    exact_lookups_ignore_case_and_answer_the_stored_spelling,
    unknown_users_are_404_and_malformed_names_and_ids_400,
    prefix_search_is_case_insensitive_ordered_and_bounded,
);
