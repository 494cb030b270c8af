//! Property tests of the field parsers: whatever a parser accepts satisfies its rule and reads
//! back to itself; whatever it refuses gets an error, and nothing makes it panic.

use portal_domain::field::{
    EmailAddress, Password, PersonName, PhoneNumber, ShortName, TenantName, UpnSuffix, UserName,
};
use proptest::prelude::*;

fn letters_digits(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_alphanumeric())
}

fn is_domain(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    s.len() <= 253
        && s == s.to_ascii_lowercase()
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && !labels
            .last()
            .is_some_and(|t| t.chars().all(|c| c.is_ascii_digit()))
}

/// Text near the rules' edges: mostly letters and digits, some of everything else.
fn near_names() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9]{0,70}",
        "[ A-Za-z0-9_.\\-]{0,20}",
        "\\PC{0,20}",
        any::<String>(),
    ]
}

fn near_domains() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9\\-]{1,10}(\\.[a-zA-Z0-9\\-]{1,10}){0,4}",
        "[a-z0-9\\-@_ .]{0,30}",
        "\\PC{0,20}\\.com",
        any::<String>(),
    ]
}

fn near_phones() -> impl Strategy<Value = String> {
    prop_oneof!["\\+[0-9 ()\\-.]{0,20}", "[0-9+ ]{0,20}", any::<String>(),]
}

proptest! {
    #[test]
    fn tenant_names_accepted_are_letters_and_digits_of_2_to_64(s in near_names()) {
        if let Ok(v) = TenantName::parse(&s) {
            prop_assert!(letters_digits(v.as_str()));
            prop_assert!((2..=64).contains(&v.as_str().len()));
            prop_assert_eq!(TenantName::parse(v.as_str()), Ok(v.clone()));
        }
    }

    #[test]
    fn short_names_accepted_are_letters_and_digits_of_2_to_16(s in near_names()) {
        if let Ok(v) = ShortName::parse(&s) {
            prop_assert!(letters_digits(v.as_str()));
            prop_assert!((2..=16).contains(&v.as_str().len()));
            prop_assert_eq!(ShortName::parse(v.as_str()), Ok(v.clone()));
        }
    }

    #[test]
    fn user_names_accepted_make_personnel_ids_of_at_most_20(s in near_names()) {
        if let Ok(v) = UserName::parse(&s) {
            prop_assert!(letters_digits(v.as_str()) && !v.as_str().is_empty());
            let id = v.personnel_id();
            prop_assert!(id.as_str().starts_with("prp") && id.as_str().len() <= 20);
            prop_assert_eq!(UserName::parse(v.as_str()), Ok(v.clone()));
        }
    }

    #[test]
    fn upn_suffixes_accepted_are_lowercase_ascii_domains(s in near_domains()) {
        if let Ok(v) = UpnSuffix::parse(&s) {
            prop_assert!(is_domain(v.as_str()), "{:?}", v);
            prop_assert_eq!(UpnSuffix::parse(v.as_str()), Ok(v.clone()));
        }
    }

    #[test]
    fn phone_numbers_accepted_are_e164(s in near_phones()) {
        if let Ok(v) = PhoneNumber::parse(&s) {
            let digits = &v.as_str()[1..];
            prop_assert!(v.as_str().starts_with('+'));
            prop_assert!(digits.chars().all(|c| c.is_ascii_digit()));
            prop_assert!((1..=15).contains(&digits.len()));
            prop_assert_eq!(PhoneNumber::parse(v.as_str()), Ok(v.clone()));
        }
    }

    #[test]
    fn emails_accepted_have_a_local_part_and_a_domain(local in "[a-zA-Z0-9.+_@\\-]{0,12}", host in near_domains()) {
        let s = format!("{local}@{host}");
        if let Ok(v) = EmailAddress::parse(&s) {
            let (l, h) = v.as_str().rsplit_once('@').unwrap();
            prop_assert!(!l.is_empty() && !l.contains('@'));
            prop_assert!(is_domain(h));
            prop_assert_eq!(EmailAddress::parse(v.as_str()), Ok(v.clone()));
        }
    }

    #[test]
    fn person_names_accepted_are_trimmed_and_1_to_100(s in any::<String>()) {
        if let Ok(v) = PersonName::parse(&s, "First name") {
            prop_assert_eq!(v.as_str(), v.as_str().trim());
            prop_assert!((1..=100).contains(&v.as_str().chars().count()));
            prop_assert!(!v.as_str().chars().any(char::is_control));
        }
    }

    #[test]
    fn passwords_accepted_are_long_and_free_of_the_names(s in "[a-zA-Z0-9 !-]{0,30}", name in "[a-z]{4,8}") {
        if let Ok(p) = Password::parse(&s, &[("user name", &name)]) {
            prop_assert!(p.expose().chars().count() >= 12);
            prop_assert!(!p.expose().to_lowercase().contains(&name));
        }
    }

    #[test]
    fn no_parser_panics_on_any_text(s in any::<String>()) {
        let _ = TenantName::parse(&s);
        let _ = ShortName::parse(&s);
        let _ = UserName::parse(&s);
        let _ = UpnSuffix::parse(&s);
        let _ = PhoneNumber::parse(&s);
        let _ = EmailAddress::parse(&s);
        let _ = Password::parse(&s, &[("user name", &s)]);
    }
}
