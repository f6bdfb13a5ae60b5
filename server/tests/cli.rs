//! The `chatwire-server` binary: start-up failures name the address or path and the fix, help
//! texts fit their subcommand, environment variables (booleans, renamed names), logs, and the
//! graceful drain on SIGTERM.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::Client;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const PASSWORD: &str = "bob-secret-pw";

/// The binary, without any `CHATWIRE_*` or `RUST_LOG` from the environment of the tests.
fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_chatwire-server"));
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        if k.starts_with("CHATWIRE_") || k == "RUST_LOG" || k == "NO_COLOR" {
            c.env_remove(k);
        }
    }
    c.kill_on_drop(true);
    c
}

async fn run(cmd: &mut Command) -> Output {
    tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("the command finishes")
        .expect("the binary runs")
}

/// Runs the binary and expects a failure; returns stderr.
async fn fails(cmd: &mut Command) -> String {
    let out = run(cmd).await;
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "should fail; stderr: {stderr}");
    stderr
}

/// A started server: the child and its WebSocket URL (from the line it prints on stdout).
struct Started {
    child: Child,
    ws_url: String,
    stderr: tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
}

async fn start(cmd: &mut Command) -> Started {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
        .await
        .expect("the server starts")
        .unwrap()
        .expect("a line on stdout");
    let ws_url = line
        .split_whitespace()
        .find(|w| w.starts_with("ws://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    Started {
        child,
        ws_url,
        stderr,
    }
}

fn terminate(child: &Child) {
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn user_add(dir: &Path, name: &str) -> Output {
    run(bin()
        .args(["user", "add", name, "--password", PASSWORD, "--data-dir"])
        .arg(dir))
    .await
}

#[tokio::test]
async fn an_address_in_use_is_named_with_the_flag_to_change_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = fails(bin().args(["--memory", "--listen", &addr])).await;
    assert!(err.contains(&addr), "{err}");
    assert!(err.contains("--listen"), "{err}");
    assert!(err.contains("another process"), "{err}");
    let err = fails(bin().args([
        "serve",
        "--memory",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        &addr,
    ]))
    .await;
    assert!(
        err.contains(&addr) && err.contains("--admin-listen"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unresolvable_listen_host_is_named() {
    let err = fails(bin().args(["--memory", "--listen", "no-such-host.invalid:8080"])).await;
    assert!(err.contains("no-such-host.invalid:8080"), "{err}");
    assert!(err.contains("--listen"), "{err}");
}

#[tokio::test]
async fn a_data_dir_that_is_a_file_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let err = fails(
        bin()
            .arg("--data-dir")
            .arg(&file)
            .args(["--listen", "127.0.0.1:0"]),
    )
    .await;
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(err.contains("--data-dir"), "{err}");
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("chatwire.db");
    std::fs::write(&db, vec![b'z'; 4096]).unwrap();
    let err = fails(
        bin()
            .arg("--data-dir")
            .arg(tmp.path())
            .args(["--listen", "127.0.0.1:0"]),
    )
    .await;
    assert!(err.contains(&db.display().to_string()), "{err}");
    assert!(err.contains("not a chatwire SQLite database"), "{err}");
}

#[tokio::test]
async fn missing_tls_files_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    let err = fails(
        bin()
            .args(["--memory", "--listen", "127.0.0.1:0", "--tls-cert"])
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key),
    )
    .await;
    assert!(err.contains(&cert.display().to_string()), "{err}");
    assert!(err.contains(&key.display().to_string()), "{err}");
}

#[tokio::test]
async fn a_data_dir_in_use_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let config = chatwire_server::testing::config(chatwire_server::Storage::Sqlite(
        tmp.path().to_path_buf(),
    ));
    let _server = chatwire_server::RunningServer::start(config).await.unwrap();
    let out = user_add(tmp.path(), "bob").await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(&tmp.path().display().to_string()), "{err}");
    assert!(err.contains("in use"), "{err}");
}

#[tokio::test]
async fn user_add_shows_only_its_own_flags_and_prints_no_logs() {
    let help = run(bin().args(["user", "add", "--help"])).await;
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--password") && help.contains("--data-dir"),
        "{help}"
    );
    for server_flag in [
        "--tls-cert",
        "--requests-per-second",
        "--listen",
        "--api-key",
    ] {
        assert!(!help.contains(server_flag), "{server_flag} in: {help}");
    }
    // A server flag before a subcommand would be ignored: it is refused instead.
    let err = fails(bin().args([
        "--listen",
        "127.0.0.1:0",
        "user",
        "add",
        "x",
        "--password",
        PASSWORD,
    ]))
    .await;
    assert!(
        err.contains("--listen must come after the subcommand"),
        "{err}"
    );
    let main_help = run(bin().arg("--help")).await;
    let main_help = String::from_utf8_lossy(&main_help.stdout);
    assert!(main_help.contains("4004") && main_help.contains("slow consumer"));
    assert!(main_help.contains("RUST_LOG"));

    let tmp = tempfile::tempdir().unwrap();
    let out = user_add(tmp.path(), "bob").await;
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("added bob@chatwire.local"));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "no logs");
}

