//! The admin HTTP API (docs/BEHAVIOUR.md section 11).

mod common;

use chatwire_server::Storage;
use common::Harness;
use serde_json::{json, Value};

fn key(h: &Harness) -> String {
    h.server.api_key().unwrap().to_string()
}

fn url(h: &Harness, method: &str) -> String {
    format!("{}/{method}", h.server.admin_url())
}

/// GET with exactly these query parameters (no api_key added); returns (status, json).
async fn get_raw(h: &Harness, method: &str, q: &[(&str, &str)]) -> (u16, Value) {
    let resp = h.http.get(url(h, method)).query(q).send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(ct.starts_with("application/json"), "content-type {ct}");
    (status, resp.json().await.unwrap())
}

/// POST with query parameters and a form body.
async fn post(h: &Harness, method: &str, q: &[(&str, &str)], form: &[(&str, &str)]) -> Value {
    let resp = h
        .http
        .post(url(h, method))
        .query(q)
        .form(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().await.unwrap()
}

fn code(v: &Value) -> u64 {
    assert!(v["error"]["msg"].is_string(), "{v}");
    v["error"]["code"]
        .as_u64()
        .unwrap_or_else(|| panic!("not an error: {v}"))
}

async fn add(h: &Harness, name: &str) -> Value {
    h.admin(
        "AddUser",
        &[
            ("user_name", name),
            ("user_display_name", "Display"),
            ("user_password", "password-1"),
        ],
    )
    .await
}

async fn get_users(h: &Harness, q: &[(&str, &str)]) -> Value {
    h.admin("GetUsers", q).await
}

fn names(v: &Value) -> Vec<String> {
    v["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|u| u["user_name"].as_str().unwrap().to_string())
        .collect()
}

fn is_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

#[tokio::test]
async fn add_user_returns_result_and_user_id() {
    let h = Harness::start().await;
    let r = add(&h, "alice").await;
    assert_eq!(r["result"], 1, "{r}");
    let id1 = r["user_id"].as_u64().unwrap();
    let r = add(&h, "bob").await;
    let id2 = r["user_id"].as_u64().unwrap();
    assert_ne!(id1, id2);
}

#[tokio::test]
async fn added_user_can_log_in_and_im_id_comes_from_get_user() {
    let h = Harness::start().await;
    let r = h
        .admin(
            "AddUser",
            &[
                ("user_name", "Alice"),
                ("user_display_name", "Alice Liddell"),
                ("user_password", "password-1"),
            ],
        )
        .await;
    assert_eq!(r["result"], 1, "{r}");
    let full = format!("alice@{}", h.server.domain());
    let mut c = h.connect().await;
    let v = c.login(&full, "password-1").await;
    assert_eq!(v["params"][0], "Alice Liddell");
    let me = c.ok("getUser", json!({"user_name": full})).await;
    let o = &me["payload"]["object"];
    assert!(o["user_id"].as_u64().unwrap() > 0);
    assert_eq!(o["user_name"], full.as_str());
    assert_eq!(o["display_name"], "Alice Liddell");
    assert_eq!(o["deleted"], false);
}

#[tokio::test]
async fn add_user_accepts_full_name_forms_stored_as_short_name() {
    let h = Harness::start().await;
    let domain = h.server.domain().to_string();
    let a = format!("alice@{domain}");
    let b = format!("BOB@{}.voximplant.com", domain.to_uppercase());
    assert_eq!(add(&h, &a).await["result"], 1);
    assert_eq!(add(&h, &b).await["result"], 1);
    let v = get_users(&h, &[]).await;
    assert_eq!(names(&v), ["alice", "bob"]);
    // Other domain is invalid.
    assert_eq!(code(&add(&h, "carol@other.example").await), 103);
}

#[tokio::test]
async fn add_user_missing_params_give_102() {
    let h = Harness::start().await;
    let cases: [&[(&str, &str)]; 3] = [
        &[("user_display_name", "D"), ("user_password", "password-1")],
        &[("user_name", "alice"), ("user_password", "password-1")],
        &[("user_name", "alice"), ("user_display_name", "D")],
    ];
    for q in cases {
        assert_eq!(code(&h.admin("AddUser", q).await), 102, "{q:?}");
    }
}

#[tokio::test]
async fn add_user_invalid_values_give_103() {
    let h = Harness::start().await;
    let long_name = "a".repeat(51);
    let ok_name = "a".repeat(50);
    let long_display = "d".repeat(257);
    let long_pw = "p".repeat(129);
    for name in [
        "", "-alice", ".alice", "_a", "al ice", "al!ce", "ali/ce", &long_name,
    ] {
        let r = h
            .admin(
                "AddUser",
                &[
                    ("user_name", name),
                    ("user_display_name", "D"),
                    ("user_password", "password-1"),
                ],
            )
            .await;
        assert_eq!(code(&r), 103, "name {name:?}");
    }
    for (display, pw) in [
        ("", "password-1"),
        (long_display.as_str(), "password-1"),
        ("D", "short12"),
        ("D", ""),
        ("D", long_pw.as_str()),
    ] {
        let r = h
            .admin(
                "AddUser",
                &[
                    ("user_name", "valid"),
                    ("user_display_name", display),
                    ("user_password", pw),
                ],
            )
            .await;
        assert_eq!(code(&r), 103, "display {} pw {}", display.len(), pw.len());
    }
    // Boundaries are accepted (lengths in characters).
    let display256 = "é".repeat(256);
    let pw8 = "ééééééé1";
    let pw128 = "p".repeat(128);
    for (name, display, pw) in [
        (ok_name.as_str(), "D", "password-1"),
        ("0-a.b_c", display256.as_str(), pw8),
        ("x", "D", pw128.as_str()),
    ] {
        let r = h
            .admin(
                "AddUser",
                &[
                    ("user_name", name),
                    ("user_display_name", display),
                    ("user_password", pw),
                ],
            )
            .await;
        assert_eq!(r["result"], 1, "{name}: {r}");
    }
}

#[tokio::test]
async fn duplicate_name_gives_105_also_after_deletion() {
    let h = Harness::start().await;
    assert_eq!(add(&h, "alice").await["result"], 1);
    assert_eq!(code(&add(&h, "alice").await), 105);
    assert_eq!(code(&add(&h, "ALICE").await), 105);
    assert_eq!(
        h.admin("DelUser", &[("user_name", "alice")]).await["result"],
        1
    );
    assert_eq!(code(&add(&h, "alice").await), 105);
}

#[tokio::test]
async fn wrong_or_missing_api_key_gives_100() {
    let h = Harness::start().await;
    for method in ["GetUsers", "AddUser", "DelUser", "SetUserInfo"] {
        let (status, v) = get_raw(&h, method, &[("api_key", "wrong")]).await;
        assert_eq!(status, 200);
        assert_eq!(code(&v), 100, "{method}");
        let (_, v) = get_raw(&h, method, &[]).await;
        assert_eq!(code(&v), 100, "{method}");
    }
    // Nothing was created with a wrong key.
    let (_, v) = get_raw(
        &h,
        "AddUser",
        &[
            ("api_key", ""),
            ("user_name", "alice"),
            ("user_display_name", "D"),
            ("user_password", "password-1"),
        ],
    )
    .await;
    assert_eq!(code(&v), 100);
    assert_eq!(get_users(&h, &[]).await["total_count"], 0);
}

#[tokio::test]
async fn server_without_api_key_refuses_everything() {
    let mut cfg = chatwire_server::testing::config(Storage::Memory);
    cfg.api_key = None;
    let h = Harness::with_config(cfg).await;
    for q in [vec![], vec![("api_key", "")], vec![("api_key", "anything")]] {
        let (status, v) = get_raw(&h, "GetUsers", &q).await;
        assert_eq!(status, 200);
        assert_eq!(code(&v), 100);
    }
}

#[tokio::test]
async fn unknown_method_gives_101_with_http_404() {
    let h = Harness::start().await;
    let k = key(&h);
    for method in ["NoSuchMethod", "getUsers", "AddAccount"] {
        let (status, v) = get_raw(&h, method, &[("api_key", &k)]).await;
        assert_eq!(status, 404, "{method}");
        assert_eq!(code(&v), 101, "{method}");
    }
}

#[tokio::test]
async fn post_form_body_works_and_wins_over_query() {
    let h = Harness::start().await;
    let k = key(&h);
    let r = post(
        &h,
        "AddUser",
        &[],
        &[
            ("api_key", &k),
            ("user_name", "alice"),
            ("user_display_name", "Alice"),
            ("user_password", "password-1"),
        ],
    )
    .await;
    assert_eq!(r["result"], 1, "{r}");
    // Query says bob, body says carol: carol wins.
    let r = post(
        &h,
        "AddUser",
        &[("api_key", &k), ("user_name", "bob")],
        &[
            ("user_name", "carol"),
            ("user_display_name", "Carol"),
            ("user_password", "password-1"),
        ],
    )
    .await;
    assert_eq!(r["result"], 1, "{r}");
    assert_eq!(names(&get_users(&h, &[]).await), ["alice", "carol"]);
    // A wrong key in the body wins over the right one in the query.
    let r = post(&h, "GetUsers", &[("api_key", &k)], &[("api_key", "wrong")]).await;
    assert_eq!(code(&r), 100);
    // And the right key in the body wins over a wrong one in the query.
    let r = post(&h, "GetUsers", &[("api_key", "wrong")], &[("api_key", &k)]).await;
    assert_eq!(r["total_count"], 2, "{r}");
    // POST SetUserInfo / DelUser.
    let r = post(
        &h,
        "SetUserInfo",
        &[],
        &[
            ("api_key", &k),
            ("user_name", "carol"),
            ("user_display_name", "Caroline"),
        ],
    )
    .await;
    assert_eq!(r["result"], 1, "{r}");
    let v = get_users(&h, &[("user_name", "carol")]).await;
    assert_eq!(v["result"][0]["user_display_name"], "Caroline");
    let r = post(
        &h,
        "DelUser",
        &[],
        &[("api_key", &k), ("user_name", "carol")],
    )
    .await;
    assert_eq!(r["result"], 1, "{r}");
    assert_eq!(names(&get_users(&h, &[]).await), ["alice"]);
}

#[tokio::test]
async fn unknown_parameters_are_ignored() {
    let h = Harness::start().await;
    let r = h
        .admin(
            "AddUser",
            &[
                ("account_name", "acc"),
                ("account_id", "1"),
                ("application_id", "2"),
                ("user_name", "alice"),
                ("user_display_name", "D"),
                ("user_password", "password-1"),
            ],
        )
        .await;
    assert_eq!(r["result"], 1, "{r}");
}

#[tokio::test]
async fn get_users_user_info_fields() {
    let h = Harness::start().await;
    let r = h
        .admin(
            "AddUser",
            &[
                ("user_name", "alice"),
                ("user_display_name", "Alice"),
                ("user_password", "password-1"),
            ],
        )
        .await;
    let admin_id = r["user_id"].as_u64().unwrap();
    let v = get_users(&h, &[]).await;
    assert_eq!(v["total_count"], 1);
    assert_eq!(v["count"], 1);
    let u = &v["result"][0];
    let mut k: Vec<&String> = u.as_object().unwrap().keys().collect();
    k.sort();
    assert_eq!(
        k,
        [
            "created",
            "modified",
            "user_active",
            "user_display_name",
            "user_id",
            "user_name"
        ]
    );
    assert_eq!(u["user_id"], admin_id);
    assert_eq!(u["user_name"], "alice");
    assert_eq!(u["user_display_name"], "Alice");
    assert_eq!(u["user_active"], true);
    let created = u["created"].as_str().unwrap();
    assert!(is_time(created), "{created}");
    assert!(is_time(u["modified"].as_str().unwrap()));
    // Current UTC year.
    let year = 1970
        + (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / 31_556_952);
    assert!(created.starts_with(&year.to_string()) || created.starts_with(&(year - 1).to_string()));
}

#[tokio::test]
async fn get_users_pages_by_user_id() {
    let h = Harness::start().await;
    let mut ids = Vec::new();
    for n in ["u-c", "u-a", "u-e", "u-b", "u-d"] {
        ids.push(add(&h, n).await["user_id"].as_u64().unwrap());
    }
    let v = get_users(&h, &[]).await;
    assert_eq!(v["total_count"], 5);
    assert_eq!(v["count"], 5);
    assert_eq!(names(&v), ["u-c", "u-a", "u-e", "u-b", "u-d"]);
    let got: Vec<u64> = v["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_id"].as_u64().unwrap())
        .collect();
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(got, sorted);

    let v = get_users(&h, &[("count", "2"), ("offset", "1")]).await;
    assert_eq!(v["total_count"], 5);
    assert_eq!(v["count"], 2);
    assert_eq!(names(&v), ["u-a", "u-e"]);
    let v = get_users(&h, &[("count", "2"), ("offset", "4")]).await;
    assert_eq!(v["count"], 1);
    assert_eq!(names(&v), ["u-d"]);
    let v = get_users(&h, &[("offset", "10")]).await;
    assert_eq!(v["total_count"], 5);
    assert_eq!(v["count"], 0);
    assert_eq!(v["result"], json!([]));
    let v = get_users(&h, &[("count", "1000")]).await;
    assert_eq!(v["count"], 5);
}

#[tokio::test]
async fn get_users_default_count_is_20() {
    let h = Harness::start().await;
    for i in 0..25 {
        add(&h, &format!("user{i:02}")).await;
    }
    let v = get_users(&h, &[]).await;
    assert_eq!(v["total_count"], 25);
    assert_eq!(v["count"], 20);
    assert_eq!(v["result"].as_array().unwrap().len(), 20);
    let v = get_users(&h, &[("offset", "20")]).await;
    assert_eq!(v["count"], 5);
    assert_eq!(names(&v)[0], "user20");
}

#[tokio::test]
async fn get_users_filters_by_id_and_name() {
    let h = Harness::start().await;
    let a = add(&h, "alice").await["user_id"].as_u64().unwrap();
    let b = add(&h, "bob").await["user_id"].as_u64().unwrap();
    let c = add(&h, "carol").await["user_id"].as_u64().unwrap();
    let v = get_users(&h, &[("user_id", &b.to_string())]).await;
    assert_eq!(names(&v), ["bob"]);
    assert_eq!(v["total_count"], 1);
    let list = format!("{c},{a}");
    let v = get_users(&h, &[("user_id", &list)]).await;
    assert_eq!(names(&v), ["alice", "carol"]);
    assert_eq!(v["total_count"], 2);
    let v = get_users(&h, &[("user_id", "999999")]).await;
    assert_eq!(v["total_count"], 0);
    assert_eq!(v["result"], json!([]));
    let domain = h.server.domain().to_string();
    for name in [
        "bob".to_string(),
        "BOB".to_string(),
        format!("bob@{domain}"),
        format!("Bob@{domain}.voximplant.com"),
    ] {
        let v = get_users(&h, &[("user_name", &name)]).await;
        assert_eq!(names(&v), ["bob"], "{name}");
    }
    // Exact, not a prefix.
    let v = get_users(&h, &[("user_name", "bo")]).await;
    assert_eq!(v["total_count"], 0);
}

#[tokio::test]
async fn get_users_invalid_values_give_103() {
    let h = Harness::start().await;
    for q in [
        ("count", "0"),
        ("count", "1001"),
        ("count", "x"),
        ("count", "-1"),
        ("offset", "-1"),
        ("offset", "x"),
        ("user_id", "-1"),
        ("user_id", "abc"),
    ] {
        assert_eq!(code(&get_users(&h, &[q]).await), 103, "{q:?}");
    }
}

#[tokio::test]
async fn get_users_excludes_deleted_users() {
    let h = Harness::start().await;
    add(&h, "alice").await;
    let b = add(&h, "bob").await["user_id"].as_u64().unwrap();
    add(&h, "carol").await;
    assert_eq!(
        h.admin("DelUser", &[("user_id", &b.to_string())]).await["result"],
        1
    );
    let v = get_users(&h, &[]).await;
    assert_eq!(v["total_count"], 2);
    assert_eq!(names(&v), ["alice", "carol"]);
    let v = get_users(&h, &[("user_id", &b.to_string())]).await;
    assert_eq!(v["total_count"], 0);
    let v = get_users(&h, &[("user_name", "bob")]).await;
    assert_eq!(v["total_count"], 0);
}

#[tokio::test]
async fn deactivated_users_are_listed_inactive() {
    let h = Harness::start().await;
    add(&h, "alice").await;
    let r = h
        .admin(
            "SetUserInfo",
            &[("user_name", "alice"), ("user_active", "0")],
        )
        .await;
    assert_eq!(r["result"], 1, "{r}");
    let v = get_users(&h, &[]).await;
    assert_eq!(v["result"][0]["user_active"], false);
    let r = h
        .admin(
            "SetUserInfo",
            &[("user_name", "alice"), ("user_active", "1")],
        )
        .await;
    assert_eq!(r["result"], 1);
    assert_eq!(get_users(&h, &[]).await["result"][0]["user_active"], true);
    for v in ["false", "true"] {
        let r = h
            .admin("SetUserInfo", &[("user_name", "alice"), ("user_active", v)])
            .await;
        assert_eq!(r["result"], 1);
    }
    let r = h
        .admin(
            "SetUserInfo",
            &[("user_name", "alice"), ("user_active", "yes")],
        )
        .await;
    assert_eq!(code(&r), 103);
}

#[tokio::test]
async fn set_user_info_changes_display_name_in_messaging() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    let r = h
        .admin(
            "SetUserInfo",
            &[
                ("user_id", &alice.admin_id.to_string()),
                ("user_display_name", "Queen Alice"),
            ],
        )
        .await;
    assert_eq!(r["result"], 1, "{r}");
    let mut b = h.login(&bob).await;
    let v = b.ok("getUser", json!({"user_id": alice.im_id})).await;
    assert_eq!(v["payload"]["object"]["display_name"], "Queen Alice");
    let v = get_users(&h, &[("user_name", "alice")]).await;
    assert_eq!(v["result"][0]["user_display_name"], "Queen Alice");
}

