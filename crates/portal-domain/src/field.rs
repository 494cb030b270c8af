//! Field types that can only hold valid values (`TenantName::parse`), and their error codes.

use std::fmt;

/// A stable, machine-readable reason why a field was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorCode {
    Required,
    InvalidCharacters,
    TooShort,
    TooLong,
    Mismatch,
    NotADomain,
    NotAPhoneNumber,
    NotAnEmail,
    WeakPassword,
    Taken,
    /// The same name on another row of the same file.
    Repeated,
    /// A reference to something that does not exist (a template id).
    NotFound,
    /// A reference to something no longer offered (a retired template).
    Retired,
    /// A value that breaks its field's rule in some other way (a time, a time zone).
    Invalid,
}

impl FieldErrorCode {
    /// The code as it appears in API error bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::InvalidCharacters => "invalid_characters",
            Self::TooShort => "too_short",
            Self::TooLong => "too_long",
            Self::Mismatch => "mismatch",
            Self::NotADomain => "not_a_domain",
            Self::NotAPhoneNumber => "not_a_phone_number",
            Self::NotAnEmail => "not_an_email",
            Self::WeakPassword => "weak_password",
            Self::Taken => "taken",
            Self::Repeated => "repeated",
            Self::NotFound => "not_found",
            Self::Retired => "retired",
            Self::Invalid => "invalid",
        }
    }
}

/// Why one field was refused: a code for programs and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    pub code: FieldErrorCode,
    pub message: String,
}

impl FieldError {
    pub fn new(code: FieldErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Trims the input and refuses empty text, control characters and invisible formatting, the
/// rules every field shares.
fn common<'a>(input: &'a str, label: &str) -> Result<&'a str, FieldError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new(
            FieldErrorCode::Required,
            format!("{label} is required."),
        ));
    }
    visible_text(trimmed, label)?;
    Ok(trimmed)
}