#[tokio::test]
async fn boolean_env_vars_accept_yes_no_and_logs_can_be_json() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(
        bin()
            .current_dir(tmp.path())
            .env("CHATWIRE_MEMORY", "yes")
            .env("CHATWIRE_LOG_FORMAT", "json")
            .args(["--listen", "localhost:0"]),
    )
    .await;
    let mut store = None;
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_secs(10), s.stderr.next_line()).await
    {
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(!line.contains('\u{1b}'), "no colour codes: {line}");
        if v["fields"].get("store").is_some() {
            store = Some(v["fields"]["store"].clone());
            break;
        }
    }
    assert_eq!(store, Some(json!("memory")));
    terminate(&s.child);
    s.child.wait().await.unwrap();
    assert!(!tmp.path().join("chatwire-data").exists());

    // "no" means the data dir.
    let mut s = start(
        bin()
            .env("CHATWIRE_MEMORY", "no")
            .env("CHATWIRE_DATA_DIR", tmp.path().join("data"))
            .args(["--listen", "127.0.0.1:0"]),
    )
    .await;
    terminate(&s.child);
    s.child.wait().await.unwrap();
    assert!(tmp.path().join("data").join("chatwire.db").exists());

    let err = fails(
        bin()
            .env("CHATWIRE_MEMORY", "maybe")
            .args(["--listen", "127.0.0.1:0"]),
    )
    .await;
    assert!(
        err.contains("CHATWIRE_MEMORY") || err.contains("maybe"),
        "{err}"
    );
}

#[tokio::test]
async fn the_old_idle_timeout_env_name_still_works() {
    let mut s = start(bin().env("CHATWIRE_IDLE_TIMEOUT", "1").args([
        "--memory",
        "--listen",
        "127.0.0.1:0",
    ]))
    .await;
    let mut c = Client::connect(&s.ws_url).await;
    let (code, _) = c.expect_close().await;
    assert_eq!(code, 4000);
    // The server logged the disconnect with its close code, without colour codes.
    let mut logged = false;
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_secs(5), s.stderr.next_line()).await
    {
        assert!(!line.contains('\u{1b}'), "no colour codes: {line}");
        if line.contains("disconnected by the server") && line.contains("code=4000") {
            logged = true;
            break;
        }
    }
    assert!(logged);
    terminate(&s.child);
    s.child.wait().await.unwrap();
}

#[tokio::test]
async fn sigterm_drains_with_1001_within_the_bound_and_loses_nothing_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(user_add(tmp.path(), "bob").await.status.success());
    let serve = || {
        let mut c = bin();
        c.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--drain-timeout-secs",
            "3",
        ])
        .arg("--data-dir")
        .arg(tmp.path());
        c
    };
    let mut s = start(&mut serve()).await;
    let user = "bob@chatwire.local";
    let mut c = Client::connect(&s.ws_url).await;
    c.login(user, PASSWORD).await;
    let conv = c.create(json!({"title": "drain"})).await;
    // 1 + 15 + 3 requests: within the default 20 per second.
    for i in 0..15 {
        c.ok(
            "sendMessage",
            json!({"conversation": conv, "text": format!("m{i}")}),
        )
        .await;
    }
    // Unacknowledged requests in flight when the signal arrives may or may not be applied.
    for i in 15..18 {
        c.send(
            json!({"service": "chat", "event": "sendMessage", "request_uuid": format!("r{i}"),
                      "payload": {"conversation": conv, "text": format!("m{i}")}}),
        )
        .await;
    }
    let signalled = Instant::now();
    terminate(&s.child);
    let (code, _) = c.expect_close().await;
    assert_eq!(code, 1001);
    let status = tokio::time::timeout(Duration::from_secs(5), s.child.wait())
        .await
        .expect("exits within the drain bound")
        .unwrap();
    assert!(status.success());
    assert!(signalled.elapsed() < Duration::from_secs(4));

    let s2 = start(&mut serve()).await;
    let mut c = Client::connect(&s2.ws_url).await;
    c.login(user, PASSWORD).await;
    let r = c
        .ok(
            "retransmitEvents",
            json!({"conversation": conv, "events_from": 1, "events_to": 16}),
        )
        .await;
    assert_eq!(r["payload"]["count"], 16, "{r}");
    let mut texts = vec![];
    for _ in 0..15 {
        let f = c.next_event("onRetransmitEvents").await;
        texts.push(
            f["payload"]["object"]["payload"]["object"]["text"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let expected: Vec<String> = (0..15).map(|i| format!("m{i}")).collect();
    assert_eq!(texts, expected, "every acknowledged message survived");
}
