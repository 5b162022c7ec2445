//! One test's own services (zero2prod's `spawn_app`): the real binaries started on a fresh,
//! migrated database and a Redis namespace of their own, so a test that touches every row of a
//! database (expiry, retention) neither sees nor changes the other tests' data. Everything is
//! killed and dropped when the test ends, pass or fail.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::db::{self, FreshDb};
use crate::process::{Service, spawn_ready};

/// A test's own app: its services (stopped first on drop), its database and its namespace.
#[derive(Debug)]
pub struct TestApp {
    services: Vec<Service>,
    /// The test's database (dropped after the services).
    pub db: FreshDb,
    /// The test's Redis namespace.
    pub namespace: String,
    /// A client for the services.
    pub http: reqwest::Client,
}

impl TestApp {
    /// A fresh migrated database and namespace for `test`, or `None` (skipped) without a stack.
    pub async fn new(test: &str) -> Option<Self> {
        let db = db::migrated(test).await?;
        let namespace = format!("{test}-{}", uuid::Uuid::new_v4().simple());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        Some(Self {
            services: Vec::new(),
            db,
            namespace,
            http,
        })
    }

    /// Points `cmd` at this app's database and namespace, with no maintenance timer and no
    /// retention (the test runs maintenance itself), its output discarded.
    pub fn isolate<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("TP_CAPITAL_DATABASE_URL", &self.db.url)
            .env("TP_CAPITAL_MIGRATE_DATABASE_URL", &self.db.url)
            .env("TP_CAPITAL_REDIS_NAMESPACE", &self.namespace)
            .env("TP_CAPITAL_MAINTENANCE_INTERVAL_SECS", "0")
            .env("TP_CAPITAL_MESSAGE_RETENTION_DAYS", "0")
            .env("TP_CAPITAL_SIGNAL_RETENTION_DAYS", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
    }

    /// Starts `cmd`, isolated, on a free port (its address in `bind_var`) and waits until it is
    /// ready; returns its base URL. The process lives as long as the app.
    pub async fn spawn(&mut self, mut cmd: Command, bind_var: &str) -> String {
        self.isolate(&mut cmd);
        let (service, url) = spawn_ready(&self.http, cmd, bind_var).await;
        self.services.push(service);
        url
    }
}
