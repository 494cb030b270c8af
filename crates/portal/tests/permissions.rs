//! Every route the application serves, walked as a signed-out visitor and as each role: the
//! three landlord roles, tenant A's administrator and supervisor, and the administrator of
//! tenant B (another tenant). Each answer is checked against the permission matrix
//! (`Role::may`) through one rule per (method, route) in `RULES`. The routes come from the
//! router itself (`portal::web::route_paths()` × the five methods; a method a route does not
//! serve answers 405), so a route added without a rule fails this test, and so does a rule for
//! something the router no longer serves. Every mismatch is listed at once at the end.
//!
//! What a rule expects:
//! - forbidden by the matrix: exactly 403 (pages too);
//! - a tenant's user on tenant A's object when it belongs to tenant B: 404;
//! - allowed: a GET answers 2xx; anything else answers neither 401, 403, 404, 405 nor 5xx
//!   (404 and 410 are fine where the path names something that does not exist on purpose:
//!   one's own session or token by an unknown id, a link with an unknown token);
//! - signed out: 401 from the API, 303 to `/sign-in` from a page (a form sent may get the
//!   sign-in page in its place, 401, as Tenant Registration does to keep what was typed).
//!
//! How the walk stays harmless: path parameters are filled with tenant A's ids (tenant,
//! request, the supervisor's account, a mail) or with ids that name nothing (sessions, tokens,
//! link tokens); `{action}` is `cancel`, which the completed request refuses (409), or for a
//! tenant `suspend`, which is refused without a reason (422). A mutating
//! call sends a body that the handler reads without trouble but that fails validation, so the
//! call reaches the permission check (an empty `{}` would be refused as malformed, 400, before
//! it by several handlers) and an allowed caller changes nothing: see `json_body` and
//! `form_body`. Role changes name the role the account already has. The template routes use a
//! template made for the walk, and the two calls that retire it run after every other call of
//! each walker; the landlord administrator walks last. A call that ends the walker's token or
//! session (signing out, ending other sessions, sending the sign-in form) is followed by a
//! fresh sign-in. SQLite only: nothing checked here depends on the database.

#![allow(clippy::unwrap_used)] // Test helpers outside #[test] functions unwrap too.

mod common;

use common::{ADMIN, ADMIN_PASSWORD, Db, TENANT_PASSWORD, TestApp, spawn_app, submission};
use portal_domain::Permission as P;
use portal_domain::{Permission, Role};
use reqwest::Method;
use serde_json::{Value, json};

use self::Rule::{
    Landlord, Link, Own, Perm, PermMaybe, Public, SignIn, SignedIn, Staff, Tenant, TenantOwn,
};

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Anyone, signed in or not.
    Public,
    /// Anyone; the link it follows is unknown here, so 404 or 410 is a fine answer.
    Link,
    /// Signing in: wrong credentials answer 401 by design.
    SignIn,
    /// Any signed-in user, on their own account.
    SignedIn,
    /// Any signed-in user, on one of their own sessions or tokens, named by an unknown id.
    Own,
    /// A role with this permission, whichever tenant it is of.
    Perm(Permission),
    /// The same, on something named by an unknown id (404 is a fine answer).
    PermMaybe(Permission),
    /// A landlord role with this permission; a tenant's users get 403.
    Landlord(Permission),
    /// A landlord role with this permission; to a tenant's users it does not exist (404).
    Staff(Permission),
    /// This permission, on an object of tenant A: a user of another tenant gets 404.
    Tenant(Permission),
    /// The same, on a thing within tenant A that may not exist (the caller's own draft, a
    /// change of package by an unknown id).
    TenantOwn(Permission),
}

