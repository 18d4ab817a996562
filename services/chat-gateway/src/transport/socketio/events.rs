//! Socket.IO events as the session's commands: `/chat`'s events under the same names with
//! the same data, and also the payload shapes the original service's clients send, so that
//! they work with a token added and nothing else changed.

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{
    protocol::{self, ErrorCode, Request, WsError},
    session::Command,
};

/// What `event` with `data` asks of `user`'s session.
pub(super) fn command(event: &str, data: Value, user: Uuid) -> Result<Command, WsError> {
    match event {
        "start_private_chat" => start_private_chat(data, user),
        "send_message" => send_message(data, user),
        "receive_message" => receive_message(data, user),
        _ => protocol::request(event, data).map(Command::Request),
    }
}

/// `{user_id}` as on `/chat`, `{receiver_id}`, or the original's `{sender_id, receiver_id}`.
fn start_private_chat(data: Value, user: Uuid) -> Result<Command, WsError> {
    let mut data = object(data, "start_private_chat")?;
    drop_own_sender(&mut data, user)?;
    if let Some(receiver) = data.remove("receiver_id") {
        if data.contains_key("user_id") {
            return Err(WsError::invalid_data("start_private_chat: give receiver_id or user_id, not both"));
        }
        data.insert("user_id".into(), receiver);
    }
    protocol::request("start_private_chat", Value::Object(data)).map(Command::Request)
}

/// `{chat_id, content, type?, client_msg_id?}` as on `/chat`; the original server's
/// `{chat_id, sender_id, message, type}`; the original web page's `{sender_id, receiver_id,
/// content}`, which names no chat: the pair's chat is found or made.
fn send_message(data: Value, user: Uuid) -> Result<Command, WsError> {
    let mut data = object(data, "send_message")?;
    drop_own_sender(&mut data, user)?;
    if let Some(message) = data.remove("message") {
        if data.contains_key("content") {
            return Err(WsError::invalid_data("send_message: give content or message, not both"));
        }
        data.insert("content".into(), message);
    }
    let receiver = match data.remove("receiver_id") {
        None => None,
        Some(_) if data.contains_key("chat_id") => {
            return Err(WsError::invalid_data("send_message: give chat_id or receiver_id, not both"));
        }
        Some(receiver) => {
            let receiver = user_id(receiver, "send_message: receiver_id")?;
            // Checked like any message; the chat is the pair's, found when it is handled.
            data.insert("chat_id".into(), Value::from(Uuid::nil().to_string()));
            Some(receiver)
        }
    };
    match (protocol::request("send_message", Value::Object(data))?, receiver) {
        (Request::SendMessage(message), Some(receiver_id)) => Ok(Command::SendTo { receiver_id, message }),
        (request, _) => Ok(Command::Request(request)),
    }
}

/// Whether a payload is one of the original clients': they, and only they, name their own
/// sender in what they send (the token says who sends on `/chat`).
pub(super) fn speaks_original(data: &Result<Value, String>) -> bool {
    matches!(data, Ok(Value::Object(map)) if map.contains_key("sender_id"))
}

/// `{chat_id, message_id}` as on `/chat`, or the original's `{sender_id, receiver_id}`: the
/// receiver acknowledges the pair's chat up to the sender's newest message. The caller is one
/// of the two, whichever the client called it.
fn receive_message(data: Value, user: Uuid) -> Result<Command, WsError> {
    let mut data = object(data, "receive_message")?;
    let Some(receiver) = data.remove("receiver_id") else {
        // `/chat`'s shape; a `sender_id` beside it names the message's sender, known already.
        if let Some(sender) = data.remove("sender_id") {
            user_id(sender, "receive_message: sender_id")?;
        }
        return protocol::request("receive_message", Value::Object(data)).map(Command::Request);
    };
    let receiver = user_id(receiver, "receive_message: receiver_id")?;
    let sender = match data.remove("sender_id") {
        Some(sender) => user_id(sender, "receive_message: sender_id")?,
        None => return Err(WsError::invalid_data("receive_message: receiver_id needs the sender_id beside it")),
    };
    if let Some(field) = data.keys().next() {
        return Err(WsError::invalid_data(format!(
            "receive_message: give {{chat_id, message_id}} or {{sender_id, receiver_id}}, not `{field}` too"
        )));
    }
    match (sender == user, receiver == user) {
        (true, true) => Err(WsError::invalid_data("receive_message: sender_id and receiver_id are the same user")),
        (false, true) => Ok(Command::AcknowledgeChatWith { peer: sender }),
        (true, false) => Ok(Command::AcknowledgeChatWith { peer: receiver }),
        (false, false) => Err(WsError::new(ErrorCode::Forbidden, "receive_message: one of the two must be the caller")),
    }
}

fn user_id(value: Value, what: &str) -> Result<Uuid, WsError> {
    serde_json::from_value::<Uuid>(value).map_err(|e| WsError::invalid_data(format!("{what}: {e}")))
}

