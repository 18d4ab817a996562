//! Which binary serves the document. chat-gateway's is the one committed; chat-suite serves
//! the same channels on its own port, so its copy names chat-suite and the address it listens
//! on by default, not the gateway's `localhost:8083` (where a reader of chat-suite's `/docs`
//! would find nothing).

use serde_json::{Value, json};

/// The binary serving `/asyncapi.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    /// chat-gateway alone: the document as built (and committed).
    Gateway,
    /// chat-suite: every service in one process on one port.
    Suite,
}

impl Binary {
    /// `document`, built as chat-gateway's, made this binary's: its title and servers.
    pub(super) fn retarget(self, document: &mut Value) {
        match self {
            Self::Gateway => {}
            Self::Suite => {
                const HOST: &str = "localhost:8080";
                document["info"]["title"] = json!("chat-suite: /chat over WebSocket and over Socket.IO");
                let gateway = &mut document["servers"]["gateway"];
                gateway["description"] = json!("chat-suite: every service in one process on one port.");
                gateway["variables"]["host"] = json!({
                    "default": HOST,
                    "description": "chat-suite's `LISTEN_ADDR`, or the host of a proxy in front of it.",
                });
                let socketio = &mut document["servers"]["socketio"];
                socketio["description"] = json!("chat-suite, on the port of `/chat`.");
                socketio["variables"]["host"]["default"] = json!(HOST);
            }
        }
    }
}
