pub use sea_orm_migration::prelude::*;

mod m20261122_000001_foundation;
mod m20261122_000002_meetings;
mod m20261129_000003_task_requests;
mod m20261130_000004_bot_ended;
mod m20261205_000005_agents;
mod m20261206_000006_broadcasts;
mod m20261206_000007_media;
mod m20261207_000008_whatsapp_devices;
mod m20261208_000008_webhooks;
mod m20261209_000009_webhook_retention;
mod shape;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_foundation::Migration),
            Box::new(m20261122_000002_meetings::Migration),
            Box::new(m20261129_000003_task_requests::Migration),
            Box::new(m20261130_000004_bot_ended::Migration),
            Box::new(m20261205_000005_agents::Migration),
            Box::new(m20261206_000006_broadcasts::Migration),
            Box::new(m20261206_000007_media::Migration),
            Box::new(m20261207_000008_whatsapp_devices::Migration),
            Box::new(m20261208_000008_webhooks::Migration),
            Box::new(m20261209_000009_webhook_retention::Migration),
        ]
    }
}
