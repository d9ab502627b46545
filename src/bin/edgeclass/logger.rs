//! The CLI's `log` records to stderr (`edgeclass serve` logs what it serves and each failure).

struct Stderr;

static LOGGER: Stderr = Stderr;

impl log::Log for Stderr {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let text = record.args().to_string();
        // Lines from the library's decoders do not know their service: prefix them as its own.
        match edgeclass::service::log_context().filter(|_| !text.starts_with('[')) {
            Some(name) => eprintln!("edgeclass {}: [{name}] {text}", record.level()),
            None => eprintln!("edgeclass {}: {text}", record.level()),
        }
    }

    fn flush(&self) {}
}

/// Install the logger at `level` (`EDGECLASS_LOG=warn|info|debug|...` overrides it).
pub fn install(level: log::LevelFilter) {
    let level = std::env::var("EDGECLASS_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(level);
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}