#[tokio::test]
async fn set_user_info_and_del_user_accept_name_forms() {
    let h = Harness::start().await;
    add(&h, "alice").await;
    add(&h, "bob").await;
    let domain = h.server.domain().to_string();
    let r = h
        .admin(
            "SetUserInfo",
            &[
                ("user_name", &format!("ALICE@{domain}.voximplant.com")),
                ("user_display_name", "A2"),
            ],
        )
        .await;
    assert_eq!(r["result"], 1, "{r}");
    assert_eq!(
        get_users(&h, &[("user_name", "alice")]).await["result"][0]["user_display_name"],
        "A2"
    );
    let r = h
        .admin("DelUser", &[("user_name", &format!("bob@{domain}"))])
        .await;
    assert_eq!(r["result"], 1, "{r}");
    assert_eq!(names(&get_users(&h, &[]).await), ["alice"]);
}

#[tokio::test]
async fn set_user_info_validation() {
    let h = Harness::start().await;
    let id = add(&h, "alice").await["user_id"].as_u64().unwrap();
    let ids = id.to_string();
    assert_eq!(code(&h.admin("SetUserInfo", &[]).await), 102);
    assert_eq!(
        code(&h.admin("SetUserInfo", &[("user_display_name", "X")]).await),
        102
    );
    for q in [
        [("user_id", ids.as_str()), ("user_display_name", "")],
        [("user_id", ids.as_str()), ("user_password", "short")],
        [("user_id", "-1"), ("user_display_name", "X")],
        [("user_id", "abc"), ("user_display_name", "X")],
    ] {
        assert_eq!(code(&h.admin("SetUserInfo", &q).await), 103, "{q:?}");
    }
    let long = "d".repeat(257);
    assert_eq!(
        code(
            &h.admin(
                "SetUserInfo",
                &[("user_id", &ids), ("user_display_name", &long)]
            )
            .await
        ),
        103
    );
    for q in [
        [("user_id", "999999"), ("user_display_name", "X")],
        [("user_name", "nobody"), ("user_display_name", "X")],
    ] {
        assert_eq!(code(&h.admin("SetUserInfo", &q).await), 104, "{q:?}");
    }
    // Nothing changed by the failures.
    let v = get_users(&h, &[]).await;
    assert_eq!(v["result"][0]["user_display_name"], "Display");
}

