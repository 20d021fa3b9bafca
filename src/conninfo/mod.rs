//! Connection settings as libpq makes them: a `postgres://` URL (or
//! `key=value` string) completed from a service file, `PG*` environment
//! variables, `~/.pgpass` and libpq's defaults, none of which tokio-postgres
//! applies; TLS with rustls for every `sslmode`.

mod files;
mod params;
mod tls;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio_postgres::config::Host;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Config, NoTls, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

pub use tls::{SslMode, Tls};

/// Directories where libpq builds look for the server's Unix socket.
const SOCKET_DIRS: [&str; 2] = ["/var/run/postgresql", "/tmp"];

/// Parameters libpq takes and tokio-postgres does not (or not with all of
/// libpq's values): stratum reads them itself.
const LIBPQ_ONLY: [&str; 6] = [
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "service",
    "passfile",
];

/// Where to connect and how: tokio-postgres' settings and the TLS ones.
#[derive(Debug, Clone)]
pub struct Target {
    /// Host, port, user, database, password, options.
    pub config: Config,
    /// sslmode and certificates.
    pub tls: Tls,
}

impl Target {
    /// The same server and settings, another database.
    pub fn with_dbname(&self, dbname: &str) -> Target {
        let mut target = self.clone();
        target.config.dbname(dbname);
        target
    }
}

impl From<Config> for Target {
    /// A local connection (the scratch cluster's Unix socket): no TLS.
    fn from(config: Config) -> Target {
        Target {
            config,
            tls: Tls {
                mode: SslMode::Disable,
                ..Tls::default()
            },
        }
    }
}

/// Parses `url` and fills what it leaves out the way libpq would: from the
/// service it names (`service=` or `PGSERVICE`), then `PGHOST`, `PGPORT`,
/// `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`, `PGSSLROOTCERT`,
/// `PGSSLCERT`, `PGSSLKEY`, `PGAPPNAME`, `PGCONNECT_TIMEOUT`, `PGOPTIONS`,
/// then `~/.pgpass` (`PGPASSFILE`, `passfile=`) and libpq's defaults (a Unix
/// socket, port 5432, the OS user, a database named after the user).
pub fn config(url: &str) -> Result<Target> {
    config_with(url, &|name| std::env::var(name).ok())
}