/// One rule per (method, route template) the router serves, in the router's order.
#[rustfmt::skip]
const RULES: &[(&str, &str, Rule)] = &[
    // API: one's own account, sessions and tokens; signing in and links from emails.
    ("GET",    "/api/v1/me",                                  SignedIn),
    ("POST",   "/api/v1/me/password",                         SignedIn),
    ("GET",    "/api/v1/me/sessions",                         SignedIn),
    ("DELETE", "/api/v1/me/sessions/{id}",                    Own),
    ("POST",   "/api/v1/me/sessions/end-others",              SignedIn),
    ("POST",   "/api/v1/me/mfa/totp",                         SignedIn),
    ("DELETE", "/api/v1/me/mfa/totp",                         SignedIn),
    ("POST",   "/api/v1/me/mfa/totp/confirm",                 SignedIn),
    ("POST",   "/api/v1/me/mfa/recovery-codes",               SignedIn),
    ("POST",   "/api/v1/auth/logout",                         SignedIn),
    ("POST",   "/api/v1/auth/password-reset",                 Public),
    ("POST",   "/api/v1/auth/password-reset/confirm",         Link),
    ("POST",   "/api/v1/auth/invitations/accept",             Link),
    ("GET",    "/api/v1/users",                               Perm(P::ReadAccounts)),
    ("POST",   "/api/v1/users",                               Perm(P::ManageAccounts)),
    ("PATCH",  "/api/v1/users/{id}",                          Tenant(P::ManageAccounts)),
    ("POST",   "/api/v1/users/{id}/invitation",               Tenant(P::ManageAccounts)),
    ("GET",    "/api/v1/tokens",                              SignedIn),
    ("POST",   "/api/v1/tokens",                              SignedIn),
    ("DELETE", "/api/v1/tokens/{id}",                         Own),
    ("GET",    "/api/v1/audit",                               Perm(P::ReadAudit)),
    ("POST",   "/api/v1/auth/login",                          SignIn),
    ("GET",    "/api/v1/mail",                                Perm(P::ReadMail)),
    ("GET",    "/api/v1/mail/{id}",                           Perm(P::ReadMail)),
    // API: the Smart Queues general parameters.
    ("GET",    "/api/v1/tenants/{id}/smart-queues/general-parameters", Tenant(P::ReadParameters)),
    ("PUT",    "/api/v1/tenants/{id}/smart-queues/general-parameters/draft", Tenant(P::EditParameters)),
    ("DELETE", "/api/v1/tenants/{id}/smart-queues/general-parameters/draft", TenantOwn(P::EditParameters)),
    ("POST",   "/api/v1/tenants/{id}/smart-queues/general-parameters/publish", Tenant(P::EditParameters)),
    ("GET",    "/api/v1/tenants/{id}/smart-queues/general-parameters/versions", Tenant(P::ReadParameters)),
    ("POST",   "/api/v1/tenants/{id}/smart-queues/general-parameters/versions/{version}/copy-to-draft", Tenant(P::EditParameters)),
    // API: self-service, requests, settings, templates, tenants.
    ("GET",    "/api/v1/public/templates",                    Public),
    ("POST",   "/api/v1/public/registrations",                Public),
    ("GET",    "/api/v1/subscription-requests",               Perm(P::ReadRequests)),
    ("POST",   "/api/v1/subscription-requests",               Perm(P::SubmitRequests)),
    ("GET",    "/api/v1/subscription-requests/export",        Staff(P::ReadRequests)),
    ("GET",    "/api/v1/subscription-requests/{id}",          Perm(P::ReadRequests)),
    ("POST",   "/api/v1/subscription-requests/{id}/{action}", Perm(P::ActOnRequests)),
    ("POST",   "/api/v1/subscription-requests/{id}/resend-email", Perm(P::ActOnRequests)),
    ("POST",   "/api/v1/subscription-requests/bulk",          Perm(P::ActOnRequests)),
    ("GET",    "/api/v1/settings/provisioning",               Perm(P::ChangeSettings)),
    ("PUT",    "/api/v1/settings/provisioning",               Perm(P::ChangeSettings)),
    ("GET",    "/api/v1/settings/self-service",               Perm(P::ChangeSettings)),
    ("PUT",    "/api/v1/settings/self-service",               Perm(P::ChangeSettings)),
    ("GET",    "/api/v1/settings/security",                   Perm(P::ChangeSettings)),
    ("PUT",    "/api/v1/settings/security",                   Perm(P::ChangeSettings)),
    ("GET",    "/api/v1/settings/retention",                  Perm(P::ChangeSettings)),
    ("PUT",    "/api/v1/settings/retention",                  Perm(P::ChangeSettings)),
    ("GET",    "/api/v1/stats",                               Staff(P::ReadRequests)),
    ("GET",    "/api/v1/templates",                           Perm(P::ReadTemplates)),
    ("POST",   "/api/v1/templates",                           Perm(P::ChangeTemplates)),
    ("GET",    "/api/v1/templates/{id}",                      Perm(P::ReadTemplates)),
    ("PUT",    "/api/v1/templates/{id}",                      Perm(P::ChangeTemplates)),
    ("DELETE", "/api/v1/templates/{id}",                      Perm(P::ChangeTemplates)),
    ("PUT",    "/api/v1/templates/{id}/public",               Perm(P::ChangeTemplates)),
    ("GET",    "/api/v1/tenants",                             Perm(P::ReadTenants)),
    ("GET",    "/api/v1/tenants/{id}",                        Tenant(P::ReadTenants)),
    ("GET",    "/api/v1/tenants/{id}/configuration",          Tenant(P::ReadTenants)),
    ("POST",   "/api/v1/tenants/{id}/{action}",               Perm(P::ActOnTenants)),
    ("GET",    "/api/v1/bulk-imports",                        Perm(P::SubmitRequests)),
    ("POST",   "/api/v1/bulk-imports",                        Perm(P::SubmitRequests)),
    ("GET",    "/api/v1/bulk-imports/{id}",                   PermMaybe(P::SubmitRequests)),
    ("POST",   "/api/v1/bulk-imports/{id}/submit",            PermMaybe(P::SubmitRequests)),
    ("GET",    "/api/v1/bulk-imports/{id}/errors",            PermMaybe(P::SubmitRequests)),
    ("GET",    "/api/v1/bulk-imports/{id}/results",           PermMaybe(P::SubmitRequests)),
    ("GET",    "/api/v1/availability",                        Perm(P::ReadRequests)),
    ("GET",    "/api/v1/webhooks",                            Perm(P::ManageWebhooks)),
    ("POST",   "/api/v1/webhooks",                            Perm(P::ManageWebhooks)),
    ("GET",    "/api/v1/webhooks/{id}",                       PermMaybe(P::ManageWebhooks)),
    ("PATCH",  "/api/v1/webhooks/{id}",                       PermMaybe(P::ManageWebhooks)),
    ("DELETE", "/api/v1/webhooks/{id}",                       PermMaybe(P::ManageWebhooks)),
    ("POST",   "/api/v1/webhooks/{id}/rotate-secret",         PermMaybe(P::ManageWebhooks)),
    ("GET",    "/api/v1/webhooks/{id}/deliveries",            PermMaybe(P::ManageWebhooks)),
    ("POST",   "/api/v1/webhooks/{id}/deliveries/replay",     PermMaybe(P::ManageWebhooks)),
    ("GET",    "/api/v1/webhooks/{id}/deliveries/{delivery_id}", PermMaybe(P::ManageWebhooks)),
    ("POST",   "/api/v1/webhooks/{id}/deliveries/{delivery_id}/retry", PermMaybe(P::ManageWebhooks)),
    ("POST",   "/api/v1/tenants/{id}/package-changes/preview", Perm(P::ActOnTenants)),
    ("GET",    "/api/v1/tenants/{id}/package-changes",        Tenant(P::ReadTenants)),
    ("POST",   "/api/v1/tenants/{id}/package-changes",        Perm(P::ActOnTenants)),
    ("GET",    "/api/v1/tenants/{id}/package-changes/{change_id}", TenantOwn(P::ReadTenants)),
    ("PUT",    "/api/v1/tenants/{id}/configuration/{kind}/{name}", Tenant(P::ChangeConfiguration)),
    // Operations.
    ("GET",    "/healthz",                                    Public),
    ("GET",    "/readyz",                                     Public),
    ("GET",    "/metrics",                                    Public),
    ("GET",    "/api/openapi.json",                           Public),
    // Pages: assets, signing in and out, one's own account, links from emails.
    ("GET",    "/assets/portal.css",                          Public),
    ("GET",    "/assets/portal.js",                           Public),
    ("GET",    "/",                                           SignedIn),
    ("GET",    "/sign-in",                                    Public),
    ("POST",   "/sign-in",                                    SignIn),
    ("POST",   "/sign-out",                                   Public),
    ("GET",    "/account",                                    SignedIn),
    ("POST",   "/account/password",                           SignedIn),
    ("POST",   "/account/sessions/{id}/end",                  Own),
    ("POST",   "/account/sessions/end-others",                SignedIn),
    ("POST",   "/account/tokens",                             SignedIn),
    ("POST",   "/account/tokens/{id}/revoke",                 Own),
    ("GET",    "/account/two-factor",                         SignedIn),
    ("POST",   "/account/two-factor/totp",                    SignedIn),
    ("POST",   "/account/two-factor/totp/confirm",            SignedIn),
    ("POST",   "/account/two-factor/totp/remove",             SignedIn),
    ("POST",   "/account/two-factor/recovery-codes",          SignedIn),
    ("POST",   "/account/passkeys/options",                   SignedIn),
    ("POST",   "/account/passkeys",                           SignedIn),
    ("POST",   "/account/passkeys/{id}/rename",               Own),
    ("POST",   "/account/passkeys/{id}/remove",               Own),
    ("POST",   "/sign-in/passkey/options",                    SignIn),
    ("POST",   "/sign-in/passkey",                            SignIn),
    ("GET",    "/auth/oidc/start",                            Link),
    ("GET",    "/auth/oidc/callback",                         SignIn),
    ("GET",    "/invitation/{token}",                         Link),
    ("POST",   "/invitation/{token}",                         Link),
    ("GET",    "/password-reset",                             Public),
    ("POST",   "/password-reset",                             Public),
    ("GET",    "/password-reset/{token}",                     Link),
    ("POST",   "/password-reset/{token}",                     Link),
    // Pages: other people's accounts.
    ("GET",    "/accounts",                                   Landlord(P::ReadAccounts)),
    ("POST",   "/accounts/invite",                            Landlord(P::ManageAccounts)),
    ("POST",   "/accounts/{id}",                              Tenant(P::ManageAccounts)),
    ("POST",   "/accounts/{id}/invitation",                   Tenant(P::ManageAccounts)),
    ("GET",    "/tenants/{id}/people",                        Tenant(P::ReadAccounts)),
    ("POST",   "/tenants/{id}/people/invite",                 Tenant(P::ManageAccounts)),
    // Pages: Tenant Registration and self-service.
    ("GET",    "/register",                                   Perm(P::SubmitRequests)),
    ("POST",   "/register",                                   Perm(P::SubmitRequests)),
    ("GET",    "/register/accepted/{id}",                     Perm(P::SubmitRequests)),
    ("GET",    "/join",                                       Public),
    ("POST",   "/join",                                       Public),
    ("GET",    "/join/sent",                                  Public),
    ("POST",   "/join/resend",                                Link),
    ("POST",   "/join/correct",                               Link),
    ("GET",    "/registrations/verify/{token}",               Link),
    ("POST",   "/registrations/verify/{token}",               Link),
    ("GET",    "/registrations/status/{token}",               Link),
    ("POST",   "/registrations/status/{token}/check-domain",  Link),
    // Pages: Tenant Creation Management, the policies, templates, tenants, mail, audit.
    ("GET",    "/requests",                                   Perm(P::ReadRequests)),
    ("GET",    "/requests/export.csv",                        Staff(P::ReadRequests)),
    ("GET",    "/requests/{id}",                              Perm(P::ReadRequests)),
    ("GET",    "/requests/{id}/{action}",                     Perm(P::ActOnRequests)),
    ("POST",   "/requests/{id}/{action}",                     Perm(P::ActOnRequests)),
    ("POST",   "/requests/bulk",                              Perm(P::ActOnRequests)),
    ("POST",   "/requests/{id}/resend-email",                 Perm(P::ActOnRequests)),
    ("GET",    "/settings",                                   Perm(P::ChangeSettings)),
    ("POST",   "/settings",                                   Perm(P::ChangeSettings)),
    ("GET",    "/settings/self-service",                      Perm(P::ChangeSettings)),
    ("POST",   "/settings/self-service",                      Perm(P::ChangeSettings)),
    ("GET",    "/settings/retention",                         Perm(P::ChangeSettings)),
    ("POST",   "/settings/retention",                         Perm(P::ChangeSettings)),
    ("GET",    "/imports",                                    Perm(P::SubmitRequests)),
    ("POST",   "/imports",                                    Perm(P::SubmitRequests)),
    ("GET",    "/imports/{id}",                               PermMaybe(P::SubmitRequests)),
    ("POST",   "/imports/{id}/submit",                        PermMaybe(P::SubmitRequests)),
    ("GET",    "/imports/{id}/errors.csv",                    PermMaybe(P::SubmitRequests)),
    ("GET",    "/imports/{id}/results.csv",                   PermMaybe(P::SubmitRequests)),
    ("GET",    "/settings/webhooks",                          Perm(P::ManageWebhooks)),
    ("POST",   "/settings/webhooks",                          Perm(P::ManageWebhooks)),
    ("GET",    "/settings/webhooks/{id}",                     PermMaybe(P::ManageWebhooks)),
    ("POST",   "/settings/webhooks/{id}/status",              PermMaybe(P::ManageWebhooks)),
    ("POST",   "/settings/webhooks/{id}/rotate",              PermMaybe(P::ManageWebhooks)),
    ("GET",    "/settings/webhooks/{id}/remove",              PermMaybe(P::ManageWebhooks)),
    ("POST",   "/settings/webhooks/{id}/remove",              PermMaybe(P::ManageWebhooks)),
    ("POST",   "/settings/webhooks/{id}/replay",              PermMaybe(P::ManageWebhooks)),
    ("POST",   "/settings/webhooks/{id}/deliveries/{delivery_id}/retry", PermMaybe(P::ManageWebhooks)),
    ("GET",    "/settings/security",                          Perm(P::ChangeSettings)),
    ("POST",   "/settings/security",                          Perm(P::ChangeSettings)),
    ("GET",    "/templates",                                  Perm(P::ReadTemplates)),
    ("GET",    "/templates/new",                              Perm(P::ChangeTemplates)),
    ("POST",   "/templates/new",                              Perm(P::ChangeTemplates)),
    ("GET",    "/templates/{id}",                             Perm(P::ReadTemplates)),
    ("GET",    "/templates/{id}/edit",                        Perm(P::ChangeTemplates)),
    ("POST",   "/templates/{id}/edit",                        Perm(P::ChangeTemplates)),
    ("GET",    "/templates/{id}/retire",                      Perm(P::ChangeTemplates)),
    ("POST",   "/templates/{id}/retire",                      Perm(P::ChangeTemplates)),
    ("POST",   "/templates/{id}/public",                      Perm(P::ChangeTemplates)),
    ("GET",    "/tenants",                                    Perm(P::ReadTenants)),
    ("GET",    "/tenants/{id}",                               Tenant(P::ReadTenants)),
    ("GET",    "/tenants/{id}/{action}",                      Perm(P::ActOnTenants)),
    ("POST",   "/tenants/{id}/{action}",                      Perm(P::ActOnTenants)),
    ("GET",    "/tenants/{id}/package",                       Perm(P::ActOnTenants)),
    ("POST",   "/tenants/{id}/package-changes",               Perm(P::ActOnTenants)),
    ("GET",    "/tenants/{id}/package-changes/{change_id}",   TenantOwn(P::ReadTenants)),
    ("GET",    "/mail",                                       Perm(P::ReadMail)),
    ("GET",    "/mail/{id}",                                  Perm(P::ReadMail)),
    ("GET",    "/tenants/{id}/smart-queues",                  Tenant(P::ReadParameters)),
    ("POST",   "/tenants/{id}/smart-queues/draft",            Tenant(P::EditParameters)),
    ("POST",   "/tenants/{id}/smart-queues/publish",          Tenant(P::EditParameters)),
    ("POST",   "/tenants/{id}/smart-queues/discard",          Tenant(P::EditParameters)),
    ("POST",   "/tenants/{id}/smart-queues/versions/{version}/copy", Tenant(P::EditParameters)),
    ("GET",    "/audit",                                      Perm(P::ReadAudit)),
    ("GET",    "/workers",                                    Landlord(P::WatchOperations)),
    ("GET",    "/dashboard",                                  Staff(P::ReadRequests)),
];

