//! What a fresh install starts with: the seeded templates and the first landlord administrator.

use portal_store::template::NewTemplate;
use portal_store::user::NewUser;
use portal_store::{Conflict, StoreError};

use super::{ServiceError, Services};

/// The templates a fresh install offers, carried in the binary.
const SEEDED_TEMPLATES: [&str; 2] = [
    include_str!("../../seed/voice-essentials.json"),
    include_str!("../../seed/omnichannel-smart-queues.json"),
];

fn parse_template(text: &str) -> anyhow::Result<NewTemplate> {
    super::template::parse_file(text).map_err(|problems| {
        anyhow::anyhow!(
            "a seeded template is invalid: {}",
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )
    })
}

/// Stores the seeded templates when the database has none. Returns how many were stored.
pub async fn seed_templates(services: &Services) -> Result<usize, ServiceError> {
    if services.store.count_templates().await? > 0 {
        return Ok(0);
    }
    let mut stored = 0;
    for text in SEEDED_TEMPLATES {
        let template = parse_template(text).map_err(ServiceError::Internal)?;
        match services.store.create_template(&template, None).await {
            // Another process seeding at the same moment already stored it.
            Ok(()) => stored += 1,
            Err(StoreError::Conflict(Conflict::TemplateIdTaken)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(stored)
}

/// What happened to the first landlord administrator at start.
#[derive(PartialEq, Eq)]
pub enum FirstAdmin {
    /// One exists already.
    Exists,
    /// Created with the configured password.
    Created,
    /// Created with this generated password, to be shown once.
    CreatedWithPassword(String),
}

impl std::fmt::Debug for FirstAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Exists => "Exists",
            Self::Created => "Created",
            Self::CreatedWithPassword(_) => "CreatedWithPassword(..)",
        })
    }
}

/// Creates the landlord administrator when there is none yet.
pub async fn ensure_landlord(
    services: &Services,
    username: &str,
    password: Option<&str>,
) -> Result<FirstAdmin, ServiceError> {
    if services.store.landlord_exists().await? {
        return Ok(FirstAdmin::Exists);
    }
    let (password, generated) = match password {
        Some(p) => (p.to_owned(), false),
        None => (crate::token::random_password(), true),
    };
    let hash = services
        .hasher
        .hash(password.clone())
        .await?
        .map_err(ServiceError::Internal)?;
    let user = NewUser {
        id: portal_store::new_id(),
        username: username.to_owned(),
        password_hash: hash,
        role: portal_domain::Role::LandlordAdmin,
        tenant_id: None,
        email: None,
        status: portal_domain::AccountStatus::Active,
        must_change_password: false,
    };
    match services.store.create_user(&user).await {
        Ok(()) => {}
        // A concurrent first start created it.
        Err(StoreError::Conflict(Conflict::UserNameTaken)) => return Ok(FirstAdmin::Exists),
        Err(e) => return Err(e.into()),
    }
    Ok(if generated {
        FirstAdmin::CreatedWithPassword(password)
    } else {
        FirstAdmin::Created
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeded_templates_parse_and_carry_the_five_permission_profiles() {
        for text in SEEDED_TEMPLATES {
            let t = parse_template(text).unwrap();
            let profiles: Vec<&str> = t
                .objects
                .iter()
                .filter(|o| o.kind == "permission_profile")
                .map(|o| o.name.as_str())
                .collect();
            assert_eq!(
                profiles,
                [
                    "Administrator",
                    "Administrator and Agent",
                    "Administrator and Supervisor",
                    "Agent",
                    "Supervisor"
                ],
                "{}",
                t.id
            );
        }
    }
}
