//! A whole tenant subscription request, parsed field by field with every error collected at once.

use crate::field::{
    EmailAddress, FieldError, PasswordCandidate, PersonName, PersonnelId, PhoneNumber, ShortName,
    ShortText, TenantName, UpnSuffix, UserName,
};

/// The request as it arrives: every field optional text, so that a missing field is a
/// field error (`required`) rather than a malformed body.
#[derive(Debug, Default, Clone)]
pub struct RawSubmission {
    pub template_id: Option<String>,
    pub tenant: RawTenant,
    pub contact: RawContact,
}

#[derive(Default, Clone)]
pub struct RawTenant {
    pub name: Option<String>,
    pub short_name: Option<String>,
    pub upn_suffix: Option<String>,
    pub admin_user_name: Option<String>,
    pub password: Option<String>,
    pub confirm_password: Option<String>,
    /// The administrator's address: with it the passwords may be left out, and the
    /// administrator is invited to choose one once the tenant is completed.
    pub admin_email: Option<String>,
    pub ani: Option<String>,
}

impl std::fmt::Debug for RawTenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawTenant")
            .field("name", &self.name)
            .field("short_name", &self.short_name)
            .field("upn_suffix", &self.upn_suffix)
            .field("admin_user_name", &self.admin_user_name)
            .field("admin_email", &self.admin_email)
            .field("ani", &self.ani)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default, Clone)]
pub struct RawContact {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub address: Option<String>,
}

/// A submission that passed every field rule.
#[derive(Debug, Clone)]
pub struct Submission {
    pub template_id: String,
    pub tenant: TenantFields,
    pub contact: ContactFields,
    /// The administrator's password as typed, its strength not yet weighed; `None` when the
    /// administrator is invited.
    pub password: Option<PasswordCandidate>,
    /// The administrator's address: the invitation goes there (required without a
    /// password), and later password resets.
    pub admin_email: Option<EmailAddress>,
}

#[derive(Debug, Clone)]
pub struct TenantFields {
    pub name: TenantName,
    pub short_name: ShortName,
    pub upn_suffix: UpnSuffix,
    pub admin_user_name: UserName,
    pub ani: PhoneNumber,
}

impl TenantFields {
    pub fn admin_personnel_id(&self) -> PersonnelId {
        self.admin_user_name.personnel_id()
    }

    pub fn admin_login(&self) -> String {
        self.admin_personnel_id().login(&self.upn_suffix)
    }
}

#[derive(Debug, Clone)]
pub struct ContactFields {
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub email: EmailAddress,
    pub phone: Option<PhoneNumber>,
    pub company: Option<ShortText>,
    pub address: Option<ShortText>,
}

/// One refused field, named by its path in the request body (`tenant.short_name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: &'static str,
    pub error: FieldError,
}

/// Collects field errors while parsing, so that all of them are reported together.
#[derive(Default)]
struct Problems(Vec<FieldProblem>);

impl Problems {
    fn check<T>(&mut self, field: &'static str, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.0.push(FieldProblem { field, error });
                None
            }
        }
    }
}

fn text(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("")
}

impl RawSubmission {
    /// Parses every field; on any error returns all of them, in the order of the form.
    pub fn parse(&self) -> Result<Submission, Vec<FieldProblem>> {
        let mut p = Problems::default();
        let template_id = p.check(
            "template_id",
            parse_template_id(self.template_id.as_deref()),
        );
        let tenant = parse_tenant(&self.tenant, &mut p);
        let contact = parse_contact(&self.contact, &mut p);
        match (template_id, tenant, contact) {
            (Some(template_id), Some((tenant, admin)), Some(contact)) if p.0.is_empty() => {
                Ok(Submission {
                    template_id,
                    tenant,
                    contact,
                    password: admin.password,
                    admin_email: admin.email,
                })
            }
            _ => Err(p.0),
        }
    }
}

/// The chosen template's id. One too long or holding control characters cannot name a
/// template, so it is refused as not found.
fn parse_template_id(raw: Option<&str>) -> Result<String, FieldError> {
    match raw.map(str::trim) {
        Some(id) if id.len() > 64 || id.chars().any(char::is_control) => Err(FieldError::new(
            crate::FieldErrorCode::NotFound,
            "There is no template service package with this id.",
        )),
        Some(id) if !id.is_empty() => Ok(id.to_owned()),
        _ => Err(FieldError::new(
            crate::FieldErrorCode::Required,
            "Choose a template service package.",
        )),
    }
}

/// How the administrator gets in: a typed password, an address to invite, or both.
struct AdminAccess {
    password: Option<PasswordCandidate>,
    email: Option<EmailAddress>,
}

/// The administrator's password and address: the passwords may be left out when an address
/// is given. `None` when either is refused (its problem is in `p`).
fn parse_admin(t: &RawTenant, p: &mut Problems) -> Option<AdminAccess> {
    let email = match text(&t.admin_email).trim() {
        "" => Some(None),
        typed => p
            .check(
                "tenant.admin_email",
                EmailAddress::parse_labelled(typed, "Administrator's email"),
            )
            .map(Some),
    };
    // An address typed and no password: the administrator is to be invited (a mistyped
    // address is the one problem then, not a missing password too).
    let typed_none = text(&t.password).is_empty() && text(&t.confirm_password).is_empty();
    if typed_none && !text(&t.admin_email).trim().is_empty() {
        return email.map(|email| AdminAccess {
            password: None,
            email,
        });
    }
    let forbidden = [
        ("user name", text(&t.admin_user_name).trim()),
        ("tenant name", text(&t.name).trim()),
        ("short name", text(&t.short_name).trim()),
    ];
    let password = p.check(
        "tenant.password",
        PasswordCandidate::parse(text(&t.password), &forbidden),
    );
    if password.is_some() && t.confirm_password.as_deref() != t.password.as_deref() {
        p.0.push(FieldProblem {
            field: "tenant.confirm_password",
            error: FieldError::new(
                crate::FieldErrorCode::Mismatch,
                "Confirm Password must be the same as Password.",
            ),
        });
    }
    Some(AdminAccess {
        password: Some(password?),
        email: email?,
    })
}

