//! Socket.IO at `/socket.io/`: the official clients ([`clients`]), the original service's
//! clients ([`original`]), hand-made packets ([`packets`], over [`raw`]), and `/chat`'s limits
//! ([`limits`]).

mod clients;
mod limits;
mod original;
mod packets;
pub(crate) mod raw;