/// The calls that retire the walk's template: each walker makes them after all its others.
const RUN_LAST: &[(&str, &str)] = &[
    ("DELETE", "/api/v1/templates/{id}"),
    ("POST", "/templates/{id}/retire"),
];

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// The password of every account made for the walk, and of the tenant administrators once
/// they have changed theirs.
const PASSWORD: &str = "Quiet-Meadow-Falcon-73";

/// A path value that names nothing: an id of a session or token, a link's token.
const UNKNOWN: &str = "no-such-thing";

/// What an answer must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// A GET answers 2xx; anything else neither 401, 403, 404, 405 nor 5xx.
    Served,
    /// The same, but what the path or form names may not exist: 404 and 410 are fine too.
    ServedOrGone,
    /// A sign-in: wrong credentials answer 401, but never 403, 405 or 5xx.
    SignInAnswer,
    Forbidden,
    NotFound,
    Unauthorized,
    /// A page sends a signed-out visitor to sign in.
    ToSignIn,
}

impl Want {
    fn met_by(self, method: &Method, status: u16, location: &str) -> bool {
        let get = *method == Method::GET;
        let refused_or_broken = matches!(status, 401 | 403 | 405) || status >= 500;
        match self {
            Self::Served if get => (200..300).contains(&status),
            Self::Served => !refused_or_broken && status != 404,
            Self::ServedOrGone if get => {
                (200..300).contains(&status) || matches!(status, 404 | 410)
            }
            Self::ServedOrGone => !refused_or_broken,
            Self::SignInAnswer => !matches!(status, 403 | 405) && status < 500,
            Self::Forbidden => status == 403,
            Self::NotFound => status == 404,
            Self::Unauthorized => status == 401,
            Self::ToSignIn => {
                (status == 303 && location.starts_with("/sign-in")) || (!get && status == 401)
            }
        }
    }

