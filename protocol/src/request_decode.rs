//! Decoding of request payloads: exactly the "step 0" checks of each action (docs/BEHAVIOUR.md sections
//! 2.3 and 2.5: types, required fields, ranges answered with code 0); every later check belongs
//! to the server.

use serde_json::Value;

use crate::fields::{flags_of, missing, objects_of, user_id_of, Fields};
use crate::request::*;
use crate::{Action, DecodeError, UserId};

type Result<T> = std::result::Result<T, DecodeError>;

impl Request {
    /// Decodes a payload for `action`, performing the action's code-0 checks.
    pub fn decode(action: Action, payload: &JsonMap) -> Result<Request> {
        let f = Fields(payload);
        Ok(match action {
            Action::CreateConversation => Request::CreateConversation(CreateConversation {
                title: f.opt_title("title")?,
                direct: f.opt_bool("direct")?,
                enable_public_join: f.opt_bool("enable_public_join")?,
                uber_conversation: f.opt_bool("uber_conversation")?,
                custom_data: f.opt_custom_data("custom_data")?,
                participants: match f.opt_list("participants")? {
                    Some(list) => participant_specs(list, false)?,
                    None => Vec::new(),
                },
            }),
            Action::EditConversation => Request::EditConversation(EditConversation {
                title: f.opt_title("title")?,
                enable_public_join: f.opt_bool("enable_public_join")?,
                custom_data: f.opt_custom_data("custom_data")?,
                custom_data_patch: f.opt_custom_data_patch("custom_data_patch")?,
                uuid: f.str("uuid")?,
            }),
            Action::GetConversation => Request::GetConversation(conversation_ref(&f)?),
            Action::JoinConversation => Request::JoinConversation(conversation_ref(&f)?),
            Action::LeaveConversation => Request::LeaveConversation(conversation_ref(&f)?),
            Action::GetConversations => Request::GetConversations(GetConversations {
                uuid: f
                    .list("uuid")?
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s.clone()),
                        _ => Err(DecodeError::invalid(
                            "uuid",
                            "every element must be a string",
                        )),
                    })
                    .collect::<Result<_>>()?,
            }),
            Action::GetPublicConversations => Request::GetPublicConversations,
            Action::AddParticipants => Request::AddParticipants(manage_participants(&f, true)?),
            Action::EditParticipants => Request::EditParticipants(manage_participants(&f, false)?),
            Action::RemoveParticipants => {
                let participants = f
                    .list("participants")?
                    .iter()
                    .map(|v| match v {
                        Value::Object(m) => {
                            let id = m.get("user_id").filter(|v| !v.is_null());
                            user_id_of(
                                id.ok_or_else(|| missing("participants.user_id"))?,
                                "participants.user_id",
                            )
                        }
                        other => user_id_of(other, "participants"),
                    })
                    .collect::<Result<_>>()?;
                Request::RemoveParticipants(RemoveParticipants {
                    participants,
                    uuid: f.str("uuid")?,
                })
            }
            Action::SendMessage => {
                let text = f.opt_str("text")?;
                let payload = f.opt_objects("payload")?;
                let message = SendMessage {
                    conversation: f.str("conversation")?,
                    text,
                    payload,
                };
                if message.is_empty() {
                    return Err(DecodeError::invalid(
                        "text",
                        "a message needs text or payload",
                    ));
                }
                Request::SendMessage(message)
            }
            Action::EditMessage => {
                let text = f.opt_str("text")?;
                let payload = f.opt_objects("payload")?;
                let edit = EditMessage {
                    uuid: f.str("uuid")?,
                    conversation: f.str("conversation")?,
                    text,
                    payload,
                };
                if edit.empties_message() {
                    return Err(DecodeError::invalid(
                        "text",
                        "an edit cannot empty the message",
                    ));
                }
                Request::EditMessage(edit)
            }
            Action::RemoveMessage => Request::RemoveMessage(RemoveMessage {
                uuid: f.str("uuid")?,
                conversation: f.str("conversation")?,
            }),
            Action::TypingMessage => Request::TypingMessage(TypingMessage {
                conversation: f.str("conversation")?,
            }),
            Action::IsRead => Request::IsRead(IsRead {
                conversation: f.str("conversation")?,
                seq: f.int("seq")?,
            }),
            Action::RetransmitEvents => Request::RetransmitEvents(RetransmitEvents {
                conversation: f.str("conversation")?,
                events_from: f.opt_int("events_from")?,
                events_to: f.opt_int("events_to")?,
                count: f.opt_int("count")?,
            }),
            Action::GetUser => Request::GetUser(user_ref(&f, "")?),
            Action::GetUsers => {
                let users = objects_of(f.list("users")?, "users")?
                    .iter()
                    .map(|u| user_ref(u, "users."))
                    .collect::<Result<_>>()?;
                Request::GetUsers(GetUsers { users })
            }
            Action::EditUser => Request::EditUser(EditUser {
                custom_data: f.opt_custom_data("custom_data")?,
                private_custom_data: f.opt_custom_data("private_custom_data")?,
            }),
            Action::SetStatus => Request::SetStatus(SetStatus {
                online: f.bool("online")?,
            }),
            Action::Subscribe => Request::Subscribe(Subscribe {
                user_id: user_ids(f.list("user_id")?, "user_id")?,
            }),
            Action::Unsubscribe => Request::Unsubscribe(Unsubscribe {
                user_id: f
                    .opt_list("user_id")?
                    .map(|l| user_ids(l, "user_id"))
                    .transpose()?,
                all: f.opt_bool("all")?,
            }),
            Action::GetSubscriptionList => Request::GetSubscriptionList,
            Action::ManageNotification => Request::ManageNotification(ManageNotification {
                notifications: f
                    .opt_list("notifications")?
                    .map(|l| {
                        l.iter()
                            .map(|v| match v {
                                Value::String(s) => Ok(s.clone()),
                                _ => Err(DecodeError::invalid(
                                    "notifications",
                                    "every element must be a string",
                                )),
                            })
                            .collect::<Result<Vec<_>>>()
                    })
                    .transpose()?,
            }),
            Action::CatchUp => Request::CatchUp(crate::CatchUp::decode(payload)?),
        })
    }
}

