//! Tenant Registration: the three tabs (Template, Tenant, Contact), Create Tenant, and the
//! confirmation of an accepted request.

use crate::web::Routes;
use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use portal_domain::Permission;
use portal_domain::submission::{FieldProblem, RawContact, RawSubmission, RawTenant};
use portal_domain::{NotificationStatus, RequestStatus};
use portal_store::request::RequestRow;
use portal_store::template::TemplateRow;
use serde::Deserialize;

use super::{Landlord, Nav, PageUser, failure, not_found, plausible_id, render, when};
use crate::service::registration::Approval;
use crate::service::request::{self, SubmitError};
use crate::service::{Actor, ServiceError, policy, template};
use crate::web::AppState;

pub fn router() -> Routes {
    Routes::new()
        .route(
            "/register",
            get(registration_form)
                .post(create_tenant)
                .layer(DefaultBodyLimit::max(super::REGISTRATION_FORM_LIMIT)),
        )
        .route("/register/accepted/{id}", get(accepted))
}

/// What the form sends. Every field is text and may be missing; the domain decides. (No
/// `Debug`: it holds the passwords.)
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct RegistrationForm {
    form_key: String,
    template_id: String,
    name: String,
    short_name: String,
    upn_suffix: String,
    admin_user_name: String,
    admin_email: String,
    password: String,
    confirm_password: String,
    ani: String,
    first_name: String,
    last_name: String,
    email: String,
    phone: String,
    company: String,
    address: String,
    /// The honeypot of the public form: people leave it empty.
    website: String,
}

impl RegistrationForm {
    /// What was typed, but the passwords, to carry through a sign-in as hidden fields.
    pub fn resumable(&self) -> Vec<(&'static str, String)> {
        [
            ("form_key", &self.form_key),
            ("template_id", &self.template_id),
            ("name", &self.name),
            ("short_name", &self.short_name),
            ("upn_suffix", &self.upn_suffix),
            ("admin_user_name", &self.admin_user_name),
            ("admin_email", &self.admin_email),
            ("ani", &self.ani),
            ("first_name", &self.first_name),
            ("last_name", &self.last_name),
            ("email", &self.email),
            ("phone", &self.phone),
            ("company", &self.company),
            ("address", &self.address),
        ]
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(key, value)| (key, value.clone()))
        .collect()
    }

    /// Whether anything but the form's key was typed.
    pub fn was_typed(&self) -> bool {
        self.resumable().iter().any(|(key, _)| *key != "form_key")
    }

    /// Whether the honeypot was filled (by a program, since people do not see it).
    pub fn honeypot_filled(&self) -> bool {
        !self.website.trim().is_empty()
    }

    pub fn to_submission(&self) -> RawSubmission {
        let some = |v: &String| Some(v.clone());
        RawSubmission {
            template_id: some(&self.template_id),
            tenant: RawTenant {
                name: some(&self.name),
                short_name: some(&self.short_name),
                upn_suffix: some(&self.upn_suffix),
                admin_user_name: some(&self.admin_user_name),
                password: some(&self.password),
                confirm_password: some(&self.confirm_password),
                admin_email: some(&self.admin_email),
                ani: some(&self.ani),
            },
            contact: RawContact {
                first_name: some(&self.first_name),
                last_name: some(&self.last_name),
                email: some(&self.email),
                phone: some(&self.phone),
                company: some(&self.company),
                address: some(&self.address),
            },
        }
    }
}

/// One input of the Tenant or Contact tab.
pub struct Input {
    pub id: &'static str,
    pub label: &'static str,
    pub hint: String,
    pub kind: &'static str,
    pub autocomplete: &'static str,
    pub required: bool,
    pub value: String,
    pub error: Option<String>,
    /// The page of what holds the name typed here, when it is already used.
    pub held_by: Option<String>,
}

/// (form name and input id, label, hint, input type, autocomplete, required)
type FieldSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
);

