//! The HTTP listener, capped: at most `max_connections` connections are
//! open at once; past the cap the server stops accepting, so new
//! connections wait in the kernel's backlog instead of taking memory.
//! Accepted sockets get `TCP_NODELAY` (responses are small and must not
//! wait for Nagle's timer), and a connection that sends nothing for
//! `idle_timeout` is closed, so silent or trickling clients cannot hold the
//! places under the cap.
//!
//! With `[tls]`, [`TlsCappedListener`] puts TLS on top of the same cap
//! (a connection holds its place from accept through its handshake, which
//! `tls.handshake_timeout` bounds), and [`tls_incoming`] is the gRPC
//! listener's accept loop. Without it nothing here changes: the plain
//! listener's connections are the TCP streams themselves.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::tls::{Acceptor, TlsConnection};

/// How often idle connections are looked for: a connection is closed
/// between `idle_timeout` and `idle_timeout + TICK` after its last bytes.
const TICK: Duration = Duration::from_millis(100);

pub struct CappedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
    idle: Arc<IdleWatch>,
}

/// The coarse clock and the open connections, for the idle check. Reads
/// only store the clock's current tick (two relaxed atomic operations):
/// a timer per connection, moved on every read, cost a tenth of the
/// server's throughput.
struct IdleWatch {
    /// Ticks since the listener started.
    now: AtomicU64,
    timeout_ticks: u64,
    connections: parking_lot::Mutex<Vec<Weak<Connection>>>,
}

struct Connection {
    /// The tick of the last bytes read.
    last_read: AtomicU64,
    closed: AtomicBool,
    waker: AtomicWaker,
}

impl CappedListener {
    /// Also starts the idle check, which ends with the listener. Call it
    /// within a tokio runtime.
    pub fn new(inner: TcpListener, max_connections: usize, idle_timeout: Duration) -> Self {
        let ticks = idle_timeout.as_millis().div_ceil(TICK.as_millis()).max(1);
        let idle = Arc::new(IdleWatch {
            now: AtomicU64::new(0),
            timeout_ticks: u64::try_from(ticks).unwrap_or(u64::MAX),
            connections: parking_lot::Mutex::new(Vec::new()),
        });
        tokio::spawn(watch_idle(Arc::downgrade(&idle)));
        CappedListener {
            inner,
            permits: Arc::new(Semaphore::new(max_connections.min(Semaphore::MAX_PERMITS))),
            idle,
        }
    }
}

/// Every tick: advances the clock, and closes the connections that have
/// read nothing for the timeout.
async fn watch_idle(watch: Weak<IdleWatch>) {
    let mut every = tokio::time::interval(TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(watch) = watch.upgrade() else {
            return;
        };
        let now = watch.now.fetch_add(1, Ordering::Relaxed) + 1;
        watch.connections.lock().retain(|connection| {
            let Some(connection) = connection.upgrade() else {
                return false;
            };
            let last = connection.last_read.load(Ordering::Relaxed);
            if now.saturating_sub(last) >= watch.timeout_ticks {
                connection.closed.store(true, Ordering::Release);
                connection.waker.wake();
                return false;
            }
            true
        });
    }
}

impl axum::serve::Listener for CappedListener {
    type Io = CappedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            // The semaphore is never closed.
            let Ok(permit) = Arc::clone(&self.permits).acquire_owned().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let connection = Arc::new(Connection {
                        last_read: AtomicU64::new(self.idle.now.load(Ordering::Relaxed)),
                        closed: AtomicBool::new(false),
                        waker: AtomicWaker::new(),
                    });
                    self.idle
                        .connections
                        .lock()
                        .push(Arc::downgrade(&connection));
                    return (
                        CappedStream {
                            stream,
                            _permit: permit,
                            idle: Arc::clone(&self.idle),
                            connection,
                        },
                        addr,
                    );
                }
                Err(error) if is_connection_error(&error) => {}
                Err(error) => {
                    // Out of file descriptors and the like: back off rather
                    // than spin, as axum's own listener does.
                    tracing::error!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A connection holding its place under the cap until it is dropped.
pub struct CappedStream {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    idle: Arc<IdleWatch>,
    connection: Arc<Connection>,
}

impl AsyncRead for CappedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.connection.closed.load(Ordering::Acquire) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the connection was idle for http.idle_timeout",
            )));
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut this.stream).poll_read(cx, buf);
        match &result {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                let now = this.idle.now.load(Ordering::Relaxed);
                this.connection.last_read.store(now, Ordering::Relaxed);
            }
            Poll::Pending => {
                // Woken by the idle check as well as by the socket.
                this.connection.waker.register(cx.waker());
                if this.connection.closed.load(Ordering::Acquire) {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the connection was idle for http.idle_timeout",
                    )));
                }
            }
            _ => {}
        }
        result
    }
}

impl AsyncWrite for CappedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// A connection's peer address, as handlers see it
/// (`ConnectInfo<PeerAddr>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, CappedListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, CappedListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

/// [`CappedListener`] serving TLS: the handshake runs on the connection's
/// task (see [`TlsConnection`]), never in the accept loop.
pub struct TlsCappedListener {
    capped: CappedListener,
    tls: Acceptor,
}

impl TlsCappedListener {
    pub fn new(capped: CappedListener, tls: Acceptor) -> Self {
        TlsCappedListener { capped, tls }
    }
}

impl axum::serve::Listener for TlsCappedListener {
    type Io = TlsConnection<CappedStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (stream, addr) = axum::serve::Listener::accept(&mut self.capped).await;
        (self.tls.accept(stream, None, Some(addr)), addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.capped.inner.local_addr()
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsCappedListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsCappedListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

/// The gRPC listener's connections with TLS on top, `TCP_NODELAY` set as
/// tonic's own listener sets it. Accept errors are never yielded: a
/// client that gave up is skipped, and running out of file descriptors
/// backs off as [`CappedListener`] does.
pub fn tls_incoming(
    listener: TcpListener,
    tls: Acceptor,
) -> impl futures_util::Stream<Item = io::Result<TlsConnection<TcpStream>>> {
    futures_util::stream::unfold((listener, tls), |(listener, tls)| async move {
        loop {
            match listener.accept().await {
                Ok((stream, remote)) => {
                    let _ = stream.set_nodelay(true);
                    let local = stream.local_addr().ok();
                    let connection = tls.accept(stream, local, Some(remote));
                    return Some((Ok(connection), (listener, tls)));
                }
                Err(error) if is_connection_error(&error) => {}
                Err(error) => {
                    tracing::error!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    })
}
