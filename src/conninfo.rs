//! Connection settings: a `postgres://` URL completed with libpq's defaults
//! and `PG*` environment variables, which tokio-postgres does not apply.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Client, Config, NoTls};

/// Directories where libpq builds look for the server's Unix socket.
const SOCKET_DIRS: [&str; 2] = ["/var/run/postgresql", "/tmp"];

/// Parses `url` and fills what it leaves out the way libpq would: from
/// `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`,
/// `PGAPPNAME`, `PGCONNECT_TIMEOUT`, `PGOPTIONS`, then libpq's defaults (a
/// Unix socket, port 5432, the OS user, a database named after the user).
pub fn config(url: &str) -> Result<Config> {
    config_with(url, &|name| std::env::var(name).ok())
}

fn config_with(url: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config> {
    let mut config =
        Config::from_str(url).with_context(|| format!("invalid URL {}", redact(url)))?;
    if config.get_ports().is_empty() {
        if let Some(port) = env("PGPORT") {
            config.port(
                port.parse()
                    .with_context(|| format!("PGPORT={port} is not a port"))?,
            );
        }
    }
    if config.get_hosts().is_empty() {
        match env("PGHOST") {
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
    if config.get_user().is_none() {
        let user = env("PGUSER")
            .or_else(|| env("USER"))
            .or_else(|| env("LOGNAME"))
            .context("no user in the URL, and PGUSER and USER are unset")?;
        config.user(user);
    }
    if config.get_dbname().is_none() {
        let db =
            env("PGDATABASE").unwrap_or_else(|| config.get_user().unwrap_or_default().to_string());
        config.dbname(db);
    }
    if config.get_password().is_none() {
        if let Some(password) = env("PGPASSWORD") {
            config.password(password);
        }
    }
    if !url.contains("sslmode=") {
        if let Some(mode) = env("PGSSLMODE") {
            config.ssl_mode(match mode.as_str() {
                "disable" => SslMode::Disable,
                "allow" | "prefer" => SslMode::Prefer,
                "require" | "verify-ca" | "verify-full" => SslMode::Require,
                other => bail!("PGSSLMODE={other} is not an sslmode"),
            });
        }
    }
    if config.get_application_name().is_none() {
        config.application_name(env("PGAPPNAME").unwrap_or_else(|| "stratum".into()));
    }
    if config.get_connect_timeout().is_none() {
        if let Some(secs) = env("PGCONNECT_TIMEOUT").and_then(|s| s.parse().ok()) {
            config.connect_timeout(Duration::from_secs(secs));
        }
    }
    if config.get_options().is_none() {
        if let Some(options) = env("PGOPTIONS") {
            config.options(options);
        }
    }
    Ok(config)
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
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "?".into(),
    };
    format!(
        "{}@{}:{}/{}",
        config.get_user().unwrap_or("?"),
        host,
        config.get_ports().first().copied().unwrap_or(5432),
        config.get_dbname().unwrap_or("?")
    )
}

/// Connects to a URL (completed as [`config`] does).
pub async fn connect_url(url: &str) -> Result<Client> {
    connect(&config(url)?).await
}

/// Connects and drives the connection in the background.
pub async fn connect(config: &Config) -> Result<Client> {
    if config.get_ssl_mode() == SslMode::Require {
        bail!(
            "sslmode=require is not supported yet: stratum connects without TLS \
             (use sslmode=disable or prefer, or a Unix socket)"
        );
    }
    let (client, connection) = config
        .connect(NoTls)
        .await
        .with_context(|| format!("connecting to {}", describe(config)))?;
    tokio::spawn(async move {
        // The error, if any, surfaces on the next query.
        let _ = connection.await;
    });
    Ok(client)
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
        .unwrap();
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
        assert_eq!(c.get_hosts(), &[Host::Tcp("db.example".into())]);
        assert_eq!(c.get_user(), Some("u"));
        assert_eq!(c.get_dbname(), Some("x"));
        assert_eq!(c.get_ssl_mode(), SslMode::Disable);
    }

    #[test]
    fn database_defaults_to_user() {
        let c = config_with("postgres://", &env(&[("USER", "me")])).unwrap();
        assert_eq!(c.get_dbname(), Some("me"));
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