const TENANT_FIELDS: [FieldSpec; 8] = [
    (
        "name",
        "Name",
        "The tenant name, for example KentonElectronics.",
        "text",
        "organization",
        true,
    ),
    (
        "short_name",
        "Short Name",
        "A shortened tenant name, for example ke.",
        "text",
        "off",
        true,
    ),
    (
        "upn_suffix",
        "UPN Suffix",
        "The email and logon suffix for all users in the tenant's contact center, for example kenton-electronics.com.",
        "text",
        "off",
        true,
    ),
    (
        "admin_user_name",
        "User Name",
        "The tenant administrator's name, for example keAdmin; prp and it make the personnel ID.",
        "text",
        "off",
        true,
    ),
    (
        "admin_email",
        "Administrator's email",
        "With it the passwords may be left empty: the administrator is then invited to choose a password once the tenant is ready. It also receives password resets.",
        "email",
        "off",
        false,
    ),
    (
        "password",
        "Password",
        "The tenant administrator's password, unless the administrator is invited by email: at least 12 characters, kept exactly as typed (spaces too, at sign-in as well), not containing the user name, tenant name or short name (those of 4 characters or more), and not a common password. A password typed here is changed by its owner at the first sign-in.",
        "password",
        "new-password",
        false,
    ),
    (
        "confirm_password",
        "Confirm Password",
        "Type the password again.",
        "password",
        "new-password",
        false,
    ),
    (
        "ani",
        "ANI",
        "The number presented to the telephone network for outgoing calls, usually the company's main number, for example +44 20 7946 0000.",
        "tel",
        "tel",
        true,
    ),
];

const CONTACT_FIELDS: [FieldSpec; 6] = [
    ("first_name", "First name", "", "text", "given-name", true),
    ("last_name", "Last name", "", "text", "family-name", true),
    (
        "email",
        "Email",
        "The outcome of the request is sent to this address.",
        "email",
        "email",
        true,
    ),
    ("phone", "Phone", "", "tel", "tel", false),
    ("company", "Company", "", "text", "organization", false),
    ("address", "Address", "", "text", "street-address", false),
];

/// A problem placed on the form: the input it belongs to and its tab.
pub struct FieldMessage {
    pub id: &'static str,
    pub label: &'static str,
    pub message: String,
    pub tab: usize,
    /// The page of what holds a name that is already used, for staff.
    pub holder: Option<String>,
}

pub struct Tab {
    pub id: &'static str,
    pub label: &'static str,
    /// "(2 errors)", or empty.
    pub note: String,
    pub selected: bool,
}

pub struct Card {
    pub id: String,
    pub name: String,
    pub description: String,
    pub services: String,
    pub contents: Vec<String>,
    pub checked: bool,
}

/// Who fills the form: a landlord administrator, or a prospect on the public page.
#[derive(Debug, Clone, Copy)]
pub enum Audience<'a> {
    Staff(&'a Actor),
    Public,
}

impl Audience<'_> {
    fn actor(&self) -> Option<&Actor> {
        match self {
            Self::Staff(actor) => Some(actor),
            Self::Public => None,
        }
    }
}

#[derive(Template)]
#[template(path = "pages/register.html")]
struct RegisterPage {
    nav: Nav,
    /// The public page (no sign-in): where the form goes, and what it says.
    public: bool,
    action: &'static str,
    form_key: String,
    policy_note: String,
    cards: Vec<Card>,
    template_error: Option<String>,
    tenant_inputs: Vec<Input>,
    contact_inputs: Vec<Input>,
    tabs: Vec<Tab>,
    errors: Vec<FieldMessage>,
    problem: Option<String>,
    /// The form comes back after a send: the passwords must be typed again.
    retype: bool,
}

/// Where a problem of the domain's `field` goes on the form: (input id, label, tab).
pub fn place_problem(field: &str) -> (&'static str, &'static str, usize) {
    if field == "template_id" {
        return ("template_id", "Template", 0);
    }
    let (tab, name) = match field.split_once('.') {
        Some(("tenant", name)) => (1, name),
        Some(("contact", name)) => (2, name),
        _ => (1, field),
    };
    let specs: &[FieldSpec] = if tab == 1 {
        &TENANT_FIELDS
    } else {
        &CONTACT_FIELDS
    };
    specs
        .iter()
        .find(|s| s.0 == name)
        .map_or(("name", "Name", 1), |s| (s.0, s.1, tab))
}

pub fn messages(problems: &[FieldProblem]) -> Vec<FieldMessage> {
    problems
        .iter()
        .map(|p| {
            let (id, label, tab) = place_problem(p.field);
            FieldMessage {
                id,
                label,
                message: p.error.message.clone(),
                tab,
                holder: None,
            }
        })
        .collect()
}

