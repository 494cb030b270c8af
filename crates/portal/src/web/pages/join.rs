//! The public pages, without sign-in: a prospect's Tenant Registration (`/join`), the page a
//! confirmation link opens, and the request's status page. What they answer never depends on
//! whether a name is taken.

use crate::web::Routes;
use askama::Template;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use portal_domain::{ErrorNote, RequestStatus};
use portal_store::link::LinkPurpose;
use portal_store::registration::LinkRefusal;
use portal_store::request::{RequestRow, StepRow};

use super::register::{Audience, RegistrationForm, form_page, messages};
use super::requests::{status_label, step_label};
use super::{Nav, bad_form, failure, message, render, template_name, when};
use crate::service::ServiceError;
use crate::service::registration::{self, PublicError};
use crate::web::AppState;

pub fn router() -> Routes {
    Routes::new()
        .route(
            "/join",
            get(join_form)
                .post(join)
                .layer(DefaultBodyLimit::max(super::REGISTRATION_FORM_LIMIT)),
        )
        .route("/join/sent", get(sent))
        .route("/join/resend", axum::routing::post(send_again))
        .route("/join/correct", axum::routing::post(correct_address))
        .route(
            "/registrations/verify/{token}",
            get(confirm_page).post(confirm),
        )
        .route("/registrations/status/{token}", get(status_page))
        .route(
            "/registrations/status/{token}/check-domain",
            axum::routing::post(check_domain),
        )
}

async fn join_form(State(state): State<AppState>) -> Response {
    form_page(
        &state,
        Audience::Public,
        StatusCode::OK,
        &RegistrationForm::default(),
        Vec::new(),
        None,
    )
    .await
}

/// The page for too many attempts, with `Retry-After`.
fn throttled(retry_after_secs: u64) -> Response {
    let minutes = retry_after_secs.div_ceil(60);
    let mut page = message(
        StatusCode::TOO_MANY_REQUESTS,
        None,
        "Too many attempts",
        &format!(
            "Too many registrations came from here or for this email address. Try again in {} minute{}.",
            minutes,
            if minutes == 1 { "" } else { "s" }
        ),
        None,
    );
    if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
        page.headers_mut().insert(RETRY_AFTER, v);
    }
    page
}

async fn join(
    State(state): State<AppState>,
    form: Result<Form<RegistrationForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) => return super::unreadable_form(&rejection, None),
    };
    match registration::submit(
        &state.services,
        form.to_submission(),
        form.honeypot_filled(),
    )
    .await
    {
        Ok(registered) => {
            Redirect::to(&format!("/join/sent?link={}", registered.status_token)).into_response()
        }
        Err(PublicError::Invalid(problems)) => {
            form_page(
                &state,
                Audience::Public,
                StatusCode::UNPROCESSABLE_ENTITY,
                &form,
                messages(&problems),
                None,
            )
            .await
        }
        Err(PublicError::Throttled { retry_after_secs }) => throttled(retry_after_secs),
        Err(PublicError::Service(ServiceError::Overloaded)) => form_page(
            &state,
            Audience::Public,
            StatusCode::SERVICE_UNAVAILABLE,
            &form,
            Vec::new(),
            Some(
                "The portal is busy; nothing was stored. Click Create Tenant again in a moment."
                    .to_owned(),
            ),
        )
        .await,
        Err(PublicError::Service(e)) => failure(&e, None),
    }
}

#[derive(Template)]
#[template(path = "pages/join_sent.html")]
struct SentPage {
    nav: Nav,
    /// The token of the request's status link.
    link: String,
    done: Option<&'static str>,
    email: String,
    error: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct SentQuery {
    link: String,
    done: String,
}

/// A status link's token as a page may carry it: anything else is no token.
fn plausible_token(token: &str) -> bool {
    (1..=128).contains(&token.len())
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

async fn sent(query: Result<Query<SentQuery>, QueryRejection>) -> Response {
    let query = query.map(|Query(q)| q).unwrap_or_default();
    if !plausible_token(&query.link) {
        return message(
            StatusCode::OK,
            None,
            "Check your email",
            "We sent a link to the contact address. Open it to confirm the address: until then nothing is created. The email also has a link to follow the request.",
            None,
        );
    }
    let done = match query.done.as_str() {
        "resent" => Some("The link was sent again; the links sent before no longer work."),
        "corrected" => Some("The address is corrected and the link sent to it."),
        _ => None,
    };
    render(
        StatusCode::OK,
        &SentPage {
            nav: Nav::signed_out(),
            link: query.link,
            done,
            email: String::new(),
            error: None,
        },
    )
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct SendAgainForm {
    link: String,
    email: String,
}

async fn send_again(
    State(state): State<AppState>,
    form: Result<Form<SendAgainForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return bad_form(None);
    };
    match registration::send_again(&state.services, &form.link, None).await {
        Ok(Ok(())) => sent_again(&form.link, "resent"),
        Ok(Err(refusal)) => refused(refusal),
        Err(e) => public_failure(e),
    }
}

async fn correct_address(
    State(state): State<AppState>,
    form: Result<Form<SendAgainForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return bad_form(None);
    };
    match registration::send_again(&state.services, &form.link, Some(&form.email)).await {
        Ok(Ok(())) => sent_again(&form.link, "corrected"),
        Ok(Err(refusal)) => refused(refusal),
        Err(PublicError::Invalid(problems)) => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SentPage {
                nav: Nav::signed_out(),
                link: form.link.clone(),
                done: None,
                email: form.email.chars().take(254).collect(),
                error: problems.into_iter().next().map(|p| p.error.message),
            },
        ),
        Err(e) => public_failure(e),
    }
}