/// Refuses control characters, and the invisible characters that change how the text around
/// them reads: bidirectional controls (U+202E shows "evil" as "live"), zero-width spaces,
/// line separators and the other formatting characters. Zero-width joiners stay between two
/// letters of scripts that need them (Persian, Indic), and nowhere else.
pub fn visible_text(text: &str, label: &str) -> Result<(), FieldError> {
    if text.chars().any(char::is_control) {
        return Err(FieldError::new(
            FieldErrorCode::InvalidCharacters,
            format!("{label} must not contain control characters."),
        ));
    }
    if let Some(c) = hidden_character(text) {
        return Err(FieldError::new(
            FieldErrorCode::InvalidCharacters,
            format!(
                "{label} must not contain invisible formatting characters (U+{:04X}).",
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

/// The first invisible formatting character of `text` that is not a joiner inside a word of
/// a script that needs joiners.
pub fn hidden_character(text: &str) -> Option<char> {
    let chars: Vec<char> = text.chars().collect();
    chars.iter().enumerate().find_map(|(i, &c)| {
        if !is_formatting(c) {
            return None;
        }
        let joiner = matches!(c, '\u{200C}' | '\u{200D}');
        let joining = |at: Option<&char>| at.is_some_and(|&l| needs_joiners(l));
        let inside_word = i > 0 && joining(chars.get(i - 1)) && joining(chars.get(i + 1));
        (!(joiner && inside_word)).then_some(c)
    })
}

/// Scripts whose spelling uses zero-width joiners and non-joiners: Arabic (Persian, Urdu),
/// Syriac, Thaana, the Indic scripts, Sinhala, Myanmar and Khmer.
fn needs_joiners(c: char) -> bool {
    matches!(
        u32::from(c),
        0x0600..=0x08FF | 0x0900..=0x0DFF | 0x1000..=0x109F | 0x1780..=0x17FF
    )
}

/// Unicode's format characters (general category Cf), the line and paragraph separators, and
/// the characters that show as nothing though they are not Cf: the combining grapheme joiner,
/// Hangul fillers, Mongolian and ideographic variation selectors, and the variation selectors
/// but those that choose an emoji's or a text's look (U+FE0E, U+FE0F).
fn is_formatting(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x034F
            | 0x115F..=0x1160
            | 0x180B..=0x180D
            | 0x180F
            | 0x3164
            | 0xFE00..=0xFE0D
            | 0xFFA0
            | 0xE0100..=0xE01EF
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x2028..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

fn length(value: &str, label: &str, min: usize, max: usize) -> Result<(), FieldError> {
    let n = value.chars().count();
    if n < min {
        return Err(FieldError::new(
            FieldErrorCode::TooShort,
            format!("{label} must be at least {min} characters long."),
        ));
    }
    if n > max {
        return Err(FieldError::new(
            FieldErrorCode::TooLong,
            format!("{label} must be at most {max} characters long."),
        ));
    }
    Ok(())
}

/// What a tenant's Name must be; the form's hint and the field's error say the same.
pub const NAME_RULE: &str =
    "2 to 64 letters A-Z and digits, with no spaces, underscores or special characters";
/// What a Short Name must be.
pub const SHORT_NAME_RULE: &str =
    "2 to 16 letters A-Z and digits, with no spaces, underscores or special characters";
/// What the administrator's User Name must be.
pub const USER_NAME_RULE: &str = "1 to 17 letters A-Z and digits, with no spaces, underscores or \
     special characters; the portal puts prp in front of it, so it does not begin with prp";

/// Letters A-Z and digits, `min` to `max` of them, or an error that says `rule` (its code
/// tells which part was broken).
fn letters_and_digits_within(
    value: &str,
    label: &str,
    (min, max): (usize, usize),
    rule: &str,
) -> Result<(), FieldError> {
    let n = value.chars().count();
    let code = if !value.chars().all(|c| c.is_ascii_alphanumeric()) {
        FieldErrorCode::InvalidCharacters
    } else if n < min {
        FieldErrorCode::TooShort
    } else if n > max {
        FieldErrorCode::TooLong
    } else {
        return Ok(());
    };
    Err(FieldError::new(code, format!("{label} must be {rule}.")))
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_type!(
    /// A tenant's name: ASCII letters and digits, 2 to 64 characters.
    TenantName
);
text_type!(
    /// A tenant's short name: ASCII letters and digits, 2 to 16 characters.
    ShortName
);
text_type!(
    /// The tenant's UPN suffix: a DNS domain name, stored lowercase.
    UpnSuffix
);
text_type!(
    /// The tenant administrator's user name: ASCII letters and digits; `prp` + it fits in 20.
    UserName
);
text_type!(
    /// `prp` followed by the administrator's user name.
    PersonnelId
);
text_type!(
    /// A phone number in E.164 form (`+442079460000`).
    PhoneNumber
);
text_type!(
    /// An email address (`local@domain`).
    EmailAddress
);
text_type!(
    /// A person's first or last name: 1 to 100 characters.
    PersonName
);
text_type!(
    /// Free text of at most 200 characters (company, address).
    ShortText
);

impl TenantName {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let v = common(input, "Name")?;
        letters_and_digits_within(v, "Name", (2, 64), NAME_RULE)?;
        Ok(Self(v.to_owned()))
    }
}

impl ShortName {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let v = common(input, "Short Name")?;
        letters_and_digits_within(v, "Short Name", (2, 16), SHORT_NAME_RULE)?;
        Ok(Self(v.to_owned()))
    }
}

impl UpnSuffix {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let v = common(input, "UPN Suffix")?;
        domain(v).map(Self).map_err(|why| {
            if why == DomainProblem::TooLong {
                FieldError::new(
                    FieldErrorCode::TooLong,
                    "UPN Suffix must be at most 253 characters long.",
                )
            } else {
                FieldError::new(
                    FieldErrorCode::NotADomain,
                    format!(
                        "UPN Suffix must be a domain name such as example.com: {}.",
                        why.explain()
                    ),
                )
            }
        })
    }
}

/// Why text is not a domain name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DomainProblem {
    TooLong,
    OneLabel,
    EmptyLabel,
    LongLabel,
    BadCharacter,
    EdgeHyphen,
    NumericTop,
    NotConvertible,
}

impl DomainProblem {
    fn explain(self) -> &'static str {
        match self {
            Self::TooLong => "it is longer than 253 characters",
            Self::OneLabel => "it needs at least two labels separated by a dot",
            Self::EmptyLabel => "a label is empty",
            Self::LongLabel => "a label is longer than 63 characters",
            Self::BadCharacter => "labels may hold only letters, digits and hyphens",
            Self::EdgeHyphen => "a label may not start or end with a hyphen",
            Self::NumericTop => "the top label may not be numeric",
            Self::NotConvertible => "it cannot be written in ASCII form",
        }
    }
}

/// A DNS domain name in lowercase ASCII: an internationalised name is converted to its
/// ASCII (punycode) form first, then every label rule is checked.
fn domain(input: &str) -> Result<String, DomainProblem> {
    if input.is_empty() {
        return Err(DomainProblem::EmptyLabel);
    }
    let ascii = if input.is_ascii() {
        input.to_ascii_lowercase()
    } else {
        // Refuse anything but letters, digits, hyphens and dots before conversion, so that
        // symbols and emoji are not silently mapped or encoded.
        if !input
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
        {
            return Err(DomainProblem::BadCharacter);
        }
        idna::domain_to_ascii(input).map_err(|_| DomainProblem::NotConvertible)?
    };
    if ascii.len() > 253 {
        return Err(DomainProblem::TooLong);
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.iter().any(|l| l.is_empty()) {
        return Err(DomainProblem::EmptyLabel);
    }
    if labels.len() < 2 {
        return Err(DomainProblem::OneLabel);
    }
    for label in &labels {
        if label.len() > 63 {
            return Err(DomainProblem::LongLabel);
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(DomainProblem::BadCharacter);
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(DomainProblem::EdgeHyphen);
        }
    }
    if labels
        .last()
        .is_some_and(|top| top.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(DomainProblem::NumericTop);
    }
    Ok(ascii)
}

/// A login ID as stored: its domain in the ASCII form the UPN suffix is kept in, so that
/// `prpkeAdmin@bücher.example` and `prpkeAdmin@xn--bcher-kva.example` are one login. Text
/// without `@`, or whose domain is not one, comes back as typed (trimmed).
pub fn login_id(typed: &str) -> String {
    let typed = typed.trim();
    match typed.rsplit_once('@') {
        Some((user, domain)) => match UpnSuffix::parse(domain) {
            Ok(ascii) => format!("{user}@{ascii}"),
            Err(_) => typed.to_owned(),
        },
        None => typed.to_owned(),
    }
}

/// A domain kept in ASCII as people typed it (`bücher.example` for
/// `xn--bcher-kva.example`), when that differs from its ASCII form.
pub fn domain_as_typed(ascii: &str) -> Option<String> {
    let (unicode, result) = idna::domain_to_unicode(ascii);
    (result.is_ok() && unicode != ascii).then_some(unicode)
}

/// A login ID (`personnel_id@domain`, the domain in ASCII) as people read it: with the
/// domain as typed, and the ASCII form beside it when the two differ.
pub fn login_id_as_typed(personnel_id: &str, ascii: &str) -> String {
    match domain_as_typed(ascii) {
        Some(typed) => format!("{personnel_id}@{typed} ({personnel_id}@{ascii})"),
        None => format!("{personnel_id}@{ascii}"),
    }
}

/// What is put in front of the administrator's user name to make its personnel ID.
pub const PERSONNEL_PREFIX: &str = "prp";

impl UserName {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let v = common(input, "User Name")?;
        let max = 20 - PERSONNEL_PREFIX.len();
        letters_and_digits_within(v, "User Name", (1, max), USER_NAME_RULE)?;
        // Typed with the prefix, the personnel ID would hold it twice (prpprpkeAdmin).
        if v.to_ascii_lowercase().starts_with(PERSONNEL_PREFIX) {
            return Err(FieldError::new(
                FieldErrorCode::Invalid,
                format!(
                    "User Name must not begin with {PERSONNEL_PREFIX}: the portal puts \
                     {PERSONNEL_PREFIX} in front of it (keAdmin becomes prpkeAdmin)."
                ),
            ));
        }
        Ok(Self(v.to_owned()))
    }

    pub fn personnel_id(&self) -> PersonnelId {
        PersonnelId(format!("{PERSONNEL_PREFIX}{}", self.0))
    }
}

impl PersonnelId {
    /// The administrator's login: `<personnel_id>@<upn_suffix>`.
    pub fn login(&self, upn_suffix: &UpnSuffix) -> String {
        format!("{}@{}", self.0, upn_suffix.0)
    }
}

impl PhoneNumber {
    /// Accepts a number in international form however people type it (`+44 20 7946 0000`,
    /// `+1 (415) 555-2671`) and keeps it in E.164 (`+442079460000`).
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        Self::parse_labelled(input, "ANI")
    }

    /// The same, with the field's label in messages (`Phone`).
    pub fn parse_labelled(input: &str, label: &str) -> Result<Self, FieldError> {
        let v = common(input, label)?;
        let bad = |why: &str| {
            FieldError::new(
                FieldErrorCode::NotAPhoneNumber,
                format!(
                    "{label} must be a phone number in international form, such as +44 20 7946 0000: {why}."
                ),
            )
        };
        if v.chars().count() > 32 {
            return Err(bad("it is too long"));
        }
        if !v
            .chars()
            .all(|c| c.is_ascii_digit() || " +-.()".contains(c))
        {
            return Err(bad("use only digits, spaces, dashes, dots and brackets"));
        }
        if !v.starts_with('+') {
            return Err(bad("start with + and the country code"));
        }
        let number = phonenumber::parse(None, v).map_err(|_| bad("it is not a number"))?;
        if !phonenumber::is_valid(&number) {
            return Err(bad("no such number exists in its country's numbering plan"));
        }
        Ok(Self(e164(&number)))
    }
}

/// A parsed number in E.164: `+`, the country code and the national number with its leading
/// zeros. The crate's formatter writes the same, but looks up the country's national formats
/// first (a regex search, a tenth of a submission's field checks) for modes that need them.
fn e164(number: &phonenumber::PhoneNumber) -> String {
    format!("+{}{}", number.country().code(), number.national())
}

impl EmailAddress {
    /// `local@domain`: a local part of letters, digits and ``!#$%&'*+/=?^_`{|}~-`` in dot-separated
    /// runs, and a domain by the same rules as a UPN suffix (stored in ASCII, lowercase).
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        Self::parse_labelled(input, "Email")
    }

    pub fn parse_labelled(input: &str, label: &str) -> Result<Self, FieldError> {
        let v = common(input, label)?;
        let bad = || {
            FieldError::new(
                FieldErrorCode::NotAnEmail,
                format!("{label} must be an address such as name@example.com."),
            )
        };
        if v.chars().count() > 254 {
            return Err(FieldError::new(
                FieldErrorCode::TooLong,
                format!("{label} must be at most 254 characters long."),
            ));
        }
        let (local, host) = v.rsplit_once('@').ok_or_else(bad)?;
        let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
        if local.is_empty()
            || local.len() > 64
            || local
                .split('.')
                .any(|run| run.is_empty() || !run.chars().all(atext))
        {
            return Err(bad());
        }
        let host = domain(host).map_err(|_| bad())?;
        Ok(Self(format!("{local}@{host}")))
    }
}

