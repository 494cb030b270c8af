//! Second factors: an authenticator app (TOTP, RFC 6238: SHA-1, six digits, 30-second steps)
//! with ten single-use recovery codes. The codes themselves come from the `totp-rs` crate;
//! what is ours is which step a code may be for (the current one and one on either side),
//! that each step is used once, and the life of the enrolment.

use portal_domain::{AuditAction, FieldErrorCode};
use portal_store::factor::{ConfirmRefusal, Removal};
use totp_rs::{Algorithm, Secret, TOTP};
use tracing::info;

use super::account::{AccountConflict, AccountError, check_own_password, invalid};
use super::{Actor, ServiceError, Services};
use crate::token;

/// The name authenticator apps show beside the account.
pub const ISSUER: &str = "Provisioning Portal";
const STEP_SECS: u64 = 30;
/// How many recovery codes a confirmed enrolment gets.
pub const RECOVERY_CODES: usize = 10;

/// A new authenticator app's key as its owner adds it: the key in base32 and the
/// `otpauth://` address its QR code carries.
#[derive(Clone)]
pub struct TotpEnrolment {
    pub secret: String,
    pub otpauth_uri: String,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpEnrolment").finish_non_exhaustive()
    }
}

impl TotpEnrolment {
    /// The QR code of the `otpauth://` address as an SVG element to put in a page.
    pub fn qr_svg(&self) -> Result<String, ServiceError> {
        let code = qrcode::QrCode::with_error_correction_level(
            self.otpauth_uri.as_bytes(),
            qrcode::EcLevel::M,
        )
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("QR code: {e}")))?;
        let svg = code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .build();
        // The renderer writes a standalone document; a page takes the element alone.
        let element = svg.find("<svg").map_or(svg.as_str(), |at| &svg[at..]);
        Ok(element.replacen(
            "<svg ",
            "<svg role=\"img\" aria-label=\"QR code of the authenticator app's key\" ",
            1,
        ))
    }
}

fn totp(secret: &str, account: &str) -> Result<TOTP, ServiceError> {
    let key = Secret::Encoded(secret.to_owned())
        .to_bytes()
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("stored TOTP key: {e:?}")))?;
    // A label may not hold a colon (it separates the issuer in the address).
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP_SECS,
        key,
        Some(ISSUER.to_owned()),
        account.replace(':', " "),
    )
    .map_err(|e| ServiceError::Internal(anyhow::anyhow!("TOTP: {e:?}")))
}

fn now_secs() -> u64 {
    u64::try_from(portal_store::now_ms() / 1000).unwrap_or_default()
}

/// Whether two short strings are equal, in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The 30-second step `code` is the code of, among the one of `now` and one on either side
/// (a phone's clock may be a little off).
fn matching_step(totp: &TOTP, code: &str, now: u64) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = now / STEP_SECS;
    [current.saturating_sub(1), current, current + 1]
        .into_iter()
        .find(|step| same(totp.generate(step * STEP_SECS).as_bytes(), code.as_bytes()))
        .and_then(|step| i64::try_from(step).ok())
}

/// The actor's second factors, as their account page shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FactorStatus {
    pub totp: bool,
    /// An enrolment was started and not yet confirmed.
    pub totp_pending: bool,
    pub recovery_codes_left: i64,
    /// The security policy requires one for the actor's role.
    pub required: bool,
}

pub async fn status(services: &Services, actor: &Actor) -> Result<FactorStatus, ServiceError> {
    let row = services.store.totp_factor(&actor.id).await?;
    let policy = super::security::policy(services).await?;
    Ok(FactorStatus {
        totp: row.as_ref().is_some_and(|r| r.confirmed_at.is_some()),
        totp_pending: row.as_ref().is_some_and(|r| r.confirmed_at.is_none()),
        recovery_codes_left: services.store.recovery_codes_left(&actor.id).await?,
        required: policy.requires_second_factor(actor.role),
    })
}

/// Starts setting up an authenticator app with a new key (a pending one is replaced).
pub async fn start_totp(services: &Services, actor: &Actor) -> Result<TotpEnrolment, AccountError> {
    actor.second_factor.may_manage()?;
    let mut key = [0u8; 20];
    rand::fill(&mut key);
    let secret = Secret::Raw(key.to_vec()).to_encoded().to_string();
    let started = services
        .store
        .start_totp(&actor.id, &secret, portal_store::now_ms())
        .await
        .map_err(ServiceError::from)?;
    if !started {
        return Err(AccountError::Conflict(AccountConflict::TotpExists));
    }
    let otpauth_uri = totp(&secret, &actor.username)?.get_url();
    Ok(TotpEnrolment {
        secret,
        otpauth_uri,
    })
}

