//! Sweeping many addresses with one small SNMPv1/v2c request each: one UDP
//! socket per address family, the engine's message codec, and only a few
//! bytes of state per request in flight, so that a /16 at thousands of
//! requests a second stays small (a full client per address costs ~13 KB).
//!
//! The caller feeds requests through a channel and gets one answer per
//! request: what the agent said, or that it never did (after the retries).
//! First tries are paced at `rate` per second; a retry goes out when its
//! timeout falls due, so retries keep the pace of the tries they repeat.
//! SNMPv3 needs the full client (engine discovery, keys): see `Session`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use async_snmp::message::CommunityMessage;
use async_snmp::{DecodeConfig, RequestPdu, Version};
use bytes::Bytes;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::credentials::CommunityVersion;
use crate::{Oid, SnmpError, Value, VarBind};

/// One GETNEXT to send.
#[derive(Clone, Debug)]
pub struct SweepRequest {
    pub target: SocketAddr,
    pub version: CommunityVersion,
    pub community: Vec<u8>,
    /// Shared by all requests of a sweep.
    pub oids: std::sync::Arc<[Oid]>,
    /// The caller's own reference, given back with the answer.
    pub tag: u64,
}

/// What became of a request.
#[derive(Clone, Debug)]
pub enum SweepAnswer {
    /// The agent answered (an error status is an answer too: the device is
    /// there).
    Answer {
        tag: u64,
        varbinds: Vec<VarBind>,
        error_status: i32,
    },
    /// No answer after every try.
    Silent { tag: u64 },
}

/// Pacing and patience.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    pub rate: u32,
    pub timeout: Duration,
    pub retries: u32,
}

struct Pending {
    request: SweepRequest,
    tries_left: u32,
}

/// Runs until `requests` is closed and every request is answered or given up.
pub async fn sweep(
    mut requests: mpsc::Receiver<SweepRequest>,
    answers: mpsc::UnboundedSender<SweepAnswer>,
    options: SweepOptions,
) -> Result<(), SnmpError> {
    let bind_err = |e: std::io::Error| SnmpError::Config(format!("cannot open a UDP socket: {e}"));
    let v4 = bind("0.0.0.0:0").map_err(bind_err)?;
    // IPv6 is optional: a machine without it still sweeps IPv4.
    let v6 = bind("[::]:0").ok();
    let period = Duration::from_secs_f64(1.0 / f64::from(options.rate.max(1)));
    let mut queue: VecDeque<i32> = VecDeque::new(); // ids waiting to be sent
    let mut pending: HashMap<i32, Pending> = HashMap::new();
    let mut deadlines: VecDeque<(Instant, i32)> = VecDeque::new(); // in send order
    let mut next_id: i32 = 1;
    let mut next_send = Instant::now();
    let mut open = true;
    let mut buf = vec![0u8; 65536];
    let mut buf6 = vec![0u8; 65536];
    loop {
        if !open && pending.is_empty() {
            return Ok(());
        }
        let send_due = !queue.is_empty();
        let deadline = deadlines.front().map(|(d, _)| *d);
        tokio::select! {
            biased;
            received = v4.recv_from(&mut buf) => {
                if let Ok((len, from)) = received {
                    answer(&buf[..len], from, &mut pending, &answers);
                }
            }
            received = async { match &v6 { Some(s) => s.recv_from(&mut buf6).await, None => std::future::pending().await } } => {
                if let Ok((len, from)) = received {
                    answer(&buf6[..len], from, &mut pending, &answers);
                }
            }
            () = async { tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)).await }, if deadline.is_some() => {
                let now = Instant::now();
                while let Some((due, id)) = deadlines.front().copied() {
                    if due > now {
                        break;
                    }
                    deadlines.pop_front();
                    let Some(p) = pending.get_mut(&id) else { continue }; // answered
                    if p.tries_left > 0 {
                        // Retries go out as their timeouts fall due: they
                        // keep the pace the first tries were sent at.
                        p.tries_left -= 1;
                        let socket = if p.request.target.is_ipv4() { Some(&v4) } else { v6.as_ref() };
                        if let (Some(socket), Some(bytes)) = (socket, encode(&p.request, id)) {
                            let _ = socket.send_to(&bytes, p.request.target).await;
                        }
                        deadlines.push_back((Instant::now() + options.timeout, id));
                    } else if let Some(p) = pending.remove(&id) {
                        let _ = answers.send(SweepAnswer::Silent { tag: p.request.tag });
                    }
                }
            }
            () = tokio::time::sleep_until(next_send), if send_due => {
                // Catch up after a stall, but never in a burst of more than
                // a tenth of a second's worth.
                let now = Instant::now();
                if next_send + Duration::from_millis(100) < now {
                    next_send = now;
                }
                if let Some(id) = queue.pop_front()
                    && let Some(p) = pending.get(&id)
                {
                    let socket = if p.request.target.is_ipv4() { Some(&v4) } else { v6.as_ref() };
                    match (socket, encode(&p.request, id)) {
                        (Some(socket), Some(bytes)) => {
                            let _ = socket.send_to(&bytes, p.request.target).await;
                            deadlines.push_back((Instant::now() + options.timeout, id));
                        }
                        _ => {
                            // Cannot be sent (no IPv6, or not encodable): silent.
                            if let Some(p) = pending.remove(&id) {
                                let _ = answers.send(SweepAnswer::Silent { tag: p.request.tag });
                            }
                        }
                    }
                }
                next_send += period;
            }
            // Take requests only as fast as they go out: the caller's
            // channel, not this queue, holds the backlog.
            request = requests.recv(), if open && queue.len() < 64 => {
                match request {
                    Some(request) => {
                        // An id not in flight; they wrap after 2^31 requests.
                        while pending.contains_key(&next_id) || next_id <= 0 {
                            next_id = next_id.wrapping_add(1).max(1);
                        }
                        let id = next_id;
                        next_id = next_id.wrapping_add(1);
                        pending.insert(id, Pending { request, tries_left: options.retries });
                        queue.push_back(id);
                    }
                    None => open = false,
                }
            }
        }
    }
}

