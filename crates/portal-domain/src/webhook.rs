//! Events out: what the portal tells the provider's other systems (billing, CRM, support) as
//! signed webhooks, which endpoints want which events, and which addresses an endpoint may
//! never point at.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

crate::text_enum! {
    /// A kind of event, as its `type` says it.
    pub enum EventType as "event type" {
        RequestSubmitted = "request.submitted",
        RequestScheduled = "request.scheduled",
        RequestProvisioning = "request.provisioning",
        RequestCompleted = "request.completed",
        RequestFailed = "request.failed",
        RequestCancelled = "request.cancelled",
        RequestRejected = "request.rejected",
        TenantSuspended = "tenant.suspended",
        TenantResumed = "tenant.resumed",
        TenantClosed = "tenant.closed",
        TenantPurged = "tenant.purged",
        /// A closed tenant reopened within its retention.
        TenantReopened = "tenant.reopened",
        TenantPackageChanged = "tenant.package_changed",
        ParametersPublished = "parameters.published",
    }
}

crate::text_enum! {
    /// Whether an endpoint is sent its events.
    pub enum EndpointStatus as "endpoint status" {
        Enabled = "enabled",
        /// By the provider's staff, or by the portal after five days of failures.
        Disabled = "disabled",
    }
}

crate::text_enum! {
    /// Where one delivery of an event to an endpoint stands.
    pub enum DeliveryStatus as "delivery status" {
        /// Not yet answered with a 2xx; attempts go on.
        Pending = "pending",
        Delivered = "delivered",
        /// Out of attempts.
        Failed = "failed",
    }
}

/// What an event is about, and so what its `data` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSubject {
    /// A subscription request, as `GET /api/v1/subscription-requests/{id}` answers it.
    Request,
    /// A tenant, as `GET /api/v1/tenants/{id}` answers it.
    Tenant,
    /// A tenant's published Smart Queues parameters.
    Parameters,
}

impl EventType {
    /// The event a request's move tells, if it tells one.
    pub fn of_request(
        event: crate::RequestEvent,
        to: Option<crate::RequestStatus>,
    ) -> Option<Self> {
        use crate::RequestStatus as S;
        if event == crate::RequestEvent::Submitted {
            return Some(Self::RequestSubmitted);
        }
        Some(match to? {
            S::Scheduled => Self::RequestScheduled,
            S::Provisioning => Self::RequestProvisioning,
            S::Completed => Self::RequestCompleted,
            S::Failed => Self::RequestFailed,
            S::Cancelled => Self::RequestCancelled,
            S::Rejected => Self::RequestRejected,
            S::PendingVerification | S::PendingApproval | S::PendingDomain | S::Accepted => {
                return None;
            }
        })
    }

    /// The event a tenant's move tells.
    pub const fn of_tenant(action: crate::TenantAction) -> Self {
        use crate::TenantAction as A;
        match action {
            A::Suspend => Self::TenantSuspended,
            A::Resume => Self::TenantResumed,
            A::Close => Self::TenantClosed,
            A::Reopen => Self::TenantReopened,
            A::Purge => Self::TenantPurged,
        }
    }

    /// What the event is about.
    pub const fn subject(self) -> EventSubject {
        match self {
            Self::RequestSubmitted
            | Self::RequestScheduled
            | Self::RequestProvisioning
            | Self::RequestCompleted
            | Self::RequestFailed
            | Self::RequestCancelled
            | Self::RequestRejected => EventSubject::Request,
            Self::ParametersPublished => EventSubject::Parameters,
            _ => EventSubject::Tenant,
        }
    }
}

/// How long after its `attempt`-th failed attempt (1 for the first) a delivery is tried again,
/// before scaling; `None` once it has had its last. The delays grow from seconds to twelve
/// hours, over about 40 hours in all.
pub const fn retry_delay_secs(attempt: i64) -> Option<i64> {
    const DELAYS: [i64; 11] = [
        5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 43200, 43200,
    ];
    if attempt < 1 || attempt > DELAYS.len() as i64 {
        return None;
    }
    Some(DELAYS[(attempt - 1) as usize])
}

/// How long an endpoint may fail every delivery before the portal disables it.
pub const FAILING_DAYS_BEFORE_DISABLED: i64 = 5;

/// The events an endpoint wants: every one, or those named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFilter {
    All,
    Only(Vec<EventType>),
}

/// Why an endpoint's event list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventFilterError {
    #[error("name at least one event, or \"*\" for all")]
    Empty,
    #[error("{0:?} is not an event; the events are {events}", events = EventType::ALL.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", "))]
    Unknown(String),
    #[error("\"*\" stands for every event, and goes alone")]
    StarWithOthers,
}