fn object(data: Value, event: &str) -> Result<Map<String, Value>, WsError> {
    match data {
        Value::Object(map) => Ok(map),
        other => Err(WsError::invalid_data(format!("{event}: expected an object, got {}", kind(&other)))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "several arguments or an array",
        Value::Object(_) => "an object",
    }
}

/// The original clients name themselves as `sender_id`: the caller's own id is dropped, any
/// other refused (the token says who sends).
fn drop_own_sender(data: &mut Map<String, Value>, user: Uuid) -> Result<(), WsError> {
    match data.remove("sender_id") {
        None => Ok(()),
        Some(Value::String(sender)) if Uuid::parse_str(&sender).is_ok_and(|sender| sender == user) => Ok(()),
        Some(_) => Err(WsError::new(ErrorCode::Forbidden, "sender_id: must be the caller's own id, or left out")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ME: Uuid = Uuid::from_u128(1);
    const PEER: Uuid = Uuid::from_u128(2);
    const CHAT: Uuid = Uuid::from_u128(3);

    fn code(result: Result<Command, WsError>) -> ErrorCode {
        result.unwrap_err().code
    }

    #[test]
    fn start_private_chat_takes_every_shape_of_the_other_user() {
        for data in
            [json!({"user_id": PEER}), json!({"receiver_id": PEER}), json!({"sender_id": ME, "receiver_id": PEER})]
        {
            match command("start_private_chat", data.clone(), ME) {
                Ok(Command::Request(Request::StartPrivateChat(user))) => assert_eq!(user.user_id, PEER, "{data}"),
                other => panic!("{data}: {other:?}"),
            }
        }
        assert_eq!(
            code(command("start_private_chat", json!({"sender_id": PEER, "receiver_id": ME}), ME)),
            ErrorCode::Forbidden
        );
        let both = json!({"user_id": PEER, "receiver_id": PEER});
        assert_eq!(code(command("start_private_chat", both, ME)), ErrorCode::InvalidData);
        assert_eq!(code(command("start_private_chat", json!("x"), ME)), ErrorCode::InvalidData);
        assert_eq!(code(command("start_private_chat", json!({"user_id": PEER, "x": 1}), ME)), ErrorCode::InvalidData);
    }

    #[test]
    fn send_message_takes_the_original_server_and_page_shapes() {
        let original_server = json!({"chat_id": CHAT, "sender_id": ME, "message": "hi", "type": "text"});
        match command("send_message", original_server, ME) {
            Ok(Command::Request(Request::SendMessage(m))) => {
                assert_eq!((m.chat_id, m.content.as_str(), m.kind.as_str()), (CHAT, "hi", "text"));
            }
            other => panic!("{other:?}"),
        }
        let original_page = json!({"sender_id": ME, "receiver_id": PEER, "content": "hello"});
        match command("send_message", original_page, ME) {
            Ok(Command::SendTo { receiver_id, message }) => {
                assert_eq!((receiver_id, message.content.as_str()), (PEER, "hello"))
            }
            other => panic!("{other:?}"),
        }
        let ours = json!({"chat_id": CHAT, "content": "x", "client_msg_id": "c1"});
        assert!(matches!(command("send_message", ours, ME), Ok(Command::Request(Request::SendMessage(_)))));
    }

    /// The original acknowledgement used to be refused (unknown field `sender_id`).
    #[test]
    fn receive_message_takes_the_original_pair_shape() {
        for data in [json!({"sender_id": PEER, "receiver_id": ME}), json!({"sender_id": ME, "receiver_id": PEER})] {
            match command("receive_message", data.clone(), ME) {
                Ok(Command::AcknowledgeChatWith { peer }) => assert_eq!(peer, PEER, "{data}"),
                other => panic!("{data}: {other:?}"),
            }
        }
        let ours = json!({"chat_id": CHAT, "message_id": 7, "sender_id": PEER});
        match command("receive_message", ours, ME) {
            Ok(Command::Request(Request::ReceiveMessage(r))) => assert_eq!((r.chat_id, r.message_id), (CHAT, 7)),
            other => panic!("{other:?}"),
        }
        let strangers = json!({"sender_id": PEER, "receiver_id": CHAT});
        assert_eq!(code(command("receive_message", strangers, ME)), ErrorCode::Forbidden);
        let myself = json!({"sender_id": ME, "receiver_id": ME});
        assert_eq!(code(command("receive_message", myself, ME)), ErrorCode::InvalidData);
        let half = json!({"receiver_id": ME});
        assert_eq!(code(command("receive_message", half, ME)), ErrorCode::InvalidData);
        let mixed = json!({"sender_id": PEER, "receiver_id": ME, "chat_id": CHAT});
        assert_eq!(code(command("receive_message", mixed, ME)), ErrorCode::InvalidData);
        let garbage = json!({"sender_id": "x", "receiver_id": ME});
        assert_eq!(code(command("receive_message", garbage, ME)), ErrorCode::InvalidData);
    }

    #[test]
    fn a_payload_naming_its_sender_is_the_original_clients() {
        assert!(speaks_original(&Ok(json!({"sender_id": ME, "receiver_id": PEER}))));
        assert!(!speaks_original(&Ok(json!({"receiver_id": PEER}))));
        assert!(!speaks_original(&Ok(json!("x"))));
        assert!(!speaks_original(&Err("bad".into())));
    }

    #[test]
    fn send_message_is_checked_as_on_chat() {
        let forged = json!({"chat_id": CHAT, "sender_id": PEER, "content": "x"});
        assert_eq!(code(command("send_message", forged, ME)), ErrorCode::Forbidden);
        let long = json!({"receiver_id": PEER, "content": "a".repeat(4001)});
        assert_eq!(code(command("send_message", long, ME)), ErrorCode::ContentTooLong);
        let both = json!({"chat_id": CHAT, "receiver_id": PEER, "content": "x"});
        assert_eq!(code(command("send_message", both, ME)), ErrorCode::InvalidData);
        let twice = json!({"chat_id": CHAT, "content": "x", "message": "y"});
        assert_eq!(code(command("send_message", twice, ME)), ErrorCode::InvalidData);
        assert_eq!(
            code(command("send_message", json!({"receiver_id": "nope", "content": "x"}), ME)),
            ErrorCode::InvalidData
        );
        assert_eq!(code(command("dance", json!({}), ME)), ErrorCode::UnknownEvent);
    }
}
