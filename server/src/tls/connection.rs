//! A connection's server-side TLS: the handshake runs when the connection
//! is first read or written, on the connection's own task (never in the
//! accept loop, so a slow client holds up no one), with the configuration
//! serving when it was accepted, bounded by `tls.handshake_timeout`.

use std::future::Future as _;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::server::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Starts the server side of TLS on a listener's connections, with the
/// configuration serving when the connection was accepted.
#[derive(Clone)]
pub struct Acceptor {
    pub(super) config: Arc<ArcSwap<ServerConfig>>,
    pub(super) timeout: Duration,
    /// `http` or `grpc`, for the metric and the log.
    pub(super) listener: &'static str,
}

impl Acceptor {
    /// Wraps `stream`; the handshake runs when the connection is first
    /// read or written, on the connection's own task, so a slow client
    /// never holds up the accept loop.
    pub fn accept<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: S,
        local: Option<SocketAddr>,
        remote: Option<SocketAddr>,
    ) -> TlsConnection<S> {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.config.load_full());
        TlsConnection {
            state: State::Handshaking {
                accept: acceptor.accept(stream),
                deadline: Box::pin(tokio::time::sleep(self.timeout)),
            },
            local,
            remote,
            listener: self.listener,
        }
    }
}

/// A connection that becomes a TLS stream once its handshake completes.
pub struct TlsConnection<S> {
    state: State<S>,
    local: Option<SocketAddr>,
    remote: Option<SocketAddr>,
    listener: &'static str,
}

enum State<S> {
    Handshaking {
        accept: tokio_rustls::Accept<S>,
        deadline: Pin<Box<Sleep>>,
    },
    Ready(tokio_rustls::server::TlsStream<S>),
    Failed,
}

fn handshake_failed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the TLS handshake failed")
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsConnection<S> {
    /// Drives the handshake; ready once the stream is.
    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let State::Handshaking { accept, deadline } = &mut self.state else {
            return Poll::Ready(match self.state {
                State::Ready(_) => Ok(()),
                _ => Err(handshake_failed()),
            });
        };
        let outcome = match Pin::new(accept).poll(cx) {
            Poll::Ready(outcome) => outcome,
            Poll::Pending => match deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the TLS handshake took longer than tls.handshake_timeout",
                )),
                Poll::Pending => return Poll::Pending,
            },
        };
        match outcome {
            Ok(stream) => {
                self.state = State::Ready(stream);
                Poll::Ready(Ok(()))
            }
            Err(error) => {
                // Dropping the handshake gives the connection's place under
                // the cap back as soon as its task lets go of it.
                self.state = State::Failed;
                metrics::counter!("reaper_tls_handshake_failures_total", "listener" => self.listener)
                    .increment(1);
                tracing::debug!(
                    listener = self.listener,
                    peer = ?self.remote,
                    %error,
                    "TLS handshake failed"
                );
                Poll::Ready(Err(error))
            }
        }
    }

    /// The TLS stream once the handshake is done.
    fn poll_stream(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<&mut tokio_rustls::server::TlsStream<S>>> {
        ready!(self.poll_handshake(cx))?;
        match &mut self.state {
            State::Ready(stream) => Poll::Ready(Ok(stream)),
            _ => Poll::Ready(Err(handshake_failed())),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsConnection<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let stream = ready!(self.get_mut().poll_stream(cx))?;
        Pin::new(stream).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsConnection<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let stream = ready!(self.get_mut().poll_stream(cx))?;
        Pin::new(stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let stream = ready!(self.get_mut().poll_stream(cx))?;
        Pin::new(stream).poll_write_vectored(cx, bufs)
    }

    /// The TLS stream writes vectored; asked before the handshake.
    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().state {
            State::Ready(stream) => Pin::new(stream).poll_flush(cx),
            _ => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Closing a connection mid-handshake just drops it.
        match &mut self.get_mut().state {
            State::Ready(stream) => Pin::new(stream).poll_shutdown(cx),
            _ => Poll::Ready(Ok(())),
        }
    }
}

/// For tonic: the gRPC guard reads the peer's address from the
/// connection info, as it does on plain-text connections.
impl<S> tonic::transport::server::Connected for TlsConnection<S> {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        tonic::transport::server::TcpConnectInfo {
            local_addr: self.local,
            remote_addr: self.remote,
        }
    }
}