/// Domains whose mailboxes ignore dots in the local part (`j.doe@` is `jdoe@`), with the
/// domain their mail goes to.
const DOTLESS_DOMAINS: [(&str, &str); 2] =
    [("gmail.com", "gmail.com"), ("googlemail.com", "gmail.com")];

impl EmailAddress {
    /// The mailbox this address reaches, for counting how often it is used, never for
    /// sending: lowercase, without a sub-address tag (`ann+1@` is `ann@` at every domain),
    /// and without dots where the domain ignores them (`a.n.n@gmail.com` is `ann@gmail.com`).
    pub fn mailbox_key(&self) -> String {
        mailbox_key(&self.0)
    }
}

/// The mailbox a checked address reaches, for counting (see `EmailAddress::mailbox_key`).
pub fn mailbox_key(address: &str) -> String {
    {
        let lower = address.to_lowercase();
        let (local, domain) = lower.rsplit_once('@').unwrap_or((lower.as_str(), ""));
        let local = local.split('+').next().unwrap_or(local);
        match DOTLESS_DOMAINS.iter().find(|(d, _)| *d == domain) {
            Some((_, mailbox_domain)) => format!("{}@{mailbox_domain}", local.replace('.', "")),
            None => format!("{local}@{domain}"),
        }
    }
}

