//! What a register history's verdict rests on: where the registers start (`--initial`, both
//! readings when the history does not say) and Knossos's rule for reads of nil — each said in a
//! note beside the verdict when it changes it.

use super::*;

/// A verdict that depends on where the registers start: the sentence that names both readings
/// and the flag for each.
pub(super) fn initial_ambiguity(
    history: &History,
    model: ModelKind,
    ladder: &Ladder,
    levels: &[Level],
    args: &CheckArgs,
    opts: &Options,
) -> Result<Option<String>, String> {
    if args.initial.is_some() || model == ModelKind::KvAppend {
        return Ok(None);
    }
    let Some(start) = checker::conventions::unwritten_start(history) else {
        return Ok(None);
    };
    let opts = Options {
        progress: None,
        ..opts.clone()
    };
    let started = checker::conventions::with_initial(history, &start.value);
    let other = consistency::assess(&started, model, levels, &opts).map_err(|e| e.to_string())?;
    let (empty, at) = (ladder.standing(args.level()), other.standing(args.level()));
    if empty == at {
        return Ok(None);
    }
    let said = |s: Standing| match s {
        Standing::Holds => "holds",
        Standing::Violated => "is violated",
        Standing::Unknown => "is undecided",
    };
    let v = checker::consistency::words::value(&start.value);
    let key = checker::consistency::words::key_name(start.key.as_deref());
    let req = args.level();
    Ok(Some(format!(
        "reads of {key} return {v}, which nothing wrote ({} read{} in all): if the registers start at {v} (Knossos's (cas-register {v})), {req} {} — pass --initial {v}; if they start empty, {v} is a phantom read and {req} {} — pass --initial none",
        start.reads,
        if start.reads == 1 { "" } else { "s" },
        said(at),
        said(empty)
    )))
}

/// When Knossos's rule for reads of nil would change the linearizability verdict, a note that
/// says so. Only a violation can become a pass under the rule, and only a pass a violation
/// without it, so the other verdict is computed only then. `strict` is the history under the
/// strict rule.
pub(super) fn knossos_rule_note(
    strict: &History,
    model: ModelKind,
    ladder: &Ladder,
    args: &CheckArgs,
    opts: &Options,
) -> Option<String> {
    if model == ModelKind::KvAppend || checker::conventions::nil_reads(strict) == 0 {
        return None;
    }
    let standing = ladder.standing(Level::Linearizable);
    let (other, wanted, words) = match args.nil_reads {
        NilReads::Strict if standing == Standing::Violated => (
                std::borrow::Cow::Owned(checker::conventions::nil_reads_match_any(strict)),
                checker::Verdict::Linearizable,
                "under Knossos's rule that a read of nil matches any state (--nil-reads any) it would be linearizable",
            ),
        NilReads::Any if standing == Standing::Holds => (
            std::borrow::Cow::Borrowed(strict),
            checker::Verdict::NotLinearizable,
            "under faultline's strict rule for reads of nil (the default) it is not linearizable",
        ),
        _ => return None,
    };
    let opts = Options {
        progress: None,
        ..opts.clone()
    };
    let report = checker::check(&other, model, &opts).ok()?;
    (report.verdict == wanted).then(|| words.to_string())
}
