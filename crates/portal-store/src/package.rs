//! Changes of a tenant's service package: planned in the transaction that accepts them (the
//! plan frozen as items), carried out one step per transaction, and undone whole when they
//! fail for good. A tenant's objects cannot be edited while its change is open, so the plan
//! stays true until it is done.

use portal_domain::TenantStatus;
use portal_domain::package::{
    PackagePlan, PlanItem, TargetObject, TenantObject, fill_placeholders, plan,
};
use portal_domain::template::TemplateStatus;
use portal_domain::{PackageChangeRefusal, PackageChangeStatus, PackageChangeStep, PlanOp};

use crate::audit::AuditEntry;
use crate::error::Conflict;
use crate::job::NewJob;
use crate::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PackageChangeRow {
    pub id: String,
    pub tenant_id: String,
    pub from_template_id: String,
    pub from_version: i64,
    pub to_template_id: String,
    pub to_version: i64,
    #[sqlx(try_from = "String")]
    pub status: PackageChangeStatus,
    /// How many of `PackageChangeStep::ALL` are done, in order.
    pub steps_done: i64,
    pub requested_by: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
}

impl PackageChangeRow {
    /// Each step with whether it is done, running, or yet to come.
    pub fn steps(&self) -> Vec<(PackageChangeStep, portal_domain::StepStatus)> {
        use portal_domain::StepStatus as S;
        PackageChangeStep::ALL
            .iter()
            .enumerate()
            .map(|(i, step)| {
                let i = i64::try_from(i).unwrap_or(i64::MAX);
                let status = match self.status {
                    _ if i < self.steps_done => S::Done,
                    PackageChangeStatus::Running if i == self.steps_done => S::Running,
                    PackageChangeStatus::Failed if i == self.steps_done => S::Failed,
                    _ => S::Pending,
                };
                (*step, status)
            })
            .collect()
    }
}

const CHANGE_COLUMNS: &str = "id, tenant_id, from_template_id, from_version, to_template_id, \
     to_version, status, steps_done, requested_by, created_at, started_at, finished_at, error";

/// The template version a change goes to, resolved, with the plan that gets there.
#[derive(Debug, Clone)]
pub struct PlannedChange {
    pub template_id: String,
    pub version: i64,
    pub plan: PackagePlan,
}

/// A change of package to accept.
#[derive(Debug, Clone)]
pub struct NewPackageChange<'a> {
    pub id: &'a str,
    pub tenant_id: &'a str,
    pub template_id: &'a str,
    /// The template's current version when `None`.
    pub version: Option<i64>,
    pub requested_by: Option<&'a str>,
    pub audit: &'a AuditEntry,
    pub job: &'a NewJob,
}

/// What one call of `Store::run_package_change_step` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeStepOutcome {
    /// This step is done; more follow.
    Done(PackageChangeStep),
    /// The last step is done: the change is completed.
    Completed,
    /// The change is no longer open (completed or failed before).
    NotOpen,
    /// The tenant was no longer active: the change was undone and failed.
    Undone(TenantStatus),
}

/// The audit entries a step may write: the change's completion, or its failure.
#[derive(Debug, Clone, Copy)]
pub struct ChangeAudits<'a> {
    pub completed: &'a AuditEntry,
    pub failed: &'a AuditEntry,
}

type Tx = crate::WriteTx;

fn refused(refusal: PackageChangeRefusal) -> StoreError {
    Conflict::PackageChange(refusal).into()
}

fn status_of(text: String) -> Result<TenantStatus, StoreError> {
    TenantStatus::try_from(text).map_err(|e| StoreError::Other(e.into()))
}

/// The tenant's objects, with their origins and fingerprints, in order.
async fn tenant_objects(tx: &mut Tx, tenant_id: &str) -> Result<Vec<TenantObject>, StoreError> {
    type Row = (i64, String, String, String, Option<String>, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT position, kind, name, properties, origin, template_properties \
             FROM tenant_objects WHERE tenant_id = $1 ORDER BY position",
    )
    .bind(tenant_id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(position, kind, name, properties, origin, template_properties)| TenantObject {
                position,
                kind,
                name,
                properties,
                origin,
                template_properties,
            },
        )
        .collect())
}