/// The Tenant fields and how the administrator gets in, in the order of the form; `None`
/// when any is refused (its problem is in `p`).
fn parse_tenant(t: &RawTenant, p: &mut Problems) -> Option<(TenantFields, AdminAccess)> {
    let name = p.check("tenant.name", TenantName::parse(text(&t.name)));
    let short_name = p.check("tenant.short_name", ShortName::parse(text(&t.short_name)));
    let upn_suffix = p.check("tenant.upn_suffix", UpnSuffix::parse(text(&t.upn_suffix)));
    let admin_user_name = p.check(
        "tenant.admin_user_name",
        UserName::parse(text(&t.admin_user_name)),
    );
    let admin = parse_admin(t, p);
    let ani = p.check("tenant.ani", PhoneNumber::parse(text(&t.ani)));
    let fields = TenantFields {
        name: name?,
        short_name: short_name?,
        upn_suffix: upn_suffix?,
        admin_user_name: admin_user_name?,
        ani: ani?,
    };
    Some((fields, admin?))
}

/// The Contact fields, in the order of the form; `None` when any is refused (its problem is
/// in `p`).
fn parse_contact(c: &RawContact, p: &mut Problems) -> Option<ContactFields> {
    let first_name = p.check(
        "contact.first_name",
        PersonName::parse(text(&c.first_name), "First name"),
    );
    let last_name = p.check(
        "contact.last_name",
        PersonName::parse(text(&c.last_name), "Last name"),
    );
    let email = p.check("contact.email", EmailAddress::parse(text(&c.email)));
    let phone = p.check(
        "contact.phone",
        match c.phone.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(v) => PhoneNumber::parse_labelled(v, "Phone").map(Some),
        },
    );
    let company = p.check(
        "contact.company",
        ShortText::parse_optional(c.company.as_deref(), "Company"),
    );
    let address = p.check(
        "contact.address",
        ShortText::parse_optional(c.address.as_deref(), "Address"),
    );
    Some(ContactFields {
        first_name: first_name?,
        last_name: last_name?,
        email: email?,
        phone: phone?,
        company: company?,
        address: address?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FieldErrorCode;

    fn valid() -> RawSubmission {
        RawSubmission {
            template_id: Some("voice".into()),
            tenant: RawTenant {
                name: Some("KentonElectronics".into()),
                short_name: Some("ke".into()),
                upn_suffix: Some("kenton-electronics.com".into()),
                admin_user_name: Some("keAdmin".into()),
                password: Some("Blue-Harbour-Lantern-42".into()),
                confirm_password: Some("Blue-Harbour-Lantern-42".into()),
                admin_email: None,
                ani: Some("+44 20 7946 0000".into()),
            },
            contact: RawContact {
                first_name: Some("Jo".into()),
                last_name: Some("Kenton".into()),
                email: Some("jo@kenton-electronics.com".into()),
                ..RawContact::default()
            },
        }
    }

    #[test]
    fn an_address_stands_in_for_the_passwords_but_not_for_a_wrong_one() {
        let mut raw = valid();
        raw.tenant.password = None;
        raw.tenant.confirm_password = None;
        let problems = raw.parse().unwrap_err();
        assert_eq!(problems[0].field, "tenant.password");
        raw.tenant.admin_email = Some("Ada@Kenton-Electronics.com".into());
        let s = raw.parse().unwrap();
        assert!(s.password.is_none());
        assert_eq!(
            s.admin_email.unwrap().as_str(),
            "Ada@kenton-electronics.com"
        );
        // With both, a password typed must still be a good one.
        raw.tenant.password = Some("short".into());
        let problems = raw.parse().unwrap_err();
        assert_eq!(problems[0].field, "tenant.password");
    }

    #[test]
    fn a_valid_submission_parses_and_is_normalised() {
        let s = valid().parse().unwrap();
        assert_eq!(s.tenant.ani.as_str(), "+442079460000");
        assert_eq!(s.tenant.admin_login(), "prpkeAdmin@kenton-electronics.com");
        assert!(s.contact.phone.is_none());
    }

    #[test]
    fn every_error_is_reported_at_once_with_its_path() {
        let mut raw = valid();
        raw.tenant.name = Some("Kenton Electronics".into());
        raw.tenant.short_name = None;
        raw.tenant.confirm_password = Some("something else entirely".into());
        raw.contact.email = Some("nobody".into());
        let problems = raw.parse().unwrap_err();
        let got: Vec<(&str, FieldErrorCode)> =
            problems.iter().map(|p| (p.field, p.error.code)).collect();
        assert_eq!(
            got,
            vec![
                ("tenant.name", FieldErrorCode::InvalidCharacters),
                ("tenant.short_name", FieldErrorCode::Required),
                ("tenant.confirm_password", FieldErrorCode::Mismatch),
                ("contact.email", FieldErrorCode::NotAnEmail),
            ]
        );
    }

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let raw = valid();
        assert!(!format!("{raw:?}").contains("Harbour"));
        assert!(!format!("{:?}", raw.parse().unwrap()).contains("Harbour"));
    }
}