fn config_with(url: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Target> {
    let invalid = || format!("invalid connection string {}", redact(url));
    let (rest, mut given) = params::take(url, &LIBPQ_ONLY).with_context(invalid)?;
    let service = match given.remove("service").or_else(|| env("PGSERVICE")) {
        Some(name) => files::service(&name, env)?,
        None => Default::default(),
    };
    // What the string leaves out: the service's value, else the variable's.
    let default = |key: &str, var: &str| service.get(key).cloned().or_else(|| env(var));
    let setting = |key: &str, var: &str| given.get(key).cloned().or_else(|| default(key, var));
    let mut config = Config::from_str(&rest).with_context(invalid)?;
    if config.get_ports().is_empty() {
        if let Some(port) = default("port", "PGPORT") {
            config.port(
                port.parse()
                    .with_context(|| format!("PGPORT={port} is not a port"))?,
            );
        }
    }
    if config.get_hosts().is_empty() {
        match default("host", "PGHOST") {
            Some(hosts) => {
                for host in hosts.split(',') {
                    add_host(&mut config, host);
                }
            }
            None => {
                let port = config.get_ports().first().copied().unwrap_or(5432);
                let dir = SOCKET_DIRS
                    .iter()
                    .find(|d| Path::new(d).join(format!(".s.PGSQL.{port}")).exists())
                    .unwrap_or(&SOCKET_DIRS[0]);
                config.host_path(dir);
            }
        }
    }
    if config.get_hostaddrs().is_empty() {
        if let Some(addrs) = default("hostaddr", "PGHOSTADDR") {
            for addr in addrs.split(',') {
                config.hostaddr(
                    addr.trim()
                        .parse()
                        .with_context(|| format!("hostaddr={addr} is not an IP address"))?,
                );
            }
        }
    }
    if config.get_user().is_none() {
        let user = default("user", "PGUSER")
            .or_else(|| env("USER"))
            .or_else(|| env("LOGNAME"))
            .context("no user in the URL, and PGUSER and USER are unset")?;
        config.user(user);
    }
    if config.get_dbname().is_none() {
        let db = default("dbname", "PGDATABASE")
            .unwrap_or_else(|| config.get_user().unwrap_or_default().to_string());
        config.dbname(db);
    }
    if config.get_password().is_none() {
        if let Some(password) = default("password", "PGPASSWORD") {
            config.password(password);
        }
    }
    if config.get_application_name().is_none() {
        config.application_name(
            default("application_name", "PGAPPNAME").unwrap_or_else(|| "stratum".into()),
        );
    }
    if config.get_connect_timeout().is_none() {
        let timeout = default("connect_timeout", "PGCONNECT_TIMEOUT");
        if let Some(secs) = timeout.and_then(|s| s.parse().ok()) {
            config.connect_timeout(Duration::from_secs(secs));
        }
    }
    if config.get_options().is_none() {
        if let Some(options) = default("options", "PGOPTIONS") {
            config.options(options);
        }
    }
    if config.get_password().is_none() {
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            // As libpq: a socket matches `localhost` in .pgpass.
            _ => "localhost".to_string(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let file = setting("passfile", "PGPASSFILE").map(PathBuf::from);
        let (db, user) = (
            config.get_dbname().unwrap_or_default(),
            config.get_user().unwrap_or_default(),
        );
        if let Some(password) = files::password(file, &host, port, db, user) {
            config.password(password);
        }
    }
    let root_cert = setting("sslrootcert", "PGSSLROOTCERT");
    let mode = match setting("sslmode", "PGSSLMODE") {
        Some(mode) => SslMode::parse(&mode)?,
        // As libpq: the platform's roots are for checking the host name.
        None if root_cert.as_deref() == Some("system") => SslMode::VerifyFull,
        None => SslMode::Prefer,
    };
    if root_cert.as_deref() == Some("system") && mode != SslMode::VerifyFull {
        bail!("sslrootcert=system needs sslmode=verify-full (a weaker sslmode would not check the host name)");
    }
    let tls = Tls {
        mode,
        root_cert,
        cert: setting("sslcert", "PGSSLCERT").map(PathBuf::from),
        key: setting("sslkey", "PGSSLKEY").map(PathBuf::from),
    };
    Ok(Target { config, tls })
}

fn add_host(config: &mut Config, host: &str) {
    if host.starts_with('/') {
        config.host_path(host);
    } else {
        config.host(host);
    }
}

/// The URL or connection string with every password replaced by `***`,
/// for messages: the one in `user:password@` (which may itself hold `@`,
/// `:` or `/`), and every `password=` or `sslpassword=` parameter, in a
/// URL's query or in `key=value` form (quoted or not). Masks too much
/// rather than too little.
pub fn redact(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme) = out.find("://") {
        let rest = scheme + 3;
        // The last `@`: a password may hold one unencoded.
        if let Some(at) = out[rest..].rfind('@').map(|i| rest + i) {
            if let Some(colon) = out[rest..at].find(':').map(|i| rest + i) {
                out.replace_range(colon + 1..at, "***");
            }
        }
    }
    let mut from = 0;
    while let Some(found) = out[from..]
        .to_ascii_lowercase()
        .find("password")
        .map(|i| from + i)
    {
        let mut start = found + "password".len();
        start += out[start..].len() - out[start..].trim_start().len();
        if !out[start..].starts_with('=') {
            from = start;
            continue;
        }
        start += 1;
        start += out[start..].len() - out[start..].trim_start().len();
        let value = &out[start..];
        let len = if let Some(quoted) = value.strip_prefix('\'') {
            // libpq's quoting: \' and \\ inside, up to the closing quote.
            let mut escaped = false;
            let close = quoted.char_indices().find(|&(_, c)| {
                let end = c == '\'' && !escaped;
                escaped = c == '\\' && !escaped;
                end
            });
            close.map_or(value.len(), |(i, _)| i + 2)
        } else {
            value.find(['&', ' ', '\t', '\n']).unwrap_or(value.len())
        };
        out.replace_range(start..start + len, "***");
        from = start + 3;
    }
    out
}

/// A human description of where a config points, e.g. `app@/tmp:5432/app`.
pub fn describe(config: &Config) -> String {
    format!(
        "{}@{}/{}",
        config.get_user().unwrap_or("?"),
        server(config),
        config.get_dbname().unwrap_or("?")
    )
}

/// The server a config points at: its first host and port, `/tmp:5432`.
pub fn server(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "?".into(),
    };
    format!(
        "{host}:{}",
        config.get_ports().first().copied().unwrap_or(5432)
    )
}

