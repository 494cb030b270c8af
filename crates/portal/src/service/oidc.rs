//! Staff single sign-on over OpenID Connect, with the `openidconnect` crate: the authorization
//! code flow with PKCE (S256), `state` and `nonce`. The provider is discovered at each sign-in
//! (its keys may rotate); its ID token is verified by the crate (signature, issuer, audience,
//! expiry, nonce). The provider's role claim is mapped to a landlord role at every sign-in, so
//! a group taken away at the provider takes the access away at the next sign-in.

use std::future::Future;
use std::pin::Pin;

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AsyncHttpClient, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest,
    HttpResponse, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse,
};
use portal_domain::{AccountStatus, AuditAction, Role};
use portal_store::oidc::{OidcSignIn, SsoUser};
use portal_store::user::{UserChange, UserRow};
use tracing::info;

use super::{ServiceError, Services};
use crate::token;

/// How long a sign-in at the identity provider may take.
const SIGN_IN_MS: i64 = 10 * 60 * 1000;

/// The identity provider and how its claim maps to roles (`PORTAL_OIDC_*`).
#[derive(Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// The claim holding the person's groups (`groups`).
    pub role_claim: String,
    /// (group, role) in the order given; the most powerful role a person's groups give wins.
    pub roles: Vec<(String, Role)>,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("role_claim", &self.role_claim)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

/// Parses `portal-admins=landlord_admin,portal-operators=landlord_operator`: landlord roles
/// only.
pub fn parse_role_map(text: &str) -> Result<Vec<(String, Role)>, String> {
    let mut map = Vec::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((group, role)) = pair.split_once('=') else {
            return Err(format!("{pair:?} is not group=role"));
        };
        let role: Role = role
            .trim()
            .parse()
            .map_err(|_| format!("{:?} is not a role", role.trim()))?;
        if !role.is_landlord() {
            return Err(format!(
                "{role} is a tenant's role; single sign-on gives landlord_admin, landlord_operator or landlord_viewer"
            ));
        }
        map.push((group.trim().to_owned(), role));
    }
    if map.is_empty() {
        return Err("name at least one group=role".to_owned());
    }
    Ok(map)
}

impl OidcSettings {
    /// The role the groups give, the most powerful first; `None` when none maps.
    pub fn role_for(&self, groups: &[String]) -> Option<Role> {
        Role::ALL.iter().copied().find(|role| {
            self.roles
                .iter()
                .any(|(group, r)| r == role && groups.iter().any(|g| g == group))
        })
    }
}

/// Why a single sign-on did not sign anyone in.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("single sign-on is not set up")]
    NotConfigured,
    /// The provider could not be reached or its discovery document is wrong.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// The answer names no sign-in of ours (a wrong, used or expired `state`).
    #[error("unknown or used state")]
    UnknownState,
    /// The provider said no (the person cancelled, say).
    #[error("the identity provider refused: {0}")]
    ProviderRefused(String),
    /// The code exchange or the ID token did not verify.
    #[error("the identity provider's answer did not verify: {0}")]
    NotVerified(String),
    /// The person's groups give no role here.
    #[error("no role")]
    NoRole,
    /// The person's account here is disabled.
    #[error("disabled")]
    Disabled,
    /// The address or user name belongs to an account made otherwise.
    #[error("taken")]
    Taken,
    /// The change of role would leave no active landlord administrator.
    #[error("last landlord admin")]
    LastLandlordAdmin,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<portal_store::StoreError> for OidcError {
    fn from(e: portal_store::StoreError) -> Self {
        Self::Service(e.into())
    }
}

/// The HTTP client the crate talks to the provider with (`ureq`, on a blocking thread): no
/// redirects followed, ten seconds at most.
struct Http(ureq::Agent);

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct HttpFailure(String);

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpFailure;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpFailure>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        let agent = self.0.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || exchange(&agent, request))
                .await
                .map_err(|e| HttpFailure(e.to_string()))?
        })
    }
}

/// One request to the provider and its answer, whatever its status.
fn exchange(agent: &ureq::Agent, request: HttpRequest) -> Result<HttpResponse, HttpFailure> {
    let (parts, body) = request.into_parts();
    let mut call = agent.request(parts.method.as_str(), &parts.uri.to_string());
    for (name, value) in &parts.headers {
        if let Ok(value) = value.to_str() {
            call = call.set(name.as_str(), value);
        }
    }
    let response = match call.send_bytes(&body) {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => return Err(HttpFailure(e.to_string())),
    };
    let mut answer = http::Response::builder().status(response.status());
    for name in response.headers_names() {
        if let Some(value) = response.header(&name) {
            answer = answer.header(name.as_str(), value);
        }
    }
    let mut body = Vec::new();
    let reader = response.into_reader();
    std::io::Read::read_to_end(&mut std::io::Read::take(reader, 1 << 20), &mut body)
        .map_err(|e| HttpFailure(e.to_string()))?;
    answer.body(body).map_err(|e| HttpFailure(e.to_string()))
}

