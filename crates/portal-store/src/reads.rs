//! What intake reads before it hashes, together.

use portal_domain::NameKind;
use sqlx::FromRow;

use crate::batch::Batch;
use crate::names::{FIRST_TAKEN, Names, first_of, first_taken_values};
use crate::setting::SETTING;
use crate::template::{TEMPLATE_BY_ID, TemplateRow};
use crate::{Store, StoreError};

/// What a submission needs read before its password is hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeReads {
    /// The template it names, if there is one of that id.
    pub template: Option<TemplateRow>,
    /// The setting asked for (the provisioning policy), if it was ever set.
    pub setting: Option<String>,
    /// The first of its names that another request or a tenant holds (a lapsed hold counts as
    /// free). A duplicate is refused before its password is hashed, without a transaction of
    /// its own; the storing transaction takes the names for good and refuses them again if
    /// another request took one meanwhile.
    pub taken: Option<NameKind>,
}

impl Store {
    /// The template of `template_id`, the setting under `key` and the first of `names` another
    /// holds at `now`, read on one connection as one batch: on SQLite one round trip to its
    /// thread, where reads made apart cost a round trip each (and on a connection of the
    /// pool's, which tests it as it comes back, a return each).
    pub async fn intake_reads(
        &self,
        template_id: &str,
        key: &str,
        names: &Names<'_>,
        now: i64,
    ) -> Result<IntakeReads, StoreError> {
        use crate::batch::Binds;
        let mut batch = Batch::new(self.backend);
        batch.push(&TEMPLATE_BY_ID).with(template_id);
        batch.push(SETTING).with(key);
        first_taken_values(batch.push(FIRST_TAKEN), names, now);
        let mut conn = self.read_conn().await?;
        let outcomes = batch.run(&mut conn).await?;
        let [template, setting, taken] = <[_; 3]>::try_from(outcomes)
            .map_err(|_| StoreError::Other(anyhow::anyhow!("three reads, other answers")))?;
        Ok(IntakeReads {
            template: template
                .rows
                .first()
                .map(TemplateRow::from_row)
                .transpose()?,
            setting: setting
                .rows
                .first()
                .map(|row| sqlx::Row::try_get(row, 0))
                .transpose()?,
            taken: first_of(names, &taken.rows)?,
        })
    }
}