/// The PostgreSQL major version of the server at `url`.
pub async fn server_major(url: &str) -> Result<u32> {
    let client = connect_url(url).await?;
    let version: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await?
        .get(0);
    Ok((version / 10000) as u32)
}

/// Connects to a URL (completed as [`config`] does).
pub async fn connect_url(url: &str) -> Result<Client> {
    connect_target(&config(url)?).await
}

/// Connects to a local server (the scratch cluster's Unix socket), without
/// TLS, and drives the connection in the background.
pub async fn connect(config: &Config) -> Result<Client> {
    let mut config = config.clone();
    config.ssl_mode(tokio_postgres::config::SslMode::Disable);
    spawn(&config, NoTls).await
}

/// Connects as libpq would with the target's sslmode, and drives the
/// connection in the background.
pub async fn connect_target(target: &Target) -> Result<Client> {
    use tokio_postgres::config::SslMode as Wire;
    let local = is_local(&target.config);
    let with = |mode: Wire| {
        let mut config = target.config.clone();
        config.ssl_mode(mode);
        config
    };
    let tls =
        || -> Result<MakeRustlsConnect> { Ok(MakeRustlsConnect::new(target.tls.client_config()?)) };
    match target.tls.mode {
        // As libpq: no TLS over a Unix socket, whatever the mode.
        _ if local => spawn(&with(Wire::Disable), NoTls).await,
        SslMode::Disable => spawn(&with(Wire::Disable), NoTls).await,
        // As libpq: plain text first, TLS when that fails; prefer the other
        // way round (also when the server takes TLS but refuses the login
        // over it).
        SslMode::Allow => match spawn(&with(Wire::Disable), NoTls).await {
            Ok(client) => Ok(client),
            Err(_) => spawn(&with(Wire::Require), tls()?).await,
        },
        SslMode::Prefer => match spawn(&with(Wire::Prefer), tls()?).await {
            Ok(client) => Ok(client),
            Err(_) => spawn(&with(Wire::Disable), NoTls).await,
        },
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
            spawn(&with(Wire::Require), tls()?).await
        }
    }
}

/// Asks the server to cancel what the connection of `token` runs, over TLS
/// when that connection used it (with `url`'s certificates).
pub async fn cancel(token: tokio_postgres::CancelToken, url: Option<&str>) -> Result<()> {
    let tls = url
        .map(config)
        .transpose()?
        .filter(|t| t.tls.mode != SslMode::Disable && !is_local(&t.config))
        .map(|t| t.tls.client_config())
        .transpose()?;
    match tls {
        Some(tls) => token.cancel_query(MakeRustlsConnect::new(tls)).await?,
        None => token.cancel_query(NoTls).await?,
    }
    Ok(())
}

/// Whether every host is a Unix socket (which never uses TLS).
fn is_local(config: &Config) -> bool {
    config
        .get_hosts()
        .iter()
        .all(|h| matches!(h, Host::Unix(_)))
}

async fn spawn<T>(config: &Config, tls: T) -> Result<Client>
where
    T: MakeTlsConnect<Socket> + 'static + Send,
    T::TlsConnect: Send,
    T::Stream: Send,
    <T::TlsConnect as tokio_postgres::tls::TlsConnect<Socket>>::Future: Send,
{
    // As libpq's connect_timeout, the whole handshake is bounded, so that
    // a server that never answers as PostgreSQL does (another service on
    // the port) is an error, not a wait without end.
    let limit = config.get_connect_timeout().copied().unwrap_or(HANDSHAKE);
    let where_ = || format!("connecting to {}", describe(config));
    let (client, connection) = match tokio::time::timeout(limit, config.connect(tls)).await {
        Ok(Ok(connected)) => connected,
        Ok(Err(e)) if not_postgres(&e) => {
            return Err(anyhow::Error::new(e).context(format!(
                "{}: the server there does not answer as PostgreSQL does (is it another \
                 service on that port?)",
                where_()
            )))
        }
        Ok(Err(e)) => return Err(anyhow::Error::new(e).context(where_())),
        Err(_) => anyhow::bail!(
            "{}: no PostgreSQL handshake within {} s (is it another service on that port? \
             connect_timeout sets the limit)",
            where_(),
            limit.as_secs()
        ),
    };
    tokio::spawn(async move {
        // The error, if any, surfaces on the next query.
        let _ = connection.await;
    });
    Ok(client)
}

