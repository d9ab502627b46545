//! The daemon's services: every connector of the services file, opened once at start. A service
//! that could not be opened (its entry is wrong, its parameters break a rule, its model does not
//! load or fit) stays in the table with its error, which its requests get, every time the same.

use std::path::Path;
use std::sync::Arc;

use edgeclass::feedback::{self, Feedback};
use edgeclass::service::definition::{self, Kind};
use edgeclass::{Error, Result, Service};

use super::metrics::ServiceMetrics;

/// One service of the file.
pub struct Entry {
    /// Its connector, as messages name it: `Connectors[1] (Id "x")`.
    pub connector: String,
    /// Its `LocalInferenceServiceName`, when readable.
    pub name: Option<String>,
    /// The open service, or why it is not.
    pub service: std::result::Result<Arc<Service>, Error>,
    /// Its counters.
    pub metrics: ServiceMetrics,
    /// Room for request bodies held at once (read, waiting or classified), KiB: twice its
    /// workers' image budgets, so bodies never hold more than that whatever the connections.
    pub bodies: Option<BodyRoom>,
}

/// A service's room for request bodies, in KiB permits.
pub struct BodyRoom {
    /// The permits.
    pub room: Arc<tokio::sync::Semaphore>,
    /// How many there are.
    pub kib: u32,
}

impl BodyRoom {
    fn for_service(s: &Service) -> BodyRoom {
        let b = s.budget();
        // Whole KiB per body, as each request reserves them.
        let kib = 2 * b.workers.max(1) * b.image_bytes.div_ceil(1024);
        BodyRoom::of_kib(kib.clamp(1, u32::MAX as u64) as u32)
    }

    fn of_kib(kib: u32) -> BodyRoom {
        BodyRoom {
            room: Arc::new(tokio::sync::Semaphore::new(kib as usize)),
            kib,
        }
    }
}

/// One ML Feedback connector of the file.
pub struct FeedbackEntry {
    /// Its connector, as messages name it.
    pub connector: String,
    /// Its `Id` (else `Connectors[i]`): its label in `/metrics`.
    pub id: String,
    /// The open connector, or why it is not.
    pub feedback: std::result::Result<Arc<Feedback>, Error>,
}

/// Everything the file asked for.
pub struct Daemon {
    /// The services, in file order.
    pub services: Vec<Entry>,
    /// The ML Feedback connectors, in file order.
    pub feedback: Vec<FeedbackEntry>,
    /// Room for `publish` bodies held at once, in KiB: twice `feedback::PUBLISH_BODY_MAX`.
    pub publish_bodies: BodyRoom,
}

impl Daemon {
    /// Read the services file and open every connector in it (feedback connectors first, so
    /// the services' first classifications find them). Fails only when the file cannot be read
    /// or is not a connector definition; each connector's own failure is logged and kept.
    pub fn open(path: &Path) -> Result<Daemon> {
        let connectors = definition::read(path)?;
        let mut daemon = Daemon {
            services: Vec::new(),
            feedback: Vec::new(),
            publish_bodies: BodyRoom::of_kib((2 * super::feedback::PUBLISH_BODY_MAX / 1024) as u32),
        };
        for c in connectors.iter().filter(|c| c.kind == Kind::Feedback) {
            let connector = c.label();
            let opened = c
                .parameters
                .clone()
                .and_then(|p| feedback::registry::open(&p).map_err(|e| e.context(&connector)));
            match &opened {
                Ok(_) => log::info!("ML Feedback connector {connector} opened"),
                Err(e) => log::error!("ML Feedback connector {connector}: {e}"),
            }
            daemon.feedback.push(FeedbackEntry {
                id: c
                    .id
                    .clone()
                    .unwrap_or_else(|| format!("Connectors[{}]", c.index)),
                connector,
                feedback: opened,
            });
        }
        for c in connectors.iter().filter(|c| c.kind == Kind::Service) {
            let connector = c.label();
            let opened = c
                .parameters
                .clone()
                .and_then(|p| feedback::open_registered(&p).map_err(|e| e.context(&connector)));
            let shown = c.name.as_deref().unwrap_or("(no name)");
            match &opened {
                Ok(s) => log::info!(
                    "service {shown} ({connector}) serves {}",
                    s.model().info.origin
                ),
                Err(e) => log::error!("service {shown} ({connector}) cannot serve: {e}"),
            }
            daemon.services.push(Entry {
                connector,
                name: c.name.clone(),
                bodies: opened.as_ref().ok().map(|s| BodyRoom::for_service(s)),
                service: opened,
                metrics: ServiceMetrics::default(),
            });
        }
        Ok(daemon)
    }

    /// The entry that serves `name` (the first of the file with that name).
    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.services
            .iter()
            .find(|e| e.name.as_deref() == Some(name))
    }

    /// The names of the services, in file order.
    pub fn names(&self) -> Vec<&str> {
        self.services
            .iter()
            .filter_map(|e| e.name.as_deref())
            .collect()
    }

    /// Whether every service and feedback connector of the file is open.
    pub fn all_loaded(&self) -> bool {
        self.services.iter().all(|e| e.service.is_ok())
            && self.feedback.iter().all(|f| f.feedback.is_ok())
    }

    /// The longest timeout of the services (how long a drain may take).
    pub fn longest_timeout(&self) -> std::time::Duration {
        self.services
            .iter()
            .filter_map(|e| e.service.as_ref().ok())
            .map(|s| s.config().timeout)
            .max()
            .unwrap_or_default()
    }
}
