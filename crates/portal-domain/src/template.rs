//! Template service packages: the services a tenant starts with and its configuration objects,
//! each kind with typed, validated properties. A definition is checked whole, and every
//! problem is named by its path (`objects[3].properties.priority`).

use serde_json::{Map, Value};

/// The services a template may include.
pub const SERVICES: [&str; 7] = [
    "voice",
    "email",
    "chat",
    "sms",
    "social",
    "smart_queues",
    "callback",
];

/// A service as people read it (`Smart Queues` for `smart_queues`); an unknown id as it is.
pub fn service_label(id: &str) -> &str {
    match id {
        "voice" => "Voice",
        "email" => "Email",
        "chat" => "Chat",
        "sms" => "SMS",
        "social" => "Social",
        "smart_queues" => "Smart Queues",
        "callback" => "Callback",
        other => other,
    }
}

/// The predefined permission profiles every contact center has.
pub const PREDEFINED_PROFILES: [&str; 5] = [
    "Administrator",
    "Administrator and Agent",
    "Administrator and Supervisor",
    "Agent",
    "Supervisor",
];

/// The kinds of configuration objects.
pub const KINDS: [&str; 9] = [
    "queue",
    "smart_queue",
    "skill",
    "group",
    "team",
    "permission_profile",
    "media_type",
    "release_code",
    "mailbox_folder",
];

/// The channels a media type may carry.
pub const CHANNELS: [&str; 5] = ["voice", "email", "chat", "sms", "social"];

/// One problem in a definition, by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateProblem {
    pub path: String,
    pub message: String,
}

/// What a property holds.
#[derive(Debug, Clone, Copy)]
enum Prop {
    Int {
        min: i64,
        max: i64,
        default: Option<i64>,
    },
    Text {
        required: bool,
    },
    Bool {
        default: bool,
    },
    Channel,
}

fn schema(kind: &str) -> &'static [(&'static str, Prop)] {
    const DESCRIPTION: (&str, Prop) = ("description", Prop::Text { required: false });
    match kind {
        "queue" => &[
            (
                "priority",
                Prop::Int {
                    min: 0,
                    max: 99,
                    default: Some(49),
                },
            ),
            ("media_type", Prop::Text { required: false }),
            ("skill", Prop::Text { required: false }),
            DESCRIPTION,
        ],
        "smart_queue" => &[
            ("queue", Prop::Text { required: true }),
            (
                "target_answer_seconds",
                Prop::Int {
                    min: 1,
                    max: 3600,
                    default: Some(120),
                },
            ),
            ("callback_folder", Prop::Text { required: false }),
            ("callback_enabled", Prop::Bool { default: true }),
            DESCRIPTION,
        ],
        "permission_profile" => &[("predefined", Prop::Bool { default: false }), DESCRIPTION],
        "media_type" => &[("channel", Prop::Channel), DESCRIPTION],
        "release_code" => &[
            (
                "code",
                Prop::Int {
                    min: 1,
                    max: 999,
                    default: None,
                },
            ),
            DESCRIPTION,
        ],
        "mailbox_folder" => &[("address", Prop::Text { required: true }), DESCRIPTION],
        _ => &[DESCRIPTION],
    }
}

/// A configuration object as given.
#[derive(Debug, Clone, PartialEq)]
pub struct RawObject {
    pub kind: String,
    pub name: String,
    pub properties: Map<String, Value>,
}

/// A template as given, before checking.
#[derive(Debug, Clone, PartialEq)]
pub struct RawTemplate {
    pub name: String,
    pub description: String,
    pub services: Vec<String>,
    pub objects: Vec<RawObject>,
}

/// A checked template: properties have their defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateDefinition {
    pub name: String,
    pub description: String,
    pub services: Vec<String>,
    pub objects: Vec<RawObject>,
}

const MAX_OBJECTS: usize = 20_000;

fn check_text(path: String, value: &str, max: usize, problems: &mut Vec<TemplateProblem>) {
    if value.trim().is_empty() {
        problems.push(TemplateProblem {
            path,
            message: "must not be empty".into(),
        });
    } else if value.chars().count() > max {
        problems.push(TemplateProblem {
            path,
            message: format!("must be at most {max} characters"),
        });
    } else if value.chars().any(char::is_control) {
        problems.push(TemplateProblem {
            path,
            message: "must not contain control characters".into(),
        });
    } else if let Some(c) = crate::field::hidden_character(value) {
        problems.push(TemplateProblem {
            path,
            message: format!(
                "must not contain invisible formatting characters (U+{:04X})",
                u32::from(c)
            ),
        });
    }
}

