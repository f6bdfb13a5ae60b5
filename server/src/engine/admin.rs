//! Admin API operations (docs/BEHAVIOUR.md section 11), engine side: applying the [`AdminCommand`]s
//! of `command.rs`.

use chatwire_protocol::UserId;
use tokio::sync::oneshot;

use super::command::{AdminCommand, AdminError, AdminReply, AdminTarget, UserInfo};
use super::{now, Engine};
use crate::store::{IdKind, Secret, UserRecord};

impl Engine {
    pub(crate) fn admin(
        &mut self,
        cmd: AdminCommand,
        reply: oneshot::Sender<Result<AdminReply, AdminError>>,
    ) {
        let result = match cmd {
            AdminCommand::AddUser {
                name,
                display_name,
                password_hash,
            } => self.add_user(name, display_name, password_hash),
            AdminCommand::GetUsers {
                ids,
                name,
                count,
                offset,
            } => {
                let matches: Vec<UserInfo> = self
                    .state
                    .by_admin_id
                    .values()
                    .map(|id| &self.state.users[id].rec)
                    .filter(|u| !u.deleted)
                    .filter(|u| ids.as_ref().is_none_or(|ids| ids.contains(&u.admin_id)))
                    .filter(|u| name.as_ref().is_none_or(|n| *n == u.name))
                    .map(info)
                    .collect();
                let total_count = matches.len();
                let result = matches.into_iter().skip(offset).take(count).collect();
                Ok(AdminReply::Users {
                    result,
                    total_count,
                })
            }
            AdminCommand::DelUser { target } => self.find(&target).map(|id| {
                let user = &mut self.state.users.get_mut(&id).expect("found").rec;
                user.deleted = true;
                user.modified = now();
                self.save_user(id);
                self.revoke_tokens(id);
                self.disconnect_user(id);
                AdminReply::Done
            }),
            AdminCommand::SetUserInfo {
                target,
                display_name,
                password_hash,
                active,
            } => self.find(&target).map(|id| {
                let user = &mut self.state.users.get_mut(&id).expect("found").rec;
                if let Some(d) = display_name {
                    user.display_name = d;
                }
                let new_password = password_hash.is_some();
                if let Some(h) = password_hash {
                    user.password_hash = h;
                    user.credential_version += 1;
                }
                if let Some(a) = active {
                    user.active = a;
                }
                user.modified = now();
                self.save_user(id);
                if new_password || active == Some(false) {
                    self.revoke_tokens(id);
                }
                if active == Some(false) {
                    self.disconnect_user(id);
                }
                AdminReply::Done
            }),
        };
        match result {
            Ok(r) => self.out.after.push(Box::new(move |ok| {
                let _ = reply.send(if ok { Ok(r) } else { Err(AdminError::Internal) });
            })),
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    fn find(&self, target: &AdminTarget) -> Result<UserId, AdminError> {
        let id = match target {
            AdminTarget::Id(admin_id) => self.state.by_admin_id.get(admin_id).copied(),
            AdminTarget::Name(name) => self.state.by_name.get(name).copied(),
        };
        id.filter(|id| !self.state.users[id].rec.deleted)
            .ok_or(AdminError::NotFound)
    }

    fn add_user(
        &mut self,
        name: String,
        display_name: String,
        password_hash: Secret,
    ) -> Result<AdminReply, AdminError> {
        if self.state.by_name.contains_key(&name) {
            return Err(AdminError::NameTaken);
        }
        let id = self
            .allocate(IdKind::User)
            .map_err(|_| AdminError::Internal)?;
        let id = UserId::new(id).ok_or(AdminError::Internal)?;
        let admin_id = self
            .allocate(IdKind::Admin)
            .map_err(|_| AdminError::Internal)?;
        let now = now();
        let rec = UserRecord {
            id,
            admin_id,
            name: name.clone(),
            display_name,
            password_hash,
            credential_version: 0,
            active: true,
            deleted: false,
            created: now,
            modified: now,
            custom_data: Default::default(),
            private_custom_data: Default::default(),
            notification_events: Vec::new(),
            subscriptions: Vec::new(),
            conversations: Vec::new(),
            left: Vec::new(),
        };
        self.state.by_name.insert(name, id);
        self.state.by_admin_id.insert(admin_id, id);
        self.state.users.insert(
            id,
            super::state::User {
                rec,
                conns: Vec::new(),
            },
        );
        self.save_user(id);
        Ok(AdminReply::Added {
            user_id: admin_id,
            im_id: id,
        })
    }

    /// Closes every connection of a deleted or deactivated user with 4003 (after the change is
    /// durable) and detaches them now, sending the offline presence when it applies.
    fn disconnect_user(&mut self, user: UserId) {
        let conns = self
            .state
            .users
            .get(&user)
            .map(|u| u.conns.clone())
            .unwrap_or_default();
        let now = now();
        if let Some(bus) = self.bus.clone() {
            // Other nodes close theirs once the change is durable, like this node.
            self.out.after.push(Box::new(move |ok| {
                if ok {
                    bus.publish(crate::bus::Outgoing::Kick {
                        node: bus.node,
                        user: user.get(),
                        code: 4003,
                    });
                }
            }));
        }
        for c in conns {
            if let Some(conn) = self.state.conns.get(&c) {
                self.out
                    .closes
                    .push((conn.handle.clone(), 4003, "user deleted or deactivated"));
            }
            self.detach(c, now);
        }
    }
}

fn info(u: &UserRecord) -> UserInfo {
    UserInfo {
        user_id: u.admin_id,
        im_id: u.id,
        user_name: u.name.clone(),
        user_display_name: u.display_name.clone(),
        user_active: u.active,
        created: u.created,
        modified: u.modified,
    }
}