impl PersonName {
    pub fn parse(input: &str, label: &str) -> Result<Self, FieldError> {
        let v = common(input, label)?;
        length(v, label, 1, 100)?;
        Ok(Self(v.to_owned()))
    }
}

impl ShortText {
    /// Optional text: `None` and blank input give `None`.
    pub fn parse_optional(input: Option<&str>, label: &str) -> Result<Option<Self>, FieldError> {
        match input.map(str::trim) {
            None | Some("") => Ok(None),
            Some(v) => {
                let v = common(v, label)?;
                length(v, label, 1, 200)?;
                Ok(Some(Self(v.to_owned())))
            }
        }
    }
}

/// The minimum length of an administrator's password.
pub const PASSWORD_MIN_CHARS: usize = 12;

/// The least zxcvbn score (0–4) a password needs: 3 means beyond about 10^10 guesses.
const MIN_PASSWORD_SCORE: u8 = 3;

/// A password that passed the rules; it lives only until it is hashed.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// How long a name must be for a password that contains it to be refused.
pub const NAME_IN_PASSWORD_MIN_CHARS: usize = 4;

/// A password that passed every rule but the strength estimate, which can take a core for
/// half a second on crafted input and so is made where passwords are hashed (`weigh`).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordCandidate {
    text: String,
    /// The names it must not resemble, for the estimate.
    names: Vec<String>,
}