fn http() -> Result<Http, OidcError> {
    Ok(Http(
        ureq::AgentBuilder::new()
            .redirects(0)
            .timeout(std::time::Duration::from_secs(10))
            .build(),
    ))
}

fn settings(services: &Services) -> Result<&OidcSettings, OidcError> {
    services.oidc.as_deref().ok_or(OidcError::NotConfigured)
}

/// The address the provider sends the person back to.
pub fn callback_url(services: &Services) -> String {
    format!("{}/auth/oidc/callback", services.mailer.base_url)
}

/// The provider's client, from its discovery document.
async fn client(
    services: &Services,
    http: &Http,
) -> Result<
    CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
    OidcError,
> {
    let settings = settings(services)?;
    let issuer = IssuerUrl::new(settings.issuer.clone())
        .map_err(|e| OidcError::Unavailable(e.to_string()))?;
    let metadata = CoreProviderMetadata::discover_async(issuer, http)
        .await
        .map_err(|e| OidcError::Unavailable(e.to_string()))?;
    let redirect = RedirectUrl::new(callback_url(services))
        .map_err(|e| OidcError::Unavailable(e.to_string()))?;
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(settings.client_id.clone()),
        settings.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(redirect))
}

/// Starts a sign-in at the provider: the address to send the browser to, and the `state` the
/// browser must come back with (kept in a cookie, so that nobody else's answer signs it in).
/// `next` is the local page to come back to.
pub async fn start(services: &Services, next: &str) -> Result<(String, String), OidcError> {
    let http = http()?;
    let client = client(services, &http).await?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".to_owned()))
        .add_scope(Scope::new("profile".to_owned()))
        .set_pkce_challenge(challenge)
        .url();
    let now = portal_store::now_ms();
    let sign_in = OidcSignIn {
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
        next: next.to_owned(),
    };
    services
        .store
        .put_oidc_sign_in(
            &token::token_hash(state.secret()),
            &sign_in,
            now,
            now + SIGN_IN_MS,
        )
        .await?;
    Ok((url.to_string(), state.secret().clone()))
}

/// What the provider's claims say about the person.
#[derive(Debug)]
struct Person {
    /// Issuer and subject, one text.
    subject: String,
    email: Option<String>,
    username: String,
    groups: Vec<String>,
}

/// The role claim of a verified ID token: the payload is read again for it, as the crate's
/// standard claims do not hold it (the signature was checked over these very bytes).
fn groups_in(id_token: &str, claim: &str) -> Vec<String> {
    use base64::Engine;
    let Some(payload) = id_token.split('.').nth(1) else {
        return Vec::new();
    };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload) else {
        return Vec::new();
    };
    let Ok(claims) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Vec::new();
    };
    match &claims[claim] {
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        serde_json::Value::String(one) => vec![one.clone()],
        _ => Vec::new(),
    }
}

/// Exchanges the provider's code (with the PKCE verifier) and verifies the ID token.
async fn person(
    services: &Services,
    code: &str,
    sign_in: &OidcSignIn,
) -> Result<Person, OidcError> {
    let settings = settings(services)?;
    let http = http()?;
    let client = client(services, &http).await?;
    let token = client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|e| OidcError::Unavailable(e.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(sign_in.pkce_verifier.clone()))
        .request_async(&http)
        .await
        .map_err(|e| OidcError::NotVerified(format!("code exchange: {e}")))?;
    let id_token = token
        .id_token()
        .ok_or_else(|| OidcError::NotVerified("no ID token".to_owned()))?;
    let nonce = Nonce::new(sign_in.nonce.clone());
    let claims = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .map_err(|e| OidcError::NotVerified(e.to_string()))?;
    let _ = token.access_token();
    let email = claims.email().map(|e| e.as_str().to_owned());
    let username = email
        .clone()
        .or_else(|| claims.preferred_username().map(|u| u.as_str().to_owned()))
        .unwrap_or_else(|| claims.subject().as_str().to_owned());
    Ok(Person {
        subject: format!("{} {}", claims.issuer().as_str(), claims.subject().as_str()),
        email,
        username,
        groups: groups_in(&id_token.to_string(), &settings.role_claim),
    })
}