/// The enrolment the actor started and has not confirmed, to show again.
pub async fn pending_totp(
    services: &Services,
    actor: &Actor,
) -> Result<Option<TotpEnrolment>, ServiceError> {
    let Some(row) = services.store.totp_factor(&actor.id).await? else {
        return Ok(None);
    };
    if row.confirmed_at.is_some() {
        return Ok(None);
    }
    let otpauth_uri = totp(&row.secret, &actor.username)?.get_url();
    Ok(Some(TotpEnrolment {
        secret: row.secret,
        otpauth_uri,
    }))
}

/// New recovery codes and their hashes.
fn new_recovery_codes() -> (Vec<String>, Vec<String>) {
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| token::recovery_code())
        .collect();
    let hashes = codes
        .iter()
        .map(|c| token::token_hash(&token::recovery_code_key(c)))
        .collect();
    (codes, hashes)
}

fn wrong_code() -> AccountError {
    invalid(
        "code",
        FieldErrorCode::Invalid,
        "The code is wrong or was used already: type the six digits your app shows now.",
    )
}

/// Confirms the pending enrolment with a first code; the answer is the ten recovery codes,
/// shown this once. The session or token doing it counts as having passed a second factor.
pub async fn confirm_totp(
    services: &Services,
    actor: &Actor,
    code: &str,
) -> Result<Vec<String>, AccountError> {
    actor.second_factor.may_manage()?;
    let row = services
        .store
        .totp_factor(&actor.id)
        .await
        .map_err(ServiceError::from)?
        .filter(|r| r.confirmed_at.is_none())
        .ok_or(AccountError::Conflict(AccountConflict::TotpNotStarted))?;
    let step = matching_step(&totp(&row.secret, &actor.username)?, code, now_secs())
        .ok_or_else(wrong_code)?;
    let (codes, hashes) = new_recovery_codes();
    let entry = super::audit::entry(
        Some(actor),
        AuditAction::TotpEnrolled,
        actor.tenant_id.as_deref(),
        Some(&actor.id),
        Some(actor.username.clone()),
    );
    let now = portal_store::now_ms();
    match services
        .store
        .confirm_totp(
            &actor.id,
            step,
            &hashes,
            actor.credential.as_ref(),
            &entry,
            now,
        )
        .await
        .map_err(ServiceError::from)?
    {
        Ok(()) => {
            info!(user.id = %actor.id, "authenticator app set up");
            Ok(codes)
        }
        Err(ConfirmRefusal::StepUsed) => Err(wrong_code()),
        Err(ConfirmRefusal::NotPending) => {
            Err(AccountError::Conflict(AccountConflict::TotpNotStarted))
        }
    }
}

/// Removes the actor's authenticator app and recovery codes; the password is required, and
/// a user whose role requires a second factor cannot remove their last one.
pub async fn remove_totp(
    services: &Services,
    actor: &Actor,
    password: String,
) -> Result<(), AccountError> {
    actor.second_factor.may_manage()?;
    let user = super::account::me(services, actor).await?;
    check_own_password(services, &user, password, "password").await?;
    let keep_last = super::security::policy(services)
        .await?
        .requires_second_factor(actor.role);
    let entry = super::audit::entry(
        Some(actor),
        AuditAction::TotpRemoved,
        actor.tenant_id.as_deref(),
        Some(&actor.id),
        Some(actor.username.clone()),
    );
    match services
        .store
        .remove_totp(&actor.id, keep_last, &entry, portal_store::now_ms())
        .await
        .map_err(ServiceError::from)?
    {
        Removal::Removed => Ok(()),
        Removal::Missing => Err(AccountError::Conflict(AccountConflict::TotpNotStarted)),
        Removal::LastKept => Err(AccountError::Conflict(AccountConflict::LastSecondFactor)),
    }
}

/// Ten new recovery codes in place of the old ones (the password is required).
pub async fn renew_recovery_codes(
    services: &Services,
    actor: &Actor,
    password: String,
) -> Result<Vec<String>, AccountError> {
    actor.second_factor.may_manage()?;
    let user = super::account::me(services, actor).await?;
    check_own_password(services, &user, password, "password").await?;
    if !user.has_second_factor() {
        return Err(AccountError::Conflict(AccountConflict::TotpNotStarted));
    }
    let (codes, hashes) = new_recovery_codes();
    let entry = super::audit::entry(
        Some(actor),
        AuditAction::RecoveryCodesRenewed,
        actor.tenant_id.as_deref(),
        Some(&actor.id),
        Some(actor.username.clone()),
    );
    services
        .store
        .renew_recovery_codes(&actor.id, &hashes, &entry, portal_store::now_ms())
        .await
        .map_err(ServiceError::from)?;
    Ok(codes)
}