/// Locks the tenant when `lock` (the change and the edits of its objects queue behind each
/// other) and gives its status, template and names; an open change refuses.
async fn lock_tenant(
    store: &Store,
    tx: &mut Tx,
    tenant_id: &str,
    lock: bool,
) -> Result<(TenantStatus, String, i64, [String; 3]), StoreError> {
    let row: Option<(String, String, i64, String, String, String)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT status, template_id, template_version, name, short_name, upn_suffix \
             FROM tenants WHERE id = $1{}",
            if lock { store.lock_clause() } else { "" }
        )))
        .bind(tenant_id)
        .fetch_optional(&mut **tx)
        .await?;
    let (status, template_id, version, name, short_name, upn) = row.ok_or(StoreError::NotFound)?;
    let open: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM package_changes WHERE tenant_id = $1 AND status IN ($2, $3)",
    )
    .bind(tenant_id)
    .bind(PackageChangeStatus::Queued.as_str())
    .bind(PackageChangeStatus::Running.as_str())
    .fetch_one(&mut **tx)
    .await?;
    if open > 0 {
        return Err(refused(PackageChangeRefusal::ChangeInProgress));
    }
    Ok((
        status_of(status)?,
        template_id,
        version,
        [name, short_name, upn],
    ))
}

/// Plans the change of a tenant to a template version; the tenant is locked when `lock`
/// (the plan is about to be stored).
async fn plan_in(
    store: &Store,
    tx: &mut Tx,
    tenant_id: &str,
    (template_id, version): (&str, Option<i64>),
    lock: bool,
) -> Result<PlannedChange, StoreError> {
    let (status, current_template, current_version, [name, short_name, upn]) =
        lock_tenant(store, tx, tenant_id, lock).await?;
    if !status.is_open() {
        return Err(refused(PackageChangeRefusal::TenantNotActive(status)));
    }
    let template: Option<(String, i64)> =
        sqlx::query_as("SELECT status, current_version FROM templates WHERE id = $1")
            .bind(template_id)
            .fetch_optional(&mut **tx)
            .await?;
    let (template_status, latest) = template.ok_or(StoreError::NotFound)?;
    if template_status
        .parse::<TemplateStatus>()
        .map_err(anyhow::Error::from)?
        != TemplateStatus::Active
    {
        return Err(refused(PackageChangeRefusal::TemplateRetired));
    }
    let version = version.unwrap_or(latest);
    if !(1..=latest).contains(&version) {
        return Err(StoreError::NotFound);
    }
    if template_id == current_template && version == current_version {
        return Err(refused(PackageChangeRefusal::AlreadyOnVersion));
    }
    let objects: Vec<crate::template::TemplateObjectRow> = sqlx::query_as(
        "SELECT kind, name, properties FROM template_objects \
         WHERE template_id = $1 AND version = $2 ORDER BY position",
    )
    .bind(template_id)
    .bind(version)
    .fetch_all(&mut **tx)
    .await?;
    let target: Vec<TargetObject> = objects
        .into_iter()
        .map(|o| TargetObject {
            name: fill_placeholders(&o.name, &name, &short_name, &upn),
            properties: fill_placeholders(&o.properties, &name, &short_name, &upn),
            kind: o.kind,
            origin: o.name,
        })
        .collect();
    let tenant = tenant_objects(tx, tenant_id).await?;
    Ok(PlannedChange {
        template_id: template_id.to_owned(),
        version,
        plan: plan(&tenant, &target),
    })
}

