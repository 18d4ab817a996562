//! Reading messages back: what a connection replays or fills a gap with, where a client stands
//! in each chat, and pages of a chat's history.

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

use super::{
    changes::ChangeKind,
    entities::{message_changes, message_reactions, messages},
};
use crate::domain::{Changed, Content, Emoji, Message, Tally, What};

/// Messages of the given chats numbered after each chat's position, oldest first, at most
/// `limit`. What a connection replays on resume and fetches to fill a gap.
pub async fn after_positions(
    db: &impl ConnectionTrait,
    positions: &[(Uuid, i64)],
    limit: u64,
) -> Result<Vec<Message>, DbErr> {
    if positions.is_empty() {
        return Ok(Vec::new());
    }
    let wanted = numbered_after(positions, messages::Column::ChatId, messages::Column::Seq);
    let rows = messages::Entity::find().filter(wanted).order_by_asc(messages::Column::Id).limit(limit).all(db).await?;
    Ok(rows.into_iter().map(Message::from).collect())
}

/// Rows of the given chats numbered after each chat's position.
fn numbered_after(positions: &[(Uuid, i64)], chat: impl ColumnTrait, seq: impl ColumnTrait) -> Condition {
    positions.iter().fold(Condition::any(), |cond, (chat_id, after)| {
        cond.add(Condition::all().add(chat.eq(*chat_id)).add(seq.gt(*after)))
    })
}

/// Changes of the given chats numbered after each chat's position, by chat and number, at
/// most `limit`: what a connection replays beside the messages. An edit carries the text as it
/// stands now (none once deleted).
pub async fn changes_after(
    db: &impl ConnectionTrait,
    positions: &[(Uuid, i64)],
    limit: u64,
) -> Result<Vec<Changed>, DbErr> {
    if positions.is_empty() {
        return Ok(Vec::new());
    }
    let wanted = numbered_after(positions, message_changes::Column::ChatId, message_changes::Column::Seq);
    let rows = message_changes::Entity::find()
        .filter(wanted)
        .order_by_asc(message_changes::Column::ChatId)
        .order_by_asc(message_changes::Column::Seq)
        .limit(limit)
        .all(db)
        .await?;
    let edited: Vec<i64> = rows.iter().filter(|r| r.kind == ChangeKind::EDITED).map(|r| r.message_id).collect();
    let texts: HashMap<i64, messages::Model> = if edited.is_empty() {
        HashMap::new()
    } else {
        let found = messages::Entity::find().filter(messages::Column::Id.is_in(edited)).all(db).await?;
        found.into_iter().map(|m| (m.id, m)).collect()
    };
    Ok(rows
        .into_iter()
        .map(|row| {
            let emoji = || Emoji::stored(row.emoji.clone().unwrap_or_default());
            let what = match row.kind.as_str() {
                ChangeKind::EDITED => {
                    let now = texts.get(&row.message_id).filter(|m| m.deleted_at.is_none());
                    What::Edited {
                        content: now.map(|m| Content::stored(m.content.clone())),
                        edited_at: now.and_then(|m| m.edited_at).unwrap_or(row.at),
                    }
                }
                ChangeKind::REACTION_ADDED => What::ReactionAdded(emoji()),
                ChangeKind::REACTION_REMOVED => What::ReactionRemoved(emoji()),
                _ => What::Deleted,
            };
            Changed { chat_id: row.chat_id, seq: row.seq, message_id: row.message_id, by: row.user_id, what }
        })
        .collect())
}

/// The reactions to each of `message_ids` as `viewer` sees them: per emoji, in the order each
/// was first used.
pub async fn reactions(
    db: &impl ConnectionTrait,
    message_ids: &[i64],
    viewer: Uuid,
) -> Result<HashMap<i64, Vec<Tally>>, DbErr> {
    if message_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = message_reactions::Entity::find()
        .filter(message_reactions::Column::MessageId.is_in(message_ids.iter().copied()))
        .order_by_asc(message_reactions::Column::ReactedAt)
        .all(db)
        .await?;
    let mut tallies: HashMap<i64, Vec<Tally>> = HashMap::new();
    for row in rows {
        let of_message = tallies.entry(row.message_id).or_default();
        let me = row.user_id == viewer;
        match of_message.iter_mut().find(|t| t.emoji.as_str() == row.emoji) {
            Some(tally) => {
                tally.count += 1;
                tally.me |= me;
            }
            None => of_message.push(Tally { emoji: Emoji::stored(row.emoji), count: 1, me }),
        }
    }
    Ok(tallies)
}

