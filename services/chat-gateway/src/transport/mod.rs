//! How clients reach the gateway: the `/chat` WebSocket ([`websocket`], described by
//! [`asyncapi`]) and the REST routes ([`rest`]). Each one authenticates and parses what its clients send, then hands it to the
//! sessions and the store; a second transport sits beside these the same way.

pub(crate) mod asyncapi;
pub(crate) mod rest;
pub(crate) mod websocket;
