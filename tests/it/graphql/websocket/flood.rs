//! A WebSocket client that sends and never reads: everything it asks for (a pong for each
//! ping) waits in the server for it, so the server must stop reading it, or hold its answers
//! without bound.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::TestApp;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use switchboard::auth::Role;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// Control pings per batch, each with the largest payload a ping may carry (125 bytes), so
/// each asks for a pong as large.
const PINGS_PER_BATCH: usize = 256;
/// graphql-transport-ws `{"type":"ping"}` messages per batch, each asking for a `pong`.
const MESSAGES_PER_BATCH: usize = 32;

/// How long a write may make no progress before the server counts as no longer reading.
const STALL: Duration = Duration::from_secs(2);

/// What the client may write before it must stall. The kernel buffers some of it both ways
/// (Linux lets the server's socket buffers grow to the last figures of `net.ipv4.tcp_wmem` and
/// `tcp_rmem`, 4 and 32 MiB where this was written; this client keeps its own at 16 KiB), and
/// the server queues 64 KiB; beyond that, a server still reading must be holding its answers
/// in memory. With the mark the client stalls after 4 MiB or so; without it, it writes on.
const MOST_WRITTEN: usize = 64 << 20;

#[tokio::test]
async fn a_client_flooding_pings_without_reading_stops_being_read_until_it_drains() {
    // Pinged as seldom as may be: a client not read for two periods is let go.
    let app = TestApp::builder()
        .config(|c| c.graphql.keep_alive_secs = 30)
        .spawn()
        .await;
    let token = app.token("ann", "acme", Role::Admin);
    let socket = initialised_socket(app.addr, &token).await;
    let (mut reader, mut writer) = socket.into_split();

    let batch = flood_batch();
    let mut batches = 0;
    let mut written = 0;
    // The part of the batch under way that the server has not taken yet.
    let rest = 'flood: loop {
        let mut sent = 0;
        while sent < batch.len() {
            match tokio::time::timeout(STALL, writer.write(&batch[sent..])).await {
                Ok(Ok(n)) => sent += n,
                Ok(Err(err)) => {
                    panic!("the server dropped the client after {written} bytes: {err}")
                }
                Err(_) => break 'flood &batch[sent..],
            }
            assert!(
                written + sent <= MOST_WRITTEN,
                "the server is still reading after {} bytes of pings never read back: \
                 it must be holding their answers without bound",
                written + sent,
            );
        }
        written += sent;
        batches += 1;
    };
    let written = written + batch.len() - rest.len();
    eprintln!("the server stopped reading after {written} bytes, {batches} whole batches");

    // Once the client reads, the server drains, reads again, and answers every message,
    // those it had left unread included.
    let expected = (batches + 1) * MESSAGES_PER_BATCH;
    let reading = tokio::spawn(async move {
        let mut pongs = 0;
        let mut frames = ServerFrames::default();
        let mut chunk = vec![0; 64 * 1024];
        loop {
            while let Some((opcode, payload)) = frames.next() {
                if opcode == 0x1 && payload == br#"{"type":"pong"}"# {
                    pongs += 1;
                }
            }
            if pongs >= expected {
                break;
            }
            let read = reader.read(&mut chunk).await.unwrap();
            assert!(read > 0, "closed after {pongs} of {expected} pongs");
            frames.buffer.extend_from_slice(&chunk[..read]);
        }
    });
    tokio::time::timeout(Duration::from_secs(60), writer.write_all(rest))
        .await
        .expect("the server reads again once the client does")
        .unwrap();
    tokio::time::timeout(Duration::from_secs(60), reading)
        .await
        .expect("every `ping` message answered")
        .unwrap();
}

/// A graphql-transport-ws connection past `connection_ack`, as the plain socket under it, whose
/// buffers are small: what the server sends waits in the server, not in this client's kernel.
async fn initialised_socket(addr: SocketAddr, token: &str) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    socket.set_send_buffer_size(16 * 1024).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let mut request = format!("ws://{addr}/graphql/ws")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .unwrap();
    let init = json!({"type": "connection_init", "payload": {"token": token}});
    ws.send(Message::Text(init.to_string().into()))
        .await
        .unwrap();
    let ack = ws.next().await.unwrap().unwrap();
    assert_eq!(ack.to_text().unwrap(), r#"{"type":"connection_ack"}"#);
    ws.into_inner()
}

/// Masked client frames (RFC 6455 section 5.3): control pings of 125 bytes and
/// `{"type":"ping"}` messages, interleaved.
fn flood_batch() -> Vec<u8> {
    let ping = masked(0x9, &[b'p'; 125]);
    let message = masked(0x1, br#"{"type":"ping"}"#);
    let every = PINGS_PER_BATCH / MESSAGES_PER_BATCH;
    let mut batch = Vec::new();
    for i in 0..PINGS_PER_BATCH {
        batch.extend_from_slice(&ping);
        if i % every == every - 1 {
            batch.extend_from_slice(&message);
        }
    }
    batch
}

/// A final client frame of at most 125 bytes.
fn masked(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() <= 125);
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// The server's (unmasked) frames, parsed from what has been read so far.
#[derive(Default)]
struct ServerFrames {
    buffer: Vec<u8>,
}

impl ServerFrames {
    /// The next whole frame's opcode and payload, if it has all arrived.
    fn next(&mut self) -> Option<(u8, Vec<u8>)> {
        let (&first, rest) = self.buffer.split_first()?;
        let (&second, rest) = rest.split_first()?;
        assert_eq!(second & 0x80, 0, "a server's frames are unmasked");
        let (len, header) = match second {
            126 => (
                u16::from_be_bytes(rest.get(..2)?.try_into().unwrap()) as usize,
                4,
            ),
            127 => (
                u64::from_be_bytes(rest.get(..8)?.try_into().unwrap()) as usize,
                10,
            ),
            len => (len as usize, 2),
        };
        let payload = self.buffer.get(header..header + len)?.to_vec();
        self.buffer.drain(..header + len);
        Some((first & 0x0F, payload))
    }
}
