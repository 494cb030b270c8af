//! Change of service package: moving a tenant's configuration to another template version
//! without overwriting what the tenant changed itself.
//!
//! Each object cloned from a template keeps its *origin* (its kind and its name as the
//! template writes it, placeholders and all) and the properties the template gave it (its
//! fingerprint). An object whose properties are no longer those was changed by the tenant:
//! a fact, not a guess. The plan compares the tenant's objects with the target version's:
//! - **add** what the target has and the tenant does not;
//! - **update** what the target changed and the tenant did not;
//! - **remove** what the target no longer has and the tenant did not change;
//! - **keep** what the tenant changed, which a change never overwrites.

use std::collections::{HashMap, HashSet};

crate::text_enum! {
    /// What a change of package does with one object.
    pub enum PlanOp as "package change operation" {
        Add = "add",
        Update = "update",
        Remove = "remove",
        /// Changed by the tenant: left as it is.
        Keep = "keep",
    }
}

crate::text_enum! {
    /// Where a change of package stands.
    pub enum PackageChangeStatus as "package change status" {
        /// Accepted; its job has not begun.
        Queued = "queued",
        Running = "running",
        /// Every step done, and the tenant's template is the new one.
        Completed = "completed",
        /// A step failed for good: everything it had done was undone.
        Failed = "failed",
    }
}

crate::text_enum! {
    /// The steps of a change of package, in order; each is one transaction.
    pub enum PackageChangeStep as "package change step" {
        // Removals first, so that a name they free is free before an addition takes it.
        RemoveObjects = "remove_objects",
        UpdateObjects = "update_objects",
        AddObjects = "add_objects",
        SwitchTemplate = "switch_template",
    }
}

impl PackageChangeStatus {
    /// Whether it still has work to do (a tenant has at most one such change).
    pub const fn is_open(self) -> bool {
        matches!(self, Self::Queued | Self::Running)
    }
}

impl PackageChangeStep {
    /// The operation the step carries out, if it is one of the objects' steps.
    pub const fn op(self) -> Option<PlanOp> {
        match self {
            Self::AddObjects => Some(PlanOp::Add),
            Self::UpdateObjects => Some(PlanOp::Update),
            Self::RemoveObjects => Some(PlanOp::Remove),
            Self::SwitchTemplate => None,
        }
    }

    /// How people read it.
    pub const fn label(self) -> &'static str {
        match self {
            Self::AddObjects => "Add objects",
            Self::UpdateObjects => "Update objects",
            Self::RemoveObjects => "Remove objects",
            Self::SwitchTemplate => "Switch the template",
        }
    }
}

/// Why a change of package cannot be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PackageChangeRefusal {
    #[error("the tenant is {0}: only an active tenant's package can change")]
    TenantNotActive(crate::TenantStatus),
    #[error("the template is retired")]
    TemplateRetired,
    #[error("the tenant already has this template version")]
    AlreadyOnVersion,
    #[error("another change of package is not finished yet")]
    ChangeInProgress,
}

/// One of a tenant's configuration objects, with its origin and fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantObject {
    pub position: i64,
    pub kind: String,
    pub name: String,
    /// JSON object, as stored.
    pub properties: String,
    /// Its name in the template it came from (placeholders unfilled); `None` for an object
    /// that came from no template.
    pub origin: Option<String>,
    /// The properties the template gave it.
    pub template_properties: Option<String>,
}

impl TenantObject {
    /// Whether the tenant changed it since a template put it there (an object without a
    /// fingerprint counts as changed, so that it is never overwritten).
    pub fn changed_by_tenant(&self) -> bool {
        self.template_properties.as_deref() != Some(self.properties.as_str())
    }

    fn key(&self) -> Option<(String, String)> {
        self.origin
            .as_ref()
            .map(|origin| (self.kind.clone(), origin.to_lowercase()))
    }
}

/// An object of the target template version, placeholders filled in for the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetObject {
    pub kind: String,
    /// Its name in the template, placeholders unfilled.
    pub origin: String,
    pub name: String,
    pub properties: String,
}