#[tokio::test]
async fn set_user_info_updates_modified_and_password() {
    let h = Harness::start().await;
    add(&h, "alice").await;
    let r = h
        .admin(
            "SetUserInfo",
            &[("user_name", "alice"), ("user_password", "another-pw")],
        )
        .await;
    assert_eq!(r["result"], 1, "{r}");
    let full = format!("alice@{}", h.server.domain());
    let mut c = h.connect().await;
    let v = c.session("login", json!([full, "password-1", {}])).await;
    assert_eq!(v["params"][0], 401);
    c.login(&full, "another-pw").await;
    let u = &get_users(&h, &[]).await["result"][0];
    assert!(u["modified"].as_str().unwrap() >= u["created"].as_str().unwrap());
}

#[tokio::test]
async fn del_user_errors() {
    let h = Harness::start().await;
    let id = add(&h, "alice").await["user_id"].as_u64().unwrap();
    assert_eq!(code(&h.admin("DelUser", &[]).await), 102);
    assert_eq!(code(&h.admin("DelUser", &[("user_id", "-5")]).await), 103);
    assert_eq!(code(&h.admin("DelUser", &[("user_id", "1.5")]).await), 103);
    assert_eq!(
        code(&h.admin("DelUser", &[("user_id", "999999")]).await),
        104
    );
    assert_eq!(
        code(&h.admin("DelUser", &[("user_name", "nobody")]).await),
        104
    );
    assert_eq!(
        h.admin("DelUser", &[("user_id", &id.to_string())]).await["result"],
        1
    );
}

#[tokio::test]
async fn deleted_user_shows_deleted_in_messaging() {
    let h = Harness::start().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    assert_eq!(
        h.admin("DelUser", &[("user_id", &bob.admin_id.to_string())])
            .await["result"],
        1
    );
    let mut a = h.login(&alice).await;
    let v = a.ok("getUser", json!({"user_id": bob.im_id})).await;
    assert_eq!(v["payload"]["object"]["deleted"], true);
}