/// Stores a plan's items, many rows per statement.
async fn insert_items(tx: &mut Tx, change_id: &str, plan: &PackagePlan) -> Result<(), StoreError> {
    const ROWS: usize = 200;
    for (chunk_no, chunk) in plan.items.chunks(ROWS).enumerate() {
        let sql = format!(
            "INSERT INTO package_change_items (change_id, seq, op, position, kind, name, \
             properties, origin, before_name, before_properties, before_origin, \
             before_template_properties) VALUES {}",
            crate::placeholder_rows(chunk.len(), 12)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (i, item) in chunk.iter().enumerate() {
            let seq =
                i64::try_from(chunk_no * ROWS + i).map_err(|e| StoreError::Other(e.into()))?;
            let (kind, _) = item.kind_and_name();
            let after = item.after.as_ref();
            let before = item.before.as_ref();
            query = query
                .bind(change_id.to_owned())
                .bind(seq)
                .bind(item.op.as_str())
                .bind(item.position)
                .bind(kind.to_owned())
                .bind(after.map(|a| a.name.clone()))
                .bind(after.map(|a| a.properties.clone()))
                .bind(after.map(|a| a.origin.clone()))
                .bind(before.map(|b| b.name.clone()))
                .bind(before.map(|b| b.properties.clone()))
                .bind(before.and_then(|b| b.origin.clone()))
                .bind(before.and_then(|b| b.template_properties.clone()));
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Carries out one objects' step for the whole plan, set-wise.
async fn apply(tx: &mut Tx, change: &PackageChangeRow, op: PlanOp) -> Result<(), StoreError> {
    let sql = match op {
        PlanOp::Add => {
            "INSERT INTO tenant_objects (tenant_id, position, kind, name, properties, origin, \
             template_properties) \
             SELECT $1, position, kind, name, properties, origin, properties \
             FROM package_change_items WHERE change_id = $2 AND op = $3"
        }
        // Only an object still as the plan found it is updated (the plan is frozen while the
        // change is open, so all of them).
        PlanOp::Update => {
            "UPDATE tenant_objects SET \
             name = (SELECT i.name FROM package_change_items i WHERE i.change_id = $2 \
               AND i.op = $3 AND i.position = tenant_objects.position), \
             properties = (SELECT i.properties FROM package_change_items i WHERE i.change_id = $2 \
               AND i.op = $3 AND i.position = tenant_objects.position), \
             origin = (SELECT i.origin FROM package_change_items i WHERE i.change_id = $2 \
               AND i.op = $3 AND i.position = tenant_objects.position), \
             template_properties = (SELECT i.properties FROM package_change_items i \
               WHERE i.change_id = $2 AND i.op = $3 AND i.position = tenant_objects.position) \
             WHERE tenant_id = $1 AND position IN \
             (SELECT position FROM package_change_items WHERE change_id = $2 AND op = $3)"
        }
        PlanOp::Remove => {
            "DELETE FROM tenant_objects WHERE tenant_id = $1 AND position IN \
             (SELECT position FROM package_change_items WHERE change_id = $2 AND op = $3)"
        }
        PlanOp::Keep => return Ok(()),
    };
    sqlx::query(sql)
        .bind(&change.tenant_id)
        .bind(&change.id)
        .bind(op.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Gives the tenant the change's template version (its last step).
async fn switch_template(tx: &mut Tx, change: &PackageChangeRow) -> Result<(), StoreError> {
    sqlx::query("UPDATE tenants SET template_id = $1, template_version = $2 WHERE id = $3")
        .bind(&change.to_template_id)
        .bind(change.to_version)
        .bind(&change.tenant_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Undoes whatever of a change was done: additions deleted, updates put back, removals
/// restored. Each part changes nothing when its step had not run.
async fn undo(tx: &mut Tx, change: &PackageChangeRow) -> Result<(), StoreError> {
    let statements = [
        (
            PlanOp::Add,
            "DELETE FROM tenant_objects WHERE tenant_id = $1 AND position IN \
             (SELECT position FROM package_change_items WHERE change_id = $2 AND op = $3)",
        ),
        (
            PlanOp::Update,
            "UPDATE tenant_objects SET \
             name = (SELECT i.before_name FROM package_change_items i WHERE i.change_id = $2 \
               AND i.op = $3 AND i.position = tenant_objects.position), \
             properties = (SELECT i.before_properties FROM package_change_items i \
               WHERE i.change_id = $2 AND i.op = $3 AND i.position = tenant_objects.position), \
             origin = (SELECT i.before_origin FROM package_change_items i WHERE i.change_id = $2 \
               AND i.op = $3 AND i.position = tenant_objects.position), \
             template_properties = (SELECT i.before_template_properties FROM package_change_items i \
               WHERE i.change_id = $2 AND i.op = $3 AND i.position = tenant_objects.position) \
             WHERE tenant_id = $1 AND position IN \
             (SELECT position FROM package_change_items WHERE change_id = $2 AND op = $3)",
        ),
        (
            PlanOp::Remove,
            "INSERT INTO tenant_objects (tenant_id, position, kind, name, properties, origin, \
             template_properties) \
             SELECT $1, position, kind, before_name, before_properties, before_origin, \
             before_template_properties FROM package_change_items \
             WHERE change_id = $2 AND op = $3 \
             ON CONFLICT (tenant_id, position) DO NOTHING",
        ),
    ];
    for (op, sql) in statements {
        sqlx::query(sql)
            .bind(&change.tenant_id)
            .bind(&change.id)
            .bind(op.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn lock_change(
    store: &Store,
    tx: &mut Tx,
    change_id: &str,
) -> Result<PackageChangeRow, StoreError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {CHANGE_COLUMNS} FROM package_changes WHERE id = $1{}",
        store.lock_clause()
    )))
    .bind(change_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NotFound)
}

impl Store {
    /// What changing a tenant's package to a template version would do, changing nothing.
    /// `NotFound` for an unknown tenant, template or version; `Conflict::PackageChange` when
    /// it cannot be made.
    pub async fn plan_package_change(
        &self,
        tenant_id: &str,
        template_id: &str,
        version: Option<i64>,
    ) -> Result<PlannedChange, StoreError> {
        // A read: it locks nothing.
        let mut tx = crate::WriteTx::pooled(self.pool.begin().await?);
        let planned = plan_in(self, &mut tx, tenant_id, (template_id, version), false).await?;
        tx.rollback().await?;
        Ok(planned)
    }

    /// Accepts a change of package: its plan, made now, is stored with it, its audit entry
    /// and its job, in one transaction.
    pub async fn start_package_change(
        &self,
        new: &NewPackageChange<'_>,
        now: i64,
    ) -> Result<(PackageChangeRow, PackagePlan), StoreError> {
        let mut tx = self.begin_write().await?;
        let target = (new.template_id, new.version);
        let planned = plan_in(self, &mut tx, new.tenant_id, target, true).await?;
        sqlx::query(
            "INSERT INTO package_changes (id, tenant_id, from_template_id, from_version, \
             to_template_id, to_version, status, steps_done, requested_by, created_at) \
             SELECT $1, id, template_id, template_version, $2, $3, $4, 0, $5, $6 \
             FROM tenants WHERE id = $7",
        )
        .bind(new.id)
        .bind(&planned.template_id)
        .bind(planned.version)
        .bind(PackageChangeStatus::Queued.as_str())
        .bind(new.requested_by)
        .bind(now)
        .bind(new.tenant_id)
        .execute(&mut *tx)
        .await?;
        insert_items(&mut tx, new.id, &planned.plan).await?;
        crate::audit::insert(&mut *tx, new.audit, now).await?;
        crate::job::enqueue_in(&mut tx, new.job, now).await?;
        let row = lock_change(self, &mut tx, new.id).await?;
        tx.commit().await?;
        Ok((row, planned.plan))
    }

    /// Carries out the change's next step in one transaction that also counts it done, so a
    /// step happens once or not at all. The last one switches the tenant's template and
    /// completes the change, with `completed` in the audit log.
    pub async fn run_package_change_step(
        &self,
        change_id: &str,
        audits: &ChangeAudits<'_>,
        now: i64,
    ) -> Result<ChangeStepOutcome, StoreError> {
        let mut tx = self.begin_write().await?;
        let change = lock_change(self, &mut tx, change_id).await?;
        if !change.status.is_open() {
            return Ok(ChangeStepOutcome::NotOpen);
        }
        // A tenant suspended, closed or being purged meanwhile keeps its objects as they were.
        if let Some(status) = shut_meanwhile(self, &mut tx, &change.tenant_id).await? {
            let error = format!(
                "the tenant was {status} before the change was done; everything it did was undone"
            );
            fail_in(&mut tx, &change, &error, audits.failed, now).await?;
            tx.commit().await?;
            return Ok(ChangeStepOutcome::Undone(status));
        }
        let index = usize::try_from(change.steps_done).map_err(|e| StoreError::Other(e.into()))?;
        let Some(&step) = PackageChangeStep::ALL.get(index) else {
            return Err(StoreError::Other(anyhow::anyhow!(
                "package change {change_id} is open with every step done"
            )));
        };
        match step.op() {
            Some(op) => apply(&mut tx, &change, op).await?,
            None => switch_template(&mut tx, &change).await?,
        }
        let last = index + 1 == PackageChangeStep::ALL.len();
        let status = if last {
            PackageChangeStatus::Completed
        } else {
            PackageChangeStatus::Running
        };
        sqlx::query(
            "UPDATE package_changes SET steps_done = steps_done + 1, status = $1, \
             started_at = COALESCE(started_at, $2), \
             finished_at = CASE WHEN $1 = $3 THEN $2 ELSE NULL END WHERE id = $4",
        )
        .bind(status.as_str())
        .bind(now)
        .bind(PackageChangeStatus::Completed.as_str())
        .bind(change_id)
        .execute(&mut *tx)
        .await?;
        if last {
            crate::audit::insert(&mut *tx, audits.completed, now).await?;
            let told = portal_domain::EventType::TenantPackageChanged;
            crate::webhook::emit(&mut tx, told, (&change.tenant_id, None), now).await?;
        }
        tx.commit().await?;
        Ok(if last {
            ChangeStepOutcome::Completed
        } else {
            ChangeStepOutcome::Done(step)
        })
    }

    /// A tenant's change of package.
    pub async fn get_package_change(
        &self,
        tenant_id: &str,
        change_id: &str,
    ) -> Result<PackageChangeRow, StoreError> {
        let change = self.find_package_change(change_id).await?;
        if change.tenant_id != tenant_id {
            return Err(StoreError::NotFound);
        }
        Ok(change)
    }

    /// The tenant's objects with their origins and fingerprints, in order.
    pub async fn tenant_objects_with_origins(
        &self,
        tenant_id: &str,
    ) -> Result<Vec<TenantObject>, StoreError> {
        let mut tx = crate::WriteTx::pooled(self.pool.begin().await?);
        let objects = tenant_objects(&mut tx, tenant_id).await?;
        tx.rollback().await?;
        Ok(objects)
    }

    /// A change of package, whichever tenant's.
    pub async fn find_package_change(
        &self,
        change_id: &str,
    ) -> Result<PackageChangeRow, StoreError> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CHANGE_COLUMNS} FROM package_changes WHERE id = $1"
        )))
        .bind(change_id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// A tenant's changes of package, newest first.
    pub async fn list_package_changes(
        &self,
        tenant_id: &str,
    ) -> Result<Vec<PackageChangeRow>, StoreError> {
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CHANGE_COLUMNS} FROM package_changes WHERE tenant_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT 20"
        )))
        .bind(tenant_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// What a change does with each object, in the plan's order.
    pub async fn package_change_items(&self, change_id: &str) -> Result<PackagePlan, StoreError> {
        let rows: Vec<ItemRow> = sqlx::query_as(
            "SELECT op, position, kind, name, properties, origin, before_name, \
             before_properties, before_origin, before_template_properties \
             FROM package_change_items WHERE change_id = $1 ORDER BY seq",
        )
        .bind(change_id)
        .fetch_all(&self.pool)
        .await?;
        let items = rows.into_iter().map(ItemRow::into_item).collect();
        Ok(PackagePlan { items })
    }

    /// Changes the properties of one of a tenant's objects (found by kind and name), with its
    /// audit entry. Refused while the tenant is not active or a change of package is open.
    pub async fn set_object_properties(
        &self,
        tenant_id: &str,
        kind: &str,
        name: &str,
        properties: &str,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let now = crate::now_ms();
        let mut tx = self.begin_write().await?;
        let (status, ..) = lock_tenant(self, &mut tx, tenant_id, true).await?;
        if !status.is_open() {
            return Err(refused(PackageChangeRefusal::TenantNotActive(status)));
        }
        let done = sqlx::query(
            "UPDATE tenant_objects SET properties = $1 WHERE tenant_id = $2 AND kind = $3 \
             AND LOWER(name) = LOWER($4)",
        )
        .bind(properties)
        .bind(tenant_id)
        .bind(kind)
        .bind(name)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        crate::audit::insert(&mut *tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// One item as stored: what the object becomes, and what it was.
#[derive(sqlx::FromRow)]
struct ItemRow {
    #[sqlx(try_from = "String")]
    op: PlanOp,
    position: i64,
    kind: String,
    name: Option<String>,
    properties: Option<String>,
    origin: Option<String>,
    before_name: Option<String>,
    before_properties: Option<String>,
    before_origin: Option<String>,
    before_template_properties: Option<String>,
}

impl ItemRow {
    fn into_item(self) -> PlanItem {
        let after = match (self.name, self.properties, self.origin) {
            (Some(name), Some(properties), Some(origin)) => Some(TargetObject {
                kind: self.kind.clone(),
                origin,
                name,
                properties,
            }),
            _ => None,
        };
        let before = match (self.before_name, self.before_properties) {
            (Some(name), Some(properties)) => Some(TenantObject {
                position: self.position,
                kind: self.kind,
                name,
                properties,
                origin: self.before_origin,
                template_properties: self.before_template_properties,
            }),
            _ => None,
        };
        PlanItem {
            op: self.op,
            position: self.position,
            after,
            before,
        }
    }
}

/// The tenant's status when it was suspended, closed or its purge began since the change was
/// accepted (it is locked until the step ends); `None` while it is active.
async fn shut_meanwhile(
    store: &Store,
    tx: &mut Tx,
    tenant_id: &str,
) -> Result<Option<TenantStatus>, StoreError> {
    let row: Option<(String, Option<i64>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT status, purge_started_at FROM tenants WHERE id = $1{}",
        store.lock_clause()
    )))
    .bind(tenant_id)
    .fetch_optional(&mut **tx)
    .await?;
    let (status, purge_started) = row.ok_or(StoreError::NotFound)?;
    let status = status_of(status)?;
    Ok((!status.is_open() || purge_started.is_some()).then_some(status))
}

/// Undoes whatever the change did and marks it failed with `error`, with `audit`.
async fn fail_in(
    tx: &mut Tx,
    change: &PackageChangeRow,
    error: &str,
    audit: &AuditEntry,
    now: i64,
) -> Result<(), StoreError> {
    undo(tx, change).await?;
    sqlx::query(
        "UPDATE package_changes SET status = $1, finished_at = $2, error = $3 WHERE id = $4",
    )
    .bind(PackageChangeStatus::Failed.as_str())
    .bind(now)
    .bind(error)
    .bind(&change.id)
    .execute(&mut **tx)
    .await?;
    crate::audit::insert(&mut **tx, audit, now).await?;
    Ok(())
}

impl crate::job::Burial {
    /// Undoes whatever a change of package did and marks it failed with `error` (and
    /// `audit`), in the transaction that buries its job. False when it was no longer open.
    pub async fn fail_package_change(
        &mut self,
        change_id: &str,
        error: &str,
        audit: &AuditEntry,
        now: i64,
    ) -> Result<bool, StoreError> {
        let change = lock_change(&self.store, &mut self.tx, change_id).await?;
        if !change.status.is_open() {
            return Ok(false);
        }
        fail_in(&mut self.tx, &change, error, audit, now).await?;
        Ok(true)
    }
}