fn conversation_ref(f: &Fields<'_>) -> Result<ConversationRef> {
    Ok(ConversationRef {
        uuid: f.str("uuid")?,
    })
}

/// `with_last_read`: the elements may carry `last_read` (addParticipants): its value is ignored,
/// but like every integer field it must be an integer when given (docs/BEHAVIOUR.md sections 2.3, 2.5).
fn manage_participants(f: &Fields<'_>, with_last_read: bool) -> Result<ManageParticipants> {
    let participants = participant_specs(f.list("participants")?, with_last_read)?;
    Ok(ManageParticipants {
        participants,
        uuid: f.str("uuid")?,
    })
}

fn participant_specs(list: &[Value], with_last_read: bool) -> Result<Vec<ParticipantSpec>> {
    objects_of(list, "participants")?
        .iter()
        .map(|p| {
            if with_last_read {
                p.opt_int("last_read").map_err(|_| {
                    DecodeError::invalid("participants.last_read", "expected an integer")
                })?;
            }
            let user_id =
                p.0.get("user_id")
                    .filter(|v| !v.is_null())
                    .ok_or_else(|| missing("participants.user_id"))?;
            Ok(ParticipantSpec {
                user_id: user_id_of(user_id, "participants.user_id")?,
                flags: p
                    .0
                    .get("flags")
                    .filter(|v| !v.is_null())
                    .map(|v| flags_of(v, "participants.flags"))
                    .transpose()?,
            })
        })
        .collect()
}

fn user_ids(list: &[Value], field: &str) -> Result<Vec<UserId>> {
    list.iter().map(|v| user_id_of(v, field)).collect()
}

fn user_ref(f: &Fields<'_>, prefix: &str) -> Result<UserRef> {
    let id = f.0.get("user_id").filter(|v| !v.is_null());
    let name = f
        .opt_str("user_name")
        .map_err(|_| DecodeError::invalid(format!("{prefix}user_name"), "expected a string"))?;
    match (id, name) {
        (Some(id), None) => Ok(UserRef::Id(user_id_of(id, &format!("{prefix}user_id"))?)),
        (None, Some(name)) => Ok(UserRef::Name(name)),
        _ => Err(DecodeError::invalid(
            format!("{prefix}user_id"),
            "give exactly one of user_id and user_name",
        )),
    }
}
