//! Smart Queues general parameters of a tenant: each value typed and ranged, a draft checked
//! value by value, and a publish checked as a whole (the Callback Folder email address is
//! required while callback is on).

use serde_json::{Map, Value, json};

use crate::field::{EmailAddress, FieldError, FieldErrorCode};

/// A problem with one parameter, named by its path in the body (`parameters.default_priority`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterProblem {
    pub field: String,
    pub error: FieldError,
}

/// The general parameters, every value valid on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneralParameters {
    /// Where Smart Queue callbacks are filed: an address, or empty while not set.
    pub callback_folder_email: Option<EmailAddress>,
    /// Priority of new work, 0 (lowest) to 99.
    pub default_priority: u8,
    /// Seconds in which calls should be answered, 1 to 3600.
    pub target_answer_seconds: u32,
    /// Seconds a caller may wait before being offered a callback, 10 to 86400.
    pub max_wait_seconds: u32,
    pub callback_enabled: bool,
    /// How many times a callback is tried, 0 to 10.
    pub callback_retry_limit: u8,
    /// IANA time zone of the business hours, e.g. `Europe/London`.
    pub business_hours_time_zone: String,
}

/// The parameters' names, in the order people read them.
pub const NAMES: [&str; 7] = [
    "callback_folder_email",
    "default_priority",
    "target_answer_seconds",
    "max_wait_seconds",
    "callback_enabled",
    "callback_retry_limit",
    "business_hours_time_zone",
];

fn problem(name: &str, code: FieldErrorCode, message: impl Into<String>) -> ParameterProblem {
    ParameterProblem {
        field: format!("parameters.{name}"),
        error: FieldError::new(code, message),
    }
}

/// A whole number in `range`, from JSON (a number, or digits in a string, as forms send them).
fn number(
    map: &Map<String, Value>,
    name: &str,
    label: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ParameterProblem> {
    let value = match map.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_i64().or(Some(i64::MIN)),
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.trim().parse::<i64>().unwrap_or(i64::MIN)),
        Some(_) => Some(i64::MIN),
    };
    match value {
        None => Err(problem(
            name,
            FieldErrorCode::Required,
            format!("{label} is required."),
        )),
        Some(n) if range.contains(&n) => Ok(n),
        Some(_) => Err(problem(
            name,
            FieldErrorCode::Invalid,
            format!(
                "{label} must be a whole number from {} to {}.",
                range.start(),
                range.end()
            ),
        )),
    }
}

/// Names that are not general parameters, each as a problem.
fn unknown_names(map: &Map<String, Value>) -> Vec<ParameterProblem> {
    map.keys()
        .filter(|k| !NAMES.contains(&k.as_str()))
        .map(|k| {
            problem(
                k,
                FieldErrorCode::Invalid,
                format!("There is no general parameter called {k}."),
            )
        })
        .collect()
}

/// The value of `result`, or a stand-in after its problem is kept in `problems` (any problem
/// refuses the whole object, so the stand-in is never used).
fn take<T: Default>(
    problems: &mut Vec<ParameterProblem>,
    result: Result<T, ParameterProblem>,
) -> T {
    result.unwrap_or_else(|p| {
        problems.push(p);
        T::default()
    })
}

/// Whether callback is on: a boolean, or the text a form sends (`on`, or nothing when off).
fn callback_flag(map: &Map<String, Value>) -> Result<bool, ParameterProblem> {
    match map.get("callback_enabled") {
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s == "true" || s == "on" => Ok(true),
        Some(Value::String(s)) if s == "false" || s.is_empty() => Ok(false),
        None | Some(Value::Null) => Ok(false),
        Some(_) => Err(problem(
            "callback_enabled",
            FieldErrorCode::Invalid,
            "Callback enabled must be true or false.",
        )),
    }
}

/// The Callback Folder email address; `None` while not set.
fn callback_folder_email(
    map: &Map<String, Value>,
) -> Result<Option<EmailAddress>, ParameterProblem> {
    match map.get("callback_folder_email") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => EmailAddress::parse_labelled(s, "Callback Folder email address")
            .map(Some)
            .map_err(|error| ParameterProblem {
                field: "parameters.callback_folder_email".into(),
                error,
            }),
        Some(_) => Err(problem(
            "callback_folder_email",
            FieldErrorCode::NotAnEmail,
            "Callback Folder email address must be text such as callbacks@example.com.",
        )),
    }
}

/// The business hours' time zone, which must be one the time zone database knows.
fn time_zone(map: &Map<String, Value>) -> Result<String, ParameterProblem> {
    let required = || {
        problem(
            "business_hours_time_zone",
            FieldErrorCode::Required,
            "Business hours time zone is required.",
        )
    };
    match map.get("business_hours_time_zone") {
        Some(Value::String(s)) if jiff::tz::TimeZone::get(s.trim()).is_ok() => {
            Ok(s.trim().to_owned())
        }
        Some(Value::String(s)) if s.trim().is_empty() => Err(required()),
        None | Some(Value::Null) => Err(required()),
        Some(_) => Err(problem(
            "business_hours_time_zone",
            FieldErrorCode::Invalid,
            "Business hours time zone must be an IANA time zone such as Europe/London.",
        )),
    }
}

