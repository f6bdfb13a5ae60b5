//! The Rust peer of the interop run (`interop/websdk/run.sh`): logs in with the chatwire SDK,
//! prints every event as one JSON line on stdout, and executes JSON commands read from stdin
//! (`{"id": 1, "cmd": "send", "conv": "...", "text": "..."}`), answering each with
//! `{"type": "reply", "id": 1, "ok": true, "result": {...}}` or `"ok": false` with the error.

use std::str::FromStr;

use chatwire::{
    ConversationId, Event, MessageId, Messenger, NewConversation, Permissions, Seq, UserId,
};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

fn out(v: Value) {
    println!("{v}");
}

fn event_json(e: &Event) -> Option<Value> {
    let meta = e.meta();
    let mut v = json!({
        "type": "event",
        "conversation": e.conversation().map(|c| c.to_string()),
        "seq": e.seq().map(|s| s.get()),
        "initiator": meta.and_then(|m| m.initiator).map(|u| u.get()),
        "action": meta.map(|m| m.action.name().to_string()),
        "request_id": meta.and_then(|m| m.request_id.as_ref()).map(|r| r.to_string()),
        "replayed": meta.map(|m| m.replayed),
    });
    let (kind, extra) = match e {
        Event::ConversationCreated { conversation, .. }
        | Event::ConversationEdited { conversation, .. } => (
            if matches!(e, Event::ConversationCreated { .. }) {
                "ConversationCreated"
            } else {
                "ConversationEdited"
            },
            json!({
                "title": conversation.title,
                "custom_data": conversation.custom_data,
                "participants": conversation.participants.iter().map(|p| json!({"user": p.user.get(), "flags": p.permissions.bits()})).collect::<Vec<_>>(),
            }),
        ),
        Event::ConversationRemoved { .. } => ("ConversationRemoved", json!({})),
        Event::MessageSent { message, .. } => (
            "MessageSent",
            json!({"message": message.id.to_string(), "text": message.text}),
        ),
        Event::MessageEdited { message, .. } => (
            "MessageEdited",
            json!({"message": message.id.to_string(), "text": message.text}),
        ),
        Event::MessageRemoved { message, .. } => {
            ("MessageRemoved", json!({"message": message.to_string()}))
        }
        Event::Typing { .. } => ("Typing", json!({})),
        Event::Read { seq, .. } => ("Read", json!({"read_seq": seq.get()})),
        Event::Status { user, online, .. } => {
            ("Status", json!({"user": user.get(), "online": online}))
        }
        Event::UserEdited { user, .. } => ("UserEdited", json!({"user": user.id.get()})),
        Event::Connection(state) => ("Connection", json!({"state": format!("{state:?}")})),
        _ => return None,
    };
    v["kind"] = json!(kind);
    if let (Some(obj), Value::Object(extra)) = (v.as_object_mut(), extra) {
        obj.extend(extra);
    }
    Some(v)
}

fn arg<T: FromStr>(cmd: &Value, key: &str) -> Result<T, String> {
    let raw = match &cmd[key] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => return Err(format!("missing `{key}` ({other})")),
    };
    raw.parse().map_err(|_| format!("bad `{key}`: {raw}"))
}

/// Why a command failed: the SDK refused it, or the command itself was malformed.
enum Failure {
    Sdk(chatwire::Error),
    Command(String),
}

impl From<chatwire::Error> for Failure {
    fn from(e: chatwire::Error) -> Self {
        Failure::Sdk(e)
    }
}