/// How long a connection's handshake may take when `connect_timeout` does
/// not say.
const HANDSHAKE: Duration = Duration::from_secs(60);

/// True when a connection failed on what the server sent: bytes that are
/// not PostgreSQL's protocol.
fn not_postgres(e: &tokio_postgres::Error) -> bool {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    e.as_db_error().is_none()
        && [
            "unexpected message",
            "error parsing",
            "invalid message",
            "bytes remaining on stream",
        ]
        .iter()
        .any(|w| text.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn fills_defaults_from_environment() {
        let c = config_with(
            "postgres://",
            &env(&[
                ("PGHOST", "/run/pg"),
                ("PGPORT", "5433"),
                ("PGUSER", "app"),
                ("PGDATABASE", "appdb"),
            ]),
        )
        .unwrap()
        .config;
        assert_eq!(c.get_hosts(), &[Host::Unix("/run/pg".into())]);
        assert_eq!(c.get_ports(), &[5433]);
        assert_eq!(c.get_user(), Some("app"));
        assert_eq!(c.get_dbname(), Some("appdb"));
    }

    #[test]
    fn url_wins_over_environment() {
        let c = config_with(
            "postgresql://u@db.example:6000/x?sslmode=disable",
            &env(&[
                ("PGHOST", "/run/pg"),
                ("PGUSER", "app"),
                ("PGSSLMODE", "require"),
            ]),
        )
        .unwrap();
        assert_eq!(c.tls.mode, SslMode::Disable);
        let c = c.config;
        assert_eq!(c.get_hosts(), &[Host::Tcp("db.example".into())]);
        assert_eq!(c.get_user(), Some("u"));
        assert_eq!(c.get_dbname(), Some("x"));
    }

    #[test]
    fn database_defaults_to_user() {
        let c = config_with("postgres://", &env(&[("USER", "me")]))
            .unwrap()
            .config;
        assert_eq!(c.get_dbname(), Some("me"));
    }

    #[test]
    fn libpq_settings_come_from_the_string_the_service_and_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let services = dir.path().join("services.conf");
        std::fs::write(
            &services,
            "[prod]\nhost=db.example\nport=6432\ndbname=app\nsslmode=verify-full\nsslrootcert=/ca.pem\n",
        )
        .unwrap();
        let file = services.display().to_string();
        let vars = [
            ("PGSERVICEFILE", file.as_str()),
            ("USER", "me"),
            ("PGSSLCERT", "/c.pem"),
        ];
        let env = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        let t = config_with("postgres:///other?service=prod&sslmode=require", &env).unwrap();
        assert_eq!(t.config.get_hosts(), &[Host::Tcp("db.example".into())]);
        assert_eq!(t.config.get_ports(), &[6432]);
        assert_eq!(t.config.get_dbname(), Some("other"));
        assert_eq!(t.tls.mode, SslMode::Require);
        assert_eq!(t.tls.root_cert.as_deref(), Some("/ca.pem"));
        assert_eq!(t.tls.cert, Some(PathBuf::from("/c.pem")));
        let t = config_with("host=h sslrootcert=system", &env).unwrap();
        assert_eq!(t.tls.mode, SslMode::VerifyFull);
        assert!(config_with("host=h sslrootcert=system sslmode=require", &env).is_err());
        assert!(config_with("host=h sslmode=sometimes", &env).is_err());
        assert!(config_with("service=nope", &env).is_err());
    }

    #[test]
    fn redacts_passwords() {
        for (url, shown) in [
            ("postgres://u:secret@h/db", "postgres://u:***@h/db"),
            ("postgres://u@h/db", "postgres://u@h/db"),
            (
                "postgres://u:p@ss:w/rd@h:5432/db",
                "postgres://u:***@h:5432/db",
            ),
            ("postgres://u:p%40ss@h/db", "postgres://u:***@h/db"),
            (
                "postgres://u@h/db?sslmode=require&password=secret&x=1",
                "postgres://u@h/db?sslmode=require&password=***&x=1",
            ),
            (
                "postgres://h/db?PASSWORD=secret",
                "postgres://h/db?PASSWORD=***",
            ),
            (
                "host=h password=secret dbname=d",
                "host=h password=*** dbname=d",
            ),
            (
                "host=h password = 'se cr\\'et' sslpassword=x",
                "host=h password = *** sslpassword=***",
            ),
        ] {
            assert_eq!(redact(url), shown, "{url}");
        }
    }
}