/// Back to the page that says to check the email, saying what was done.
fn sent_again(link: &str, done: &str) -> Response {
    if plausible_token(link) {
        Redirect::to(&format!("/join/sent?link={link}&done={done}")).into_response()
    } else {
        Redirect::to("/join/sent").into_response()
    }
}

/// The page of a link that does not work, saying why.
fn refused(refusal: LinkRefusal) -> Response {
    match refusal {
        LinkRefusal::Unknown => message(
            StatusCode::NOT_FOUND,
            None,
            "This link does not work",
            "Check that the whole link was copied from the email.",
            Some(("/join", "Register a tenant")),
        ),
        LinkRefusal::Used => message(
            StatusCode::GONE,
            None,
            "This link was already used",
            "The address is already confirmed. Follow the request with the other link in the same email.",
            None,
        ),
        LinkRefusal::Expired => message(
            StatusCode::GONE,
            None,
            "This link has expired",
            "The address was not confirmed in time, so the request was dropped and nothing was created. You are welcome to register again.",
            Some(("/join", "Register again")),
        ),
        LinkRefusal::Closed => message(
            StatusCode::GONE,
            None,
            "This request is closed",
            "The provider closed the request before the address was confirmed; nothing was created. The status link in the same email says more.",
            None,
        ),
    }
}

#[derive(Template)]
#[template(path = "pages/confirm_email.html")]
struct ConfirmEmailPage {
    nav: Nav,
    token: String,
    email: String,
    tenant_name: String,
    template: String,
    expires: String,
}

async fn confirm_page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    // Opening the link changes nothing (mail scanners open links too): the button confirms.
    match registration::open_link(&state.services, &token, LinkPurpose::Verify).await {
        Ok(Ok((link, r, _))) => render(
            StatusCode::OK,
            &ConfirmEmailPage {
                nav: Nav::signed_out(),
                token,
                template: template_name(&state, &r.template_id).await,
                email: r.contact_email,
                tenant_name: r.tenant_name,
                expires: when(link.expires_at),
            },
        ),
        Ok(Err(refusal)) => refused(refusal),
        Err(e) => public_failure(e),
    }
}

fn public_failure(e: PublicError) -> Response {
    match e {
        PublicError::Throttled { retry_after_secs } => throttled(retry_after_secs),
        PublicError::Invalid(_) => bad_form(None),
        PublicError::Service(e) => failure(&e, None),
    }
}