/// For each chat, the number of the newest message with an id at most `since` (0 if none):
/// where a client that has everything up to `since` stands in each chat.
pub async fn positions_at(db: &impl ConnectionTrait, chats: &[Uuid], since: i64) -> Result<Vec<(Uuid, i64)>, DbErr> {
    let found: Vec<(Uuid, Option<i64>)> = messages::Entity::find()
        .select_only()
        .column(messages::Column::ChatId)
        .column_as(messages::Column::Seq.max(), "seq")
        .filter(messages::Column::ChatId.is_in(chats.iter().copied()))
        .filter(messages::Column::Id.lte(since))
        .group_by(messages::Column::ChatId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(chats
        .iter()
        .map(|chat| {
            let seq = found.iter().find(|(c, _)| c == chat).and_then(|(_, s)| *s).unwrap_or(0);
            (*chat, seq)
        })
        .collect())
}

/// The number (`seq`) of each of these messages that lies in the chat named with it; pairs
/// that do not match are left out. One query however many pairs.
pub async fn seqs_of(db: &impl ConnectionTrait, pairs: &[(Uuid, i64)]) -> Result<HashMap<(Uuid, i64), i64>, DbErr> {
    if pairs.is_empty() {
        return Ok(HashMap::new());
    }
    let found: Vec<(Uuid, i64, i64)> = messages::Entity::find()
        .select_only()
        .column(messages::Column::ChatId)
        .column(messages::Column::Id)
        .column(messages::Column::Seq)
        .filter(messages::Column::Id.is_in(pairs.iter().map(|(_, id)| *id)))
        .into_tuple()
        .all(db)
        .await?;
    Ok(found
        .into_iter()
        .filter(|(chat, id, _)| pairs.contains(&(*chat, *id)))
        .map(|(chat, id, seq)| ((chat, id), seq))
        .collect())
}

/// The id of the newest message `sender` sent in `chat_id`, if any.
pub async fn newest_from(db: &DatabaseConnection, chat_id: Uuid, sender: Uuid) -> Result<Option<i64>, DbErr> {
    messages::Entity::find()
        .select_only()
        .column_as(messages::Column::Id.max(), "newest")
        .filter(messages::Column::ChatId.eq(chat_id))
        .filter(messages::Column::SenderId.eq(sender))
        .into_tuple::<Option<i64>>()
        .one(db)
        .await
        .map(Option::flatten)
}

/// Which page of a chat's history.
#[derive(Debug, Clone, Copy)]
pub enum Page {
    Newest,
    Before(i64),
    After(i64),
    /// After one id and before another: a gap a client fills, oldest first.
    Between {
        after: i64,
        before: i64,
    },
}

/// A page of history, oldest first, and whether more lie beyond it in the direction asked:
/// the messages numbered after `after_seq` only (where a group's member joined).
pub async fn history(
    db: &DatabaseConnection,
    chat_id: Uuid,
    after_seq: i64,
    page: Page,
    limit: u64,
) -> Result<(Vec<Message>, bool), DbErr> {
    let mut query = messages::Entity::find().filter(messages::Column::ChatId.eq(chat_id));
    if after_seq > 0 {
        query = query.filter(messages::Column::Seq.gt(after_seq));
    }
    let query = match page {
        Page::Newest => query.order_by_desc(messages::Column::Id),
        Page::Before(id) => query.filter(messages::Column::Id.lt(id)).order_by_desc(messages::Column::Id),
        Page::After(id) => query.filter(messages::Column::Id.gt(id)).order_by_asc(messages::Column::Id),
        Page::Between { after, before } => query
            .filter(messages::Column::Id.gt(after))
            .filter(messages::Column::Id.lt(before))
            .order_by_asc(messages::Column::Id),
    };
    let mut rows = query.limit(limit + 1).all(db).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    if matches!(page, Page::Newest | Page::Before(_)) {
        rows.reverse();
    }
    Ok((rows.into_iter().map(Message::from).collect(), more))
}
