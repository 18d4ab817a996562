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
            let receiver = serde_json::from_value::<Uuid>(receiver)
                .map_err(|e| WsError::invalid_data(format!("send_message: receiver_id: {e}")))?;
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
