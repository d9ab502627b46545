//! Routes the `log` crate's records to a C callback or to stderr.

use std::ffi::{c_void, CString};
use std::sync::RwLock;

use super::edgeclass_log_fn;
use crate::error::{invalid_argument, Result};

struct Target {
    callback: edgeclass_log_fn,
    // The C caller's pointer, passed back verbatim; kept as an integer so the logger is Sync.
    user_data: usize,
}

static TARGET: RwLock<Target> = RwLock::new(Target {
    callback: None,
    user_data: 0,
});

struct Logger;

static LOGGER: Logger = Logger;

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let target = TARGET.read().unwrap_or_else(|p| p.into_inner());
        let level = record.level() as i32;
        let mut text = format!("{}", record.args());
        // Lines from the decoders do not know the service: prefix them like the service's own.
        if !text.starts_with('[') {
            if let Some(name) = crate::service::log_context() {
                text = format!("[{name}] {text}");
            }
        }
        match target.callback {
            Some(cb) => {
                // Interior NULs would cut the message short in C: replace them.
                if let Ok(c) = CString::new(text.replace('\0', "\\0")) {
                    cb(target.user_data as *mut c_void, level, c.as_ptr());
                }
            }
            None => eprintln!("edgeclass {}: {text}", record.level()),
        }
    }

    fn flush(&self) {}
}

fn level_filter(max_level: i32) -> Result<log::LevelFilter> {
    Ok(match max_level {
        0 => log::LevelFilter::Off,
        1 => log::LevelFilter::Error,
        2 => log::LevelFilter::Warn,
        3 => log::LevelFilter::Info,
        4 => log::LevelFilter::Debug,
        5 => log::LevelFilter::Trace,
        other => return Err(invalid_argument(format!("log level {other} is not 0..=5"))),
    })
}

/// Install (or retarget) the logger. If the host program already installed another `log`
/// logger, edgeclass's records go to that one and this call only sets the level.
pub fn install(callback: edgeclass_log_fn, user_data: *mut c_void, max_level: i32) -> Result<()> {
    let filter = level_filter(max_level)?;
    *TARGET.write().unwrap_or_else(|p| p.into_inner()) = Target {
        callback,
        user_data: user_data as usize,
    };
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(filter);
    Ok(())
}

/// Warnings and errors to stderr unless the host chose otherwise (called when a service opens).
pub fn install_default() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
}
