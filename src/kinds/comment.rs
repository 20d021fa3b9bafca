//! Comments on any object. Each kind diffs the comments of its own objects
//! through [`changed`]; this module only holds the step.

use super::{Change, Effects, Action, Kind, ObjectId, Shown};
use crate::sql::literal;
use crate::kinds::rank::{self, Rank};

/// COMMENT ON ... IS.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CommentChange {
    /// The object commented on.
    pub object: ObjectId,
    /// The SQL after `COMMENT ON`, e.g. `TABLE app.users`.
    pub target: String,
    /// The comment now.
    pub from: Option<String>,
    /// The comment wanted.
    pub to: Option<String>,
}

/// Pushes a comment change when the two comments differ.
pub(crate) fn changed(
    out: &mut Vec<Change>,
    object: ObjectId,
    target: String,
    from: Option<&String>,
    to: Option<&String>,
) {
    if from != to {
        out.push(Change::from(CommentChange {
            object,
            target,
            from: from.cloned(),
            to: to.cloned(),
        }));
    }
}

impl Action for CommentChange {
    fn id(&self) -> ObjectId {
        self.object.clone()
    }

    fn verb(&self) -> &'static str {
        "comment"
    }

    fn effects(&self) -> Effects {
        super::needs(vec![self.object.clone()])
    }

    fn sql(&self) -> Option<String> {
        Some(format!(
            "COMMENT ON {} IS {};",
            self.target,
            self.to.as_deref().map(literal).unwrap_or_else(|| "NULL".into())
        ))
    }

    fn rank(&self) -> Rank {
        rank::CREATE_POLICY
    }

    fn shown(&self) -> Shown {
        Shown::Comment
    }
}

/// Read with the objects they are on, and compared by them.
impl Kind for CommentChange {}