impl TargetObject {
    fn key(&self) -> (String, String) {
        (self.kind.clone(), self.origin.to_lowercase())
    }
}

/// What a change does with one object: `after` is what the tenant has once it is done
/// (`None` for a removal), `before` what it had (`None` for an addition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanItem {
    pub op: PlanOp,
    pub position: i64,
    pub after: Option<TargetObject>,
    pub before: Option<TenantObject>,
}

impl PlanItem {
    /// The object's kind and its name as the tenant sees it.
    pub fn kind_and_name(&self) -> (&str, &str) {
        match (&self.after, &self.before) {
            (Some(after), None) => (&after.kind, &after.name),
            (_, Some(before)) => (&before.kind, &before.name),
            (None, None) => ("", ""),
        }
    }
}

/// Every object a change touches or keeps, additions last (at positions after the tenant's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackagePlan {
    pub items: Vec<PlanItem>,
}

impl PackagePlan {
    /// The items of one operation, in order.
    pub fn of(&self, op: PlanOp) -> impl Iterator<Item = &PlanItem> {
        self.items.iter().filter(move |item| item.op == op)
    }
}

/// Fills a template text's placeholders in for a tenant, in the order cloning does.
pub fn fill_placeholders(text: &str, name: &str, short_name: &str, upn_suffix: &str) -> String {
    text.replace("{tenant.name}", name)
        .replace("{tenant.short_name}", short_name)
        .replace("{tenant.upn_suffix}", upn_suffix)
}