    fn text(self, method: &Method) -> &'static str {
        let get = *method == Method::GET;
        match self {
            Self::Served if get => "2xx",
            Self::Served => "neither 401, 403, 404, 405 nor 5xx",
            Self::ServedOrGone if get => "2xx, 404 or 410",
            Self::ServedOrGone => "neither 401, 403, 405 nor 5xx",
            Self::SignInAnswer => "neither 403, 405 nor 5xx",
            Self::Forbidden => "403",
            Self::NotFound => "404",
            Self::Unauthorized => "401",
            Self::ToSignIn if get => "303 to /sign-in",
            Self::ToSignIn => "303 to /sign-in, or the sign-in page in place (401)",
        }
    }
}

/// Someone walking the routes with a bearer token (API) and a session cookie (pages).
struct Walker {
    name: String,
    role: Role,
    /// A user of tenant B, walking tenant A's objects.
    other_tenant: bool,
    username: String,
    password: String,
    token: String,
    cookie: String,
}

impl Walker {
    fn new(name: &str, role: Role, username: String, password: &str) -> Self {
        Self {
            name: name.to_owned(),
            role,
            other_tenant: false,
            username,
            password: password.to_owned(),
            token: String::new(),
            cookie: String::new(),
        }
    }
}

/// What `who` (nobody: a signed-out visitor) must get from a route with `rule`.
fn want(rule: Rule, who: Option<&Walker>, api: bool) -> Want {
    let Some(walker) = who else {
        return match rule {
            Public => Want::Served,
            Link => Want::ServedOrGone,
            SignIn => Want::SignInAnswer,
            _ if api => Want::Unauthorized,
            _ => Want::ToSignIn,
        };
    };
    let role = walker.role;
    let allowed = |may: bool| if may { Want::Served } else { Want::Forbidden };
    match rule {
        Public | SignedIn => Want::Served,
        Link | Own => Want::ServedOrGone,
        SignIn => Want::SignInAnswer,
        Perm(p) => allowed(role.may(p)),
        PermMaybe(p) if role.may(p) => Want::ServedOrGone,
        PermMaybe(_) => Want::Forbidden,
        Landlord(p) => allowed(role.is_landlord() && role.may(p)),
        Staff(_) if !role.is_landlord() => Want::NotFound,
        Staff(p) => allowed(role.may(p)),
        Tenant(p) => in_tenant_a(walker, p, Want::Served),
        TenantOwn(p) => in_tenant_a(walker, p, Want::ServedOrGone),
    }
}