impl GeneralParameters {
    /// Checks every value of a complete parameter object; all problems at once. Unknown names
    /// are refused, so a typing mistake is not silently kept.
    pub fn parse(map: &Map<String, Value>) -> Result<Self, Vec<ParameterProblem>> {
        let mut problems = unknown_names(map);
        let default_priority = take(
            &mut problems,
            number(map, "default_priority", "Default priority", 0..=99),
        );
        let target = take(
            &mut problems,
            number(map, "target_answer_seconds", "Target answer time", 1..=3600),
        );
        let max_wait = take(
            &mut problems,
            number(map, "max_wait_seconds", "Maximum wait", 10..=86_400),
        );
        let retries = take(
            &mut problems,
            number(map, "callback_retry_limit", "Callback retry limit", 0..=10),
        );
        let callback_enabled = take(&mut problems, callback_flag(map));
        let email = take(&mut problems, callback_folder_email(map));
        let zone = take(&mut problems, time_zone(map));
        if !problems.is_empty() {
            return Err(problems);
        }
        // Each conversion is within its checked range.
        Ok(Self {
            callback_folder_email: email,
            default_priority: u8::try_from(default_priority).unwrap_or(0),
            target_answer_seconds: u32::try_from(target).unwrap_or(1),
            max_wait_seconds: u32::try_from(max_wait).unwrap_or(10),
            callback_enabled,
            callback_retry_limit: u8::try_from(retries).unwrap_or(0),
            business_hours_time_zone: zone,
        })
    }

    /// The rules that join values, checked when a draft is published.
    pub fn check_publishable(&self) -> Result<(), Vec<ParameterProblem>> {
        let mut problems = Vec::new();
        if self.callback_enabled && self.callback_folder_email.is_none() {
            problems.push(problem(
                "callback_folder_email",
                FieldErrorCode::Required,
                "Callback Folder email address is required while callback is enabled.",
            ));
        }
        if self.max_wait_seconds < self.target_answer_seconds {
            problems.push(problem(
                "max_wait_seconds",
                FieldErrorCode::Invalid,
                "Maximum wait must be at least the target answer time.",
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "callback_folder_email": self.callback_folder_email.as_ref().map_or("", |e| e.as_str()),
            "default_priority": self.default_priority,
            "target_answer_seconds": self.target_answer_seconds,
            "max_wait_seconds": self.max_wait_seconds,
            "callback_enabled": self.callback_enabled,
            "callback_retry_limit": self.callback_retry_limit,
            "business_hours_time_zone": self.business_hours_time_zone,
        })
    }
}

/// `changes` laid over `base`: an edit names only what it changes.
pub fn merged(base: &Map<String, Value>, changes: &Map<String, Value>) -> Map<String, Value> {
    let mut out = base.clone();
    for (k, v) in changes {
        out.insert(k.clone(), v.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Map<String, Value> {
        json!({
            "callback_folder_email": "Callbacks@Kenton-Electronics.com",
            "default_priority": 49,
            "target_answer_seconds": 120,
            "max_wait_seconds": 900,
            "callback_enabled": true,
            "callback_retry_limit": 3,
            "business_hours_time_zone": "Europe/London"
        })
        .as_object()
        .cloned()
        .unwrap_or_default()
    }

    #[test]
    fn good_parameters_parse_publish_and_come_back_the_same() {
        let p = GeneralParameters::parse(&good()).unwrap();
        assert_eq!(p.check_publishable(), Ok(()));
        assert_eq!(
            p.to_json()["callback_folder_email"],
            "Callbacks@kenton-electronics.com"
        );
        let again = GeneralParameters::parse(p.to_json().as_object().unwrap()).unwrap();
        assert_eq!(again, p);
    }

    #[test]
    fn every_bad_value_is_named_at_once() {
        let mut m = good();
        m.insert("default_priority".into(), json!(100));
        m.insert("target_answer_seconds".into(), json!("soon"));
        m.insert("callback_enabled".into(), json!(3));
        m.insert("business_hours_time_zone".into(), json!("Mars/Base"));
        m.insert("colour".into(), json!("blue"));
        let fields: Vec<String> = GeneralParameters::parse(&m)
            .unwrap_err()
            .into_iter()
            .map(|p| p.field)
            .collect();
        for f in [
            "parameters.colour",
            "parameters.default_priority",
            "parameters.target_answer_seconds",
            "parameters.callback_enabled",
            "parameters.business_hours_time_zone",
        ] {
            assert!(fields.contains(&f.to_owned()), "{f} in {fields:?}");
        }
        assert_eq!(fields.len(), 5);
    }

    #[test]
    fn callback_needs_its_folder_address_and_the_wait_its_target() {
        let mut m = good();
        m.insert("callback_folder_email".into(), json!(""));
        m.insert("max_wait_seconds".into(), json!(60));
        let p = GeneralParameters::parse(&m).unwrap();
        let problems = p.check_publishable().unwrap_err();
        assert_eq!(problems.len(), 2);
        assert_eq!(problems[0].field, "parameters.callback_folder_email");
        assert_eq!(problems[0].error.code, FieldErrorCode::Required);
        m.insert("callback_enabled".into(), json!(false));
        m.insert("max_wait_seconds".into(), json!(120));
        assert_eq!(
            GeneralParameters::parse(&m).unwrap().check_publishable(),
            Ok(())
        );
    }

    #[test]
    fn an_edit_changes_only_what_it_names() {
        let base = good();
        let changes = json!({"default_priority": 10});
        let m = merged(&base, changes.as_object().unwrap());
        assert_eq!(m["default_priority"], 10);
        assert_eq!(m["callback_retry_limit"], 3);
    }
}
