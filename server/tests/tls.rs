//! TLS: with a certificate and key the same listener serves `wss://` and `https://`.

use std::sync::Arc;

use chatwire_server::{RunningServer, Storage, TlsFiles};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

async fn tls_stream(
    addr: std::net::SocketAddr,
    cert: CertificateDer<'static>,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut roots = RootCertStore::empty();
    roots.add(cert).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

#[tokio::test]
async fn serves_wss_and_https_on_one_listener() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, key.cert.pem()).unwrap();
    std::fs::write(&key_path, key.signing_key.serialize_pem()).unwrap();
    let mut config = chatwire_server::testing::config(Storage::Memory);
    config.tls = Some(TlsFiles {
        cert: cert_path,
        key: key_path,
    });
    let server = RunningServer::start(config).await.unwrap();
    assert!(server.ws_url().starts_with("wss://"));
    let cert = key.cert.der().clone();

    // https: the admin API.
    let mut s = tls_stream(server.local_addr(), cert.clone()).await;
    let req = format!(
        "GET /platform_api/AddUser?api_key={}&user_name=alice&user_display_name=A&user_password=password-1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        server.api_key().unwrap()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).await.unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains(r#""result":1"#), "{body}");

    // wss: the session layer and a login.
    let stream = tls_stream(server.local_addr(), cert).await;
    let url = format!(
        "wss://localhost:{}/platform?version=3&im_version=2",
        server.local_addr().port()
    );
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    let first: Value = match ws.next().await.unwrap().unwrap() {
        Message::Text(t) => serde_json::from_str(&t).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(first["name"], "__connectionSuccessful");
    let login = json!({"name": "login", "params": ["alice@chatwire.local", "password-1", {}]});
    ws.send(Message::Text(login.to_string().into()))
        .await
        .unwrap();
    let reply: Value = match ws.next().await.unwrap().unwrap() {
        Message::Text(t) => serde_json::from_str(&t).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(reply["name"], "loginSuccessful", "{reply}");
    assert!(reply["params"][1]["OAuth"]["accessToken"].is_string());
}
