//! `kubelab fault …`.

use kubelab::config::LabConfig;
use kubelab::lab::Lab;

use super::args::FaultAction;
use super::dispatch::open_hv;
use super::errors::ExpectedError;

/// `kubelab fault …`.
pub async fn fault(cfg: &LabConfig, action: FaultAction) -> Result<(), ExpectedError> {
    use kubelab::fault::{ALL, FaultKind, FaultLab};
    let kind_of = |id: &str| {
        FaultKind::from_id(id).ok_or_else(|| {
            ExpectedError::Lab(
                kubelab::errors::ConfigError::Invalid {
                    key: "fault kind".into(),
                    message: format!("unknown fault `{id}`; one of: {}", ALL.iter().map(|k| k.id()).collect::<Vec<_>>().join(", ")),
                }
                .into(),
            )
        })
    };
    if let FaultAction::List = action {
        for k in ALL {
            let live = k.live_skip(cfg.profile).map(|r| format!("recorded only here: {r}")).unwrap_or_else(|| "live".into());
            println!(
                "{:<20} breaks: {:<60} [{live}]\n{:<20} guide: {}",
                k.id(),
                if k.checks().is_empty() { "ssh (diagnosed by kubelab's retry/backoff)".to_string() } else { k.checks().join(", ") },
                "",
                k.pitfall()
            );
        }
        return Ok(());
    }
    let lab = Lab::new(cfg.clone(), open_hv(cfg)?);
    let state = lab.load_state()?;
    let shell = lab.shell(&state)?;
    let fl = FaultLab::new(&lab, &state, shell);
    match action {
        FaultAction::List => unreachable!("handled above"),
        FaultAction::Inject { kind, node } => {
            let f = fl.inject(kind_of(&kind)?, node.as_deref()).await?;
            eprintln!("injected {} on {}: {}", f.kind.id(), f.node, f.detail);
        }
        FaultAction::Heal { kind, node } => {
            let d = fl.heal(kind_of(&kind)?, node.as_deref()).await?;
            eprintln!("healed {kind}: {d}");
        }
    }
    Ok(())
}
