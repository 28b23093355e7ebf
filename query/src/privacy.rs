//! Who is asking, and what they may see: Slurm's `PrivateData=jobs` rule. An admin (root, or a
//! user or group named in the config's `[privacy]`) sees every job; anyone else sees only
//! their own, in `acct`, `job` and `report` alike.
//!
//! The identity is the process's real uid and the groups the system database gives that user
//! (NSS, so LDAP users work). When energy-assess runs setgid to the store's group (the way a
//! site lets users query a store they cannot read), paths to another config or store given on
//! the command line are refused to non-admins: they could otherwise name a config that makes
//! them an admin.

use ea_store::config::Config;
use std::ffi::OsStr;

/// The caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The caller's uid.
    pub uid: u32,
    /// The caller's user name, when the system knows it.
    pub user: Option<String>,
    /// The caller's groups, by name.
    pub groups: Vec<String>,
    /// Whether the caller sees every job (an admin by the config, or root).
    pub admin: bool,
    /// Running with an effective group other than the real one (a setgid install).
    pub setgid: bool,
}

impl Identity {
    /// The calling process's identity, judged against the config's admins.
    pub fn current(config: &Config) -> Self {
        let uid = uzers::get_current_uid();
        let user = uzers::get_user_by_uid(uid).map(|u| u.name().to_string_lossy().into_owned());
        let groups = match &user {
            Some(name) => {
                let gid = uzers::get_user_by_uid(uid)
                    .map(|u| u.primary_group_id())
                    .unwrap_or(uzers::get_current_gid());
                uzers::get_user_groups(OsStr::new(name), gid)
                    .unwrap_or_default()
                    .iter()
                    .map(|g| g.name().to_string_lossy().into_owned())
                    .collect()
            }
            None => Vec::new(),
        };
        let setgid = uzers::get_current_gid() != uzers::get_effective_gid();
        Self::judge(uid, user, groups, setgid, config)
    }

    /// Decides admin rights from an identity and the config (pure, for tests).
    pub fn judge(
        uid: u32,
        user: Option<String>,
        groups: Vec<String>,
        setgid: bool,
        config: &Config,
    ) -> Self {
        let uid_text = uid.to_string();
        let admin = uid == 0
            || config
                .admin_users
                .iter()
                .any(|a| a == &uid_text || Some(a) == user.as_ref())
            || groups.iter().any(|g| config.admin_groups.contains(g));
        Self {
            uid,
            user,
            groups,
            admin,
            setgid,
        }
    }

    /// The SQL condition (on alias `j`) that keeps a non-admin to their own jobs, and its
    /// parameters; `None` for admins. Jobs are matched by uid where the accounting has it,
    /// by user name otherwise.
    pub fn restriction(&self) -> Option<(String, Vec<rusqlite::types::Value>)> {
        if self.admin {
            return None;
        }
        use rusqlite::types::Value as V;
        Some((
            "(j.uid = ? OR (j.uid IS NULL AND j.user = ?))".into(),
            vec![
                V::Integer(i64::from(self.uid)),
                self.user.clone().map_or(V::Null, V::Text),
            ],
        ))
    }

    /// Whether this caller may point the tool at another config or store.
    ///
    /// # Errors
    /// A non-admin under a setgid install, with the reason.
    pub fn may_override_paths(&self) -> Result<(), OverrideRefused> {
        if self.setgid && !self.admin {
            Err(OverrideRefused)
        } else {
            Ok(())
        }
    }
}

/// `--config` or `--db` asked for by a non-admin under a setgid install: the site's store is
/// the one queried, so that nobody reads another store with the install's group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverrideRefused;

impl std::fmt::Display for OverrideRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "--config and --db are for admins when energy-assess runs setgid: the site's store is queried",
        )
    }
}

impl std::error::Error for OverrideRefused {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admins_by_uid_name_or_group() {
        let c = Config {
            admin_users: vec!["carol".into(), "1042".into()],
            admin_groups: vec!["hpc-staff".into()],
            ..Default::default()
        };
        let j = |uid, name: &str, groups: &[&str]| {
            Identity::judge(
                uid,
                Some(name.into()),
                groups.iter().map(|g| g.to_string()).collect(),
                false,
                &c,
            )
            .admin
        };
        assert!(j(0, "root", &[]));
        assert!(j(1001, "carol", &[]));
        assert!(j(1042, "dave", &[]));
        assert!(j(1003, "erin", &["users", "hpc-staff"]));
        assert!(!j(1004, "alice", &["users"]));
        let alice = Identity::judge(1004, Some("alice".into()), vec![], true, &c);
        let (sql, params) = alice.restriction().unwrap();
        assert!(sql.contains("j.uid = ?"));
        assert_eq!(params.len(), 2);
        assert!(alice.may_override_paths().is_err());
    }
}
