//! A connection we close still reads what its client goes on sending, for a few seconds,
//! before the socket is dropped ("lingering close", as nginx does it).
//!
//! Closing a socket with unread bytes in its receive buffer makes the kernel answer with a
//! reset, and a reset makes the client's kernel throw away what it had received but the
//! client had not read yet. A WebSocket client that is still sending a message we refused
//! as too large would then see "connection reset" instead of our close frame with 1009; an
//! HTTP client whose request we cut short would lose its response the same way.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::TcpStream,
};

/// How long a closed connection keeps reading before it is dropped however much is left.
const LINGER_TIME: Duration = Duration::from_secs(5);

/// A TCP connection that lingers when dropped. It reads and writes as the stream it wraps.
pub struct Lingering(Option<TcpStream>);

impl Lingering {
    pub fn new(stream: TcpStream) -> Self {
        Self(Some(stream))
    }

    /// The stream is only taken when dropped, so it is always there while polled.
    fn poll<T>(&mut self, poll: impl FnOnce(Pin<&mut TcpStream>) -> Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match self.0.as_mut() {
            Some(stream) => poll(Pin::new(stream)),
            None => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        let Some(stream) = self.0.take() else { return };
        // Outside a runtime (the process is ending) the socket is simply closed.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(tokio::time::timeout(LINGER_TIME, linger(stream)));
        }
    }
}

/// Tells the client we are done (FIN: everything we wrote still arrives), then reads and
/// drops until it closes too.
async fn linger(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let mut buffer = vec![0; 16 * 1024];
    while let Ok(1..) = stream.read(&mut buffer).await {}
}

impl AsyncRead for Lingering {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.poll(|stream| stream.poll_read(cx, buf))
    }
}

impl AsyncWrite for Lingering {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll(|stream| stream.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll(|stream| stream.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.0.as_ref().is_some_and(TcpStream::is_write_vectored)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll(|stream| stream.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll(|stream| stream.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use tokio::net::TcpListener;

    use super::*;

    /// Without lingering the client's own writes after our close fail with a reset, and what
    /// we wrote before closing may never be read.
    #[tokio::test]
    async fn a_client_still_sending_reads_what_we_wrote_before_closing() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut server = Lingering::new(server);
        client.write_all(b"a request we will not read").await.unwrap();
        server.write_all(b"goodbye").await.unwrap();
        drop(server);

        // The client goes on sending after the close, far more than any socket buffers.
        for _ in 0..64 {
            client.write_all(&[b'x'; 64 * 1024]).await.unwrap();
        }
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer, b"goodbye");
    }
}
