//! The security policy: which roles must have a second factor, and how long a browser session
//! lasts idle and at most. Read on every signed-in request, so each process keeps a copy for a
//! few seconds; a change made here replaces this process's copy at once.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use portal_domain::Role;
use portal_domain::schedule::PolicyProblem;
use serde::{Deserialize, Serialize};
use tracing::info;

use super::{Actor, ServiceError, Services};

const KEY: &str = "security";

/// How long a process keeps its copy of the policy before reading it again.
const FRESH_FOR: Duration = Duration::from_secs(5);

/// The security policy as the API shows and takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecurityDoc {
    /// The roles whose users must have a second factor (an authenticator app or a passkey)
    /// before they may do anything else.
    pub mfa_required_for: Vec<String>,
    /// A browser session ends after this many minutes without use, 5 to 1,440.
    pub session_idle_minutes: i64,
    /// A browser session ends this many hours after its sign-in at the latest, 1 to 720.
    pub session_max_hours: i64,
}

impl SecurityDoc {
    /// The policy before a landlord administrator sets one: the roles given at start-up
    /// (`PORTAL_MFA_REQUIRED_FOR`, landlord administrators by default), 30 minutes idle,
    /// 12 hours at most.
    pub fn initial(mfa_required_for: &[Role]) -> Self {
        Self {
            mfa_required_for: mfa_required_for
                .iter()
                .map(|r| r.as_str().to_owned())
                .collect(),
            session_idle_minutes: 30,
            session_max_hours: 12,
        }
    }

    /// The policy's rules; roles come back once each, in the order of `Role::ALL`.
    pub fn check(mut self) -> Result<Self, Vec<PolicyProblem>> {
        let mut problems = Vec::new();
        let mut roles = Vec::new();
        for name in &self.mfa_required_for {
            match name.parse::<Role>() {
                Ok(role) => roles.push(role),
                Err(_) => {
                    problems.push(PolicyProblem {
                        field: "mfa_required_for",
                        message: format!(
                            "{:?} is not a role; the roles are {}.",
                            name.chars().take(40).collect::<String>(),
                            role_names()
                        ),
                    });
                    break;
                }
            }
        }
        if !(5..=1440).contains(&self.session_idle_minutes) {
            problems.push(PolicyProblem {
                field: "session_idle_minutes",
                message: "session_idle_minutes must be a whole number from 5 to 1440.".into(),
            });
        }
        if !(1..=720).contains(&self.session_max_hours) {
            problems.push(PolicyProblem {
                field: "session_max_hours",
                message: "session_max_hours must be a whole number from 1 to 720.".into(),
            });
        } else if self.session_idle_minutes > self.session_max_hours * 60 {
            problems.push(PolicyProblem {
                field: "session_idle_minutes",
                message: "session_idle_minutes cannot be longer than session_max_hours.".into(),
            });
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        self.mfa_required_for = Role::ALL
            .iter()
            .filter(|r| roles.contains(r))
            .map(|r| r.as_str().to_owned())
            .collect();
        Ok(self)
    }

    /// Whether users of `role` must have a second factor.
    pub fn requires_second_factor(&self, role: Role) -> bool {
        self.mfa_required_for.iter().any(|r| r == role.as_str())
    }

    pub fn idle_ms(&self) -> i64 {
        self.session_idle_minutes * 60_000
    }

    pub fn max_ms(&self) -> i64 {
        self.session_max_hours * 60 * 60_000
    }
}

/// The names of the roles, for messages.
pub fn role_names() -> String {
    Role::ALL
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses a comma-separated list of roles (`none` or nothing for none).
pub fn parse_roles(text: &str) -> Result<Vec<Role>, String> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|name| {
            name.trim().parse::<Role>().map_err(|_| {
                format!(
                    "{:?} is not a role; the roles are {}",
                    name.trim(),
                    role_names()
                )
            })
        })
        .collect()
}

/// This process's copy of the policy, with the default used while none is stored.
#[derive(Debug, Clone)]
pub struct SecurityCache {
    initial: SecurityDoc,
    copy: Arc<RwLock<Option<(SecurityDoc, Instant)>>>,
}

impl SecurityCache {
    pub fn new(initial: SecurityDoc) -> Self {
        Self {
            initial,
            copy: Arc::new(RwLock::new(None)),
        }
    }

