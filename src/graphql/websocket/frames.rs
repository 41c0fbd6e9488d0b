//! The connection's outgoing queue, and the high-water mark that bounds it.
//!
//! Writes skip tungstenite: payloads arrive serialized from the gateway (shared between
//! subscribers of the same subscription), and each is framed straight into the connection's
//! outgoing queue, which tungstenite's own replies (pongs, a close's answer) join too, so
//! frames stay whole and in order.
//!
//! Everything queued counts against one high-water mark, and both ways in are shut above it:
//! operations' frames are left in their streams, and the client is not read, since whatever
//! it sends may ask for an answer (a pong, our `pong`, a `complete`). A slow client thus holds
//! back its own operations, and one that floods pings without reading stops being read until
//! its queue drains, instead of growing it without bound.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::protocol::json_string;
use crate::graphql::Frame;

/// Frames taken from one operation before the others get their turn.
const FRAMES_PER_TURN: usize = 16;

/// How much may wait in a connection's outgoing queue before its operations stop being
/// polled and its client stops being read. A client reading slowly, or not at all, then holds
/// back its own executions, and a shared execution's frames wait in their channel as shared
/// payloads rather than as copies: its memory stays bounded by this (give or take the answers
/// to the messages of the last read, a kibibyte or so), the socket's buffers and that channel.
const QUEUE_HIGH_WATER: usize = 64 * 1024;

/// WebSocket opcodes (RFC 6455 section 5.2).
pub(super) const TEXT: u8 = 0x1;
pub(super) const CLOSE: u8 = 0x8;
pub(super) const PING: u8 = 0x9;

/// The upgraded connection with an ordered outgoing queue. Every write, ours and tungstenite's
/// (its automatic pongs, its answer to a close), is appended whole behind what is queued and
/// sent from there, so frames never interleave or overtake one another. `Io` is the upgraded
/// connection; the tests put an in-memory pipe there.
pub(super) struct Socket<Io = TokioIo<hyper::upgrade::Upgraded>> {
    io: Io,
    queued: Vec<u8>,
}

impl<Io: AsyncRead + AsyncWrite + Unpin> Socket<Io> {
    pub(super) fn new(io: Io) -> Self {
        Self {
            io,
            queued: Vec::new(),
        }
    }

    /// Sends what is queued; `Pending` until the socket has taken all of it.
    pub(super) fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while !self.queued.is_empty() {
            let written = std::task::ready!(Pin::new(&mut self.io).poll_write(cx, &self.queued))?;
            if written == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.queued.drain(..written);
        }
        // A burst for a slow client should not stay allocated once it has gone.
        if self.queued.capacity() > 64 * 1024 {
            self.queued = Vec::new();
        }
        Poll::Ready(Ok(()))
    }

    pub(super) fn queue_frame(&mut self, opcode: u8, parts: &[&[u8]]) {
        push_frame(&mut self.queued, opcode, parts);
    }

    pub(super) fn queue_text(&mut self, parts: &[&[u8]]) {
        self.queue_frame(TEXT, parts);
    }

    /// See [`queue_ready_frames`].
    pub(super) fn queue_ready_frames(
        &mut self,
        operations: &mut Vec<Operation>,
        cx: &mut Context<'_>,
    ) -> bool {
        queue_ready_frames(operations, &mut self.queued, cx)
    }
}

/// Appends a server frame (final, unmasked, RFC 6455 section 5.2) whose payload is `parts`
/// in order.
fn push_frame(out: &mut Vec<u8>, opcode: u8, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|part| part.len()).sum();
    out.push(0x80 | opcode);
    match len {
        0..=125 => out.push(len as u8),
        126..=0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    for part in parts {
        out.extend_from_slice(part);
    }
}

/// Whether `queued` has reached the mark, past which nothing more is taken in.
fn full(queued: &[u8]) -> bool {
    queued.len() >= QUEUE_HIGH_WATER
}

