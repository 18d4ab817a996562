//! How clients reach the gateway: the `/chat` WebSocket ([`websocket`], described by
//! [`asyncapi`]), Socket.IO ([`socketio`]) and the REST routes ([`rest`]). Both sockets admit
//! a client the same way ([`admission`], [`resume`]), then hand it to a session through a link
//! of their own; the REST routes read the store.

mod admission;
pub(crate) mod asyncapi;
pub(crate) mod rest;
mod resume;
pub(crate) mod socketio;
pub(crate) mod websocket;