/// The object's properties checked against its kind's schema, defaults filled in; every
/// problem goes to `problems`.
fn check_properties(
    at: &str,
    object: &RawObject,
    problems: &mut Vec<TemplateProblem>,
) -> Map<String, Value> {
    let schema = schema(&object.kind);
    check_unknown_properties(at, object, schema, problems);
    let mut out = Map::new();
    for (key, prop) in schema {
        let path = format!("{at}.properties.{key}");
        if let Some(value) = check_property(prop, object.properties.get(*key), path, problems) {
            out.insert((*key).into(), value);
        }
    }
    check_predefined(at, object, &out, problems);
    out
}

/// Names each property the object's kind does not have, with those it has.
fn check_unknown_properties(
    at: &str,
    object: &RawObject,
    schema: &[(&'static str, Prop)],
    problems: &mut Vec<TemplateProblem>,
) {
    for key in object.properties.keys() {
        if !schema.iter().any(|(name, _)| name == key) {
            let allowed: Vec<&str> = schema.iter().map(|(n, _)| *n).collect();
            problems.push(TemplateProblem {
                path: format!("{at}.properties.{key}"),
                message: format!(
                    "is not a property of a {}; allowed: {}",
                    object.kind,
                    allowed.join(", ")
                ),
            });
        }
    }
}

/// The value one property keeps (its default when it is absent), or `None` when it has none
/// or is refused; a refusal goes to `problems`, at `path`.
fn check_property(
    prop: &Prop,
    value: Option<&Value>,
    path: String,
    problems: &mut Vec<TemplateProblem>,
) -> Option<Value> {
    let message: String = match (prop, value) {
        (
            Prop::Int {
                default: Some(d), ..
            },
            None,
        ) => return Some(Value::from(*d)),
        (Prop::Int { min, max, .. }, Some(v)) => match v.as_i64() {
            Some(n) if (*min..=*max).contains(&n) => return Some(Value::from(n)),
            _ => format!("must be a whole number from {min} to {max}"),
        },
        (Prop::Int { default: None, .. }, None)
        | (Prop::Text { required: true }, None)
        | (Prop::Channel, None) => "is required".into(),
        (Prop::Text { .. }, None) => return None,
        (Prop::Text { .. }, Some(Value::String(s))) => {
            check_text(path, s, 500, problems);
            return Some(Value::from(s.trim()));
        }
        (Prop::Text { .. }, Some(_)) => "must be text".into(),
        (Prop::Bool { default }, None) => return Some(Value::from(*default)),
        (Prop::Bool { .. }, Some(Value::Bool(b))) => return Some(Value::from(*b)),
        (Prop::Bool { .. }, Some(_)) => "must be true or false".into(),
        (Prop::Channel, Some(Value::String(s))) if CHANNELS.contains(&s.as_str()) => {
            return Some(Value::from(s.as_str()));
        }
        (Prop::Channel, Some(_)) => format!("must be one of {}", CHANNELS.join(", ")),
    };
    problems.push(TemplateProblem { path, message });
    None
}

/// Only the contact center's own profiles may be marked predefined.
fn check_predefined(
    at: &str,
    object: &RawObject,
    properties: &Map<String, Value>,
    problems: &mut Vec<TemplateProblem>,
) {
    if object.kind == "permission_profile"
        && properties.get("predefined") == Some(&Value::Bool(true))
        && !PREDEFINED_PROFILES.contains(&object.name.as_str())
    {
        problems.push(TemplateProblem {
            path: format!("{at}.properties.predefined"),
            message: format!("only {} are predefined", PREDEFINED_PROFILES.join(", ")),
        });
    }
}

/// Each service must be one a template may include, and named once.
fn check_services(services: &[String], problems: &mut Vec<TemplateProblem>) {
    if services.is_empty() {
        problems.push(TemplateProblem {
            path: "services".into(),
            message: "must name at least one service".into(),
        });
    }
    for (i, service) in services.iter().enumerate() {
        if !SERVICES.contains(&service.as_str()) {
            problems.push(TemplateProblem {
                path: format!("services[{i}]"),
                message: format!("must be one of {}", SERVICES.join(", ")),
            });
        } else if services[..i].contains(service) {
            problems.push(TemplateProblem {
                path: format!("services[{i}]"),
                message: "is listed twice".into(),
            });
        }
    }
}

/// The objects checked one by one, names trimmed and properties filled in; an object of an
/// unknown kind is left out (its kind is the problem), and no two of a kind share a name.
fn check_objects(objects: Vec<RawObject>, problems: &mut Vec<TemplateProblem>) -> Vec<RawObject> {
    if objects.len() > MAX_OBJECTS {
        problems.push(TemplateProblem {
            path: "objects".into(),
            message: format!("must hold at most {MAX_OBJECTS} objects"),
        });
    }
    let mut seen = std::collections::HashSet::new();
    let mut checked = Vec::with_capacity(objects.len());
    for (i, object) in objects.into_iter().enumerate() {
        let at = format!("objects[{i}]");
        if !KINDS.contains(&object.kind.as_str()) {
            problems.push(TemplateProblem {
                path: format!("{at}.kind"),
                message: format!("must be one of {}", KINDS.join(", ")),
            });
            continue;
        }
        check_text(format!("{at}.name"), &object.name, 200, problems);
        if !seen.insert((object.kind.clone(), object.name.trim().to_lowercase())) {
            problems.push(TemplateProblem {
                path: format!("{at}.name"),
                message: format!("another {} already has this name", object.kind),
            });
        }
        let properties = check_properties(&at, &object, problems);
        checked.push(RawObject {
            kind: object.kind,
            name: object.name.trim().to_owned(),
            properties,
        });
    }
    checked
}

/// The properties of one object of `kind` named `name` (a tenant's own change), checked as a
/// template's are, defaults filled in; every problem by path (`properties.priority`).
pub fn check_object_properties(
    kind: &str,
    name: &str,
    properties: Map<String, Value>,
) -> Result<Map<String, Value>, Vec<TemplateProblem>> {
    let object = RawObject {
        kind: kind.to_owned(),
        name: name.to_owned(),
        properties,
    };
    let mut problems = Vec::new();
    let checked = check_properties("", &object, &mut problems);
    if problems.is_empty() {
        Ok(checked)
    } else {
        Err(problems
            .into_iter()
            .map(|p| TemplateProblem {
                path: p.path.trim_start_matches('.').to_owned(),
                message: p.message,
            })
            .collect())
    }
}

impl RawTemplate {
    /// Checks the whole definition; every problem is returned, by path.
    pub fn check(self) -> Result<TemplateDefinition, Vec<TemplateProblem>> {
        let mut problems = Vec::new();
        check_text("name".into(), &self.name, 100, &mut problems);
        if self.description.chars().count() > 2000 {
            problems.push(TemplateProblem {
                path: "description".into(),
                message: "must be at most 2000 characters".into(),
            });
        } else if let Some(c) = crate::field::hidden_character(&self.description) {
            problems.push(TemplateProblem {
                path: "description".into(),
                message: format!(
                    "must not contain invisible formatting characters (U+{:04X})",
                    u32::from(c)
                ),
            });
        }
        check_services(&self.services, &mut problems);
        let objects = check_objects(self.objects, &mut problems);
        if problems.is_empty() {
            Ok(TemplateDefinition {
                name: self.name.trim().to_owned(),
                description: self.description.trim().to_owned(),
                services: self.services,
                objects,
            })
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(kind: &str, name: &str, properties: Value) -> RawObject {
        RawObject {
            kind: kind.into(),
            name: name.into(),
            properties: properties.as_object().unwrap().clone(),
        }
    }

    fn template(objects: Vec<RawObject>) -> RawTemplate {
        RawTemplate {
            name: "Voice".into(),
            description: String::new(),
            services: vec!["voice".into()],
            objects,
        }
    }

    #[test]
    fn defaults_are_filled_in() {
        let t = template(vec![
            object("queue", "Sales", json!({})),
            object("smart_queue", "Callback", json!({"queue": "Sales"})),
        ])
        .check()
        .unwrap();
        assert_eq!(t.objects[0].properties["priority"], 49);
        assert_eq!(t.objects[1].properties["target_answer_seconds"], 120);
        assert_eq!(t.objects[1].properties["callback_enabled"], true);
    }

    #[test]
    fn every_problem_is_named_by_its_path() {
        let raw = RawTemplate {
            name: " ".into(),
            description: String::new(),
            services: vec!["voice".into(), "fax".into()],
            objects: vec![
                object("queue", "Sales", json!({"priority": 100, "colour": "red"})),
                object("queue", "sales", json!({})),
                object("robot", "R2", json!({})),
                object("release_code", "Break", json!({})),
                object("permission_profile", "Janitor", json!({"predefined": true})),
                object("media_type", "Fax", json!({"channel": "fax"})),
            ],
        };
        let paths: Vec<String> = raw
            .check()
            .unwrap_err()
            .into_iter()
            .map(|p| p.path)
            .collect();
        assert_eq!(
            paths,
            [
                "name",
                "services[1]",
                "objects[0].properties.colour",
                "objects[0].properties.priority",
                "objects[1].name",
                "objects[2].kind",
                "objects[3].properties.code",
                "objects[4].properties.predefined",
                "objects[5].properties.channel",
            ]
        );
    }
}

crate::text_enum! {
    /// A template is offered for new requests while active; a retired one keeps its versions
    /// for the requests that use them.
    pub enum TemplateStatus as "template status" {
        Active = "active",
        Retired = "retired",
    }
}

impl TemplateStatus {
    /// Whether new requests may use it.
    pub fn is_active(self) -> bool {
        self == Self::Active
    }
}
