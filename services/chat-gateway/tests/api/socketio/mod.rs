//! Socket.IO at `/socket.io/`: the official clients ([`clients`]), hand-made packets
//! ([`packets`], over [`raw`]), and `/chat`'s limits ([`limits`]).

mod clients;
mod limits;
mod packets;
mod raw;
