//! The listeners: the Unix socket (mode 0660 before it listens; a stale file replaced only when
//! nothing answers on it) and the optional TCP address (loopback unless allowed otherwise).

use std::net::{SocketAddr, ToSocketAddrs};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use edgeclass::error::invalid_argument;
use edgeclass::{Error, Result};

/// Connections waiting to be accepted.
const BACKLOG: u32 = 1024;

fn socket_error(path: &Path, what: String) -> Error {
    invalid_argument(format!(
        "socket {}: {what}; choose another path with --socket PATH (or {})",
        path.display(),
        super::SOCKET_ENV
    ))
}

/// Bind the Unix socket at `path`, owner and group only (0660), then listen.
pub fn unix(path: &Path) -> Result<tokio::net::UnixListener> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(socket_error(
            path,
            format!(
                "the directory {} does not exist (systemd creates /run/edgeclass with RuntimeDirectory=edgeclass)",
                dir.display()
            ),
        ));
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(socket_error(path, "exists and is not a socket".into()));
        }
        // Another daemon answering there keeps its socket; a dead one's file is replaced.
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(socket_error(
                    path,
                    "another process is serving on it".into(),
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                log::info!("removing the stale socket {}", path.display());
                std::fs::remove_file(path).map_err(|e| {
                    socket_error(path, format!("cannot remove the stale socket: {e}"))
                })?;
            }
            Err(e) => return Err(socket_error(path, format!("cannot check it: {e}"))),
        }
    }
    let socket = tokio::net::UnixSocket::new_stream()
        .map_err(|e| socket_error(path, format!("cannot create a socket: {e}")))?;
    socket
        .bind(path)
        .map_err(|e| socket_error(path, format!("cannot bind it in {} ({e})", dir.display())))?;
    // Before listen(): nobody can connect yet, so no one gets in while the mode is wider.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| socket_error(path, format!("cannot set its mode to 0660: {e}")))?;
    socket
        .listen(BACKLOG)
        .map_err(|e| socket_error(path, format!("cannot listen on it: {e}")))
}

/// The TCP address of `--http HOST:PORT`: every address it resolves to must be loopback unless
/// `allow_remote`.
pub fn tcp_address(spec: &str, allow_remote: bool) -> Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = spec
        .to_socket_addrs()
        .map_err(|e| invalid_argument(format!("--http {spec}: not a HOST:PORT address ({e})")))?
        .collect();
    let Some(first) = addrs.first().copied() else {
        return Err(invalid_argument(format!(
            "--http {spec}: resolves to no address"
        )));
    };
    if !allow_remote {
        if let Some(remote) = addrs.iter().find(|a| !a.ip().is_loopback()) {
            return Err(invalid_argument(format!(
                "--http {spec}: {} is not a loopback address; the daemon has no authentication, so other hosts may reach it only with --http-allow-remote",
                remote.ip()
            )));
        }
    }
    Ok(first)
}

/// Listen on `addr`.
pub async fn tcp(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| invalid_argument(format!("--http {addr}: cannot listen: {e}")))
}

/// Removes the socket file when the daemon ends.
pub struct RemoveOnDrop(pub PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
