//! systemd's readiness protocol (`sd_notify`): a datagram to `$NOTIFY_SOCKET`, a path or an
//! abstract socket written `@name`. Without the variable nothing is sent.

use std::os::unix::net::UnixDatagram;

/// Send `state` (`READY=1`, `STOPPING=1`) to the service manager, if there is one.
pub fn notify(state: &str) {
    let Some(target) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(e) = send(&target, state) {
        log::warn!(
            "sd_notify {state} to NOTIFY_SOCKET={}: {e}",
            target.to_string_lossy()
        );
    }
}

fn send(target: &std::ffi::OsStr, state: &str) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let socket = UnixDatagram::unbound()?;
    let bytes = target.as_bytes();
    match bytes.strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            socket.send_to_addr(state.as_bytes(), &addr)?;
        }
        None => {
            socket.send_to(state.as_bytes(), target)?;
        }
    }
    Ok(())
}
