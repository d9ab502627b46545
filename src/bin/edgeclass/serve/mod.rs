//! `edgeclass serve`: one process serving every service (and ML Feedback connector) of a
//! services file over HTTP/1.1, on a Unix socket and optionally TCP.
//!
//! Layout: `state` opens the services; `http` routes requests to them (classification on
//! tokio's blocking pool, never on the I/O workers); `status` is the error code → HTTP status
//! table; `metrics` the Prometheus text; `feedback` the ML Feedback uploads and `publish`; `reload` the hot swap; `watch` reloads when a model's files change
//! (`--watch-models`); `notify` sd_notify. This module
//! binds the listeners and runs the lifecycle: load → listen → `READY=1` → serve → SIGTERM or
//! SIGINT → `STOPPING=1`, stop accepting, drain the requests in flight → exit 0.

mod feedback;
mod http;
mod listen;
mod metrics;
mod notify;
mod reload;
mod state;
pub mod status;
mod watch;

use std::future::Future;
use std::pin::pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Semaphore;

use crate::args::ServeArgs;
use state::Daemon;

/// The default socket, unless `$EDGECLASS_SOCKET` names another.
pub const DEFAULT_SOCKET: &str = "/run/edgeclass/edgeclass.sock";
/// The environment variable naming the socket.
pub const SOCKET_ENV: &str = "EDGECLASS_SOCKET";

/// What every connection is served with.
struct Shared {
    daemon: Arc<Daemon>,
    header_read_timeout: Duration,
}

/// `edgeclass serve`.
pub fn run(args: &ServeArgs) -> ExitCode {
    crate::logger::install(log::LevelFilter::Info);
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            eprintln!("edgeclass: error: {e}");
            ExitCode::from(1)
        }
    }
}

fn serve(args: &ServeArgs) -> edgeclass::Result<()> {
    let socket_path = match (&args.socket, std::env::var_os(SOCKET_ENV)) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) if !p.is_empty() => p.into(),
        _ => DEFAULT_SOCKET.into(),
    };
    let tcp = args
        .http
        .as_deref()
        .map(|a| listen::tcp_address(a, args.http_allow_remote))
        .transpose()?;
    // One I/O thread: the async side only parses, reads bodies and writes answers (the work
    // runs on blocking threads), and with one thread a request is not handed between two I/O
    // workers (each handoff a thread wake-up on the request's path).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .thread_name("edgeclass-io")
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| edgeclass::error::internal(format!("cannot start the I/O runtime: {e}")))?;
    // Listeners first: a socket that cannot be bound fails before models are loaded. Clients
    // that connect during the load wait in the backlog.
    let (unix, tcp) = runtime.block_on(async {
        let unix = listen::unix(&socket_path)?;
        let tcp = match tcp {
            Some(addr) => Some(listen::tcp(addr).await?),
            None => None,
        };
        edgeclass::Result::Ok((unix, tcp))
    })?;
    let _socket_file = listen::RemoveOnDrop(socket_path.clone());
    log::info!("listening on {}", socket_path.display());
    if let Some(t) = &tcp {
        log::info!(
            "listening on http://{}",
            t.local_addr()
                .map_or_else(|e| e.to_string(), |a| a.to_string())
        );
    }
    let daemon = Arc::new(Daemon::open(&args.config)?);
    feedback::start(
        &daemon,
        args.feedback_upload_command.as_deref(),
        Duration::from_secs_f64(args.feedback_upload_timeout),
    )?;
    let loaded = daemon.services.iter().filter(|e| e.service.is_ok()).count();
    log::info!(
        "{loaded} of {} service(s) serving{}",
        daemon.services.len(),
        if daemon.all_loaded() {
            ""
        } else {
            "; GET /ping answers 503 until every one is"
        }
    );
    let shared = Arc::new(Shared {
        daemon: daemon.clone(),
        header_read_timeout: Duration::from_secs_f64(args.header_read_timeout),
    });
    let watch = args.watch_models.map(Duration::from_secs_f64);
    runtime.block_on(lifecycle(shared, unix, tcp, args.max_connections, watch));
    Ok(())
}