/// A UDP socket with a receive buffer for bursts of answers (the OS default
/// of ~208 KiB overflows; the kernel caps the size at rmem_max).
fn bind(address: &str) -> std::io::Result<UdpSocket> {
    let address: SocketAddr = address
        .parse()
        .map_err(|_| std::io::Error::other("bad bind address"))?;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(address),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    let _ = socket.set_recv_buffer_size(4 * 1024 * 1024);
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    UdpSocket::from_std(socket.into())
}

fn encode(request: &SweepRequest, id: i32) -> Option<Bytes> {
    let version = match request.version {
        CommunityVersion::V1 => Version::V1,
        CommunityVersion::V2c => Version::V2c,
    };
    let oids: Vec<async_snmp::Oid> = request.oids.iter().map(async_snmp::Oid::from).collect();
    let pdu = RequestPdu::get_next(version, id, &oids).ok()?;
    let community_version = match request.version {
        CommunityVersion::V1 => async_snmp::CommunityVersion::V1,
        CommunityVersion::V2c => async_snmp::CommunityVersion::V2c,
    };
    CommunityMessage::new(community_version, request.community.clone(), pdu.into_raw())
        .ok()?
        .encode()
        .ok()
}

/// A datagram from an agent: the answer to a pending request when its id,
/// source address and community all match; anything else is dropped.
fn answer(
    datagram: &[u8],
    from: SocketAddr,
    pending: &mut HashMap<i32, Pending>,
    answers: &mpsc::UnboundedSender<SweepAnswer>,
) {
    let Ok(decoded) =
        CommunityMessage::decode(Bytes::copy_from_slice(datagram), DecodeConfig::DEFAULT)
    else {
        return;
    };
    let message = decoded.value;
    let community = message.community().as_bytes().to_vec();
    let Some(pdu) = message.into_pdu() else {
        return;
    };
    let id = pdu.request_id();
    let matches = pending
        .get(&id)
        .is_some_and(|p| p.request.target == from && p.request.community == community);
    if !matches {
        return;
    }
    let Some(p) = pending.remove(&id) else { return };
    let varbinds = pdu
        .varbinds()
        .iter()
        .filter_map(|vb| {
            Value::try_from(&vb.value)
                .ok()
                .map(|v| VarBind::new(Oid::from(vb.oid.arcs()), v))
        })
        .collect();
    let _ = answers.send(SweepAnswer::Answer {
        tag: p.request.tag,
        varbinds,
        error_status: pdu.error_status(),
    });
}
