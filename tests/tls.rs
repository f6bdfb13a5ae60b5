//! `wss://` against a server with a self-signed certificate, trusted explicitly.

use chatwire::{ConnectStage, Error, Messenger};
use chatwire_server::{RunningServer, Storage, TlsFiles};

#[tokio::test]
async fn connects_over_wss_with_a_custom_root() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_pem = key.cert.pem();
    std::fs::write(dir.path().join("cert.pem"), &cert_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), key.signing_key.serialize_pem()).unwrap();
    let mut config = chatwire_server::testing::config(Storage::Memory);
    config.tls = Some(TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    });
    let server = RunningServer::start(config).await.unwrap();
    server
        .add_user("alice", "Alice", "alice-password")
        .await
        .unwrap();
    let url = format!("wss://localhost:{}", server.local_addr().port());

    // Without trusting the certificate the connection is refused.
    let refused = Messenger::builder(&url)
        .password("alice@chatwire.local", "alice-password")
        .connect()
        .await;
    assert!(
        matches!(
            refused,
            Err(Error::Connect {
                stage: ConnectStage::Tls,
                ..
            })
        ),
        "{refused:?}"
    );

    let m = Messenger::builder(&url)
        .tls_root_certificates_pem(cert_pem.as_bytes())
        .password("alice@chatwire.local", "alice-password")
        .connect()
        .await
        .unwrap();
    assert_eq!(m.me().await.unwrap().name, "alice@chatwire.local");

    let bad = Messenger::builder(&url)
        .tls_root_certificates_pem(b"not pem")
        .password("a@chatwire.local", "x")
        .connect()
        .await;
    assert!(matches!(bad, Err(Error::InvalidArgument(_))), "{bad:?}");
}