/// A tenant-scoped rule: the role must have the permission, and a tenant's user must be of
/// tenant A, whose object it is (another tenant's user finds nothing there).
fn in_tenant_a(walker: &Walker, permission: Permission, allowed: Want) -> Want {
    if !walker.role.may(permission) {
        Want::Forbidden
    } else if walker.role.is_tenant() && walker.other_tenant {
        Want::NotFound
    } else {
        allowed
    }
}

fn rule_for(method: &Method, route: &str) -> Option<Rule> {
    RULES
        .iter()
        .find(|(m, r, _)| *m == method.as_str() && *r == route)
        .map(|(_, _, rule)| *rule)
}

/// Rules given twice (a slip that would hide one of them).
fn duplicated_rules() -> Vec<String> {
    RULES
        .iter()
        .enumerate()
        .filter(|(i, (m, r, _))| RULES[..*i].iter().any(|(m2, r2, _)| m2 == m && r2 == r))
        .map(|(_, (m, r, _))| format!("{m} {r}: ruled twice"))
        .collect()
}

/// A mutating API call's body: well-formed, so that the handler reaches the permission check,
/// and invalid or unchanged, so that an allowed caller changes nothing.
fn json_body(method: &Method, route: &str) -> Value {
    let another = "Another-Long-Password-99";
    match (method.as_str(), route) {
        ("POST", "/api/v1/me/password") => {
            json!({"current_password": "not-the-password", "new_password": another})
        }
        ("POST", "/api/v1/auth/password-reset") => json!({"login": ""}),
        ("POST", "/api/v1/auth/password-reset/confirm") => {
            json!({"token": UNKNOWN, "new_password": another})
        }
        ("POST", "/api/v1/auth/invitations/accept") => {
            json!({"token": UNKNOWN, "password": another})
        }
        ("POST", "/api/v1/users") => {
            json!({"email": "not an address", "role": "tenant_supervisor"})
        }
        ("PATCH", "/api/v1/users/{id}") => json!({"role": "tenant_supervisor"}),
        ("POST", "/api/v1/tokens") => json!({"name": "", "expires_in_days": 0}),
        ("PUT", "/api/v1/tenants/{id}/smart-queues/general-parameters/draft") => {
            json!({"parameters": {"default_priority": 1000}})
        }
        ("PUT", "/api/v1/settings/provisioning") => json!({"mode": "never"}),
        ("POST", "/api/v1/webhooks/{id}/deliveries/replay") => json!({"since": "yesterday"}),
        ("POST", "/api/v1/webhooks") | ("PATCH", "/api/v1/webhooks/{id}") => {
            json!({"url": "file:///nowhere", "events": ["*"]})
        }
        (
            "POST",
            "/api/v1/tenants/{id}/package-changes" | "/api/v1/tenants/{id}/package-changes/preview",
        ) => {
            json!({"template_id": "no-such-template"})
        }
        ("PUT", "/api/v1/tenants/{id}/configuration/{kind}/{name}") => {
            json!({"properties": {"priority": 1000}})
        }
        ("PUT", "/api/v1/settings/retention") => json!({"closed_tenant_days": 0}),
        ("POST", "/api/v1/subscription-requests/bulk") => json!({"action": "cancel", "ids": []}),
        ("PUT", "/api/v1/settings/security") => json!({
            "mfa_required_for": ["nobody"], "session_idle_minutes": 0, "session_max_hours": 0
        }),
        ("DELETE", "/api/v1/me/mfa/totp") | ("POST", "/api/v1/me/mfa/recovery-codes") => {
            json!({"password": "not-the-password"})
        }
        ("POST", "/api/v1/me/mfa/totp/confirm") => json!({"code": "000000"}),
        ("PUT", "/api/v1/settings/self-service") => {
            json!({"approval": "never", "verification_hours": 0, "refused_email_domains": []})
        }
        ("POST", "/api/v1/templates") | ("PUT", "/api/v1/templates/{id}") => {
            json!({"name": "", "services": []})
        }
        ("PUT", "/api/v1/templates/{id}/public") => json!({"public": false}),
        // The rest take no body, or only optional fields ({} fails validation: 422).
        _ => json!({}),
    }
}

