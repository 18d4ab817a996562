//! Socket.IO at `/socket.io/`: the official clients ([`clients`]) and hand-made packets
//! ([`packets`], over [`raw`]).

mod clients;
mod packets;
mod raw;