/// The plan that brings `tenant`'s objects to `target`, in the target's order.
pub fn plan(tenant: &[TenantObject], target: &[TargetObject]) -> PackagePlan {
    let wanted: HashMap<(String, String), &TargetObject> =
        target.iter().map(|object| (object.key(), object)).collect();
    let mut items = Vec::new();
    // The template objects the tenant holds, and the names (by kind) it keeps.
    let mut origins = HashSet::new();
    let mut names = HashSet::new();
    for object in tenant {
        let own_name = (object.kind.clone(), object.name.to_lowercase());
        let Some(key) = object.key() else {
            names.insert(own_name);
            continue;
        };
        origins.insert(key.clone());
        let goal = wanted.get(&key).copied();
        let op = match goal {
            _ if object.changed_by_tenant() => Some(PlanOp::Keep),
            None => Some(PlanOp::Remove),
            Some(goal) if goal.name == object.name && goal.properties == object.properties => None,
            Some(_) => Some(PlanOp::Update),
        };
        // A name the change frees may be taken by an addition; the others stay taken.
        match (op, goal) {
            (Some(PlanOp::Remove), _) => {}
            (Some(PlanOp::Update), Some(goal)) => {
                names.insert((goal.kind.clone(), goal.name.to_lowercase()));
            }
            _ => {
                names.insert(own_name);
            }
        }
        let Some(op) = op else { continue };
        items.push(PlanItem {
            op,
            position: object.position,
            after: goal.filter(|_| op == PlanOp::Update).cloned(),
            before: Some(object.clone()),
        });
    }
    let mut next = tenant.iter().map(|o| o.position + 1).max().unwrap_or(0);
    for object in target {
        let own_name = (object.kind.clone(), object.name.to_lowercase());
        if origins.contains(&object.key()) || names.contains(&own_name) {
            continue;
        }
        origins.insert(object.key());
        names.insert(own_name);
        items.push(PlanItem {
            op: PlanOp::Add,
            position: next,
            after: Some(object.clone()),
            before: None,
        });
        next += 1;
    }
    PackagePlan { items }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cloned(position: i64, kind: &str, origin: &str, properties: &str) -> TenantObject {
        TenantObject {
            position,
            kind: kind.into(),
            name: fill_placeholders(origin, "Acme", "acme", "acme.example"),
            properties: properties.into(),
            origin: Some(origin.into()),
            template_properties: Some(properties.into()),
        }
    }

    fn target(kind: &str, origin: &str, properties: &str) -> TargetObject {
        TargetObject {
            kind: kind.into(),
            origin: origin.into(),
            name: fill_placeholders(origin, "Acme", "acme", "acme.example"),
            properties: properties.into(),
        }
    }

    fn names(plan: &PackagePlan, op: PlanOp) -> Vec<String> {
        plan.of(op)
            .map(|item| item.kind_and_name().1.to_owned())
            .collect()
    }

    #[test]
    fn adds_updates_removes_and_keeps_by_origin_and_fingerprint() {
        let mut changed = cloned(2, "queue", "Billing", r#"{"priority":49}"#);
        changed.properties = r#"{"priority":10}"#.into();
        let mut changed_gone = cloned(4, "skill", "French", "{}");
        changed_gone.properties = r#"{"description":"ours"}"#.into();
        let tenant = vec![
            cloned(
                0,
                "queue",
                "{tenant.short_name} Sales",
                r#"{"priority":49}"#,
            ),
            cloned(1, "queue", "Support", r#"{"priority":49}"#),
            changed,
            cloned(3, "skill", "German", "{}"),
            changed_gone,
        ];
        let goal = vec![
            target("queue", "{tenant.short_name} Sales", r#"{"priority":60}"#),
            target("queue", "Support", r#"{"priority":49}"#),
            target("queue", "Billing", r#"{"priority":70}"#),
            target("skill", "Spanish", "{}"),
        ];
        let plan = plan(&tenant, &goal);
        assert_eq!(names(&plan, PlanOp::Update), ["acme Sales"]);
        assert_eq!(names(&plan, PlanOp::Keep), ["Billing", "French"]);
        assert_eq!(names(&plan, PlanOp::Remove), ["German"]);
        assert_eq!(names(&plan, PlanOp::Add), ["Spanish"]);
        let added = plan.of(PlanOp::Add).next().unwrap();
        assert_eq!(added.position, 5, "after the tenant's last position");
        let updated = plan.of(PlanOp::Update).next().unwrap();
        assert_eq!(
            updated.after.as_ref().unwrap().properties,
            r#"{"priority":60}"#
        );
        assert_eq!(
            updated.before.as_ref().unwrap().properties,
            r#"{"priority":49}"#
        );
    }

    #[test]
    fn an_object_without_a_fingerprint_is_never_overwritten_nor_one_without_origin_touched() {
        let mut unknown = cloned(0, "queue", "Sales", "{}");
        unknown.template_properties = None;
        let mut own = cloned(1, "queue", "Mine", "{}");
        own.origin = None;
        let plan = plan(&[unknown, own], &[target("queue", "Sales", r#"{"a":1}"#)]);
        assert_eq!(names(&plan, PlanOp::Keep), ["Sales"]);
        assert_eq!(plan.items.len(), 1, "{plan:?}");
    }

    #[test]
    fn an_addition_never_takes_a_name_the_tenant_already_has() {
        let mut own = cloned(0, "queue", "Sales", "{}");
        own.origin = None;
        let plan = plan(&[own], &[target("queue", "sales", "{}")]);
        assert!(plan.items.is_empty(), "{plan:?}");
    }

    #[test]
    fn a_name_a_removal_frees_can_be_taken_by_an_addition() {
        // v1 wrote the name out; v2 makes it from the tenant's name, to the same text.
        let tenant = vec![cloned(0, "queue", "Acme Sales", "{}")];
        let plan = plan(&tenant, &[target("queue", "{tenant.name} Sales", "{}")]);
        assert_eq!(names(&plan, PlanOp::Remove), ["Acme Sales"]);
        assert_eq!(names(&plan, PlanOp::Add), ["Acme Sales"]);
    }

    #[test]
    fn the_same_configuration_plans_nothing() {
        let tenant = vec![cloned(0, "queue", "Sales", "{}")];
        assert!(
            plan(&tenant, &[target("queue", "Sales", "{}")])
                .items
                .is_empty()
        );
    }

    #[test]
    fn placeholders_are_filled_in_the_order_cloning_fills_them() {
        assert_eq!(
            fill_placeholders(
                "{tenant.name}/{tenant.short_name}@{tenant.upn_suffix}",
                "Acme",
                "acme",
                "acme.example"
            ),
            "Acme/acme@acme.example"
        );
    }
}
