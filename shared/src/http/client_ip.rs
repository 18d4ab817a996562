//! The client's address: the peer, unless trusted proxies (the ingress) stand in between,
//! in which case the `X-Forwarded-For` entry they appended. Trusting more hops than really
//! exist would let a client choose its own address (and so dodge per-address rate limits).

use std::net::IpAddr;

use poem::{Request, web::RemoteAddr};

pub fn client_ip(req: &Request, trusted_proxy_hops: usize) -> Option<IpAddr> {
    let peer = match req.remote_addr() {
        RemoteAddr(poem::Addr::SocketAddr(addr)) => Some(addr.ip()),
        _ => None,
    };
    if trusted_proxy_hops == 0 {
        return peer;
    }
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| part.trim().parse().ok())
        .collect();
    // Each proxy appends the address it received the request from, so the last `hops`
    // entries were written by our proxies, and the earliest of those is the client as the
    // outermost proxy saw it. Entries before it are whatever the client chose to send.
    forwarded.len().checked_sub(trusted_proxy_hops).and_then(|i| forwarded.get(i).copied()).or(peer)
}