fn value_of<'a>(form: &'a RegistrationForm, id: &str) -> &'a str {
    match id {
        "name" => &form.name,
        "short_name" => &form.short_name,
        "upn_suffix" => &form.upn_suffix,
        "admin_user_name" => &form.admin_user_name,
        "ani" => &form.ani,
        "first_name" => &form.first_name,
        "last_name" => &form.last_name,
        "email" => &form.email,
        "admin_email" => &form.admin_email,
        "phone" => &form.phone,
        "company" => &form.company,
        "address" => &form.address,
        // Passwords are never sent back.
        _ => "",
    }
}

fn inputs(specs: &[FieldSpec], form: &RegistrationForm, errors: &[FieldMessage]) -> Vec<Input> {
    specs
        .iter()
        .map(|&(id, label, hint, kind, autocomplete, required)| Input {
            id,
            label,
            hint: match rule_of(id) {
                Some(rule) => format!("{hint} It must be {rule}."),
                None => hint.to_owned(),
            },
            kind,
            autocomplete,
            required,
            value: value_of(form, id).to_owned(),
            error: errors
                .iter()
                .find(|e| e.id == id)
                .map(|e| e.message.clone()),
            held_by: errors
                .iter()
                .find(|e| e.id == id)
                .and_then(|e| e.holder.clone()),
        })
        .collect()
}

/// The domain's rule of a field, said in its hint as in its errors.
fn rule_of(id: &str) -> Option<&'static str> {
    use portal_domain::field::{NAME_RULE, SHORT_NAME_RULE, USER_NAME_RULE};
    match id {
        "name" => Some(NAME_RULE),
        "short_name" => Some(SHORT_NAME_RULE),
        "admin_user_name" => Some(USER_NAME_RULE),
        _ => None,
    }
}

fn card(t: TemplateRow, contents: Vec<String>, checked: bool) -> Card {
    Card {
        services: super::templates::services_of(&t),
        id: t.id,
        name: t.name,
        description: t.description,
        contents,
        checked,
    }
}

/// "3 queues", "1 smart queue": what a template holds, by kind.
pub fn contents_by_kind(objects: &[portal_store::template::TemplateObjectRow]) -> Vec<String> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for o in objects {
        match counts.iter_mut().find(|(k, _)| *k == o.kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((&o.kind, 1)),
        }
    }
    counts
        .into_iter()
        .map(|(kind, n)| {
            let kind = kind.replace('_', " ");
            if n == 1 {
                format!("1 {kind}")
            } else {
                format!("{n} {kind}s")
            }
        })
        .collect()
}

async fn policy_note(state: &AppState) -> Result<String, ServiceError> {
    let placement = policy::place(&state.services, portal_store::now_ms()).await?;
    Ok(match placement.scheduled_for {
        None => "Provisioning starts as soon as you click Create Tenant.".to_owned(),
        Some(at) => format!(
            "Provisioning runs in the provider's off-peak window: a request created now starts at {}.",
            when(at)
        ),
    })
}

/// What a prospect is told will happen after Create Tenant.
async fn public_note(state: &AppState) -> Result<String, ServiceError> {
    let doc = crate::service::registration::get_policy(&state.services).await?;
    let then = if doc.approval() == Approval::Manual {
        "the provider reviews the request, and you are emailed when the tenant is ready"
    } else {
        "the tenant is created, and you are emailed when it is ready"
    };
    Ok(format!(
        "After you click Create Tenant we email a link to the contact address. Open it within {} hours to confirm the address; then {then}.",
        doc.verification_hours
    ))
}

/// What the form says happens after Create Tenant, for its audience.
async fn note_for(state: &AppState, audience: Audience<'_>) -> Result<String, ServiceError> {
    match audience {
        Audience::Staff(_) => policy_note(state).await,
        Audience::Public => public_note(state).await,
    }
}

/// The templates the audience may choose from, as cards; the one `form` chose is checked.
async fn template_cards(
    state: &AppState,
    audience: Audience<'_>,
    form: &RegistrationForm,
) -> Result<Vec<Card>, ServiceError> {
    let templates = match audience {
        Audience::Staff(actor) => template::list_templates(&state.services, actor).await,
        Audience::Public => crate::service::registration::public_templates(&state.services).await,
    }?;
    let mut cards = Vec::with_capacity(templates.len());
    for t in templates {
        let objects = state
            .services
            .store
            .template_objects(&t.id, t.version)
            .await?;
        let checked = t.id == form.template_id;
        cards.push(card(t, contents_by_kind(&objects), checked));
    }
    Ok(cards)
}