impl<Io: AsyncRead + AsyncWrite + Unpin> AsyncRead for Socket<Io> {
    /// Reads nothing while the queue is full: first it sends, and reads once the queue is
    /// under the mark again. Here rather than in the connection's loop, so that no read (and
    /// so no answer, tungstenite's pongs included) can get past the mark. A `Pending` here
    /// comes from the write, whose readiness wakes the reader.
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if full(&self.queued) {
            if let Poll::Ready(Err(err)) = self.poll_send(cx) {
                return Poll::Ready(Err(err));
            }
            if full(&self.queued) {
                return Poll::Pending;
            }
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<Io: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Socket<Io> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.queued.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::task::ready!(self.poll_send(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        std::task::ready!(self.poll_send(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A running operation: its frames, waiting to be queued.
pub(super) struct Operation {
    pub(super) id: String,
    /// Its `next` message up to the payload, built once.
    pub(super) envelope: String,
    pub(super) frames: BoxStream<'static, Frame>,
}

/// Queues every ready frame, and `complete` for an operation that has ended (which then
/// leaves the connection), until `queued` reaches [`QUEUE_HIGH_WATER`]; returns whether it
/// stopped there, leaving operations unpolled. An operation with more than its turn's frames
/// ready is polled again on the next wake-up, which it is given at once.
fn queue_ready_frames(
    operations: &mut Vec<Operation>,
    queued: &mut Vec<u8>,
    cx: &mut Context<'_>,
) -> bool {
    let mut held_back = false;
    operations.retain_mut(|operation| {
        for taken in 1.. {
            if full(queued) {
                held_back = true;
                break;
            }
            if taken > FRAMES_PER_TURN {
                cx.waker().wake_by_ref();
                break;
            }
            match operation.frames.poll_next_unpin(cx) {
                Poll::Ready(Some(frame)) => push_frame(
                    queued,
                    TEXT,
                    &[
                        operation.envelope.as_bytes(),
                        frame.payload.as_bytes(),
                        b"}",
                    ],
                ),
                Poll::Ready(None) => {
                    push_frame(
                        queued,
                        TEXT,
                        &[
                            br#"{"type":"complete","id":"#,
                            json_string(&operation.id).as_bytes(),
                            b"}",
                        ],
                    );
                    return false;
                }
                Poll::Pending => break,
            }
        }
        true
    });
    held_back
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::FrameHeader;

    fn operation_of(frames: Vec<Frame>) -> Operation {
        Operation {
            id: "1".into(),
            envelope: r#"{"type":"next","id":"1","payload":"#.into(),
            frames: futures_util::stream::iter(frames).boxed(),
        }
    }

    #[test]
    fn a_full_outgoing_queue_takes_no_more_frames_until_it_drains() {
        let waker = futures_util::task::noop_waker();
        let cx = &mut Context::from_waker(&waker);
        let payload: Arc<str> = format!(r#"{{"data":"{}"}}"#, "x".repeat(10 * 1024)).into();
        let frame = Frame {
            payload,
            position: None,
        };
        let mut operations = vec![operation_of(vec![frame; 10])];

        let mut queued = vec![0; QUEUE_HIGH_WATER];
        assert!(queue_ready_frames(&mut operations, &mut queued, cx));
        assert_eq!(queued.len(), QUEUE_HIGH_WATER, "nothing taken while full");

        let nexts = |queued: &[u8]| {
            String::from_utf8_lossy(queued)
                .matches(r#""type":"next""#)
                .count()
        };
        queued.clear();
        assert!(queue_ready_frames(&mut operations, &mut queued, cx));
        // Six frames of just over 10 KiB stay under the 64 KiB mark; the seventh crosses it.
        assert_eq!(nexts(&queued), 7, "taken up to the mark");

        queued.clear();
        assert!(!queue_ready_frames(&mut operations, &mut queued, cx));
        assert_eq!(nexts(&queued), 3, "the rest, once drained");
        assert!(
            String::from_utf8_lossy(&queued).ends_with(r#"{"type":"complete","id":"1"}"#),
            "then the operation's end"
        );
        assert!(operations.is_empty());
    }

    #[tokio::test]
    async fn a_full_queue_reads_nothing_from_the_client_until_it_drains_under_the_mark() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (server, mut client) = tokio::io::duplex(4096);
        let mut socket = Socket::new(server);
        socket.queue_text(&[&vec![b'x'; QUEUE_HIGH_WATER + 8192]]);
        client.write_all(b"ping").await.unwrap();

        let waker = futures_util::task::noop_waker();
        let cx = &mut Context::from_waker(&waker);
        let mut read = [0; 16];
        let mut taken = 0;
        loop {
            let mut buf = ReadBuf::new(&mut read);
            match Pin::new(&mut socket).poll_read(cx, &mut buf) {
                Poll::Ready(result) => {
                    result.unwrap();
                    assert_eq!(buf.filled(), b"ping");
                    break;
                }
                Poll::Pending => {
                    assert!(full(&socket.queued), "waits only while full");
                    // The client takes what the socket could send.
                    taken += client.read(&mut [0; 4096]).await.unwrap();
                }
            }
        }
        assert!(
            taken > 0,
            "the client's bytes waited until it had taken {taken}"
        );
        assert!(!full(&socket.queued), "read once under the mark");
    }

    #[test]
    fn frames_of_every_length_encoding_parse_as_one_whole_final_text_frame() {
        // 7-bit, 16-bit and 64-bit lengths, at and around their edges.
        for len in [0, 1, 125, 126, 127, 65535, 65536, 200_000] {
            let payload = "x".repeat(len);
            let (head, tail) = payload.as_bytes().split_at(len / 2);
            let mut out = Vec::new();
            push_frame(&mut out, TEXT, &[head, tail]);

            let mut cursor = std::io::Cursor::new(&out);
            let (header, length) = FrameHeader::parse(&mut cursor).unwrap().unwrap();
            assert!(header.is_final, "{len}: final");
            assert_eq!(header.opcode, OpCode::Data(Data::Text), "{len}: text");
            assert_eq!(header.mask, None, "{len}: a server's frames are unmasked");
            assert_eq!(length as usize, len, "{len}: declared length");
            let start = cursor.position() as usize;
            assert_eq!(
                &out[start..],
                payload.as_bytes(),
                "{len}: payload follows whole"
            );
        }
    }
}