    fn fresh(&self) -> Option<SecurityDoc> {
        let copy = self.copy.read().ok()?;
        copy.as_ref()
            .filter(|(_, at)| at.elapsed() < FRESH_FOR)
            .map(|(doc, _)| doc.clone())
    }

    fn keep(&self, doc: &SecurityDoc) {
        if let Ok(mut copy) = self.copy.write() {
            *copy = Some((doc.clone(), Instant::now()));
        }
    }
}

/// The policy in force.
pub async fn policy(services: &Services) -> Result<SecurityDoc, ServiceError> {
    if let Some(doc) = services.security.fresh() {
        return Ok(doc);
    }
    let doc = match services.store.get_setting(KEY).await? {
        Some(text) => serde_json::from_str(&text).map_err(|e| ServiceError::Internal(e.into()))?,
        None => services.security.initial.clone(),
    };
    services.security.keep(&doc);
    Ok(doc)
}

/// Reads the policy (landlord administrators).
pub async fn get_policy(services: &Services, actor: &Actor) -> Result<SecurityDoc, ServiceError> {
    actor.require(portal_domain::Permission::ChangeSettings)?;
    policy(services).await
}

/// Sets the policy after checking it (landlord administrators).
pub async fn put_policy(
    services: &Services,
    actor: &Actor,
    doc: SecurityDoc,
) -> Result<Result<SecurityDoc, Vec<PolicyProblem>>, ServiceError> {
    actor.require(portal_domain::Permission::ChangeSettings)?;
    let doc = match doc.check() {
        Ok(doc) => doc,
        Err(problems) => return Ok(Err(problems)),
    };
    let detail = format!(
        "second factor required for: {}; sessions {} min idle, {} h at most",
        if doc.mfa_required_for.is_empty() {
            "nobody".to_owned()
        } else {
            doc.mfa_required_for.join(", ")
        },
        doc.session_idle_minutes,
        doc.session_max_hours
    );
    super::policy::write_setting(
        services,
        actor,
        KEY,
        &doc,
        portal_domain::AuditAction::SecurityPolicyChanged,
        Some(detail),
    )
    .await?;
    services.security.keep(&doc);
    info!("security policy set");
    Ok(Ok(doc))
}

/// Whether `actor` must set up a second factor before anything else.
pub async fn must_enrol(services: &Services, actor: &Actor) -> Result<bool, ServiceError> {
    if actor.second_factor.enrolled || actor.credential.is_none() {
        return Ok(false);
    }
    Ok(policy(services).await?.requires_second_factor(actor.role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_checked_and_kept_once_in_order() {
        let doc = SecurityDoc {
            mfa_required_for: vec![
                "tenant_admin".into(),
                "landlord_admin".into(),
                "tenant_admin".into(),
            ],
            session_idle_minutes: 30,
            session_max_hours: 12,
        };
        let doc = doc.check().expect("valid");
        assert_eq!(doc.mfa_required_for, ["landlord_admin", "tenant_admin"]);
        assert!(doc.requires_second_factor(Role::TenantAdmin));
        assert!(!doc.requires_second_factor(Role::LandlordViewer));
    }

    #[test]
    fn bad_values_name_their_field() {
        let doc = SecurityDoc {
            mfa_required_for: vec!["root".into()],
            session_idle_minutes: 4,
            session_max_hours: 721,
        };
        let problems = doc.check().expect_err("invalid");
        let fields: Vec<_> = problems.iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "mfa_required_for",
                "session_idle_minutes",
                "session_max_hours"
            ]
        );
        let longer = SecurityDoc {
            mfa_required_for: vec![],
            session_idle_minutes: 120,
            session_max_hours: 1,
        };
        assert_eq!(
            longer.check().expect_err("idle over max")[0].field,
            "session_idle_minutes"
        );
    }

    #[test]
    fn role_lists_parse_from_settings() {
        assert_eq!(parse_roles(" none ").expect("none"), []);
        assert_eq!(parse_roles("").expect("empty"), []);
        assert_eq!(
            parse_roles("landlord_admin, tenant_admin").expect("two"),
            [Role::LandlordAdmin, Role::TenantAdmin]
        );
        assert!(
            parse_roles("landlord_admin,boss")
                .expect_err("bad")
                .contains("boss")
        );
    }
}