/// A page form's fields: empty, but for a change of role, which must name one to reach the
/// account (it names the role the account already has).
fn form_body(method: &Method, route: &str) -> &'static [(&'static str, &'static str)] {
    match (method.as_str(), route) {
        ("POST", "/accounts/{id}") => &[("role", "tenant_supervisor")],
        _ => &[],
    }
}

/// The ids that fill route templates: tenant A's, or the walk's own.
struct Ids {
    tenant: String,
    request: String,
    /// A template made for the walk, so that retiring it harms nothing.
    template: String,
    mail: String,
    /// Tenant A's supervisor.
    user: String,
}

impl Ids {
    /// The value of `{id}` after the path segment `collection`.
    fn id_in(&self, collection: &str) -> Option<&str> {
        Some(match collection {
            "tenants" => self.tenant.as_str(),
            "subscription-requests" | "requests" | "accepted" => self.request.as_str(),
            "templates" => self.template.as_str(),
            "mail" => self.mail.as_str(),
            "users" | "accounts" => self.user.as_str(),
            "sessions" | "tokens" | "passkeys" | "webhooks" | "bulk-imports" | "imports" => UNKNOWN,
            _ => return None,
        })
    }

    /// The route template with its parameters filled in, or what is missing to fill it.
    fn fill(&self, route: &str) -> Result<String, String> {
        let mut previous = "";
        let mut segments = Vec::new();
        for segment in route.split('/') {
            let value = match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                None => segment,
                Some("id") => self.id_in(previous).ok_or_else(|| {
                    format!("{route}: no id for {{id}} after {previous:?}; add one to Ids::id_in")
                })?,
                // A tenant's: suspending tenant A needs a reason, which the walk never gives
                // (422).
                Some("action")
                    if route.starts_with("/api/v1/tenants/") || route.starts_with("/tenants/") =>
                {
                    "suspend"
                }
                Some("action") => "cancel",
                Some("version") => "1",
                // Tenant A's Sales queue (voice-essentials has one).
                Some("kind") => "queue",
                Some("name") => "Sales",
                Some("change_id" | "delivery_id") => UNKNOWN,
                Some("token") => UNKNOWN,
                Some(other) => {
                    return Err(format!(
                        "{route}: no value for {{{other}}}; add one to Ids::fill"
                    ));
                }
            };
            segments.push(value);
            previous = segment;
        }
        Ok(segments.join("/"))
    }
}

/// One (method, route) the router serves, with its rule.
struct Call {
    method: Method,
    route: String,
    path: String,
    rule: Rule,
}

impl Call {
    fn api(&self) -> bool {
        self.route.starts_with("/api/")
    }
}

/// Everything that did not answer as it should, reported together at the end.
#[derive(Default)]
struct Problems {
    /// Served without a rule (or with a path the walk cannot fill).
    unruled: Vec<String>,
    /// Ruled, but not served.
    stale: Vec<String>,
    /// Answered otherwise than the rule says.
    wrong: Vec<String>,
}

impl Problems {
    fn check(&mut self, call: &Call, who: &str, want: Want, got: &(u16, String)) {
        let (status, location) = got;
        if want.met_by(&call.method, *status, location) {
            return;
        }
        let to = if location.is_empty() {
            String::new()
        } else {
            format!(" to {location}")
        };
        self.wrong.push(format!(
            "{} {} ({}) as {who}: expected {}, got {status}{to}",
            call.method,
            call.path,
            call.route,
            want.text(&call.method)
        ));
    }

