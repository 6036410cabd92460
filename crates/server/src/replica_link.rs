//! A connection that has become a replica: the propagated stream flows out,
//! the replica's REPLCONF ACKs flow in.

use std::sync::atomic::Ordering;

use shoal_resp::request::{Limits, Parsed};
use shoal_resp::{Protocol, ReplyBuf, RequestParser};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::client::Client;
use crate::state::replicas::ReplicaStream;
use crate::server::Server;

pub async fn stream_to_replica<S>(
    server: &Server,
    stream: &mut S,
    client: &mut Client,
    mut link: ReplicaStream,
) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut input = Vec::with_capacity(1024);
    let mut parser = RequestParser::new();
    let mut replies = ReplyBuf::new(Protocol::Resp2);
    let result = loop {
        tokio::select! {
            chunk = link.receiver.recv() => {
                let Some(chunk) = chunk else { break Err("replication stream ended".to_string()) };
                link.queued.fetch_sub(chunk.len(), Ordering::AcqRel);
                if let Err(e) = stream.write_all(&chunk).await {
                    break Err(format!("write error: {e}"));
                }
            }
            read = stream.read_buf(&mut input) => {
                match read {
                    Ok(0) => break Err("replica closed the link".to_string()),
                    Err(e) => break Err(format!("read error: {e}")),
                    Ok(_) => {}
                }
                // The replica only sends REPLCONF ACK and pings; run them
                // for their side effects and drop anything they reply.
                let limits = Limits::default();
                let mut position = 0;
                while let Ok(Parsed::Command { consumed }) | Ok(Parsed::Nothing { consumed }) =
                    parser.parse(&input[position..], &limits)
                {
                    let request = &input[position..position + consumed];
                    let argv: Vec<&[u8]> = parser.args().iter().map(|&a| parser.arg(request, a)).collect();
                    if !argv.is_empty() {
                        crate::dispatch::dispatch(server, client, &mut replies, &argv);
                    }
                    position += consumed;
                }
                input.drain(..position);
                replies.buf.clear();
            }
            _ = client.info.kill_signal.notified() => break Err("killed".to_string()),
        }
    };
    client.replica_stream = Some(link);
    result
}