impl fmt::Debug for PasswordCandidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordCandidate(..)")
    }
}

impl PasswordCandidate {
    /// Checks the password against its length and against the names it must not contain,
    /// each given with what people call it (`("short name", "ke")`). The password is kept
    /// exactly as typed, spaces included, as at every sign-in.
    pub fn parse(input: &str, forbidden: &[(&str, &str)]) -> Result<Self, FieldError> {
        if input.is_empty() {
            return Err(FieldError::new(
                FieldErrorCode::Required,
                "Password is required.",
            ));
        }
        if input.chars().any(char::is_control) {
            return Err(FieldError::new(
                FieldErrorCode::InvalidCharacters,
                "Password must not contain control characters.",
            ));
        }
        if input.chars().count() < PASSWORD_MIN_CHARS {
            return Err(FieldError::new(
                FieldErrorCode::TooShort,
                format!("Password must be at least {PASSWORD_MIN_CHARS} characters long."),
            ));
        }
        if input.chars().count() > 128 {
            return Err(FieldError::new(
                FieldErrorCode::TooLong,
                "Password must be at most 128 characters long.",
            ));
        }
        // A name shorter than this is part of too many words to count (`ue` in "Blue").
        let telling = |name: &&(&str, &str)| name.1.chars().count() >= NAME_IN_PASSWORD_MIN_CHARS;
        let lower = input.to_lowercase();
        if let Some((label, name)) = forbidden
            .iter()
            .filter(telling)
            .find(|(_, name)| lower.contains(&name.to_lowercase()))
        {
            return Err(FieldError::new(
                FieldErrorCode::WeakPassword,
                format!("Password must not contain the {label} ({name})."),
            ));
        }
        Ok(Self {
            text: input.to_owned(),
            names: forbidden
                .iter()
                .filter(telling)
                .map(|f| f.1.to_owned())
                .collect(),
        })
    }

