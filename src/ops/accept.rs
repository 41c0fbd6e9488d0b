//! The server's listener: axum's, except when accepting fails for lack of file descriptors
//! (EMFILE, ENFILE), which it says plainly, naming the limit, counts as
//! `switchboard_connections_refused_total{reason="file_descriptors"}` and waits out briefly
//! instead of trying again at once.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};

/// How long to wait after an accept failed for lack of descriptors (or another resource):
/// long enough not to spin on the cores, short enough to take connections again soon after
/// some close.
const BACKOFF: Duration = Duration::from_millis(100);
/// At most one warning this often while the descriptors stay exhausted; the counter counts all.
const WARN_EVERY: Duration = Duration::from_secs(5);

/// Linux's `EMFILE` (this process's `RLIMIT_NOFILE` reached) and `ENFILE` (the system's).
const EMFILE: i32 = 24;
const ENFILE: i32 = 23;

/// Why an `accept` failed, as far as the server acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptFailure {
    /// The process or the system has no file descriptor left for the connection.
    FileDescriptors,
    /// The one connection went away before it was accepted: try the next at once.
    Connection,
    /// Anything else (out of memory, buffers): wait, as axum does.
    Other,
}

impl AcceptFailure {
    pub fn of(err: &io::Error) -> AcceptFailure {
        match err.raw_os_error() {
            Some(EMFILE | ENFILE) => AcceptFailure::FileDescriptors,
            _ => match err.kind() {
                io::ErrorKind::ConnectionRefused
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset => AcceptFailure::Connection,
                _ => AcceptFailure::Other,
            },
        }
    }
}

/// The soft "Max open files" (`ulimit -n`) of this process from `/proc/self/limits`'s text.
pub fn open_files_limit(limits: &str) -> Option<String> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()
        .map(str::to_string)
}

/// A `TcpListener` whose accept failures are handled as [`AcceptFailure`] says.
pub struct GuardedListener {
    inner: TcpListener,
    /// The soft `RLIMIT_NOFILE`, read once when the server starts.
    limit: String,
    last_warning: Option<Instant>,
    refused_since_warning: u64,
}

impl GuardedListener {
    pub fn new(inner: TcpListener) -> GuardedListener {
        let limit = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|limits| open_files_limit(&limits))
            .unwrap_or_else(|| "unknown".to_string());
        GuardedListener {
            inner,
            limit,
            last_warning: None,
            refused_since_warning: 0,
        }
    }

    async fn failed(&mut self, err: io::Error) {
        match AcceptFailure::of(&err) {
            AcceptFailure::Connection => {}
            AcceptFailure::FileDescriptors => {
                metrics::counter!("switchboard_connections_refused_total", "reason" => "file_descriptors")
                    .increment(1);
                self.refused_since_warning += 1;
                if self
                    .last_warning
                    .is_none_or(|at| at.elapsed() >= WARN_EVERY)
                {
                    tracing::warn!(
                        error = %err,
                        open_files_limit = %self.limit,
                        refused = self.refused_since_warning,
                        "cannot accept connections: out of file descriptors (RLIMIT_NOFILE, `ulimit -n`, is {}); raise it to hold more connections",
                        self.limit
                    );
                    self.last_warning = Some(Instant::now());
                    self.refused_since_warning = 0;
                }
                tokio::time::sleep(BACKOFF).await;
            }
            AcceptFailure::Other => {
                tracing::error!(error = %err, "accept error");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

impl axum::serve::Listener for GuardedListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            match self.inner.accept().await {
                Ok(accepted) => return accepted,
                Err(err) => self.failed(err).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_out_of_descriptors_is_told_apart_from_a_lost_connection_and_other_errors() {
        let of = |code| AcceptFailure::of(&io::Error::from_raw_os_error(code));
        assert_eq!(of(24), AcceptFailure::FileDescriptors, "EMFILE");
        assert_eq!(of(23), AcceptFailure::FileDescriptors, "ENFILE");
        assert_eq!(of(103), AcceptFailure::Connection, "ECONNABORTED");
        assert_eq!(of(104), AcceptFailure::Connection, "ECONNRESET");
        assert_eq!(of(12), AcceptFailure::Other, "ENOMEM");
        assert_eq!(
            AcceptFailure::of(&io::Error::other("no code")),
            AcceptFailure::Other
        );
    }

    #[test]
    fn the_soft_open_files_limit_is_read_from_proc_limits() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             127000               127000               processes \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(open_files_limit(limits).as_deref(), Some("1024"));
        assert_eq!(open_files_limit("nothing here"), None);
        let own = std::fs::read_to_string("/proc/self/limits").unwrap();
        assert!(open_files_limit(&own).is_some(), "{own}");
    }
}
