//! A job's share of a node: 1 on an exclusive node; on a shared node, the fraction of the
//! node's cores, GPUs, memory or billing weight it held, by the site's rule.
//!
//! The default rule, the largest of the cores, GPU and memory fractions, charges a job for what
//! it kept others from using: a job holding 1 core and all the GPUs of a node blocks the node.

use super::{Flag, Flags, Held};
use crate::policy::{NodeCapacity, ShareRule};
use serde::Serialize;

/// Which term gave the share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShareBasis {
    /// The job had the node to itself.
    Exclusive,
    /// The cores fraction.
    Cores,
    /// The GPUs fraction.
    Gpus,
    /// The memory fraction.
    Memory,
    /// The billing fraction.
    Billing,
    /// Shared node, but nothing says what the job held: the whole node is charged (flagged).
    WholeNodeAssumed,
}

/// The share (0..=1), what decided it, and flags about missing or inconsistent data.
pub(crate) fn share(
    rule: ShareRule,
    exclusive: bool,
    held: &Held,
    cap: &NodeCapacity,
) -> (f64, ShareBasis, Flags) {
    let mut flags = Flags::default();
    if exclusive {
        return (1.0, ShareBasis::Exclusive, flags);
    }
    let fraction = |h: Option<f64>, c: Option<f64>| match (h, c) {
        (Some(h), Some(c)) if c > 0.0 => Some(h / c),
        _ => None,
    };
    let cores = fraction(held.cpus.map(f64::from), cap.cpus.map(f64::from));
    let gpus = if cap.gpus > 0 {
        fraction(held.gpus.map(f64::from), Some(f64::from(cap.gpus)))
    } else {
        None
    };
    let memory = fraction(
        held.memory_mb.map(|m| m as f64),
        cap.memory_mb.map(|m| m as f64),
    );
    let billing = fraction(held.billing, cap.billing);

    let largest = || {
        [
            (cores, ShareBasis::Cores),
            (gpus, ShareBasis::Gpus),
            (memory, ShareBasis::Memory),
        ]
        .into_iter()
        .filter_map(|(v, b)| v.map(|v| (v, b)))
        .fold(None, |best: Option<(f64, ShareBasis)>, x| match best {
            Some(b) if b.0 >= x.0 => Some(b),
            _ => Some(x),
        })
    };
    let chosen = match rule {
        ShareRule::Cores => cores.map(|v| (v, ShareBasis::Cores)),
        ShareRule::Gpus if cap.gpus == 0 => cores.map(|v| (v, ShareBasis::Cores)),
        ShareRule::Gpus => gpus.map(|v| (v, ShareBasis::Gpus)),
        ShareRule::Memory => memory.map(|v| (v, ShareBasis::Memory)),
        ShareRule::Max => largest(),
        ShareRule::Billing => billing.map(|v| (v, ShareBasis::Billing)),
    };
    let chosen = match chosen {
        Some(c) => Some(c),
        None if rule != ShareRule::Max => {
            flags.set(Flag::ShareRuleFallback);
            largest()
        }
        None => None,
    };
    match chosen {
        Some((v, basis)) => {
            if v > 1.0 + 1e-9 {
                flags.set(Flag::HeldMoreThanNode);
            }
            (v.clamp(0.0, 1.0), basis, flags)
        }
        None => {
            flags.set(Flag::NoShareData);
            (1.0, ShareBasis::WholeNodeAssumed, flags)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap() -> NodeCapacity {
        NodeCapacity {
            cpus: Some(64),
            memory_mb: Some(512 * 1024),
            gpus: 8,
            billing: Some(100.0),
        }
    }

    #[test]
    fn exclusive_is_whole_node() {
        assert_eq!(
            share(ShareRule::Cores, true, &Held::default(), &cap()).0,
            1.0
        );
    }

    #[test]
    fn max_rule_takes_the_largest_term() {
        let held = Held {
            cpus: Some(8),
            gpus: Some(4),
            memory_mb: Some(64 * 1024),
            billing: None,
        };
        let (s, b, f) = share(ShareRule::Max, false, &held, &cap());
        assert_eq!((s, b), (0.5, ShareBasis::Gpus));
        assert!(f.is_empty());
        assert_eq!(share(ShareRule::Cores, false, &held, &cap()).0, 0.125);
        assert_eq!(share(ShareRule::Memory, false, &held, &cap()).0, 0.125);
        assert_eq!(share(ShareRule::Gpus, false, &held, &cap()).0, 0.5);
    }

    #[test]
    fn billing_rule_and_its_fallback() {
        let held = Held {
            cpus: Some(16),
            billing: Some(30.0),
            ..Default::default()
        };
        assert_eq!(share(ShareRule::Billing, false, &held, &cap()).0, 0.3);
        let no_billing = Held {
            cpus: Some(16),
            ..Default::default()
        };
        let (s, b, f) = share(ShareRule::Billing, false, &no_billing, &cap());
        assert_eq!((s, b), (0.25, ShareBasis::Cores));
        assert!(f.contains(Flag::ShareRuleFallback));
    }

    #[test]
    fn missing_or_inconsistent_data_is_flagged() {
        let (s, b, f) = share(ShareRule::Max, false, &Held::default(), &cap());
        assert_eq!((s, b), (1.0, ShareBasis::WholeNodeAssumed));
        assert!(f.contains(Flag::NoShareData));
        let (s, _, f) = share(
            ShareRule::Cores,
            false,
            &Held {
                cpus: Some(128),
                ..Default::default()
            },
            &cap(),
        );
        assert_eq!(s, 1.0);
        assert!(f.contains(Flag::HeldMoreThanNode));
    }
}
