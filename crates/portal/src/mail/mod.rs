//! Outgoing mail: rendering the outcome emails (text and HTML, from `templates/email/`) and the
//! transports that carry them: SMTP, or a local spool folder of `.eml` files.

use std::path::PathBuf;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use portal_store::mail::{MailRow, NewMail};
use portal_store::request::RequestRow;

const SUCCESS_TEXT: &str = include_str!("../../templates/email/success.txt");
const SUCCESS_HTML: &str = include_str!("../../templates/email/success.html");
const FAILURE_TEXT: &str = include_str!("../../templates/email/failure.txt");
const FAILURE_HTML: &str = include_str!("../../templates/email/failure.html");
const VERIFY_TEXT: &str = include_str!("../../templates/email/verify.txt");
const VERIFY_HTML: &str = include_str!("../../templates/email/verify.html");
const CONFLICT_TEXT: &str = include_str!("../../templates/email/conflict.txt");
const CONFLICT_HTML: &str = include_str!("../../templates/email/conflict.html");
const REJECTED_TEXT: &str = include_str!("../../templates/email/rejected.txt");
const REJECTED_HTML: &str = include_str!("../../templates/email/rejected.html");
const INVITATION_TEXT: &str = include_str!("../../templates/email/invitation.txt");
const INVITATION_HTML: &str = include_str!("../../templates/email/invitation.html");
const RESET_TEXT: &str = include_str!("../../templates/email/reset.txt");
const RESET_HTML: &str = include_str!("../../templates/email/reset.html");
const TENANT_STATUS_TEXT: &str = include_str!("../../templates/email/tenant_status.txt");
const TENANT_STATUS_HTML: &str = include_str!("../../templates/email/tenant_status.html");
const DIGEST_TEXT: &str = include_str!("../../templates/email/digest.txt");
const DIGEST_HTML: &str = include_str!("../../templates/email/digest.html");
const WEBHOOK_DISABLED_TEXT: &str = include_str!("../../templates/email/webhook_disabled.txt");
const WEBHOOK_DISABLED_HTML: &str = include_str!("../../templates/email/webhook_disabled.html");
const LOCK_TEXT: &str = include_str!("../../templates/email/locked.txt");
const LOCK_HTML: &str = include_str!("../../templates/email/locked.html");

/// How many times a message is tried before it is marked failed (about 20 minutes of backoff).
pub const MAIL_ATTEMPTS: i64 = 10;

/// Where mail goes.
#[derive(Clone)]
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files in this folder.
    Spool(PathBuf),
}

/// The sender, the base URL for links, and the transport.
#[derive(Clone)]
pub struct Mailer {
    pub from: Mailbox,
    pub base_url: String,
    pub transport: Transport,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let transport = match &self.transport {
            Transport::Smtp(_) => "smtp".to_owned(),
            Transport::Spool(p) => format!("spool {}", p.display()),
        };
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .field("transport", &transport)
            .finish()
    }
}

impl Mailer {
    /// SMTP from `smtp://`, `smtps://` or `smtp://…?tls=required` (STARTTLS) URLs, with or
    /// without credentials; without a URL, the spool folder.
    pub fn new(
        smtp_url: Option<&str>,
        spool: PathBuf,
        from: &str,
        base_url: String,
    ) -> Result<Self, (&'static str, String)> {
        let from: Mailbox = from.parse().map_err(|_| {
            (
                "PORTAL_MAIL_FROM (--mail-from)",
                format!("{from:?} is not an email address"),
            )
        })?;
        let transport = match smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| {
                        (
                            "PORTAL_SMTP_URL (--smtp-url)",
                            format!("not a usable SMTP URL: {e}"),
                        )
                    })?
                    .timeout(Some(std::time::Duration::from_secs(20)))
                    .build(),
            ),
            None => Transport::Spool(spool),
        };
        Ok(Self {
            from,
            base_url: base_url.trim_end_matches('/').to_owned(),
            transport,
        })
    }

    /// A spool mailer for tests and tools.
    pub fn spool(folder: PathBuf) -> Self {
        Self {
            // A fixed, valid address: parsing it cannot fail.
            from: Mailbox::new(
                None,
                lettre::Address::new("portal", "localhost").expect("a valid address"),
            ),
            base_url: "http://127.0.0.1:8080".into(),
            transport: Transport::Spool(folder),
        }
    }

    /// Sends one outbox message. The Message-ID is derived from the outbox id, so a message
    /// sent twice (a worker killed between sending and recording it) is recognisably the same.
    pub async fn send(&self, row: &MailRow) -> Result<(), String> {
        let to: Mailbox = row
            .recipient
            .parse()
            .map_err(|_| format!("{:?} is not an address", row.recipient))?;
        let from: Mailbox = row
            .sender
            .parse()
            .map_err(|_| format!("{:?} is not an address", row.sender))?;
        let domain = from.email.domain().to_owned();
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(row.subject.clone())
            .message_id(Some(format!("<{}@{domain}>", row.id)))
            .multipart(MultiPart::alternative_plain_html(
                row.body_text.clone(),
                row.body_html.clone(),
            ))
            .map_err(|e| format!("cannot build the message: {e}"))?;
        match &self.transport {
            Transport::Smtp(smtp) => smtp
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| format!("SMTP: {e}")),
            Transport::Spool(folder) => {
                let bytes = message.formatted();
                let folder = folder.clone();
                let id = row.id.clone();
                tokio::task::spawn_blocking(move || write_spool(&folder, &id, &bytes))
                    .await
                    .map_err(|e| format!("spool: {e}"))?
            }
        }
    }
}

