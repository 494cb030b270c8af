//! Template service packages: reading, creating, new versions, retiring, and the JSON file
//! format shared by the API, the seeds and `portal template import|export`.

use portal_domain::template::{RawObject, RawTemplate, TemplateDefinition, TemplateProblem};
use portal_store::template::{NewTemplate, TemplateObjectRow, TemplateRow};
use portal_store::{Conflict, StoreError};
use serde::{Deserialize, Serialize};

use super::{Actor, ServiceError, Services};

pub async fn list_templates(
    services: &Services,
    actor: &Actor,
) -> Result<Vec<TemplateRow>, ServiceError> {
    actor.require(portal_domain::Permission::ReadTemplates)?;
    Ok(services.store.list_active_templates().await?)
}

/// A template's current version with its objects.
pub async fn get_template(
    services: &Services,
    actor: &Actor,
    id: &str,
) -> Result<(TemplateRow, Vec<TemplateObjectRow>), ServiceError> {
    actor.require(portal_domain::Permission::ReadTemplates)?;
    let template = services.store.get_template(id).await?;
    let objects = services
        .store
        .template_objects(id, template.version)
        .await?;
    Ok((template, objects))
}

/// A template as a JSON document: the API's body and the file of import and export.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateDoc {
    /// Letters, digits and hyphens; made from the name when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub services: Vec<String>,
    #[serde(default)]
    pub objects: Vec<ObjectDoc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObjectDoc {
    pub kind: String,
    pub name: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub properties: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("the template is invalid")]
    Invalid(Vec<TemplateProblem>),
    /// A template with this id exists.
    #[error("a template with the id {0} exists")]
    IdTaken(String),
    /// A retired template takes no new version.
    #[error("a retired template cannot be edited")]
    Retired,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl TemplateDoc {
    fn into_raw(self) -> (Option<String>, RawTemplate) {
        let raw = RawTemplate {
            name: self.name,
            description: self.description,
            services: self.services,
            objects: self
                .objects
                .into_iter()
                .map(|o| RawObject {
                    kind: o.kind,
                    name: o.name,
                    properties: o.properties,
                })
                .collect(),
        };
        (self.id, raw)
    }

    pub fn from_stored(
        template: &TemplateRow,
        objects: Vec<TemplateObjectRow>,
    ) -> Result<Self, ServiceError> {
        let internal = |e: serde_json::Error| ServiceError::Internal(e.into());
        Ok(Self {
            id: Some(template.id.clone()),
            name: template.name.clone(),
            description: template.description.clone(),
            services: serde_json::from_str(&template.services).map_err(internal)?,
            objects: objects
                .into_iter()
                .map(|o| {
                    Ok(ObjectDoc {
                        kind: o.kind,
                        name: o.name,
                        properties: serde_json::from_str(&o.properties).map_err(internal)?,
                    })
                })
                .collect::<Result<_, ServiceError>>()?,
        })
    }
}

/// An id made from a name: lowercase letters and digits joined by single hyphens.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(64).collect()
}