    fn report(&self) -> String {
        let section = |title: &str, lines: &[String]| {
            if lines.is_empty() {
                String::new()
            } else {
                format!("{title}:\n  {}\n", lines.join("\n  "))
            }
        };
        [
            section(
                "Served without a rule (add a rule to RULES in tests/permissions.rs)",
                &self.unruled,
            ),
            section(
                "Rules for what the router does not serve (correct or remove them)",
                &self.stale,
            ),
            section("Answers that break the permission matrix", &self.wrong),
        ]
        .concat()
    }
}

/// The portal under test, a client that shows redirects instead of following them, and the
/// ids that fill the route templates.
struct Walk<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    ids: Ids,
}

impl Walk<'_> {
    /// Calls `method path` as `who` (nobody: signed out) with the route's body: a bearer
    /// token for the API, the session cookie otherwise. The status and `Location`.
    async fn send(
        &self,
        method: &Method,
        route: &str,
        path: &str,
        who: Option<&Walker>,
    ) -> (u16, String) {
        let api = route.starts_with("/api/");
        let mut request = self.client.request(method.clone(), self.app.url(path));
        request = match (who, api) {
            (Some(w), true) => request.bearer_auth(&w.token),
            (Some(w), false) => request.header("cookie", &w.cookie),
            (None, _) => request,
        };
        if *method != Method::GET {
            request = if api {
                request.json(&json_body(method, route))
            } else {
                request.form(form_body(method, route))
            };
        }
        let response = request.send().await.expect("an answer");
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (response.status().as_u16(), location)
    }

    async fn sign_in(&self, walker: &mut Walker) {
        walker.token = self
            .app
            .login_token(&walker.username, &walker.password)
            .await;
        walker.cookie = self
            .app
            .page_session(&walker.username, &walker.password)
            .await;
    }

    /// Signs the walker in again when the call just made ended its token or its session, so
    /// that the next call tests its route and not a dead credential.
    async fn keep_signed_in(&self, walker: &mut Walker) {
        let api = self
            .client
            .get(self.app.url("/api/v1/me"))
            .bearer_auth(&walker.token)
            .send()
            .await
            .expect("me");
        let page = self
            .client
            .get(self.app.url("/"))
            .header("cookie", &walker.cookie)
            .send()
            .await
            .expect("home");
        if api.status() != 200 || page.status() != 200 {
            self.sign_in(walker).await;
        }
    }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Every route template once, in the router's order.
fn route_templates() -> Vec<String> {
    let mut routes: Vec<String> = Vec::new();
    for route in portal::web::route_paths() {
        if !routes.contains(&route) {
            routes.push(route);
        }
    }
    routes
}

/// Every (method, route) the router serves, with its rule: each is asked once by a signed-out
/// visitor, whose answers are checked on the way (a method a route does not serve answers
/// 405). What is served without a rule, or ruled but not served, is a problem. The calls that
/// retire the walk's template come last.
async fn served_calls(walk: &Walk<'_>, problems: &mut Problems) -> Vec<Call> {
    let routes = route_templates();
    let mut calls = Vec::new();
    for route in &routes {
        let path = match walk.ids.fill(route) {
            Ok(path) => path,
            Err(problem) => {
                problems.unruled.push(problem);
                continue;
            }
        };
        for method in METHODS {
            let got = walk.send(&method, route, &path, None).await;
            match (got.0, rule_for(&method, route)) {
                (405, None) => {}
                (405, Some(_)) => problems
                    .stale
                    .push(format!("{method} {route}: answers 405")),
                (_, None) => problems.unruled.push(format!("{method} {route}")),
                (_, Some(rule)) => {
                    let (route, path) = (route.clone(), path.clone());
                    let call = Call {
                        method,
                        route,
                        path,
                        rule,
                    };
                    let anyone = want(rule, None, call.api());
                    problems.check(&call, "a signed-out visitor", anyone, &got);
                    calls.push(call);
                }
            }
        }
    }
    for (method, route, _) in RULES {
        if !routes.iter().any(|r| r.as_str() == *route) {
            problems
                .stale
                .push(format!("{method} {route}: no such route"));
        }
    }
    problems.stale.extend(duplicated_rules());
    calls.sort_by_key(|c| RUN_LAST.contains(&(c.method.as_str(), c.route.as_str())));
    calls
}

/// `walker` makes every call; each answer is checked against the call's rule.
async fn walk_as(walk: &Walk<'_>, walker: &mut Walker, calls: &[Call], problems: &mut Problems) {
    for call in calls {
        let got = walk
            .send(&call.method, &call.route, &call.path, Some(&*walker))
            .await;
        let wanted = want(call.rule, Some(&*walker), call.api());
        problems.check(call, &walker.name, wanted, &got);
        if call.method != Method::GET {
            walk.keep_signed_in(walker).await;
        }
    }
}

/// A tenant provisioned from the staff's form: (tenant id, request id).
async fn provision(app: &TestApp, name: &str) -> (String, String) {
    let r: Value = app.submit(&submission(name)).await.json().await.unwrap();
    let request = r["id"].as_str().expect("a request id").to_owned();
    app.run_pending_jobs().await;
    let path = format!("/api/v1/subscription-requests/{request}");
    let r: Value = app.get(&path, &app.token).await.json().await.unwrap();
    assert_eq!(r["status"], "completed", "{r}");
    (
        r["tenant_id"].as_str().expect("a tenant").to_owned(),
        request,
    )
}