/// Finishes a sign-in with the provider's answer: the account to sign in to (made at its
/// first sign-in and given the role its groups map to at every one) and the local page to go
/// back to. The sign-in of `state` is over after this, whatever the answer.
pub async fn finish(
    services: &Services,
    code: &str,
    state: &str,
) -> Result<(UserRow, String), OidcError> {
    let now = portal_store::now_ms();
    let sign_in = services
        .store
        .take_oidc_sign_in(&token::token_hash(state), now)
        .await?
        .ok_or(OidcError::UnknownState)?;
    if code.is_empty() {
        return Err(OidcError::UnknownState);
    }
    let user = account_of(services, code, &sign_in).await?;
    Ok((user, sign_in.next))
}

/// The account of the person the provider's code names.
async fn account_of(
    services: &Services,
    code: &str,
    sign_in: &OidcSignIn,
) -> Result<UserRow, OidcError> {
    let person = person(services, code, sign_in).await.inspect_err(|e| {
        info!(error = %e, "a single sign-on was refused");
    })?;
    let role = settings(services)?.role_for(&person.groups);
    let found = services
        .store
        .find_user_by_oidc_subject(&person.subject)
        .await?;
    let Some(role) = role else {
        info!("a single sign-on was refused: no group maps to a role");
        return Err(OidcError::NoRole);
    };
    match found {
        Some(user) if user.status != AccountStatus::Active => Err(OidcError::Disabled),
        Some(user) if user.role == role => Ok(user),
        Some(user) => {
            let change = UserChange {
                role: Some(role),
                status: None,
                keep_tenant_admin: false,
            };
            match services.store.change_user(&user.id, change).await {
                Ok(user) => Ok(user),
                Err(portal_store::StoreError::Conflict(
                    portal_store::Conflict::LastLandlordAdmin,
                )) => Err(OidcError::LastLandlordAdmin),
                Err(e) => Err(e.into()),
            }
        }
        None => first_sign_in(services, &person, role).await,
    }
}

/// Makes the account of a person's first single sign-on.
async fn first_sign_in(
    services: &Services,
    person: &Person,
    role: Role,
) -> Result<UserRow, OidcError> {
    let id = portal_store::new_id();
    let entry = super::audit::entry(
        None,
        AuditAction::UserCreatedBySingleSignOn,
        None,
        Some(&id),
        Some(format!("{}: {}", person.username, role.as_str())),
    );
    let user = SsoUser {
        id: &id,
        username: &person.username,
        email: person.email.as_deref(),
        role,
        subject: &person.subject,
    };
    match services
        .store
        .create_sso_user(&user, &entry, portal_store::now_ms())
        .await
    {
        Ok(()) => Ok(services.store.get_user(&id).await?),
        Err(portal_store::StoreError::Conflict(_)) => Err(OidcError::Taken),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_maps_take_landlord_roles_only_and_the_most_powerful_wins() {
        let map = parse_role_map(
            "portal-viewers=landlord_viewer, portal-admins=landlord_admin,ops=landlord_operator",
        )
        .expect("valid");
        let settings = OidcSettings {
            issuer: String::new(),
            client_id: String::new(),
            client_secret: None,
            role_claim: "groups".into(),
            roles: map,
        };
        let groups = |g: &[&str]| g.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            settings.role_for(&groups(&["portal-viewers", "portal-admins"])),
            Some(Role::LandlordAdmin)
        );
        assert_eq!(
            settings.role_for(&groups(&["ops"])),
            Some(Role::LandlordOperator)
        );
        assert_eq!(settings.role_for(&groups(&["sales"])), None);
        assert!(parse_role_map("x=tenant_admin").is_err());
        assert!(parse_role_map("x=boss").is_err());
        assert!(parse_role_map("just-a-group").is_err());
        assert!(parse_role_map(" ").is_err());
    }

    #[test]
    fn the_role_claim_is_a_list_or_one_text() {
        use base64::Engine;
        let token = |payload: &str| {
            format!(
                "h.{}.s",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload)
            )
        };
        assert_eq!(
            groups_in(&token(r#"{"groups":["a","b",3]}"#), "groups"),
            ["a", "b"]
        );
        assert_eq!(groups_in(&token(r#"{"role":"a"}"#), "role"), ["a"]);
        assert!(groups_in(&token(r#"{"groups":{}}"#), "groups").is_empty());
        assert!(groups_in("not a token", "groups").is_empty());
    }
}
