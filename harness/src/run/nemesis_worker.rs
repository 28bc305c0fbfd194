//! The nemesis's side of the main phase: the fault schedule applied step by step (each fault
//! confirmed before it is recorded, what was in force kept for the progress line), and the
//! heal that undoes everything, also on an interruption.

use super::*;

/// The nemesis's side of the main phase: applies each step, records it in the history and in
/// `nemesis.jsonl`, and keeps what the progress line and the results say of the faults.
pub(super) struct NemesisWorker<'a> {
    /// What the progress line shows as in force.
    pub(super) fault_now: &'a Mutex<String>,
    pub(super) fault_counts: BTreeMap<&'static str, u64>,
    pub(super) errors: Vec<String>,
    pub(super) first_errors: BTreeMap<&'static str, String>,
}

impl NemesisWorker<'_> {
    pub(super) fn step(
        &mut self,
        step: &schedule::Step,
        sup: &mut Supervisor,
        recorder: &Recorder,
        log: &mut std::fs::File,
    ) {
        let (f, plan) = match &step.action {
            Action::Start { plan } => (format!("start-{}", plan.kind()), Some(plan)),
            Action::Stop => ("stop".to_string(), None),
        };
        let planned = plan.map(|p| p.to_string()).unwrap_or_else(|| "heal".into());
        recorder.nemesis("invoke", &f, json!(planned), Map::new());
        let result = match plan {
            Some(p) => sup.nemesis.start(p, &mut sup.nodes).map(Some),
            None => sup.nemesis.stop(&mut sup.nodes),
        };
        let time = recorder.elapsed().as_nanos() as u64;
        let action = if plan.is_some() { "start" } else { "stop" };
        match result {
            Ok(Some(applied)) => {
                self.in_force(plan.is_some(), &applied);
                let nodes: Vec<String> = applied
                    .nodes
                    .iter()
                    .map(|i| format!("n{}", i + 1))
                    .collect();
                let mut extra = Map::new();
                extra.insert("nodes".into(), json!(nodes));
                recorder.nemesis("info", &f, json!(applied.description), extra);
                let line = json!({
                    "time": time,
                    "action": action,
                    "pattern": step.pattern,
                    "fault": applied.kind.name(),
                    "plan": plan,
                    "applied": applied.description,
                    "nodes": nodes,
                    "detail": applied.detail,
                });
                let _ = writeln!(log, "{line}");
            }
            Ok(None) => recorder.nemesis("info", &f, json!("nothing to heal"), Map::new()),
            Err(e) => {
                let mut extra = Map::new();
                extra.insert("error".into(), json!(e));
                recorder.nemesis("info", &f, json!("not applied"), extra);
                let line = json!({"time": time, "action": action, "pattern": step.pattern, "plan": plan, "error": e});
                let _ = writeln!(log, "{line}");
                eprintln!("\nfaultline: nemesis: {e}");
                if let Some(p) = plan {
                    self.first_errors
                        .entry(p.kind().name())
                        .or_insert_with(|| e.clone());
                }
                self.errors.push(e);
            }
        }
        if let Some((i, status)) = sup.crashed() {
            eprintln!(
                "\nfaultline: n{} exited on its own ({status}); see {}",
                i + 1,
                sup.log_path(i).display()
            );
        }
    }

    /// Counts a started fault and says what is in force now.
    pub(super) fn in_force(&mut self, started: bool, applied: &nemesis::Applied) {
        let mut now = self.fault_now.lock().expect("fault lock");
        if !started {
            *now = "none".into();
            return;
        }
        *self.fault_counts.entry(applied.kind.name()).or_default() += 1;
        *now = match now.as_str() {
            "none" => applied.description.clone(),
            // Two faults in force together.
            before => format!("{before} + {}", applied.description),
        };
    }
}

/// Heal: every fault undone (killed nodes restarted unless interrupted), recorded.
pub(super) fn heal(live: &mut Live, interrupted: bool) {
    let Live {
        sup,
        recorder,
        nemesis_log,
        ..
    } = live;
    recorder.nemesis("invoke", "heal", json!("heal everything"), Map::new());
    let errors = sup.nemesis.heal_all(&mut sup.nodes, !interrupted);
    let said = if errors.is_empty() {
        "healed".to_string()
    } else {
        errors.join("; ")
    };
    recorder.nemesis("info", "heal", json!(said), Map::new());
    for e in &errors {
        eprintln!("faultline: while healing: {e}");
    }
    let line = json!({"time": recorder.elapsed().as_nanos() as u64, "action": "heal-all", "errors": errors});
    let _ = writeln!(nemesis_log, "{line}");
}
