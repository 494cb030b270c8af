//! The provisioning policy: immediately, or in the provider's off-peak window.

use portal_domain::RequestStatus;
use portal_domain::schedule::{OffPeak, PolicyProblem};
use portal_store::request::WindowCap;
use serde::{Deserialize, Serialize};

use super::{Actor, ServiceError, Services};

/// The policy's setting.
pub(super) const KEY: &str = "provisioning";

/// The policy as the API shows and takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDoc {
    /// `immediate` or `off_peak`.
    pub mode: String,
    pub off_peak: Option<OffPeakDoc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OffPeakDoc {
    /// Local time the window opens, `HH:MM`.
    pub start: String,
    /// Local time it closes, `HH:MM` (earlier than start: the next day).
    pub end: String,
    /// IANA time zone, e.g. `Europe/London`.
    pub time_zone: String,
    /// At most this many requests start in one window; null for no cap.
    pub max_per_window: Option<i64>,
}

impl Default for PolicyDoc {
    fn default() -> Self {
        Self {
            mode: "immediate".into(),
            off_peak: Some(OffPeakDoc {
                start: "22:00".into(),
                end: "06:00".into(),
                time_zone: "UTC".into(),
                max_per_window: None,
            }),
        }
    }
}

impl PolicyDoc {
    /// The window rules, when the mode is off-peak.
    pub fn check(&self) -> Result<Option<OffPeak>, Vec<PolicyProblem>> {
        let off_peak = |doc: &OffPeakDoc| {
            OffPeak::parse(&doc.start, &doc.end, &doc.time_zone, doc.max_per_window)
        };
        match (self.mode.as_str(), &self.off_peak) {
            ("immediate", None) => Ok(None),
            ("immediate", Some(doc)) => off_peak(doc).map(|_| None),
            ("off_peak", Some(doc)) => off_peak(doc).map(Some),
            ("off_peak", None) => Err(vec![PolicyProblem {
                field: "off_peak",
                message: "off_peak is required when mode is off_peak.".into(),
            }]),
            _ => Err(vec![PolicyProblem {
                field: "mode",
                message: "mode must be immediate or off_peak.".into(),
            }]),
        }
    }
}

/// A setting stored as a JSON document, or its default while it was never set.
pub(super) async fn read_setting<T: serde::de::DeserializeOwned + Default>(
    services: &Services,
    key: &str,
) -> Result<T, ServiceError> {
    setting_of(services.store.get_setting(key).await?)
}

/// A setting's document from its stored text, or its default while it was never set.
pub(super) fn setting_of<T: serde::de::DeserializeOwned + Default>(
    text: Option<String>,
) -> Result<T, ServiceError> {
    match text {
        Some(text) => serde_json::from_str(&text).map_err(|e| ServiceError::Internal(e.into())),
        None => Ok(T::default()),
    }
}

/// Stores a setting as a JSON document, with its audit entry (`action`, `detail`) in the same
/// transaction.
pub(super) async fn write_setting<T: Serialize>(
    services: &Services,
    actor: &Actor,
    key: &str,
    doc: &T,
    action: portal_domain::AuditAction,
    detail: Option<String>,
) -> Result<(), ServiceError> {
    let text = serde_json::to_string(doc).map_err(|e| ServiceError::Internal(e.into()))?;
    let audit = super::audit::entry(
        Some(actor),
        action,
        None,
        None,
        Some(detail.unwrap_or_else(|| text.clone())),
    );
    services
        .store
        .put_setting(
            key,
            &text,
            Some(&actor.id),
            portal_store::now_ms(),
            Some(&audit),
        )
        .await?;
    Ok(())
}

/// The policy as its editors see it.
pub async fn get_policy(services: &Services, actor: &Actor) -> Result<PolicyDoc, ServiceError> {
    actor.require(portal_domain::Permission::ChangeSettings)?;
    current(services).await
}

/// The policy in force, for the portal's own use.
pub async fn current(services: &Services) -> Result<PolicyDoc, ServiceError> {
    read_setting(services, KEY).await
}

/// Sets the policy after checking it; requests already accepted keep their times.
pub async fn put_policy(
    services: &Services,
    actor: &Actor,
    doc: PolicyDoc,
) -> Result<Result<PolicyDoc, Vec<PolicyProblem>>, ServiceError> {
    actor.require(portal_domain::Permission::ChangeSettings)?;
    if let Err(problems) = doc.check() {
        return Ok(Err(problems));
    }
    let detail = match doc.check().ok().flatten() {
        None => "provision immediately".to_owned(),
        Some(_) => match &doc.off_peak {
            Some(w) => format!(
                "provision in the off-peak window {}–{} ({}){}",
                w.start,
                w.end,
                w.time_zone,
                w.max_per_window
                    .map(|n| format!(", at most {n} per window"))
                    .unwrap_or_default()
            ),
            None => "provision in the off-peak window".to_owned(),
        },
    };
    let action = portal_domain::AuditAction::PolicyChanged;
    write_setting(services, actor, KEY, &doc, action, Some(detail)).await?;
    tracing::info!(mode = %doc.mode, "provisioning policy set");
    Ok(Ok(doc))
}

/// Where a new request goes: its status, when it starts, and the capped window it takes a
/// place in (for the store to check atomically).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub status: RequestStatus,
    pub scheduled_for: Option<i64>,
    pub window_cap: Option<WindowCap>,
}

/// Places a request accepted at `now` by the current policy.
pub async fn place(services: &Services, now: i64) -> Result<Placement, ServiceError> {
    place_by(services, &current(services).await?, now).await
}

/// Places a request accepted at `now` by `policy`, read a moment before.
pub(super) async fn place_by(
    services: &Services,
    policy: &PolicyDoc,
    now: i64,
) -> Result<Placement, ServiceError> {
    let immediate = Placement {
        status: RequestStatus::Accepted,
        scheduled_for: None,
        window_cap: None,
    };
    let Some(off_peak) = policy.check().ok().flatten() else {
        return Ok(immediate);
    };
    let now_ts =
        jiff::Timestamp::from_millisecond(now).map_err(|e| ServiceError::Internal(e.into()))?;
    let mut window = off_peak.current_or_next(now_ts);
    for _ in 0..366 {
        let (start, end) = (window.start.as_millisecond(), window.end.as_millisecond());
        let room = match off_peak.max_per_window {
            None => true,
            Some(cap) => services.store.count_starting_in(start, end).await? < i64::from(cap),
        };
        if room {
            let at = start.max(now);
            return Ok(Placement {
                status: if at > now {
                    RequestStatus::Scheduled
                } else {
                    RequestStatus::Accepted
                },
                scheduled_for: Some(at),
                window_cap: off_peak.max_per_window.map(|cap| WindowCap {
                    start,
                    end,
                    cap: i64::from(cap),
                }),
            });
        }
        window = off_peak.next_after(window);
    }
    Err(ServiceError::Unavailable)
}
