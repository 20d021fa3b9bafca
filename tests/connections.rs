//! Connections as libpq makes them, against a real server on 127.0.0.1 with
//! TLS and certificates this test makes itself with the `openssl` CLI (a CA,
//! a server certificate for localhost and 127.0.0.1, a client certificate,
//! and a second CA nobody trusts): each sslmode connects or refuses as libpq
//! does; passwords come from a `.pgpass` file; services from a service file.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use stratum::conninfo;
use stratum::scratch::{find_binaries, Cluster};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("the TLS tests need the openssl CLI (apt-get install openssl): {e}")
        });
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`name`.pem, `name`.key).
fn ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// A certificate signed by `ca.pem` (`name`.pem, `name`.key, mode 0600).
fn leaf(dir: &Path, name: &str, subject: &str, extensions: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            subject,
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    std::fs::write(dir.join(format!("{name}.ext")), extensions).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &format!("{name}.pem"),
            "-extfile",
            &format!("{name}.ext"),
        ],
    );
    let key = dir.join(format!("{name}.key"));
    std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o600)).unwrap();
}

const HBA: &str = "\
local all all trust
hostssl all cert_user 127.0.0.1/32 cert
hostnossl all plain_user 127.0.0.1/32 trust
hostssl all tls_user 127.0.0.1/32 trust
host all pw_user 127.0.0.1/32 scram-sha-256
";

struct Server {
    cluster: Cluster,
    port: u16,
    pki: PathBuf,
}