/// Writes `<id>.eml` whole or not at all (a temporary file renamed into place); writing it
/// again replaces it, so the spool holds each message once.
/// The folder and the files are this user's alone: messages carry single-use links.
fn write_spool(folder: &std::path::Path, id: &str, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write as _;
    crate::private_folder(folder).map_err(|e| format!("spool folder {}: {e}", folder.display()))?;
    let tmp = folder.join(format!(".{id}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(&tmp)
        .and_then(|mut file| {
            // A file left from before (a crash mid-write) keeps its mode when opened again.
            #[cfg(unix)]
            file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
            file.write_all(bytes)
        })
        .map_err(|e| format!("spool: {e}"))?;
    std::fs::rename(&tmp, folder.join(format!("{id}.eml"))).map_err(|e| format!("spool: {e}"))
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text someone typed, made safe to show in a message to any address: a `.`, `@` or `:` (or
/// a full-width or ideographic one) between two visible characters is bracketed (`evil[.]example`, `http[:]//`), so that no
/// mail program turns a web or email address typed as a name into a link. A name that holds
/// none reads as typed (`J. Smith`).
pub fn inert(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let visible = |at: Option<&char>| at.is_some_and(|c| !c.is_whitespace());
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let inside = i > 0 && visible(chars.get(i - 1)) && visible(chars.get(i + 1));
        // With the full-width and ideographic forms that addresses are read as too.
        if inside
            && matches!(
                c,
                '.' | '@' | ':' | '\u{FF0E}' | '\u{3002}' | '\u{FF61}' | '\u{FF20}' | '\u{FF1A}'
            )
        {
            out.push('[');
            out.push(c);
            out.push(']');
        } else {
            out.push(c);
        }
    }
    out
}

/// Fills `{key}` placeholders in one pass, so that braces inside a value stay as they are.
fn fill(template: &str, values: &[(&str, &str)], html: bool) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let found = after.find('}').and_then(|close| {
            values
                .iter()
                .find(|(k, _)| *k == &after[..close])
                .map(|(_, v)| (close, *v))
        });
        match found {
            Some((close, value)) => {
                out.push_str(&if html {
                    escape_html(value)
                } else {
                    value.to_owned()
                });
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The template with each section `{?name}` … `{/name}` (each marker on a line of its own)
/// kept, markers removed, when `shown` says so, and dropped otherwise.
fn sections(template: &str, shown: &[(&str, bool)]) -> String {
    let mut out = template.to_owned();
    for (name, keep) in shown {
        let (open, close) = (format!("{{?{name}}}\n"), format!("{{/{name}}}\n"));
        while let Some(start) = out.find(&open) {
            let Some(end) = out[start..].find(&close).map(|e| start + e) else {
                break;
            };
            let inner = out[start + open.len()..end].to_owned();
            let kept = if *keep { inner } else { String::new() };
            out.replace_range(start..end + close.len(), &kept);
        }
    }
    out
}

/// What a request ended in, for its email.
#[derive(Debug, Clone)]
pub enum Outcome<'a> {
    /// The tenant is ready; its next step is the Smart Queues parameters when its template
    /// has Smart Queues.
    Completed {
        login_id: &'a str,
        smart_queues: bool,
        /// The administrator is invited at this address to choose a password.
        invited: Option<&'a str>,
    },
    Failed {
        error: &'a str,
    },
}

/// Who a request's message is for.
#[derive(Debug, Clone, Copy)]
pub struct Recipient<'a> {
    pub request_id: &'a str,
    pub first_name: &'a str,
    pub tenant_name: &'a str,
    pub email: &'a str,
}

impl<'a> From<&'a RequestRow> for Recipient<'a> {
    fn from(r: &'a RequestRow) -> Self {
        Self {
            request_id: &r.id,
            first_name: &r.contact_first_name,
            tenant_name: &r.tenant_name,
            email: &r.contact_email,
        }
    }
}

/// A message to a request's contact, from a text and an HTML template filled with `values`
/// and the values every message has.
fn request_mail(
    mailer: &Mailer,
    to: Recipient<'_>,
    kind: &str,
    subject: String,
    (text, html): (&str, &str),
    extra: &[(&str, &str)],
) -> NewMail {
    let support = mailer.from.email.to_string();
    let first_name = inert(to.first_name);
    let mut values = vec![
        ("first_name", first_name.as_str()),
        ("tenant_name", to.tenant_name),
        ("reference", to.request_id),
        ("support", support.as_str()),
    ];
    values.extend_from_slice(extra);
    let id = portal_store::new_id();
    NewMail {
        id: id.clone(),
        request_id: Some(to.request_id.to_owned()),
        kind: kind.to_owned(),
        sender: mailer.from.to_string(),
        recipient: to.email.to_owned(),
        subject,
        body_text: fill(text, &values, false),
        body_html: fill(html, &values, true),
        job: send_job(&id),
    }
}

/// Renders a request's outcome email, ready for the outbox.
pub fn outcome_mail(mailer: &Mailer, request: &RequestRow, outcome: Outcome<'_>) -> NewMail {
    let sign_in = format!("{}/", mailer.base_url);
    match outcome {
        Outcome::Completed {
            login_id,
            smart_queues,
            invited,
        } => {
            let shown = [
                ("smart_queues", smart_queues),
                ("invited", invited.is_some()),
                ("chosen", invited.is_none()),
            ];
            request_mail(
                mailer,
                request.into(),
                "provisioning_completed",
                format!("Your tenant {} is ready", request.tenant_name),
                (
                    &sections(SUCCESS_TEXT, &shown),
                    &sections(SUCCESS_HTML, &shown),
                ),
                &[
                    ("login_id", login_id),
                    ("sign_in_url", &sign_in),
                    ("invited", invited.unwrap_or_default()),
                ],
            )
        }
        Outcome::Failed { error } => request_mail(
            mailer,
            request.into(),
            "provisioning_failed",
            format!("We could not create your tenant {}", request.tenant_name),
            (FAILURE_TEXT, FAILURE_HTML),
            &[("error", error), ("sign_in_url", &sign_in)],
        ),
    }
}

/// The message that asks a self-service prospect to confirm the contact address: the
/// single-use confirmation link and the status page's link (tokens only here and in the
/// message), valid until `expires` (shown as written).
pub fn verification_mail(
    mailer: &Mailer,
    to: Recipient<'_>,
    template: &str,
    verify_token: &str,
    status_token: &str,
    expires: &str,
) -> NewMail {
    let verify_url = format!("{}/registrations/verify/{verify_token}", mailer.base_url);
    let status_url = format!("{}/registrations/status/{status_token}", mailer.base_url);
    request_mail(
        mailer,
        to,
        "registration_verify",
        format!(
            "Confirm your email address for the tenant {}",
            to.tenant_name
        ),
        (VERIFY_TEXT, VERIFY_HTML),
        &[
            ("template", template),
            ("verify_url", &verify_url),
            ("status_url", &status_url),
            ("expires", expires),
        ],
    )
}

/// A message about an account (not a request's), from a text and an HTML template.
fn account_mail(
    mailer: &Mailer,
    to: &str,
    kind: &str,
    subject: &str,
    (text, html): (&str, &str),
    extra: &[(&str, &str)],
) -> NewMail {
    let support = mailer.from.email.to_string();
    let mut values = vec![("support", support.as_str())];
    values.extend_from_slice(extra);
    let id = portal_store::new_id();
    NewMail {
        id: id.clone(),
        request_id: None,
        kind: kind.to_owned(),
        sender: mailer.from.to_string(),
        recipient: to.to_owned(),
        subject: subject.to_owned(),
        body_text: fill(text, &values, false),
        body_html: fill(html, &values, true),
        job: send_job(&id),
    }
}

/// The address of a set-password link's page.
pub fn invitation_url(mailer: &Mailer, token: &str) -> String {
    format!("{}/invitation/{token}", mailer.base_url)
}

pub fn reset_url(mailer: &Mailer, token: &str) -> String {
    format!("{}/password-reset/{token}", mailer.base_url)
}

/// Who is invited, by whom, as what.
#[derive(Debug, Clone, Copy)]
pub struct Invitation<'a> {
    pub email: &'a str,
    pub username: &'a str,
    pub inviter: &'a str,
    pub role: portal_domain::Role,
    /// The tenant's name, for a tenant role.
    pub tenant: Option<&'a str>,
    pub token: &'a str,
    pub expires: &'a str,
}

/// The invitation to set a first password (the token only here and in the message).
pub fn invitation_mail(mailer: &Mailer, invitation: Invitation<'_>) -> NewMail {
    let link = invitation_url(mailer, invitation.token);
    let tenant_part = invitation
        .tenant
        .map(|t| format!(" of the tenant {t}"))
        .unwrap_or_default();
    account_mail(
        mailer,
        invitation.email,
        "invitation",
        "You are invited to the Provisioning Portal",
        (INVITATION_TEXT, INVITATION_HTML),
        &[
            ("inviter", invitation.inviter),
            ("role", invitation.role.label()),
            ("tenant_part", &tenant_part),
            ("username", invitation.username),
            ("link", &link),
            ("expires", invitation.expires),
        ],
    )
}

/// Tells an account's owner that it is locked after many failed sign-ins from many places.
pub fn lock_mail(mailer: &Mailer, email: &str, username: &str, minutes: i64) -> NewMail {
    let minutes = minutes.to_string();
    account_mail(
        mailer,
        email,
        "account_locked",
        "Many failed sign-ins to your Provisioning Portal account",
        (LOCK_TEXT, LOCK_HTML),
        &[("username", username), ("minutes", &minutes)],
    )
}

/// The single-use link to choose a new password.
pub fn reset_mail(
    mailer: &Mailer,
    email: &str,
    username: &str,
    token: &str,
    expires: &str,
) -> NewMail {
    let link = reset_url(mailer, token);
    account_mail(
        mailer,
        email,
        "password_reset",
        "Reset your Provisioning Portal password",
        (RESET_TEXT, RESET_HTML),
        &[
            ("username", username),
            ("link", &link),
            ("expires", expires),
        ],
    )
}

/// The message that tells a prospect who confirmed the address that a name is taken; `what`
/// is the name's label ("short name").
pub fn conflict_mail(mailer: &Mailer, request: &RequestRow, what: &str) -> NewMail {
    let register_url = format!("{}/join", mailer.base_url);
    request_mail(
        mailer,
        request.into(),
        "registration_conflict",
        format!("We cannot create the tenant {}", request.tenant_name),
        (CONFLICT_TEXT, CONFLICT_HTML),
        &[("what", what), ("register_url", &register_url)],
    )
}

/// The message that tells a prospect the request was not approved, and why.
pub fn rejection_mail(mailer: &Mailer, request: &RequestRow, reason: &str) -> NewMail {
    request_mail(
        mailer,
        request.into(),
        "registration_rejected",
        format!(
            "Your request for the tenant {} was not approved",
            request.tenant_name
        ),
        (REJECTED_TEXT, REJECTED_HTML),
        &[("reason", reason)],
    )
}

/// Tells a tenant's contact what the provider's staff did with the tenant, and why; a
/// closed tenant's message says until when it can be reopened. Not a request's outcome, so
/// the request's notification is left as it is.
pub fn tenant_status_mail(
    mailer: &Mailer,
    request: &RequestRow,
    action: portal_domain::TenantAction,
    reason: Option<&str>,
    purge_after: Option<&str>,
) -> NewMail {
    use portal_domain::TenantAction as A;
    let tenant = &request.tenant_name;
    let (subject, what) = match action {
        A::Suspend => (
            format!("Your tenant {tenant} is suspended"),
            format!(
                "Your tenant {tenant} is suspended: nobody can sign in to it until it is resumed. Nothing in it is lost."
            ),
        ),
        A::Resume => (
            format!("Your tenant {tenant} is resumed"),
            format!("Your tenant {tenant} is resumed: its users can sign in again."),
        ),
        A::Close => (
            format!("Your tenant {tenant} is closed"),
            format!("Your tenant {tenant} is closed: nobody can sign in to it any more."),
        ),
        A::Reopen => (
            format!("Your tenant {tenant} is reopened"),
            format!("Your tenant {tenant} is reopened: its users can sign in again."),
        ),
        A::Purge => (
            format!("Your tenant {tenant} is deleted"),
            format!(
                "The data of your tenant {tenant} is deleted, as announced when it was closed."
            ),
        ),
    };
    let shown = [
        ("reason", reason.is_some()),
        ("purge", purge_after.is_some()),
    ];
    let mut mail = request_mail(
        mailer,
        request.into(),
        &format!("tenant_{}", action.participle()),
        subject,
        (
            &sections(TENANT_STATUS_TEXT, &shown),
            &sections(TENANT_STATUS_HTML, &shown),
        ),
        &[
            ("what", &what),
            ("reason", reason.unwrap_or_default()),
            ("purge_after", purge_after.unwrap_or_default()),
        ],
    );
    mail.request_id = None;
    mail
}

/// Tells a landlord administrator that the portal disabled a webhook endpoint.
pub fn webhook_disabled_mail(mailer: &Mailer, to: &str, url: &str, reason: &str) -> NewMail {
    let link = format!("{}/settings/webhooks", mailer.base_url);
    account_mail(
        mailer,
        to,
        "webhook_disabled",
        "A webhook endpoint of the Provisioning Portal was disabled",
        (WEBHOOK_DISABLED_TEXT, WEBHOOK_DISABLED_HTML),
        &[("url", &inert(url)), ("reason", reason), ("link", &link)],
    )
}

/// One line of a digest: what it is, why, and where to look.
type DigestLine = (String, String, String);

fn digest_lines(
    items: &[portal_store::digest::DigestItem],
    base: &str,
    path: &str,
) -> Vec<DigestLine> {
    items
        .iter()
        .map(|item| {
            let title = inert(&item.title);
            let detail = item.detail.as_deref().map(inert).unwrap_or_default();
            (title, detail, format!("{base}/{path}/{}", item.id))
        })
        .collect()
}

fn digest_text_list(lines: &[DigestLine]) -> String {
    lines
        .iter()
        .map(|(title, detail, link)| format!("- {title}: {detail}\n  {link}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn digest_html_list(lines: &[DigestLine]) -> String {
    lines
        .iter()
        .map(|(title, detail, link)| {
            format!(
                "<li><a href=\"{}\">{}</a>: {}</li>",
                escape_html(link),
                escape_html(title),
                escape_html(detail)
            )
        })
        .collect()
}

/// A digest's count: the total, and how many are listed when not all.
fn counted(total: i64, listed: usize) -> String {
    if usize::try_from(total).unwrap_or(usize::MAX) > listed {
        format!("{total}, the first {listed} listed")
    } else {
        total.to_string()
    }
}

fn plural(n: i64, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// The daily digest for one landlord administrator at `to`: the requests that failed and the
/// messages given up in the day to `until` (as people read it), each with a link.
pub fn digest_mail(
    mailer: &Mailer,
    to: &str,
    until: &str,
    figures: &portal_store::digest::DigestFigures,
) -> NewMail {
    let base = &mailer.base_url;
    let failed = digest_lines(&figures.failed_requests, base, "requests");
    let gave_up = digest_lines(&figures.mail_given_up, base, "mail");
    let shown = [
        ("failed", !failed.is_empty()),
        ("gave_up", !gave_up.is_empty()),
    ];
    let failed_count = counted(figures.failed_total, failed.len());
    let gave_up_count = counted(figures.given_up_total, gave_up.len());
    let (failed_link, mail_link) = (
        format!("{base}/requests?status=failed"),
        format!("{base}/mail"),
    );
    let subject = format!(
        "Provisioning Portal: {}, {} given up",
        plural(figures.failed_total, "failed request"),
        plural(figures.given_up_total, "email"),
    );
    let mut mail = account_mail(
        mailer,
        to,
        "daily_digest",
        &subject,
        (
            &sections(DIGEST_TEXT, &shown),
            &sections(DIGEST_HTML, &shown),
        ),
        &[
            ("until", until),
            ("failed_count", &failed_count),
            ("gave_up_count", &gave_up_count),
            ("failed_link", &failed_link),
            ("mail_link", &mail_link),
        ],
    );
    // The lists go in last, in one pass, each already made safe for its part (the HTML one
    // escaped): braces in a name stay as they are.
    let (failed_text, gave_up_text) = (digest_text_list(&failed), digest_text_list(&gave_up));
    let text = [
        ("failed_list", failed_text.as_str()),
        ("gave_up_list", gave_up_text.as_str()),
    ];
    mail.body_text = fill(&mail.body_text, &text, false);
    let (failed_html, gave_up_html) = (digest_html_list(&failed), digest_html_list(&gave_up));
    let html = [
        ("failed_list", failed_html.as_str()),
        ("gave_up_list", gave_up_html.as_str()),
    ];
    mail.body_html = fill(&mail.body_html, &html, false);
    mail
}

/// The job that sends the message `mail_id`, due now.
fn send_job(mail_id: &str) -> portal_store::job::NewJob {
    let job = crate::jobs::SendMail {
        mail_id: mail_id.to_owned(),
    };
    let now = portal_store::now_ms();
    crate::jobs::new_job(&job, now, MAIL_ATTEMPTS).unwrap_or_else(|e| {
        // A payload of one string always serialises; should it not, the job fails as a bad
        // payload and the message is marked failed when it runs out of attempts.
        tracing::error!(error = %e, "could not write a send_mail payload");
        portal_store::job::NewJob {
            kind: <crate::jobs::SendMail as crate::jobs::Job>::KIND,
            subject: Some(mail_id.to_owned()),
            payload: String::new(),
            run_at: now,
            max_attempts: MAIL_ATTEMPTS,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_kept_without_its_markers_or_dropped_whole() {
        let t = "a\n{?x}\nb\n{/x}\nc\n";
        assert_eq!(sections(t, &[("x", true)]), "a\nb\nc\n");
        assert_eq!(sections(t, &[("x", false)]), "a\nc\n");
        assert!(!sections(SUCCESS_HTML, &[("smart_queues", false)]).contains("Callback"));
        assert!(sections(SUCCESS_TEXT, &[("smart_queues", true)]).contains("Callback Folder"));
        let all = [("smart_queues", true), ("chosen", true), ("invited", false)];
        assert!(!sections(SUCCESS_TEXT, &all).contains("{?"));
        assert!(!sections(SUCCESS_TEXT, &all).contains("invitation"));
    }

    #[test]
    fn addresses_typed_as_names_are_not_links() {
        assert_eq!(inert("J. Smith"), "J. Smith");
        assert_eq!(inert("Ann-Marie O'Neil"), "Ann-Marie O'Neil");
        assert_eq!(
            inert("https://evil.example/pay"),
            "https[:]//evil[.]example/pay"
        );
        assert_eq!(inert("bob@evil.example"), "bob[@]evil[.]example");
        assert_eq!(inert("Acme Inc."), "Acme Inc.");
        assert_eq!(inert("evil\u{FF0E}example"), "evil[\u{FF0E}]example");
        assert_eq!(inert("evil\u{3002}example"), "evil[\u{3002}]example");
    }

    #[test]
    fn html_values_are_escaped_and_text_values_are_not() {
        let values = [("error", "a <b> & \"c\"")];
        assert_eq!(
            fill("<p>{error}</p>", &values, true),
            "<p>a &lt;b&gt; &amp; &quot;c&quot;</p>"
        );
        assert_eq!(fill("{error}", &values, false), "a <b> & \"c\"");
        let sneaky = [
            ("first_name", "{sign_in_url}"),
            ("sign_in_url", "https://x"),
        ];
        assert_eq!(
            fill("Hi {first_name} at {sign_in_url} {unknown}", &sneaky, false),
            "Hi {sign_in_url} at https://x {unknown}"
        );
    }
}