async fn run(m: &Messenger, cmd: &Value) -> Result<Value, Failure> {
    let bad = Failure::Command;
    let conv = || arg::<ConversationId>(cmd, "conv").map_err(bad);
    Ok(match cmd["cmd"].as_str().unwrap_or_default() {
        "send" => {
            let m = m
                .send_message(conv()?, cmd["text"].as_str().unwrap_or_default())
                .await?;
            json!({"message": m.id.to_string()})
        }
        "edit" => {
            let msg = arg::<MessageId>(cmd, "message").map_err(bad)?;
            m.edit_message(conv()?, msg)
                .text(cmd["text"].as_str().unwrap_or_default())
                .await?;
            json!({})
        }
        "remove" => {
            m.remove_message(conv()?, arg::<MessageId>(cmd, "message").map_err(bad)?)
                .await?;
            json!({})
        }
        "typing" => {
            m.typing(conv()?).await?;
            json!({})
        }
        "read" => {
            json!({"seq": m.mark_as_read(conv()?, Seq(arg(cmd, "seq").map_err(bad)?)).await?.get()})
        }
        "status" => json!({"online": m.set_status(cmd["online"].as_bool().unwrap_or(true)).await?}),
        "subscribe" => {
            m.subscribe([arg::<UserId>(cmd, "user").map_err(bad)?])
                .await?;
            json!({})
        }
        "broadcast" => {
            let user = arg::<UserId>(cmd, "user").map_err(bad)?;
            let c = m
                .create_conversation(
                    NewConversation::broadcast()
                        .title("announcements")
                        .participant(user),
                )
                .await?;
            json!({"conv": c.id.to_string()})
        }
        "send_many" => {
            let conv = conv()?;
            let count = cmd["count"].as_u64().unwrap_or(1);
            for i in 0..count {
                m.send_message(conv, format!("bulk {i}")).await?;
            }
            json!({"sent": count})
        }
        "add" => {
            let user = arg::<UserId>(cmd, "user").map_err(bad)?;
            let c = m.add_participants(conv()?, [user]).await?;
            json!({"flags": c.participant(user).map(|p| p.permissions.bits()),
                   "defaults": c.default_permissions().map(|p| p.bits())})
        }
        "chat" => {
            let user = arg::<UserId>(cmd, "user").map_err(bad)?;
            let c = m
                .create_conversation(
                    NewConversation::chat()
                        .title("made in Rust")
                        .participant(user),
                )
                .await?;
            json!({"conv": c.id.to_string()})
        }
        "get_conversation" => {
            let c = m.get_conversation(conv()?).await?;
            json!({"title": c.title, "custom_data": c.custom_data, "last_seq": c.last_seq.get(),
                   "participants": c.participants.iter().map(|p| json!({"user": p.user.get(), "flags": p.permissions.bits()})).collect::<Vec<_>>()})
        }
        "flags" => {
            let c = m.get_conversation(conv()?).await?;
            let user = arg::<UserId>(cmd, "user").map_err(bad)?;
            json!({"flags": c.participant(user).map(|p| p.permissions.bits()), "owner": c.participant(user).map(|p| p.permissions == Permissions::ALL)})
        }
        other => return Err(bad(format!("unknown command {other}"))),
    })
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, ca, user, password] = &args[..] else {
        eprintln!("usage: chatwire-interop-peer URL CA_PEM USER PASSWORD");
        std::process::exit(2);
    };
    let pem = std::fs::read(ca).expect("CA file");
    let m = match Messenger::builder(url)
        .tls_root_certificates_pem(&pem)
        .password(user, password)
        .connect()
        .await
    {
        Ok(m) => m,
        Err(e) => {
            out(json!({"type": "fatal", "error": e.to_string()}));
            std::process::exit(1);
        }
    };
    let mut events = m.events();
    out(json!({"type": "ready", "user_id": m.user_id().get()}));
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                Some(e) => if let Some(v) = event_json(&e) { out(v) },
                None => break,
            },
            line = lines.next_line() => {
                let Ok(Some(line)) = line else { break };
                let Ok(cmd) = serde_json::from_str::<Value>(&line) else { continue };
                if cmd["cmd"] == "quit" {
                    break;
                }
                let reply = match run(&m, &cmd).await {
                    Ok(result) => json!({"type": "reply", "id": cmd["id"], "ok": true, "result": result}),
                    Err(Failure::Sdk(e)) => json!({"type": "reply", "id": cmd["id"], "ok": false, "error": e.to_string(),
                                     "code": e.code().map(|c| c.code())}),
                    Err(Failure::Command(e)) => json!({"type": "reply", "id": cmd["id"], "ok": false,
                                     "error": format!("invalid argument: {e}"), "code": null}),
                };
                out(reply);
            }
        }
    }
    m.close();
}
