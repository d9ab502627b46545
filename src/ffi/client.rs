//! `edgeclass_client`: the ML SDK's call answered by the `edgeclass serve` daemon.

use std::ffi::c_char;
use std::path::Path;
use std::time::Duration;

use super::boundary::*;
use super::classify::{edgeclass_result, result};
use super::edgeclass_status;
use super::request::edgeclass_request;
use crate::client::Client;

/// A client of the `edgeclass serve` daemon (one Unix socket). Thread-safe: any number of threads
/// may call `edgeclass_client_invoke` on the same handle at once; each uses its own connection,
/// kept open for the next call. Lifetime: from `edgeclass_client_new` until
/// `edgeclass_client_free`.
pub struct edgeclass_client {
    client: Client,
}

/// A client of the daemon listening on `socket_path` (NULL or "": `$EDGECLASS_SOCKET`, else
/// `/run/edgeclass/edgeclass.sock`) that waits at most `timeout_ms` for each answer (0: 60 s).
/// Nothing is connected yet: a daemon that is not running fails the first call
/// (`EDGECLASS_UNAVAILABLE`), not this one. On success `*out` is a new handle.
///
/// # Safety
/// `socket_path` is NULL or a NUL-terminated string; `out` is valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_client_new(
    socket_path: *const c_char,
    timeout_ms: u64,
    out: *mut *mut edgeclass_client,
) -> edgeclass_status {
    guard(|| {
        // SAFETY: caller contract.
        unsafe {
            give_handle(out, || {
                let path = if socket_path.is_null() {
                    None
                } else {
                    Some(text(socket_path, "socket_path")?).filter(|p| !p.is_empty())
                };
                Ok(edgeclass_client {
                    client: Client::new(path.map(Path::new), Duration::from_millis(timeout_ms)),
                })
            })
        }
    })
}

/// `edgeclass_invoke`, answered by the daemon: the same arguments, checks, codes and result
/// (probabilities and the connector's body; the stats hold only `wait_us`, the round trip).
/// The daemon's refusals keep their codes and messages; `EDGECLASS_UNAVAILABLE` when the
/// daemon cannot be reached or closes the connection before answering, `EDGECLASS_TIMEOUT`
/// when it does not answer in time. `request` may be NULL; its timeout (when shorter than the
/// client's) bounds the wait, and a cancelled request is not sent.
///
/// # Safety
/// `client` is a live handle; the other arguments as for `edgeclass_invoke`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_client_invoke(
    client: *const edgeclass_client,
    algo_type: *const c_char,
    service_name: *const c_char,
    content_type: *const c_char,
    body: *const u8,
    body_len: usize,
    request: *const edgeclass_request,
    out: *mut *mut edgeclass_result,
) -> edgeclass_status {
    guard(|| {
        // SAFETY: caller contract for each pointer.
        unsafe {
            give_handle(out, || {
                let (c, algo, name, ct, bytes, req) = (
                    handle(client, "client")?,
                    text(algo_type, "algo_type")?,
                    text(service_name, "service_name")?,
                    text(content_type, "content_type")?,
                    bytes(body, body_len, "body", "body_len")?,
                    request.as_ref(),
                );
                c.client
                    .invoke(algo, name, ct, bytes, req.map(|r| &r.request))
                    .map(result)
            })
        }
    })
}

/// Free a client and close its connections (NULL is fine).
///
/// # Safety
/// `client` is NULL or a handle from this library, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn edgeclass_client_free(client: *mut edgeclass_client) {
    guard_value((), || {
        // SAFETY: caller contract.
        drop(unsafe { take_handle(client) });
    })
}
