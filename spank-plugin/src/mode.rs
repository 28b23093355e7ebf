//! `--energy-assess[=MODE]` and the site policy: is this job assessed, and how?
//!
//! MODE is a comma-separated list of words: `on` (the same as no MODE), `off` (opt out, where
//! the site allows it), `summary` (also write a summary file into the job's working
//! directory). Words are checked when the user submits (the option callback in sbatch, srun
//! and salloc), so a typo fails the submission with a message, not silently later.

use crate::config::{Config, DefaultPolicy};
use crate::host::OptionValue;
use ea_record::{AssessMode, Trigger};
use std::fmt;

/// The words `--energy-assess=MODE` accepts, for help and error messages.
pub const MODE_WORDS: &str = "on, off, summary";

/// What a MODE asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mode {
    /// `off`: the user opts out.
    pub off: bool,
    /// `summary`: write the job's summary file even where the site's default is not to.
    pub summary: bool,
}

/// Why a MODE is refused; the message (logged, and shown to the user by sbatch) lists the valid
/// words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeError {
    /// A word that is not one of [`MODE_WORDS`].
    UnknownWord(String),
    /// `on` and `off` in the same MODE.
    OnAndOff,
}

impl fmt::Display for ModeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModeError::UnknownWord(word) => write!(
                f,
                "--energy-assess: unknown MODE `{word}`; use one or more of: {MODE_WORDS} \
                 (e.g. --energy-assess=summary)"
            ),
            ModeError::OnAndOff => {
                f.write_str("--energy-assess: MODE cannot be both `on` and `off`")
            }
        }
    }
}

impl std::error::Error for ModeError {}

/// Parses MODE. `None` (no `=MODE`) means "on".
///
/// # Errors
/// An unknown word, or `on` and `off` together; the message lists the valid words.
pub fn parse_mode(value: Option<&str>) -> Result<Mode, ModeError> {
    let mut mode = Mode::default();
    let (mut on, mut off) = (false, false);
    for word in value
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
    {
        match word.to_ascii_lowercase().as_str() {
            "on" | "yes" => on = true,
            "off" | "no" => off = true,
            "summary" => mode.summary = true,
            _ => return Err(ModeError::UnknownWord(word.to_string())),
        }
    }
    if on && off {
        return Err(ModeError::OnAndOff);
    }
    mode.off = off;
    Ok(mode)
}

/// The plugin's verdict for one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Not assessed; the reason is for debug logs.
    Skip(&'static str),
    /// Assessed, in this mode (recorded in the record).
    Assess(AssessMode),
}

/// Applies the site policy to what the user asked. Returns a note for the log when the user's
/// wish was overridden or their MODE could not be read.
pub fn decide(option: &OptionValue, config: &Config) -> (Decision, Option<String>) {
    let always = config.default == DefaultPolicy::Always;
    match option {
        OptionValue::NotGiven | OptionValue::Unavailable => {
            if always {
                let mode = AssessMode {
                    trigger: Trigger::SiteDefault,
                    requested: None,
                    summary: config.summary,
                };
                (Decision::Assess(mode), None)
            } else {
                (
                    Decision::Skip("--energy-assess not given and the site default is opt-in"),
                    None,
                )
            }
        }
        OptionValue::Given(value) => {
            let (mode, note) = match parse_mode(value.as_deref()) {
                Ok(m) => (m, None),
                // Already refused at submission; if it still gets here (an old sbatch, a
                // hand-set environment variable), assess with the default mode and say why.
                Err(e) => (
                    Mode::default(),
                    Some(format!("{e}; assessing with the default mode")),
                ),
            };
            if mode.off {
                if config.allow_opt_out || !always {
                    return (
                        Decision::Skip("the job opted out with --energy-assess=off"),
                        note,
                    );
                }
                let note = Some(
                    "--energy-assess=off ignored: the site assesses every job (allow_opt_out = false)"
                        .to_string(),
                );
                let mode = AssessMode {
                    trigger: Trigger::SiteDefault,
                    requested: value.clone(),
                    summary: config.summary,
                };
                return (Decision::Assess(mode), note);
            }
            let mode = AssessMode {
                trigger: Trigger::Option,
                requested: value.clone(),
                summary: mode.summary || config.summary,
            };
            (Decision::Assess(mode), note)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(default: DefaultPolicy, allow_opt_out: bool) -> Config {
        Config {
            default,
            allow_opt_out,
            ..Config::default()
        }
    }

    #[test]
    fn modes_parse() {
        assert_eq!(parse_mode(None).unwrap(), Mode::default());
        assert_eq!(parse_mode(Some("")).unwrap(), Mode::default());
        assert_eq!(
            parse_mode(Some("off")).unwrap(),
            Mode {
                off: true,
                summary: false
            }
        );
        assert_eq!(
            parse_mode(Some("on, Summary")).unwrap(),
            Mode {
                off: false,
                summary: true
            }
        );
        let e = parse_mode(Some("summry")).unwrap_err().to_string();
        assert!(e.contains("summry") && e.contains(MODE_WORDS), "{e}");
        assert!(parse_mode(Some("on,off")).is_err());
    }

    #[test]
    fn opt_in_sites_assess_only_jobs_that_ask() {
        let c = config(DefaultPolicy::OptIn, true);
        assert!(matches!(
            decide(&OptionValue::NotGiven, &c).0,
            Decision::Skip(_)
        ));
        assert!(matches!(
            decide(&OptionValue::Unavailable, &c).0,
            Decision::Skip(_)
        ));
        match decide(&OptionValue::Given(None), &c).0 {
            Decision::Assess(m) => {
                assert_eq!(m.trigger, Trigger::Option);
                assert!(!m.summary);
            }
            d => panic!("{d:?}"),
        }
        match decide(&OptionValue::Given(Some("summary".into())), &c).0 {
            Decision::Assess(m) => assert!(m.summary && m.requested.as_deref() == Some("summary")),
            d => panic!("{d:?}"),
        }
        assert!(matches!(
            decide(&OptionValue::Given(Some("off".into())), &c).0,
            Decision::Skip(_)
        ));
    }

    #[test]
    fn always_sites_assess_everyone_and_honour_opt_out_if_allowed() {
        let c = config(DefaultPolicy::Always, true);
        match decide(&OptionValue::NotGiven, &c).0 {
            Decision::Assess(m) => assert_eq!(m.trigger, Trigger::SiteDefault),
            d => panic!("{d:?}"),
        }
        assert!(matches!(
            decide(&OptionValue::Given(Some("off".into())), &c).0,
            Decision::Skip(_)
        ));
        let strict = config(DefaultPolicy::Always, false);
        let (d, note) = decide(&OptionValue::Given(Some("off".into())), &strict);
        assert!(matches!(d, Decision::Assess(_)));
        assert!(note.unwrap().contains("allow_opt_out"));
    }

    #[test]
    fn a_bad_mode_that_slipped_through_still_assesses_with_a_note() {
        let c = config(DefaultPolicy::OptIn, true);
        let (d, note) = decide(&OptionValue::Given(Some("bogus".into())), &c);
        assert!(matches!(d, Decision::Assess(_)));
        assert!(note.unwrap().contains("bogus"));
    }
}