/// The administrator of the tenant called `name`, whose password (typed on the staff's form)
/// is changed first, as its owner must before anything else.
async fn tenant_admin(app: &TestApp, walker: &str, name: &str) -> Walker {
    let username = format!("prpkeAdmin@{}.example.com", name.to_lowercase());
    let token = app.login_token(&username, TENANT_PASSWORD).await;
    let changed = app
        .client
        .post(app.url("/api/v1/me/password"))
        .bearer_auth(&token)
        .json(&json!({"current_password": TENANT_PASSWORD, "new_password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 204, "the password of {username}");
    Walker::new(walker, Role::TenantAdmin, username, PASSWORD)
}

/// An account invited by the landlord administrator, its invitation accepted with
/// `PASSWORD`: (id, username).
async fn invited(app: &TestApp, email: &str, role: Role, tenant: Option<&str>) -> (String, String) {
    let mut body = json!({"email": email, "role": role.as_str()});
    if let Some(tenant) = tenant {
        body["tenant_id"] = json!(tenant);
    }
    let r = app
        .client
        .post(app.url("/api/v1/users"))
        .bearer_auth(&app.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "the invitation of {email}");
    let user: Value = r.json().await.unwrap();
    let token = invitation_token(app, email).await;
    let accepted = app
        .client
        .post(app.url("/api/v1/auth/invitations/accept"))
        .json(&json!({"token": token, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 204, "the acceptance of {email}");
    let text = |key: &str| user[key].as_str().expect("a user").to_owned();
    (text("id"), text("username"))
}

/// The token of the set-password link in the invitation emailed to `email`.
async fn invitation_token(app: &TestApp, email: &str) -> String {
    let outbox = app.store.list_mail(500).await.unwrap();
    let mail = outbox
        .iter()
        .find(|m| m.recipient.contains(email) && m.body_text.contains("/invitation/"))
        .expect("an invitation");
    let after = mail.body_text.split("/invitation/").nth(1).expect("a link");
    after
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// A template for the walk: a copy of a seeded one.
async fn walk_template(app: &TestApp) -> String {
    let id = "permission-walk";
    let seeded: Value = app
        .get("/api/v1/templates/voice-essentials", &app.token)
        .await
        .json()
        .await
        .unwrap();
    let body = json!({
        "id": id,
        "name": "Permission walk",
        "description": "Made by the permission test; retired by it.",
        "services": seeded["services"],
        "objects": seeded["objects"],
    });
    let r = app
        .client
        .post(app.url("/api/v1/templates"))
        .bearer_auth(&app.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    assert_eq!(status, 201, "{}", r.text().await.unwrap());
    id.to_owned()
}

/// Tenants A (whose objects are walked) and B, an account of every role, and the walk's
/// template. The walkers come in the order they walk: the landlord administrator, who may
/// change the most, last.
async fn set_up(app: &TestApp) -> (Ids, Vec<Walker>) {
    let (tenant, request) = provision(app, "AlphaWorks").await;
    provision(app, "BetaWorks").await;
    let mail = app.store.mail_for_request(&request).await.unwrap()[0]
        .id
        .clone();
    let template = walk_template(app).await;
    let tenant_a = Some(tenant.as_str());
    let supervisor = "supervisor@example.com";
    let (user, supervisor) = invited(app, supervisor, Role::TenantSupervisor, tenant_a).await;
    let (_, operator) = invited(app, "operator@example.com", Role::LandlordOperator, None).await;
    let (_, viewer) = invited(app, "viewer@example.com", Role::LandlordViewer, None).await;
    let mut other = tenant_admin(app, "tenant B's administrator", "BetaWorks").await;
    other.other_tenant = true;
    let walkers = vec![
        other,
        Walker::new(
            "tenant A's supervisor",
            Role::TenantSupervisor,
            supervisor,
            PASSWORD,
        ),
        tenant_admin(app, "tenant A's administrator", "AlphaWorks").await,
        Walker::new("a landlord viewer", Role::LandlordViewer, viewer, PASSWORD),
        Walker::new(
            "a landlord operator",
            Role::LandlordOperator,
            operator,
            PASSWORD,
        ),
        Walker::new(
            "the landlord administrator",
            Role::LandlordAdmin,
            ADMIN.to_owned(),
            ADMIN_PASSWORD,
        ),
    ];
    let ids = Ids {
        tenant,
        request,
        template,
        mail,
        user,
    };
    (ids, walkers)
}

/// The whole walk; what broke the rules, as text (empty when nothing did).
async fn walk_everything(app: &TestApp) -> String {
    let (ids, mut walkers) = set_up(app).await;
    let walk = Walk {
        app,
        client: browser(),
        ids,
    };
    for walker in &mut walkers {
        walk.sign_in(walker).await;
    }
    let mut problems = Problems::default();
    let calls = served_calls(&walk, &mut problems).await;
    for walker in &mut walkers {
        walk_as(&walk, walker, &calls, &mut problems).await;
    }
    problems.report()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_each_role_and_a_signed_out_visitor_as_the_permission_matrix_says() {
    let app = spawn_app(Db::Sqlite).await.expect("sqlite");
    let report = walk_everything(&app).await;
    app.finish().await;
    assert!(report.is_empty(), "\n{report}");
}