/// The three tabs, each noting its errors; the first with errors is selected (else the first).
fn tabs_for(errors: &[FieldMessage]) -> Vec<Tab> {
    let count = |tab| errors.iter().filter(|e| e.tab == tab).count();
    let first_with_errors = (0..3).find(|&tab| count(tab) > 0).unwrap_or(0);
    [
        ("template", "Template"),
        ("tenant", "Tenant"),
        ("contact", "Contact"),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (id, label))| Tab {
        id,
        label,
        note: match count(i) {
            0 => String::new(),
            1 => "(1 error)".to_owned(),
            n => format!("({n} errors)"),
        },
        selected: i == first_with_errors,
    })
    .collect()
}

/// The page for `form` with `problems`; `problem` is a message for the whole form.
pub async fn form_page(
    state: &AppState,
    audience: Audience<'_>,
    status: StatusCode,
    form: &RegistrationForm,
    errors: Vec<FieldMessage>,
    problem: Option<String>,
) -> Response {
    let actor = audience.actor();
    let note = match note_for(state, audience).await {
        Ok(note) => note,
        Err(e) => return failure(&e, actor),
    };
    let cards = match template_cards(state, audience, form).await {
        Ok(cards) => cards,
        Err(e) => return failure(&e, actor),
    };
    let public = matches!(audience, Audience::Public);
    let page = RegisterPage {
        nav: actor.map_or_else(Nav::signed_out, |a| Nav::for_actor(a, "/register")),
        public,
        action: if public { "/join" } else { "/register" },
        // A fresh key per form: sending the same form twice makes one request.
        form_key: crate::token::new_token(),
        policy_note: note,
        template_error: errors
            .iter()
            .find(|e| e.id == "template_id")
            .map(|e| e.message.clone()),
        tenant_inputs: inputs(&TENANT_FIELDS, form, &errors),
        contact_inputs: inputs(&CONTACT_FIELDS, form, &errors),
        cards,
        tabs: tabs_for(&errors),
        // The passwords are never sent back: say so only when some were typed.
        retype: (!errors.is_empty() || problem.is_some())
            && !(form.password.is_empty() && form.confirm_password.is_empty()),
        errors,
        problem,
    };
    render(status, &page)
}

async fn registration_form(State(state): State<AppState>, Landlord(actor): Landlord) -> Response {
    if let Some(page) = super::refused(&actor, Permission::SubmitRequests) {
        return page;
    }
    form_page(
        &state,
        Audience::Staff(&actor),
        StatusCode::OK,
        &RegistrationForm::default(),
        Vec::new(),
        None,
    )
    .await
}

/// The field error of a name already held by a tenant or an open request.
async fn taken(
    state: &AppState,
    actor: &Actor,
    form: &RegistrationForm,
    kind: portal_domain::NameKind,
) -> FieldMessage {
    let typed = match kind {
        portal_domain::NameKind::TenantName => &form.name,
        portal_domain::NameKind::ShortName => &form.short_name,
        portal_domain::NameKind::UpnSuffix => &form.upn_suffix,
    };
    let holder = request::holder_of(&state.services, actor, kind, typed).await;
    let (id, label, tab) = place_problem(kind.field());
    let message = format!(
        "This {} is already used by another tenant or an open request; choose another.",
        label.to_lowercase()
    );
    FieldMessage {
        id,
        label,
        message,
        tab,
        holder: holder.map(|h| h.page()),
    }
}

/// The registration form again after signing in anew, with what was typed before the
/// session ended (the passwords aside).
pub async fn resumed(state: &AppState, actor: &Actor, form: &RegistrationForm) -> Response {
    if !actor.may(Permission::SubmitRequests) {
        return Redirect::to("/").into_response();
    }
    form_page(
        state,
        Audience::Staff(actor),
        StatusCode::OK,
        form,
        Vec::new(),
        Some(
            "You are signed in again and what you typed is back; type the passwords again and \
             click Create Tenant."
                .to_owned(),
        ),
    )
    .await
}

/// The landlord administrator who sent the form; or, when the session ended while it was
/// filled, the sign-in page that brings the form back.
fn signed_in_staff(
    user: Result<PageUser, Response>,
    form: &Result<Form<RegistrationForm>, FormRejection>,
) -> Result<Actor, Box<Response>> {
    match (user, form) {
        (Ok(PageUser(actor)), _) if actor.may(Permission::SubmitRequests) => Ok(actor),
        (Ok(PageUser(actor)), _) => Err(Box::new(super::forbidden(Some(&actor)))),
        (Err(_), Ok(Form(typed))) => Err(Box::new(super::session::session_ended(
            super::session::Back {
                next: "/register".to_owned(),
                resume: typed.resumable(),
            },
        ))),
        (Err(to_sign_in), Err(_)) => Err(Box::new(to_sign_in)),
    }
}