fn check_id(id: &str) -> Result<(), TemplateProblem> {
    let ok = (2..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.starts_with('-')
        && !id.ends_with('-')
        // `/templates/new` is the page that makes one.
        && id != "new";
    if ok {
        Ok(())
    } else {
        Err(TemplateProblem {
            path: "id".into(),
            message: "must be 2 to 64 lowercase letters, digits and inner hyphens, and not new"
                .into(),
        })
    }
}

fn to_new(id: String, def: TemplateDefinition) -> Result<NewTemplate, ServiceError> {
    let internal = |e: serde_json::Error| ServiceError::Internal(e.into());
    Ok(NewTemplate {
        id,
        name: def.name,
        description: def.description,
        services: serde_json::to_string(&def.services).map_err(internal)?,
        objects: def
            .objects
            .into_iter()
            .map(|o| {
                Ok(TemplateObjectRow {
                    kind: o.kind,
                    name: o.name,
                    properties: serde_json::to_string(&o.properties).map_err(internal)?,
                })
            })
            .collect::<Result<_, ServiceError>>()?,
    })
}

/// Checks a document: the id (given or made from the name) and the whole definition.
pub fn check_doc(doc: TemplateDoc) -> Result<NewTemplate, TemplateError> {
    let (id, raw) = doc.into_raw();
    let id = id.unwrap_or_else(|| slug(&raw.name));
    let mut problems = Vec::new();
    if let Err(p) = check_id(&id) {
        problems.push(p);
    }
    match raw.check() {
        Ok(def) if problems.is_empty() => Ok(to_new(id, def)?),
        Ok(_) => Err(TemplateError::Invalid(problems)),
        Err(more) => {
            problems.extend(more);
            Err(TemplateError::Invalid(problems))
        }
    }
}

fn landlord(actor: &Actor) -> Result<(), ServiceError> {
    actor.require(portal_domain::Permission::ChangeTemplates)
}

/// Creates a template as version 1.
pub async fn create_template(
    services: &Services,
    actor: &Actor,
    doc: TemplateDoc,
) -> Result<String, TemplateError> {
    landlord(actor)?;
    let new = check_doc(doc)?;
    let audit = super::audit::entry(
        Some(actor),
        portal_domain::AuditAction::TemplateCreated,
        None,
        Some(&new.id),
        Some(new.name.clone()),
    );
    match services.store.create_template(&new, Some(&audit)).await {
        Ok(()) => Ok(new.id),
        Err(StoreError::Conflict(Conflict::TemplateIdTaken)) => Err(TemplateError::IdTaken(new.id)),
        Err(e) => Err(ServiceError::from(e).into()),
    }
}

/// Stores an edit as the template's next version.
pub async fn new_version(
    services: &Services,
    actor: &Actor,
    id: &str,
    mut doc: TemplateDoc,
) -> Result<i64, TemplateError> {
    landlord(actor)?;
    doc.id = Some(id.to_owned());
    let new = check_doc(doc)?;
    let audit = super::audit::entry(
        Some(actor),
        portal_domain::AuditAction::TemplateVersionAdded,
        None,
        Some(id),
        None,
    );
    match services
        .store
        .add_template_version(&new, Some(&audit))
        .await
    {
        Ok(version) => Ok(version),
        Err(StoreError::Conflict(Conflict::TemplateRetired)) => Err(TemplateError::Retired),
        Err(e) => Err(ServiceError::from(e).into()),
    }
}

pub async fn retire(services: &Services, actor: &Actor, id: &str) -> Result<(), ServiceError> {
    landlord(actor)?;
    let audit = super::audit::entry(
        Some(actor),
        portal_domain::AuditAction::TemplateRetired,
        None,
        Some(id),
        None,
    );
    Ok(services.store.retire_template(id, &audit).await?)
}

/// A problem in a template file, with the line it is on (1-based) when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    pub line: Option<usize>,
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for FileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}: {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

/// Parses and checks a template file; every problem comes with its line where it can be found.
pub fn parse_file(text: &str) -> Result<NewTemplate, Vec<FileProblem>> {
    let doc: TemplateDoc = serde_json::from_str(text).map_err(|e| {
        vec![FileProblem {
            line: Some(e.line()),
            path: "(file)".into(),
            message: e.to_string(),
        }]
    })?;
    check_doc(doc).map_err(|e| match e {
        TemplateError::Invalid(problems) => {
            let lines = object_lines(text);
            problems
                .into_iter()
                .map(|p| {
                    let line = p
                        .path
                        .strip_prefix("objects[")
                        .and_then(|rest| rest.split(']').next())
                        .and_then(|n| n.parse::<usize>().ok())
                        .and_then(|i| lines.get(i).copied());
                    FileProblem {
                        line,
                        path: p.path,
                        message: p.message,
                    }
                })
                .collect()
        }
        other => vec![FileProblem {
            line: None,
            path: "(file)".into(),
            message: other.to_string(),
        }],
    })
}

/// The line on which each element of the top-level `objects` array starts.
fn object_lines(text: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    let (mut line, mut depth) = (1usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    let mut string = String::new();
    let mut last_key = String::new();
    let mut in_objects_at: Option<usize> = None;
    for c in text.chars() {
        if c == '\n' {
            line += 1;
        }
        if in_string {
            if escaped {
                escaped = false;
                string.push(c);
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
                last_key = std::mem::take(&mut string);
            } else {
                string.push(c);
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => {
                if c == '[' && depth == 1 && last_key == "objects" {
                    in_objects_at = Some(depth + 1);
                }
                if c == '{' && in_objects_at == Some(depth) {
                    lines.push(line);
                }
                depth += 1;
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                if in_objects_at == Some(depth + 1) && c == ']' {
                    in_objects_at = None;
                }
            }
            _ => {}
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_in_a_file_name_their_line_and_field() {
        let text = r#"{
  "id": "voice",
  "name": "Voice",
  "services": ["voice"],
  "objects": [
    {"kind": "queue", "name": "Sales", "properties": {"priority": 10}},
    {"kind": "queue", "name": "Support",
     "properties": {"priority": 120}}
  ]
}"#;
        let problems = parse_file(text).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].to_string(),
            "line 7: objects[1].properties.priority: must be a whole number from 0 to 99"
        );
        let broken =
            parse_file("{\n  \"name\": \"x\",\n  \"services\": [\"voice\"\n}").unwrap_err();
        assert_eq!(broken[0].line, Some(4));
    }

    #[test]
    fn ids_are_made_from_names() {
        assert_eq!(
            slug("Omnichannel with Smart Queues!"),
            "omnichannel-with-smart-queues"
        );
        assert_eq!(slug("  Voice  "), "voice");
    }
}
