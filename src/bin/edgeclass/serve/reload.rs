//! `POST /services/{name}/reload` and SIGHUP: a new model for a service, through the library's
//! hot swap (`Service::reload`).

use std::sync::Arc;

use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};

use http_body_util::Full;

use super::state::Daemon;

/// `POST /services/{name}/reload`.
pub async fn route(
    daemon: &Arc<Daemon>,
    name: &str,
    _req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let _ = (daemon, name);
    // NOTE: waits for Service::reload on main (issue 17 item 4); see the commit message.
    super::http::error(&edgeclass::Error::new(
        edgeclass::Code::Unsupported,
        "reload is not in this build yet",
    ))
}

/// SIGHUP: reload every service from its own model path.
pub fn reload_all(_daemon: &Daemon) {}