/// Removes the second factors of an account whose owner lost them (the machine's operator,
/// by user name, login ID or address); the answer says what was done.
pub async fn reset_on_command_line(
    services: &Services,
    login: &str,
) -> Result<String, AccountError> {
    let login = portal_domain::field::login_id(login.trim());
    let user = services
        .store
        .find_user_by_login(&login)
        .await
        .map_err(ServiceError::from)?
        .ok_or(ServiceError::NotFound)?;
    let mut entry = super::audit::entry(
        None,
        AuditAction::SecondFactorsResetOnCommandLine,
        user.tenant_id.as_deref(),
        Some(&user.id),
        Some(user.username.clone()),
    );
    entry.actor_name = Some("command line".to_owned());
    let passkeys = services
        .store
        .remove_all_passkeys(&user.id)
        .await
        .map_err(ServiceError::from)?;
    let app = services
        .store
        .remove_totp(&user.id, false, &entry, portal_store::now_ms())
        .await
        .map_err(ServiceError::from)?
        == Removal::Removed;
    if passkeys > 0 && !app {
        super::audit::record(services, entry).await;
    }
    Ok(if app || passkeys > 0 {
        format!(
            "the second factors of {} were removed: the next sign-in asks for the password alone",
            user.username
        )
    } else {
        format!(
            "{} has no second factor: nothing was changed",
            user.username
        )
    })
}

/// What a person gives as their second factor at sign-in.
#[derive(Clone, PartialEq, Eq)]
pub enum Proof {
    Totp(String),
    RecoveryCode(String),
}

impl std::fmt::Debug for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Totp(_) => "Proof::Totp",
            Self::RecoveryCode(_) => "Proof::RecoveryCode",
        })
    }
}

impl Proof {
    /// One field on a page takes either: six digits are the app's code, anything else a
    /// recovery code.
    pub fn typed(text: &str) -> Self {
        let text = text.trim();
        if text.len() == 6 && text.bytes().all(|b| b.is_ascii_digit()) {
            Self::Totp(text.to_owned())
        } else {
            Self::RecoveryCode(text.to_owned())
        }
    }
}

/// Checks and uses a second factor of the user `user_id` (named `username` in their app):
/// `true` when it is right and was not used before.
pub async fn verify(
    services: &Services,
    user_id: &str,
    username: &str,
    proof: &Proof,
) -> Result<bool, ServiceError> {
    match proof {
        Proof::Totp(code) => {
            let Some(row) = services.store.totp_factor(user_id).await? else {
                return Ok(false);
            };
            if row.confirmed_at.is_none() {
                return Ok(false);
            }
            match matching_step(&totp(&row.secret, username)?, code, now_secs()) {
                Some(step) => Ok(services.store.use_totp_step(user_id, step).await?),
                None => Ok(false),
            }
        }
        Proof::RecoveryCode(code) => {
            let key = token::recovery_code_key(code);
            if key.len() != 10 {
                return Ok(false);
            }
            Ok(services
                .store
                .use_recovery_code(user_id, &token::token_hash(&key), portal_store::now_ms())
                .await?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, appendix B: the SHA-1 key "12345678901234567890" at 59 s gives 94287082 in
    /// eight digits, so 287082 in six.
    #[test]
    fn codes_follow_the_rfc_and_match_one_step_either_side() {
        let secret = Secret::Raw(b"12345678901234567890".to_vec())
            .to_encoded()
            .to_string();
        let app = totp(&secret, "someone").expect("totp");
        assert_eq!(app.generate(59), "287082");
        assert_eq!(matching_step(&app, "287082", 59), Some(1));
        assert_eq!(matching_step(&app, " 287082 ", 89), Some(1));
        assert_eq!(matching_step(&app, "287082", 29), Some(1));
        assert_eq!(matching_step(&app, "287082", 119), None);
        assert_eq!(matching_step(&app, "28708", 59), None);
        assert_eq!(matching_step(&app, "2870８2", 59), None);
    }

    #[test]
    fn a_page_field_tells_an_app_code_from_a_recovery_code() {
        assert_eq!(Proof::typed(" 123456 "), Proof::Totp("123456".into()));
        assert_eq!(
            Proof::typed("abcde-fghjk"),
            Proof::RecoveryCode("abcde-fghjk".into())
        );
    }

    #[test]
    fn the_qr_code_is_an_svg_element_with_a_name() {
        let enrolment = TotpEnrolment {
            secret: "JBSWY3DPEHPK3PXP".into(),
            otpauth_uri: "otpauth://totp/Provisioning%20Portal:admin?secret=JBSWY3DPEHPK3PXP&issuer=Provisioning%20Portal".into(),
        };
        let svg = enrolment.qr_svg().expect("svg");
        assert!(
            svg.starts_with("<svg role=\"img\" aria-label="),
            "{svg:.80}"
        );
        assert!(svg.ends_with("</svg>"));
    }
}