impl EventFilter {
    /// The filter of `["*"]` or a list of event types (each once, in the order given).
    pub fn parse(names: &[String]) -> Result<Self, EventFilterError> {
        if names.is_empty() {
            return Err(EventFilterError::Empty);
        }
        if names.iter().any(|n| n == "*") {
            return if names.len() == 1 {
                Ok(Self::All)
            } else {
                Err(EventFilterError::StarWithOthers)
            };
        }
        let mut events = Vec::new();
        for name in names {
            let event = name
                .parse::<EventType>()
                .map_err(|_| EventFilterError::Unknown(name.clone()))?;
            if !events.contains(&event) {
                events.push(event);
            }
        }
        Ok(Self::Only(events))
    }

    /// Whether an endpoint with this filter wants `event`.
    pub fn wants(&self, event: EventType) -> bool {
        match self {
            Self::All => true,
            Self::Only(events) => events.contains(&event),
        }
    }

    /// The names as the API shows them (`["*"]` for all).
    pub fn names(&self) -> Vec<String> {
        match self {
            Self::All => vec!["*".to_owned()],
            Self::Only(events) => events.iter().map(|e| e.as_str().to_owned()).collect(),
        }
    }
}

/// Whether a webhook may never be sent to `ip` (unless private addresses are allowed): the
/// machine itself, private and shared networks, link-local (cloud metadata), multicast,
/// broadcast, unspecified and documentation addresses, and their IPv6 forms.
pub fn is_forbidden_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => forbidden_v4(v4),
            None => forbidden_v6(v6),
        },
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        // "This network", shared address space (carrier-grade NAT), and reserved.
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || a >= 240
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded = |high: u16, low: u16| {
        let [a, b] = high.to_be_bytes();
        let [c, d] = low.to_be_bytes();
        forbidden_v4(Ipv4Addr::new(a, b, c, d))
    };
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // Unique local (fc00::/7), link-local (fe80::/10) and the old site-local (fec0::/10).
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        // Documentation (2001:db8::/32) and Teredo (2001::/32), which tunnels to any IPv4.
        || (s[0] == 0x2001 && (s[1] == 0x0db8 || s[1] == 0))
        // IPv4 inside IPv6: compatible (::a.b.c.d), NAT64 (64:ff9b::/96), 6to4 (2002::/16).
        || (s[..6] == [0; 6] && embedded(s[6], s[7]))
        || (s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] && embedded(s[6], s[7]))
        || (s[0] == 0x2002 && embedded(s[1], s[2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_events_wanted_are_all_or_those_named_once() {
        let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(EventFilter::parse(&names(&["*"])), Ok(EventFilter::All));
        let some = EventFilter::parse(&names(&[
            "request.completed",
            "tenant.closed",
            "request.completed",
        ]))
        .unwrap();
        assert_eq!(some.names(), ["request.completed", "tenant.closed"]);
        assert!(some.wants(EventType::TenantClosed));
        assert!(!some.wants(EventType::RequestFailed));
        assert_eq!(EventFilter::parse(&[]), Err(EventFilterError::Empty));
        assert_eq!(
            EventFilter::parse(&names(&["*", "tenant.closed"])),
            Err(EventFilterError::StarWithOthers)
        );
        let unknown = EventFilter::parse(&names(&["tenant.exploded"])).unwrap_err();
        assert!(
            unknown.to_string().contains("request.submitted"),
            "{unknown}"
        );
    }

    #[test]
    fn retries_go_on_for_more_than_a_day_and_then_stop() {
        let total: i64 = (1..=11).map(|n| retry_delay_secs(n).unwrap()).sum();
        assert!(total > 24 * 3600, "{total}");
        assert_eq!(retry_delay_secs(12), None);
        assert_eq!(retry_delay_secs(0), None);
        assert!((1..11).all(|n| retry_delay_secs(n) <= retry_delay_secs(n + 1)));
    }

    #[test]
    fn request_and_tenant_moves_tell_their_events() {
        use crate::{RequestEvent as E, RequestStatus as S};
        assert_eq!(
            EventType::of_request(E::Submitted, Some(S::Accepted)),
            Some(EventType::RequestSubmitted)
        );
        assert_eq!(
            EventType::of_request(E::Completed, Some(S::Completed)),
            Some(EventType::RequestCompleted)
        );
        assert_eq!(EventType::of_request(E::Verified, Some(S::Accepted)), None);
        assert_eq!(
            EventType::of_tenant(crate::TenantAction::Close),
            EventType::TenantClosed
        );
        assert_eq!(EventType::TenantClosed.subject(), EventSubject::Tenant);
        assert_eq!(EventType::RequestFailed.subject(), EventSubject::Request);
    }

    #[test]
    fn private_and_special_addresses_are_forbidden_and_public_ones_not() {
        for forbidden in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:0a00:0001::1",
            "2001:0:4136:e378::1",
            "fec0::1",
        ] {
            let ip: IpAddr = forbidden.parse().unwrap();
            assert!(is_forbidden_address(ip), "{forbidden}");
        }
        for allowed in ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"] {
            let ip: IpAddr = allowed.parse().unwrap();
            assert!(!is_forbidden_address(ip), "{allowed}");
        }
    }
}
