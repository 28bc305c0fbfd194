//! Jepsen's own verdict (`results.edn`) beside faultline's, for a Jepsen run directory.

use super::*;

/// Jepsen's verdict beside faultline's (in JSON: Jepsen's `valid` and `failing`, and `agree`).
#[derive(serde::Serialize)]
pub(super) struct Comparison {
    #[serde(flatten)]
    pub(super) verdict: JepsenVerdict,
    pub(super) agree: Option<bool>,
    #[serde(skip)]
    ours: String,
}

impl Comparison {
    pub(super) fn of(verdict: JepsenVerdict, standing: Standing, require: &str) -> Comparison {
        let ours = match standing {
            Standing::Holds => Some(true),
            Standing::Violated => Some(false),
            Standing::Unknown => None,
        };
        let agree = match (verdict.valid, ours) {
            (Some(a), Some(b)) => Some(a == b),
            _ => None,
        };
        Comparison {
            agree,
            ours: format!("{require} {}", standing.words()),
            verdict,
        }
    }

    pub(super) fn sentence(&self) -> String {
        let judgement = match self.agree {
            Some(true) => "faultline agrees",
            Some(false) => "faultline DISAGREES",
            None => "no comparison (one of the two is unknown)",
        };
        format!("{} — faultline: {}: {judgement}", self.verdict, self.ours)
    }
}