async fn lifecycle(
    shared: Arc<Shared>,
    unix: tokio::net::UnixListener,
    tcp: Option<tokio::net::TcpListener>,
    max_connections: usize,
    watch: Option<Duration>,
) {
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        log::error!("cannot install the signal handlers");
        return;
    };
    let graceful = Arc::new(GracefulShutdown::new());
    let permits = Arc::new(Semaphore::new(max_connections));
    let mut loops = vec![tokio::spawn(accept_loop(
        shared.clone(),
        graceful.clone(),
        permits.clone(),
        Listener::Unix(unix),
    ))];
    if let Some(t) = tcp {
        loops.push(tokio::spawn(accept_loop(
            shared.clone(),
            graceful.clone(),
            permits,
            Listener::Tcp(t),
        )));
    }
    let daemon = shared.daemon.clone();
    let reloads = tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let d = daemon.clone();
            log::info!("SIGHUP: reloading every service");
            let _ = tokio::task::spawn_blocking(move || reload::reload_all(&d)).await;
        }
    });
    let watcher = watch.map(|every| tokio::spawn(watch::run(shared.daemon.clone(), every)));
    notify::notify("READY=1");
    let which = first(term.recv(), int.recv()).await;
    log::info!(
        "{}: no new connections; finishing the requests in flight",
        if which { "SIGTERM" } else { "SIGINT" }
    );
    notify::notify("STOPPING=1");
    for l in &loops {
        l.abort();
    }
    for l in loops {
        let _ = l.await;
    }
    reloads.abort();
    if let Some(w) = &watcher {
        w.abort();
    }
    let graceful = match Arc::try_unwrap(graceful) {
        Ok(g) => g,
        Err(_) => {
            log::error!("connections still being accepted; exiting without a drain");
            return;
        }
    };
    // Each request ends by its own deadline; the bound only guards against a bug.
    let bound =
        shared.daemon.longest_timeout() + shared.header_read_timeout + Duration::from_secs(5);
    if tokio::time::timeout(bound, graceful.shutdown())
        .await
        .is_err()
    {
        log::error!("requests still running {bound:?} after the signal; exiting anyway");
    } else {
        log::info!("every request finished; exiting");
    }
}

/// Wait for either future; true when the first finished first.
async fn first<A: Future, B: Future>(a: A, b: B) -> bool {
    let (mut a, mut b) = (pin!(a), pin!(b));
    std::future::poll_fn(|cx| {
        if a.as_mut().poll(cx).is_ready() {
            Poll::Ready(true)
        } else if b.as_mut().poll(cx).is_ready() {
            Poll::Ready(false)
        } else {
            Poll::Pending
        }
    })
    .await
}

enum Listener {
    Unix(tokio::net::UnixListener),
    Tcp(tokio::net::TcpListener),
}

/// Accept connections while a permit is free (excess clients wait in the backlog), each
/// served on its own task and watched for the graceful shutdown.
async fn accept_loop(
    shared: Arc<Shared>,
    graceful: Arc<GracefulShutdown>,
    permits: Arc<Semaphore>,
    listener: Listener,
) {
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let accepted = match &listener {
            Listener::Unix(l) => l.accept().await.map(|(s, _)| {
                let watcher = graceful.watcher();
                tokio::spawn(connection(shared.clone(), watcher, s, permit));
            }),
            Listener::Tcp(l) => l.accept().await.map(|(s, _)| {
                let _ = s.set_nodelay(true);
                let watcher = graceful.watcher();
                tokio::spawn(connection(shared.clone(), watcher, s, permit));
            }),
        };
        if let Err(e) = accepted {
            // EMFILE and the like: wait instead of spinning.
            log::warn!("accept failed: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    shared: Arc<Shared>,
    watcher: hyper_util::server::graceful::Watcher,
    stream: S,
    _permit: tokio::sync::OwnedSemaphorePermit,
) {
    let daemon = shared.daemon.clone();
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.header_read_timeout)
        .keep_alive(true)
        .max_buf_size(64 * 1024)
        .serve_connection(
            TokioIo::new(stream),
            service_fn(move |req| http::handle(daemon.clone(), req)),
        );
    if let Err(e) = watcher.watch(conn).await {
        log::debug!("connection ended: {e}");
    }
}