async fn create_tenant(
    State(state): State<AppState>,
    user: Result<PageUser, Response>,
    form: Result<Form<RegistrationForm>, FormRejection>,
) -> Response {
    let actor = match signed_in_staff(user, &form) {
        Ok(actor) => actor,
        Err(response) => return *response,
    };
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) => return super::unreadable_form(&rejection, Some(&actor)),
    };
    let key = Some(form.form_key.clone()).filter(|k| (1..=255).contains(&k.len()));
    let outcome = request::submit_request(&state.services, &actor, form.to_submission(), key).await;
    let (status, errors, problem) = match outcome {
        Ok(detail) => {
            return Redirect::to(&format!("/register/accepted/{}", detail.request.id))
                .into_response();
        }
        Err(SubmitError::Invalid(problems)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, messages(&problems), None)
        }
        Err(SubmitError::Taken(kind)) => (
            StatusCode::CONFLICT,
            vec![taken(&state, &actor, &form, kind).await],
            None,
        ),
        Err(SubmitError::IdempotencyKeyReused) => (
            StatusCode::CONFLICT,
            Vec::new(),
            Some(
                "This form was already sent with other values. Check Tenant Creation Management, or start again from Tenant Registration."
                    .to_owned(),
            ),
        ),
        Err(SubmitError::Service(ServiceError::Overloaded)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Vec::new(),
            Some("The portal is busy; nothing was stored. Click Create Tenant again in a moment.".to_owned()),
        ),
        Err(SubmitError::Service(e)) => return failure(&e, Some(&actor)),
    };
    form_page(
        &state,
        Audience::Staff(&actor),
        status,
        &form,
        errors,
        problem,
    )
    .await
}

#[derive(Template)]
#[template(path = "pages/accepted.html")]
struct AcceptedPage {
    nav: Nav,
    id: String,
    tenant_name: String,
    template: String,
    next: String,
    outcome_email: String,
}

async fn accepted(
    State(state): State<AppState>,
    Landlord(actor): Landlord,
    Path(id): Path<String>,
) -> Response {
    if let Some(page) = super::refused(&actor, Permission::SubmitRequests) {
        return page;
    }
    if !plausible_id(&id) {
        return not_found(Some(&actor));
    }
    let detail = match request::get_request(&state.services, &actor, &id).await {
        Ok(d) => d,
        Err(e) => return failure(&e, Some(&actor)),
    };
    let r = detail.request;
    let template_name = super::template_name(&state, &r.template_id).await;
    render(
        StatusCode::OK,
        &AcceptedPage {
            nav: Nav::for_actor(&actor, "/register"),
            template: format!("{template_name} (version {})", r.template_version),
            next: what_happens_next(&r),
            outcome_email: outcome_email_line(&r),
            tenant_name: r.tenant_name,
            id: r.id,
        },
    )
}

/// What happens to an accepted request now, in the tense of where it stands (a fast worker
/// may have finished before the page is shown).
fn what_happens_next(r: &RequestRow) -> String {
    match (r.status, r.scheduled_for) {
        (RequestStatus::Scheduled, Some(at)) => format!(
            "Provisioning is scheduled for the off-peak window: it starts at {}.",
            when(at)
        ),
        (RequestStatus::Accepted | RequestStatus::Provisioning, _) => {
            "Provisioning has started.".to_owned()
        }
        (RequestStatus::Completed, _) => "Provisioning is done: the tenant is ready.".to_owned(),
        (status, _) => format!("The request is now {status}."),
    }
}

/// Where the outcome email stands, in the same tense.
fn outcome_email_line(r: &RequestRow) -> String {
    match r.notification_status {
        NotificationStatus::Sent => format!("Sent to {}.", r.contact_email),
        NotificationStatus::Pending => format!("Being sent to {}.", r.contact_email),
        NotificationStatus::Failed => {
            format!("Could not be sent to {}; see Mail.", r.contact_email)
        }
        NotificationStatus::None => format!("Sent to {} when provisioning ends.", r.contact_email),
    }
}
