//! Approvals of hazards: a code for every object (`--allow-hazards
//! data-loss`), or for the one object a reviewer approved
//! (`data-loss:app.users.bio`; `*` and `?` match several).

use std::collections::BTreeSet;

use super::HazardCode;

/// One approval.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Approval {
    /// The hazard approved.
    pub code: HazardCode,
    /// Only on objects this pattern names (their name, `app.users.bio`,
    /// or the whole label, `column app.users.bio`); every object when
    /// None.
    pub object: Option<String>,
}

impl std::str::FromStr for Approval {
    type Err = String;

    fn from_str(text: &str) -> Result<Approval, String> {
        let (code, object) = match text.split_once(':') {
            Some((code, object)) if !object.trim().is_empty() => {
                (code, Some(object.trim().to_string()))
            }
            Some((code, _)) => (code, None),
            None => (text, None),
        };
        let code = HazardCode::parse(code.trim()).ok_or_else(|| {
            let codes: Vec<&str> = <HazardCode as clap::ValueEnum>::value_variants()
                .iter()
                .map(|c| c.as_str())
                .collect();
            format!(
                "`{}` is no hazard code (one of {}, optionally `:object`)",
                code.trim(),
                codes.join(", ")
            )
        })?;
        Ok(Approval { code, object })
    }
}

impl<'de> serde::Deserialize<'de> for Approval {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Approval, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl std::fmt::Display for Approval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.object {
            Some(object) => write!(f, "{}:{object}", self.code.as_str()),
            None => f.write_str(self.code.as_str()),
        }
    }
}

impl Approval {
    /// The approval of `code` on exactly the object `label` names (a step's
    /// object, `column app.users.bio`): by its name when the label is
    /// `kind name`, else by the whole label.
    pub fn of(code: HazardCode, label: &str) -> Approval {
        let words: Vec<&str> = label.split_whitespace().collect();
        let object = match words.as_slice() {
            [_, name] => name.to_string(),
            _ => label.to_string(),
        };
        Approval {
            code,
            object: Some(object),
        }
    }

    /// True when it approves a hazard of `code` on `object` (a step's
    /// object label, or a statement's hazard message that names it): the
    /// pattern matches the whole text or one of its words.
    pub fn allows(&self, code: HazardCode, object: &str) -> bool {
        if self.code != code {
            return false;
        }
        let Some(pattern) = &self.object else {
            return true;
        };
        let glob = crate::filter::glob;
        // A file's statement may name `t.c` where the catalog says
        // `public.t.c`: an unqualified name is taken as public's.
        glob(pattern, object)
            || object
                .split_whitespace()
                .map(|w| w.trim_end_matches([',', ':', ';', ')']))
                .any(|w| glob(pattern, w) || glob(pattern, &format!("public.{w}")))
    }
}

/// The approvals of a run: stratum.yaml's and the flags'.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Approvals(Vec<Approval>);

impl FromIterator<Approval> for Approvals {
    fn from_iter<I: IntoIterator<Item = Approval>>(iter: I) -> Approvals {
        let mut all: Vec<Approval> = iter.into_iter().collect();
        all.sort();
        all.dedup();
        Approvals(all)
    }
}

impl<const N: usize> From<[HazardCode; N]> for Approvals {
    /// These codes, on every object.
    fn from(codes: [HazardCode; N]) -> Approvals {
        Approvals::of_codes(codes)
    }
}

impl Approvals {
    /// True when one of them approves a hazard of `code` on `object`.
    pub fn allows(&self, code: HazardCode, object: &str) -> bool {
        self.0.iter().any(|a| a.allows(code, object))
    }

    /// True when `code` is approved on every object.
    pub fn contains(&self, code: &HazardCode) -> bool {
        self.0.iter().any(|a| a.code == *code && a.object.is_none())
    }

    /// The codes approved on every object.
    pub fn codes(&self) -> BTreeSet<HazardCode> {
        self.0
            .iter()
            .filter(|a| a.object.is_none())
            .map(|a| a.code)
            .collect()
    }

    /// These and `more`.
    pub fn with(&self, more: &Approvals) -> Approvals {
        self.0.iter().chain(&more.0).cloned().collect()
    }

    /// Approvals of whole codes.
    pub fn of_codes(codes: impl IntoIterator<Item = HazardCode>) -> Approvals {
        codes
            .into_iter()
            .map(|code| Approval { code, object: None })
            .collect()
    }
}

/// `--allow-hazards data-loss:app.users.bio,table-rewrite:app.t`: the flag
/// that approves exactly `refused` (codes and the objects they were
/// refused on), and the one that approves those codes everywhere.
pub fn flags_for(refused: &[(HazardCode, String)]) -> (String, String) {
    let exact: BTreeSet<String> = refused
        .iter()
        .map(|(code, label)| Approval::of(*code, label).to_string())
        .collect();
    let codes: BTreeSet<&str> = refused.iter().map(|(c, _)| c.as_str()).collect();
    let quote = |list: Vec<String>| {
        let joined = list.join(",");
        if joined.contains(' ') {
            format!("'{joined}'")
        } else {
            joined
        }
    };
    (
        format!("--allow-hazards {}", quote(exact.into_iter().collect())),
        format!(
            "--allow-hazards {}",
            codes.into_iter().collect::<Vec<_>>().join(",")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_approval_names_a_code_and_maybe_an_object() {
        let a: Approval = "data-loss:app.users.bio".parse().unwrap();
        assert_eq!(a.code, HazardCode::DataLoss);
        assert!(a.allows(HazardCode::DataLoss, "column app.users.bio"));
        assert!(a.allows(HazardCode::DataLoss, "drops column app.users.bio"));
        let public: Approval = "data-loss:public.t.a".parse().unwrap();
        assert!(public.allows(HazardCode::DataLoss, "drops column t.a"));
        assert!(!a.allows(HazardCode::DataLoss, "column app.users.email"));
        assert!(!a.allows(HazardCode::TableRewrite, "column app.users.bio"));
        let all: Approval = "data-loss".parse().unwrap();
        assert!(all.allows(HazardCode::DataLoss, "table app.t"));
        let some: Approval = "index-dropped:app.hotfix_*".parse().unwrap();
        assert!(some.allows(HazardCode::IndexDropped, "index app.hotfix_1"));
        assert!("data-los:x"
            .parse::<Approval>()
            .unwrap_err()
            .contains("data-los"));
        assert_eq!(a.to_string(), "data-loss:app.users.bio");
    }

    #[test]
    fn a_refusal_names_the_exact_flag() {
        let (exact, codes) = flags_for(&[
            (HazardCode::DataLoss, "column app.users.bio".into()),
            (HazardCode::TableRewrite, "table app.t".into()),
            (HazardCode::DataLoss, "table app.old".into()),
        ]);
        assert_eq!(
            exact,
            "--allow-hazards data-loss:app.old,data-loss:app.users.bio,table-rewrite:app.t"
        );
        assert_eq!(codes, "--allow-hazards data-loss,table-rewrite");
        let approvals: Approvals = ["data-loss:app.users.bio".parse().unwrap()]
            .into_iter()
            .collect();
        assert!(approvals.allows(HazardCode::DataLoss, "column app.users.bio"));
        assert!(!approvals.contains(&HazardCode::DataLoss));
    }
}
