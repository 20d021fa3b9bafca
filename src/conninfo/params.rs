//! Parameters of a connection string, in either of libpq's forms: a
//! `postgres://` URL with a `?key=value&...` query, or `key=value ...`
//! words (values quoted with `'` where they hold spaces).

use std::collections::BTreeMap;

use anyhow::{bail, Result};

/// Takes the parameters named in `keys` out of `conn`: the rest of the
/// string, and their values (decoded).
pub fn take(conn: &str, keys: &[&str]) -> Result<(String, BTreeMap<String, String>)> {
    let mut taken = BTreeMap::new();
    if conn.starts_with("postgres://") || conn.starts_with("postgresql://") {
        let Some((base, query)) = conn.split_once('?') else {
            return Ok((conn.to_string(), taken));
        };
        let mut kept = Vec::new();
        for item in query.split('&').filter(|i| !i.is_empty()) {
            let (key, value) = item.split_once('=').unwrap_or((item, ""));
            if keys.contains(&key) {
                taken.insert(key.to_string(), decode(value)?);
            } else {
                kept.push(item);
            }
        }
        let rest = match kept.is_empty() {
            true => base.to_string(),
            false => format!("{base}?{}", kept.join("&")),
        };
        return Ok((rest, taken));
    }
    let mut kept = Vec::new();
    for (key, value) in words(conn)? {
        if keys.contains(&key.as_str()) {
            taken.insert(key, value);
        } else {
            kept.push(format!("{key}={}", quote(&value)));
        }
    }
    Ok((kept.join(" "), taken))
}

/// The `key=value` pairs of libpq's keyword form.
fn words(conn: &str) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    let mut chars = conn.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            bail!("missing \"=\" after \"{key}\" in the connection string");
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => bail!("unterminated quoted string in the connection string"),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                match c {
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
        }
        pairs.push((key, value));
    }
}

/// A value quoted for the keyword form.
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Percent-decoding of a URL's query value.
fn decode(text: &str) -> Result<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(byte) = hex else {
                bail!("invalid percent-encoding in the connection URL");
            };
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| anyhow::anyhow!("a connection URL parameter is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_parameters_from_both_forms() {
        let (rest, taken) = take(
            "postgresql://u@h/db?sslmode=verify-full&application_name=x&sslrootcert=%2Ftmp%2Fca.pem",
            &["sslmode", "sslrootcert"],
        )
        .unwrap();
        assert_eq!(rest, "postgresql://u@h/db?application_name=x");
        assert_eq!(taken["sslmode"], "verify-full");
        assert_eq!(taken["sslrootcert"], "/tmp/ca.pem");
        let (rest, taken) = take(
            "host=h sslmode = require  password='a b\\'c' service=prod",
            &["sslmode", "service"],
        )
        .unwrap();
        assert_eq!(rest, "host='h' password='a b\\'c'");
        assert_eq!(taken["sslmode"], "require");
        assert_eq!(taken["service"], "prod");
        assert!(take("host", &[]).is_err());
        assert!(take("host='x", &[]).is_err());
    }
}