async fn confirm(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match registration::confirm(&state.services, &token).await {
        // A fresh status link: the page can be reloaded, bookmarked and followed live.
        Ok(Ok((_, status_token))) => {
            Redirect::to(&format!("/registrations/status/{status_token}?confirmed=1"))
                .into_response()
        }
        Ok(Err(refusal)) => refused(refusal),
        Err(e) => public_failure(e),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct StatusQuery {
    confirmed: String,
    checked: String,
}

async fn status_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    query: Result<Query<StatusQuery>, QueryRejection>,
) -> Response {
    let notice = match query {
        Ok(Query(q)) if q.confirmed == "1" => Some("Thank you: your address is confirmed."),
        Ok(Query(q)) if q.checked == "1" => Some("Checked just now: what was found is below."),
        _ => None,
    };
    match registration::open_link(&state.services, &token, LinkPurpose::Status).await {
        Ok(Ok((_, r, steps))) => {
            let template = template_name(&state, &r.template_id).await;
            let domain = match crate::service::domain::state(&state.services, &r).await {
                Ok(domain) => domain,
                Err(e) => return public_failure(e.into()),
            };
            let mut page = status_view(r, steps, template, notice);
            page.domain = domain.map(|d| DomainView {
                checked: d.checked_at.map(when),
                verified: d.verified_at.map(when),
                state: d,
            });
            page.token = token;
            render(StatusCode::OK, &page)
        }
        Ok(Err(refusal)) => refused(refusal),
        Err(e) => public_failure(e),
    }
}

#[derive(Template)]
#[template(path = "pages/registration_status.html")]
struct StatusPage {
    nav: Nav,
    notice: Option<&'static str>,
    live: Option<&'static str>,
    status: String,
    explanation: String,
    error_label: &'static str,
    /// (label, status) of each provisioning step, once it may run.
    steps: Vec<(String, String)>,
    template: String,
    submitted: String,
    /// The tenant is ready: its administrator may sign in.
    completed: bool,
    /// The UPN suffix and login ID as people read them.
    upn_suffix: String,
    login_id: String,
    r: RequestRow,
    /// The DNS record to publish, when the request must prove its domain.
    domain: Option<DomainView>,
    /// The status link's token, for the "check now" form.
    token: String,
}

/// The domain check as the status page shows it.
struct DomainView {
    state: crate::service::domain::DomainState,
    checked: Option<String>,
    verified: Option<String>,
}

/// "Check now": the domain's record looked up at once, then the status page again.
async fn check_domain(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match crate::service::domain::check_now(&state.services, &token).await {
        // The token opened a link, so it is plain URL-safe text.
        Ok(Ok(_)) => {
            Redirect::to(&format!("/registrations/status/{token}?checked=1")).into_response()
        }
        Ok(Err(refusal)) => refused(refusal),
        Err(e) => public_failure(e),
    }
}

/// What the prospect is told of where the request stands.
fn explanation(r: &RequestRow) -> String {
    use RequestStatus as S;
    match r.status {
        S::PendingVerification => format!(
            "Confirm your email address with the link we sent to {}. Until then nothing is created.",
            r.contact_email
        ),
        S::PendingApproval => "Your address is confirmed. The provider now reviews the request; you are emailed when it is decided.".to_owned(),
        S::PendingDomain => format!(
            "Your address is confirmed. Before the tenant is created, show that you own {}: publish the DNS record below. It is checked every five minutes the first day, then hourly, or now with the button; a request whose record is not seen within 30 days is cancelled.",
            r.upn_suffix
        ),
        S::Accepted => "Provisioning starts in a moment.".to_owned(),
        S::Scheduled => format!(
            "Provisioning is scheduled for the provider's off-peak window: it starts at {}.",
            r.scheduled_for.map(when).unwrap_or_default()
        ),
        S::Provisioning => "Your tenant is being created.".to_owned(),
        S::Completed => format!(
            "Your tenant is ready. Sign in with the login ID {} and the password you chose.",
            super::login_shown(&r.admin_personnel_id, &r.upn_suffix)
        ),
        S::Failed => "We could not create the tenant. Nothing of it was kept; the provider's staff can try again once the cause is fixed.".to_owned(),
        S::Cancelled => "The request was cancelled and nothing was created.".to_owned(),
        S::Rejected => "The request was not approved and nothing was created.".to_owned(),
    }
}

fn status_view(
    r: RequestRow,
    steps: Vec<StepRow>,
    template: String,
    notice: Option<&'static str>,
) -> StatusPage {
    let status = Some(r.status);
    use RequestStatus as S;
    let explanation = explanation(&r);
    let live = match status {
        Some(S::Accepted | S::Provisioning) => Some("fast"),
        Some(S::PendingVerification | S::PendingApproval | S::PendingDomain | S::Scheduled) => {
            Some("slow")
        }
        _ => None,
    };
    let show_steps = matches!(
        status,
        Some(S::Accepted | S::Scheduled | S::Provisioning | S::Completed | S::Failed)
    );
    StatusPage {
        nav: Nav::signed_out(),
        notice,
        live,
        status: status_label(r.status),
        explanation,
        error_label: match status {
            Some(S::Rejected) if r.error != Some(ErrorNote::NameTaken) => "Reason",
            Some(S::Failed) => "What went wrong",
            _ => "Why",
        },
        steps: if show_steps {
            steps
                .into_iter()
                .map(|s| (step_label(s.name), s.status.to_string()))
                .collect()
        } else {
            Vec::new()
        },
        template: format!("{template} (version {})", r.template_version),
        submitted: when(r.submitted_at),
        completed: r.status == RequestStatus::Completed,
        upn_suffix: super::domain_shown(&r.upn_suffix),
        login_id: super::login_shown(&r.admin_personnel_id, &r.upn_suffix),
        r,
        domain: None,
        token: String::new(),
    }
}
