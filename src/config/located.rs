//! Errors about `stratum.yaml` at the place they are about: the line of
//! the key a value error names, and a suggestion for a misspelt key.

use std::path::Path;

/// serde's `unknown field `x`, expected one of `a`, `b`` (or `unknown
/// variant`) with the closest expected word suggested when one is close.
pub(super) fn did_you_mean(message: &str) -> String {
    let ticked = |s: &str| -> Vec<String> {
        s.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    let Some(rest) = message
        .strip_prefix("unknown field ")
        .or_else(|| message.strip_prefix("unknown variant "))
    else {
        return message.to_string();
    };
    let Some((given, expected)) = rest.split_once(", expected") else {
        return message.to_string();
    };
    let Some(given) = ticked(given).pop() else {
        return message.to_string();
    };
    let best = ticked(expected)
        .into_iter()
        .map(|word| (strsim::levenshtein(&given, &word), word))
        .min();
    match best {
        Some((distance, word)) if distance <= (given.len() / 3).max(2) => {
            // Right after the word, before the list of every valid one.
            message.replacen(
                &format!("`{given}`, expected"),
                &format!("`{given}` (did you mean `{word}`?), expected"),
                1,
            )
        }
        _ => message.to_string(),
    }
}

/// The line of `key` (`rehearse.sample`: nested keys under their parents,
/// block style) in YAML `text`; the deepest parent found when the key is
/// written inline.
fn key_line(text: &str, key: &str) -> Option<usize> {
    let mut parts = key.split('.');
    let mut want = parts.next()?;
    let mut parent: Option<usize> = None;
    let mut found = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if let Some(p) = parent {
            if indent <= p {
                // Past the parent's block.
                break;
            }
        }
        let at_level = parent.map_or(indent == 0, |p| indent > p);
        if at_level
            && trimmed
                .strip_prefix(want)
                .is_some_and(|r| r.starts_with(':'))
        {
            found = Some(n + 1);
            match parts.next() {
                Some(next) => {
                    want = next;
                    parent = Some(indent);
                }
                None => return found,
            }
        }
    }
    found
}

/// `e`, about a value of configuration file `path` (`shown` as the user
/// would name it), led by the file and the line of the key its message
/// starts with (`rehearse.sample: ...`), when that key is in the file.
pub(super) fn locate(path: &Path, shown: &str, e: anyhow::Error) -> anyhow::Error {
    let message = format!("{e:#}");
    let key: String = message
        .chars()
        .take_while(|c| c.is_ascii_lowercase() || *c == '_' || *c == '.')
        .collect();
    let line = std::fs::read_to_string(path)
        .ok()
        .filter(|_| !key.is_empty())
        .and_then(|text| key_line(&text, key.trim_end_matches('.')));
    match line {
        Some(line) => anyhow::anyhow!("{shown}:{line}: {message}"),
        None => anyhow::anyhow!("{shown}: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_key_or_value_gets_the_closest_one() {
        assert_eq!(
            did_you_mean(
                "unknown field `migrashuns`, expected one of `schema`, `migrations`, `layout`"
            ),
            "unknown field `migrashuns` (did you mean `migrations`?), expected one of `schema`, \
             `migrations`, `layout`"
        );
        assert!(
            did_you_mean("unknown variant `flywy`, expected one of `stratum`, `flyway`")
                .contains("`flywy` (did you mean `flyway`?), expected")
        );
        let far = "unknown field `zzz`, expected one of `schema`, `layout`";
        assert_eq!(did_you_mean(far), far);
    }

    #[test]
    fn a_value_error_names_its_key_line_nested_or_inline() {
        let text = "schema: s/\nrehearse:\n  # sampling\n  max_rows: 10\n  sample: 2\nbackfill: {pause: x}\n";
        assert_eq!(key_line(text, "rehearse.sample"), Some(5));
        assert_eq!(key_line(text, "rehearse"), Some(2));
        assert_eq!(key_line(text, "backfill.pause"), Some(6));
        assert_eq!(key_line(text, "timeouts.lock"), None);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stratum.yaml");
        std::fs::write(&path, text).unwrap();
        let e = locate(
            &path,
            "stratum.yaml",
            anyhow::anyhow!("rehearse.sample: \"2\" is no percentage"),
        );
        assert_eq!(
            e.to_string(),
            "stratum.yaml:5: rehearse.sample: \"2\" is no percentage"
        );
    }
}