async fn tls_server(pki: &Path) -> Server {
    ca(pki, "ca");
    ca(pki, "other");
    leaf(
        pki,
        "server",
        "/CN=localhost",
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    );
    leaf(
        pki,
        "client",
        "/CN=cert_user",
        "extendedKeyUsage=clientAuth\n",
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let bins =
        find_binaries(None).unwrap_or_else(|e| panic!("tests need a PostgreSQL server: {e:#}"));
    let prepare = |data: &Path| -> anyhow::Result<()> {
        for file in ["server.pem", "server.key", "ca.pem"] {
            std::fs::copy(pki.join(file), data.join(file))?;
        }
        std::fs::write(data.join("pg_hba.conf"), HBA)?;
        Ok(())
    };
    let settings = [
        ("listen_addresses", "127.0.0.1"),
        ("ssl", "on"),
        ("ssl_cert_file", "server.pem"),
        ("ssl_key_file", "server.key"),
        ("ssl_ca_file", "ca.pem"),
    ];
    let cluster = Cluster::start_with(&bins, port, &settings, &prepare)
        .await
        .unwrap_or_else(|e| panic!("starting the TLS test server: {e:#}"));
    let admin = conninfo::connect(&cluster.config("postgres"))
        .await
        .unwrap();
    admin
        .batch_execute(
            "CREATE ROLE cert_user LOGIN; CREATE ROLE plain_user LOGIN; \
             CREATE ROLE tls_user LOGIN; SET password_encryption = 'scram-sha-256'; \
             CREATE ROLE pw_user LOGIN PASSWORD 'pw:se\\cret';",
        )
        .await
        .unwrap();
    Server {
        cluster,
        port,
        pki: pki.to_path_buf(),
    }
}

impl Server {
    fn url(&self, user: &str, host: &str, params: &str) -> String {
        let pki = self.pki.display();
        let params = params.replace("{pki}", &pki.to_string());
        format!(
            "postgresql://{user}@{host}:{}/postgres?hostaddr=127.0.0.1&{params}",
            self.port
        )
    }

    /// Connects; Ok(whether the session is encrypted) or the error.
    async fn try_connect(&self, user: &str, host: &str, params: &str) -> Result<bool, String> {
        let url = self.url(user, host, params);
        match conninfo::connect_url(&url).await {
            Ok(client) => {
                let row = client
                    .query_one(
                        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                        &[],
                    )
                    .await
                    .unwrap();
                Ok(row.get(0))
            }
            Err(e) => Err(format!("{e:#}")),
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn each_sslmode_connects_or_refuses_as_libpq_does() {
    let home_root = dirs::home_dir().unwrap().join(".postgresql/root.crt");
    assert!(
        !home_root.exists(),
        "{} exists: it changes what sslmode=require means; move it away for the test",
        home_root.display()
    );
    let pki = tempfile::tempdir().unwrap();
    let server = tls_server(pki.path()).await;
    let _ = &server.cluster;
    let ca = "sslrootcert={pki}/ca.pem";
    let other = "sslrootcert={pki}/other.pem";
    let client = "sslcert={pki}/client.pem&sslkey={pki}/client.key";
    // (user, host name, parameters, expected: Some(encrypted) or None for refused)
    let cases: Vec<(&str, &str, String, Option<bool>)> = vec![
        (
            "plain_user",
            "localhost",
            "sslmode=disable".into(),
            Some(false),
        ),
        ("tls_user", "localhost", "sslmode=disable".into(), None),
        (
            "plain_user",
            "localhost",
            "sslmode=allow".into(),
            Some(false),
        ),
        ("tls_user", "localhost", "sslmode=allow".into(), Some(true)),
        ("tls_user", "localhost", "sslmode=prefer".into(), Some(true)),
        (
            "plain_user",
            "localhost",
            "sslmode=prefer".into(),
            Some(false),
        ),
        ("tls_user", "localhost", String::new(), Some(true)),
        // require checks nothing: another name, a CA nobody trusts.
        (
            "tls_user",
            "wrong.example",
            "sslmode=require".into(),
            Some(true),
        ),
        ("plain_user", "localhost", "sslmode=require".into(), None),
        // ... unless given a root certificate, when it is verify-ca.
        (
            "tls_user",
            "wrong.example",
            format!("sslmode=require&{ca}"),
            Some(true),
        ),
        (
            "tls_user",
            "localhost",
            format!("sslmode=require&{other}"),
            None,
        ),
        (
            "tls_user",
            "wrong.example",
            format!("sslmode=verify-ca&{ca}"),
            Some(true),
        ),
        (
            "tls_user",
            "localhost",
            format!("sslmode=verify-ca&{other}"),
            None,
        ),
        ("tls_user", "localhost", "sslmode=verify-ca".into(), None),
        (
            "tls_user",
            "localhost",
            format!("sslmode=verify-full&{ca}"),
            Some(true),
        ),
        (
            "tls_user",
            "127.0.0.1",
            format!("sslmode=verify-full&{ca}"),
            Some(true),
        ),
        (
            "tls_user",
            "wrong.example",
            format!("sslmode=verify-full&{ca}"),
            None,
        ),
        (
            "tls_user",
            "localhost",
            format!("sslmode=verify-full&{other}"),
            None,
        ),
        ("tls_user", "localhost", "sslmode=verify-full".into(), None),
        // The platform's roots do not hold the test's CA.
        ("tls_user", "localhost", "sslrootcert=system".into(), None),
        // A client certificate, as `cert` authentication wants it.
        (
            "cert_user",
            "localhost",
            format!("sslmode=verify-full&{ca}&{client}"),
            Some(true),
        ),
        (
            "cert_user",
            "localhost",
            format!("sslmode=verify-full&{ca}"),
            None,
        ),
    ];
    let mut wrong = Vec::new();
    for (user, host, params, expected) in &cases {
        let got = server.try_connect(user, host, params).await;
        if got.as_ref().ok().copied() != *expected {
            wrong.push(format!(
                "{user} {host} {params}: expected {expected:?}, got {got:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Refusals say why.
    let e = server
        .try_connect(
            "tls_user",
            "wrong.example",
            &format!("sslmode=verify-full&{ca}"),
        )
        .await
        .unwrap_err();
    assert!(e.contains("certificate"), "{e}");
    let e = server
        .try_connect("tls_user", "localhost", "sslmode=verify-full")
        .await
        .unwrap_err();
    assert!(e.contains("needs a root certificate"), "{e}");
    // Several hosts are tried in turn: the first refuses connections.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let url = format!(
        "postgresql://tls_user@127.0.0.1:{closed},127.0.0.1:{}/postgres?sslmode=require&target_session_attrs=read-write",
        server.port
    );
    conninfo::connect_url(&url).await.unwrap();
    // A client key others can read is refused, as libpq does.
    let key = server.pki.join("client.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = server
        .try_connect(
            "cert_user",
            "localhost",
            &format!("sslmode=require&{client}"),
        )
        .await
        .unwrap_err();
    assert!(e.contains("group or world access"), "{e}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    // The command line, end to end: dump over verify-full with a client
    // certificate, the settings from a service file.
    let project = tempfile::tempdir().unwrap();
    let services = project.path().join("services.conf");
    let pki_dir = server.pki.display();
    std::fs::write(
        &services,
        format!(
            "[tls]\nhost=localhost\nhostaddr=127.0.0.1\nport={}\nuser=cert_user\ndbname=postgres\n\
             sslmode=verify-full\nsslrootcert={pki_dir}/ca.pem\nsslcert={pki_dir}/client.pem\n\
             sslkey={pki_dir}/client.key\n",
            server.port
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_stratum"))
        .args(["dump", "--db", "postgresql://?service=tls", "--out", "-"])
        .current_dir(project.path())
        .env("PGSERVICEFILE", &services)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn passwords_come_from_a_pgpass_file_others_cannot_read() {
    let pki = tempfile::tempdir().unwrap();
    let server = tls_server(pki.path()).await;
    let pgpass = pki.path().join("pgpass");
    std::fs::write(
        &pgpass,
        format!(
            "# stratum test\nlocalhost:{}:postgres:pw_user:pw\\:se\\\\cret\n",
            server.port
        ),
    )
    .unwrap();
    let params = format!("sslmode=disable&passfile={}", pgpass.display());
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let got = server.try_connect("pw_user", "localhost", &params).await;
    assert_eq!(got, Ok(false));
    // Group-readable: ignored (with a warning), so the login fails.
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o640)).unwrap();
    let got = server.try_connect("pw_user", "localhost", &params).await;
    assert!(got.is_err(), "{got:?}");
    // A password in the URL wins over the file.
    let got = server
        .try_connect("pw_user", "localhost", "sslmode=disable&password=wrong")
        .await;
    assert!(got.is_err(), "{got:?}");
}

/// A port where another service answers (bytes that are not PostgreSQL's
/// protocol), and one where nothing ever answers the handshake: each a
/// clear error naming the server, exit 2, never a wait without end.
#[tokio::test(flavor = "current_thread")]
async fn a_server_that_is_not_postgresql_is_named_as_such() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let talker = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (talks, waits) = (
        talker.local_addr().unwrap().port(),
        silent.local_addr().unwrap().port(),
    );
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = talker.accept().await {
            // Its banner, then the end of what it sends; what the client
            // sends is read to its end, so that nothing resets.
            let _ = socket.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").await;
            let _ = socket.shutdown().await;
            let mut buf = [0u8; 1024];
            while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
        }
    });
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let stratum = |url: String| {
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_stratum"))
                .args(["status", "--db", &url])
                .env_remove("DATABASE_URL")
                .output()
                .unwrap()
        })
    };
    let out = stratum(format!("postgres://app@127.0.0.1:{talks}/app"))
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "connecting to app@127.0.0.1:{talks}/app: the server there does not answer as \
             PostgreSQL does"
        )),
        "{stderr}"
    );
    let out = stratum(format!(
        "postgres://app@127.0.0.1:{waits}/app?sslmode=disable&connect_timeout=1"
    ))
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("no PostgreSQL handshake within 1 s"),
        "{stderr}"
    );
}
