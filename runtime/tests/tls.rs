//! The HTTP API over TLS (`--tls-cert`, `--tls-key`), reached by
//! `rtprelay stream create` with `https://` and `--ca-cert`.

mod support;

use std::process::Command;
use support::{Server, binary, path_in, run, serve_command, temp_dir};

fn create(http: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(binary());
    cmd.args(["stream", "create", "--http", http]).args(extra).env_remove("RTPRELAY_ADMIN_TOKEN");
    let (status, out, err) = run(cmd);
    (status.code(), out, err)
}

#[test]
fn https_api_with_a_private_ca() {
    let dir = temp_dir();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let (cert_path, key_path) = (path_in(&dir, "cert.pem"), path_in(&dir, "key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let (cert_arg, key_arg) = (cert_path.to_str().unwrap(), key_path.to_str().unwrap());

    let server = Server::start(&dir.path().join("data"), &["--tls-cert", cert_arg, "--tls-key", key_arg], &[]);
    let https = format!("https://{}", server.ready.http);
    let (code, out, err) = create(&https, &["--ca-cert", cert_arg, "--live-id", "secure"]);
    assert_eq!(code, Some(0), "{err}");
    let created: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(created["liveId"], "secure");

    let (code, _, err) = create(&https, &[]);
    assert_eq!(code, Some(1), "an unknown CA is refused: {err}");
    let (code, _, _) = create(&format!("http://{}", server.ready.http), &[]);
    assert_eq!(code, Some(1), "plain HTTP gets no answer from the TLS port");

    // A key without its certificate, or an unreadable file: exit 2.
    for extra in [vec!["--tls-key", key_arg], vec!["--tls-cert", cert_arg, "--tls-key", "/nonexistent/key.pem"]] {
        let (status, _, err) = run(serve_command(&dir.path().join("data2"), &extra, &[]));
        assert_eq!(status.code(), Some(2), "{extra:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}