    /// The strength estimate (zxcvbn): a password too easy to guess is refused. Slow on
    /// crafted input: call it off the async threads.
    pub fn weigh(self) -> Result<Password, FieldError> {
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        let strength = zxcvbn::zxcvbn(&self.text, &names);
        if (strength.score() as u8) < MIN_PASSWORD_SCORE {
            return Err(FieldError::new(
                FieldErrorCode::WeakPassword,
                "Password is too common or too easy to guess: use a longer phrase of unrelated words.",
            ));
        }
        Ok(Password(self.text))
    }
}

impl Password {
    /// Every rule, the strength estimate too (`PasswordCandidate::parse`, then `weigh`): for
    /// checks that may take their time, such as the settings at start.
    pub fn parse(input: &str, forbidden: &[(&str, &str)]) -> Result<Self, FieldError> {
        PasswordCandidate::parse(input, forbidden)?.weigh()
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Gives the plain text up, for the hasher that consumes it.
    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_mailbox_has_one_key_however_its_address_is_written() {
        let key = |a: &str| EmailAddress::parse(a).unwrap().mailbox_key();
        assert_eq!(key("Victim+1@Example.com"), "victim@example.com");
        assert_eq!(key("victim+promo+2@example.com"), "victim@example.com");
        assert_eq!(key("v.i.c.t.i.m@gmail.com"), "victim@gmail.com");
        assert_eq!(key("V.ictim+x@googlemail.com"), "victim@gmail.com");
        // Dots count where the domain does not say otherwise.
        assert_eq!(key("v.ictim@example.com"), "v.ictim@example.com");
        assert_ne!(key("victim@example.com"), key("victim@example.org"));
    }

    #[test]
    fn invisible_formatting_is_refused_but_joiners_between_letters_stay() {
        let name = |t: &str| PersonName::parse(t, "First Name");
        for bad in [
            "ev\u{202E}il",
            "Bob\u{200B}",
            "A\u{2066}B",
            "x\u{FEFF}y",
            "x\u{2028}y",
            "Jo\u{200D}hn",
        ] {
            let e = name(bad).unwrap_err();
            assert_eq!(e.code, FieldErrorCode::InvalidCharacters, "{bad:?}");
            assert!(e.message.contains("invisible"), "{}", e.message);
        }
        // A zero-width non-joiner inside a Persian name is part of its spelling; between two
        // Latin or Cyrillic letters it is only hiding.
        assert!(name("\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0647}").is_ok());
        assert!(name("Zo\u{eb}\u{200C}\u{eb}").is_err());
        assert!(name("\u{0418}\u{200D}\u{0432}\u{0430}\u{043d}").is_err());
        // Fillers that show as nothing.
        assert!(name("\u{3164}").is_err());
        assert!(name("Ann\u{034F}a").is_err());
        assert!(name("Zo\u{eb}").is_ok());
        // An emoji's own look stays.
        assert!(name("Jo \u{2764}\u{FE0F}").is_ok());
    }

    #[test]
    fn names_accept_letters_and_digits_only() {
        assert_eq!(
            TenantName::parse("  KentonElectronics ").unwrap().as_str(),
            "KentonElectronics"
        );
        for bad in [
            "Kenton Electronics",
            "Kenton_Electronics",
            "Kentön",
            "K!",
            "😀😀",
        ] {
            assert_eq!(
                TenantName::parse(bad).unwrap_err().code,
                FieldErrorCode::InvalidCharacters,
                "{bad}"
            );
        }
        assert_eq!(
            TenantName::parse("   ").unwrap_err().code,
            FieldErrorCode::Required
        );
        assert_eq!(
            TenantName::parse("K").unwrap_err().code,
            FieldErrorCode::TooShort
        );
        assert_eq!(
            TenantName::parse(&"a".repeat(65)).unwrap_err().code,
            FieldErrorCode::TooLong
        );
        assert_eq!(
            ShortName::parse(&"a".repeat(17)).unwrap_err().code,
            FieldErrorCode::TooLong
        );
        assert_eq!(
            TenantName::parse("ab\u{7}c").unwrap_err().code,
            FieldErrorCode::InvalidCharacters
        );
    }

    #[test]
    fn a_user_name_makes_a_personnel_id_of_at_most_twenty_characters() {
        let user = UserName::parse("keAdmin").unwrap();
        assert_eq!(user.personnel_id().as_str(), "prpkeAdmin");
        let upn = UpnSuffix::parse("Kenton-Electronics.com").unwrap();
        assert_eq!(
            user.personnel_id().login(&upn),
            "prpkeAdmin@kenton-electronics.com"
        );
        assert!(UserName::parse(&"a".repeat(17)).is_ok());
        assert_eq!(
            UserName::parse(&"a".repeat(18)).unwrap_err().code,
            FieldErrorCode::TooLong
        );
    }

    #[test]
    fn upn_suffixes_must_be_domains() {
        assert_eq!(
            UpnSuffix::parse("Kenton-Electronics.COM").unwrap().as_str(),
            "kenton-electronics.com"
        );
        for bad in [
            "localhost",
            "a..com",
            "-a.com",
            "a-.com",
            "a.123",
            "a b.com",
            "a_b.com",
            ".com",
        ] {
            assert_eq!(
                UpnSuffix::parse(bad).unwrap_err().code,
                FieldErrorCode::NotADomain,
                "{bad}"
            );
        }
        let long = format!("{}.com", "a".repeat(64));
        assert_eq!(
            UpnSuffix::parse(&long).unwrap_err().code,
            FieldErrorCode::NotADomain
        );
    }

    #[test]
    fn e164_is_what_the_crates_formatter_writes() {
        // Numbers of several plans: Italy's fixed lines keep their leading zero, a country
        // code shared by several regions (+44, +1), a non-geographic code (+800).
        for number in [
            "+39 06 6982 0000",
            "+44 20 7946 0000",
            "+44 1481 710 000",
            "+1 (415) 555-2671",
            "+1 242 357 1234",
            "+33 1 42 68 53 00",
            "+49 30 901820",
            "+61 2 9374 4000",
            "+81 3 3224 5000",
            "+800 1234 5678",
        ] {
            let parsed = phonenumber::parse(None, number).unwrap();
            assert!(phonenumber::is_valid(&parsed), "{number}");
            assert_eq!(
                e164(&parsed),
                parsed.format().mode(phonenumber::Mode::E164).to_string(),
                "{number}"
            );
        }
        assert_eq!(
            PhoneNumber::parse("+39 06 6982 0000").unwrap().as_str(),
            "+390669820000"
        );
    }

    #[test]
    fn phone_numbers_are_stored_in_e164() {
        assert_eq!(
            PhoneNumber::parse("+44 20 7946 0000").unwrap().as_str(),
            "+442079460000"
        );
        assert_eq!(
            PhoneNumber::parse("+1 (415) 555-2671").unwrap().as_str(),
            "+14155552671"
        );
        for bad in [
            "02079460000",
            "+44 abc",
            "+12",
            "+0441234567",
            "+44 20 7946 0000 0000 00",
            "+1 FLOWERS",
        ] {
            assert_eq!(
                PhoneNumber::parse(bad).unwrap_err().code,
                FieldErrorCode::NotAPhoneNumber,
                "{bad}"
            );
        }
    }

    #[test]
    fn emails_need_a_local_part_and_a_domain() {
        assert_eq!(
            EmailAddress::parse("Jo@Example.COM").unwrap().as_str(),
            "Jo@example.com"
        );
        for bad in [
            "jo",
            "jo@",
            "@example.com",
            "jo@localhost",
            "j o@example.com",
        ] {
            assert_eq!(
                EmailAddress::parse(bad).unwrap_err().code,
                FieldErrorCode::NotAnEmail,
                "{bad}"
            );
        }
    }

    #[test]
    fn a_name_rule_is_said_in_the_same_words_whichever_part_is_broken() {
        for bad in ["Kenton_Electronics", "K", &"K".repeat(65)] {
            let err = TenantName::parse(bad).unwrap_err();
            assert_eq!(err.message, format!("Name must be {NAME_RULE}."));
        }
        assert_eq!(
            ShortName::parse("k e").unwrap_err().message,
            format!("Short Name must be {SHORT_NAME_RULE}.")
        );
        assert_eq!(
            UserName::parse(&"a".repeat(18)).unwrap_err().code,
            FieldErrorCode::TooLong
        );
        assert!(USER_NAME_RULE.contains("17"));
    }

    #[test]
    fn a_login_id_reads_the_same_with_its_domain_typed_either_way() {
        assert_eq!(
            login_id(" prpbcAdmin@bücher.example "),
            "prpbcAdmin@xn--bcher-kva.example"
        );
        assert_eq!(
            login_id("prpbcAdmin@xn--bcher-kva.example"),
            "prpbcAdmin@xn--bcher-kva.example"
        );
        assert_eq!(login_id("admin"), "admin");
        assert_eq!(login_id("a@not a domain"), "a@not a domain");
        assert_eq!(
            domain_as_typed("xn--bcher-kva.example").as_deref(),
            Some("bücher.example")
        );
        assert_eq!(domain_as_typed("kenton.example"), None);
    }

    #[test]
    fn a_user_name_typed_with_the_prefix_is_refused_and_the_prefix_explained() {
        for typed in ["prpkeAdmin", "PRPkeAdmin"] {
            let err = UserName::parse(typed).unwrap_err();
            assert_eq!(err.code, FieldErrorCode::Invalid);
            assert!(
                err.message.contains("keAdmin becomes prpkeAdmin"),
                "{}",
                err.message
            );
        }
        assert_eq!(
            UserName::parse("keAdmin").unwrap().personnel_id().as_str(),
            "prpkeAdmin"
        );
    }

    #[test]
    fn a_password_may_hold_a_name_under_four_characters_and_is_told_which_longer_one_it_holds() {
        let names = [
            ("user name", "ueAdmin"),
            ("tenant name", "Uebung"),
            ("short name", "ue"),
        ];
        assert!(Password::parse("Blue-Harbour-Lantern-42", &names).is_ok());
        let err = Password::parse("Uebung-Harbour-Lantern-42", &names).unwrap_err();
        assert_eq!(err.code, FieldErrorCode::WeakPassword);
        assert_eq!(
            err.message,
            "Password must not contain the tenant name (Uebung)."
        );
        let err = Password::parse("Blue-Harbour-ueadmin-42", &names).unwrap_err();
        assert_eq!(
            err.message,
            "Password must not contain the user name (ueAdmin)."
        );
    }

    #[test]
    fn a_password_is_kept_as_typed_spaces_included() {
        let p = Password::parse("  Blue-Harbour-Lantern-42 ", &[]).unwrap();
        assert_eq!(p.expose(), "  Blue-Harbour-Lantern-42 ");
    }

    #[test]
    fn passwords_are_long_and_free_of_the_names() {
        assert!(Password::parse("Blue-Harbour-Lantern-42", &[("user name", "keAdmin")]).is_ok());
        assert_eq!(
            Password::parse("password1234", &[]).unwrap_err().code,
            FieldErrorCode::WeakPassword
        );
        assert_eq!(
            Password::parse("qwertyuiop12", &[]).unwrap_err().code,
            FieldErrorCode::WeakPassword
        );
        assert_eq!(
            Password::parse("short", &[]).unwrap_err().code,
            FieldErrorCode::TooShort
        );
        assert_eq!(
            Password::parse("my-keadmin-secret-1", &[("user name", "keAdmin")])
                .unwrap_err()
                .code,
            FieldErrorCode::WeakPassword
        );
        assert_eq!(
            format!(
                "{:?}",
                Password::parse("correct horse battery", &[]).unwrap()
            ),
            "Password(..)"
        );
    }
}
