//! Logins and tokens, engine side: the engine owns the user records and token hashes.
//!
//! Password verification (argon2) happens in the connection task, off this thread; the engine
//! only looks users up, issues tokens and attaches logged-in connections. Success frames are
//! queued to the connection after the token writes are durable, before any later broadcast.

use std::sync::Arc;

use chatwire_protocol::{login_codes, OAuthTokens, ServerSession, UserId};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use super::command::{AuthCommand, AuthOutcome, LoginInfo};
use super::state::Conn;
use super::{now, Engine};
use crate::outbound::ConnShared;
use crate::store::{TokenKind, TokenRecord, Write};

/// Hex SHA-256 of a token: tokens are stored and looked up only by this.
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Engine {
    pub(crate) fn auth(&mut self, cmd: AuthCommand) {
        match cmd {
            AuthCommand::Lookup { name, reply } => {
                if !self.state.by_name.contains_key(&name) && self.store.shared() {
                    // Created through another node, announcement not here yet.
                    if let Ok(Some(rec)) = self.store.user_named(&name) {
                        self.state.put_user(rec);
                    }
                }
                let info = self.state.by_name.get(&name).map(|id| {
                    let rec = &self.state.users[id].rec;
                    LoginInfo {
                        user: rec.id,
                        password_hash: rec.password_hash.clone(),
                        credential_version: rec.credential_version,
                    }
                });
                let _ = reply.send(info);
            }
            AuthCommand::PasswordLogin {
                conn,
                user,
                credential_version,
                reply,
            } => {
                let outcome = match self.state.users.get(&user) {
                    Some(u) if u.rec.credential_version != credential_version => {
                        Err(login_codes::BAD_CREDENTIALS)
                    }
                    Some(u) if u.rec.deleted || !u.rec.active => Err(login_codes::FORBIDDEN),
                    Some(_) => Ok(()),
                    None => Err(login_codes::BAD_CREDENTIALS),
                };
                self.finish_login(conn, user, outcome, reply);
            }
            AuthCommand::TokenLogin {
                conn,
                name,
                token,
                current,
                reply,
            } => {
                let outcome = self.check_token(&name, &token, TokenKind::Access);
                match outcome {
                    Ok(user) if current.is_some_and(|c| c != user) => {
                        let _ = reply.send(AuthOutcome::Failed(login_codes::ALREADY_LOGGED_IN));
                    }
                    Ok(user) => self.finish_login(conn, user, Ok(()), reply),
                    Err(code) => {
                        let code = if current.is_some() {
                            login_codes::ALREADY_LOGGED_IN
                        } else {
                            code
                        };
                        let _ = reply.send(AuthOutcome::Failed(code));
                    }
                }
            }
            AuthCommand::Refresh {
                conn,
                name,
                token,
                reply,
            } => match self.check_token(&name, &token, TokenKind::Refresh) {
                Ok(user) => {
                    self.out.write(Write::DeleteToken(token_hash(&token)));
                    self.state.tokens.remove(&token_hash(&token));
                    let tokens = self.issue_tokens(user);
                    let frame = ServerSession::RefreshSuccessful { tokens }.encode();
                    self.out.after.push(Box::new(move |ok| {
                        if ok {
                            conn.reply(frame.into());
                            let _ = reply.send(AuthOutcome::Refreshed);
                        } else {
                            let _ = reply.send(AuthOutcome::Failed(login_codes::INTERNAL));
                        }
                    }));
                }
                Err(code) => {
                    let _ = reply.send(AuthOutcome::Failed(code));
                }
            },
        }
    }

    /// Validates a token for `name` (short name): 401 unknown/other user/wrong kind, 701
    /// expired, 403 user deactivated or deleted.
    fn check_token(&mut self, name: &str, token: &str, kind: TokenKind) -> Result<UserId, u16> {
        let hash = token_hash(token);
        let now = now();
        let refresh_ttl = self.config.limits.refresh_token_ttl.as_secs() as i64;
        if !self.state.tokens.contains_key(&hash) && self.store.shared() {
            // Issued by another node (a client reconnecting elsewhere).
            if let Ok(Some(rec)) = self.store.token(&hash) {
                if !self.state.users.contains_key(&rec.user) {
                    if let Ok(users) = self.store.users(&[rec.user]) {
                        users.into_iter().for_each(|u| self.state.put_user(u));
                    }
                }
                self.state.tokens.insert(hash.clone(), rec);
            }
        }
        let Some(rec) = self.state.tokens.get(&hash) else {
            return Err(login_codes::BAD_CREDENTIALS);
        };
        if rec.issued_at + refresh_ttl.max(rec.expires_at - rec.issued_at) < now {
            // Long past any use: forget it.
            self.state.tokens.remove(&hash);
            self.out.write(Write::DeleteToken(hash));
            return Err(login_codes::BAD_CREDENTIALS);
        }
        let owner = self.state.users.get(&rec.user);
        if rec.kind != kind || owner.is_none_or(|u| u.rec.name != name) {
            return Err(login_codes::BAD_CREDENTIALS);
        }
        if rec.expires_at <= now {
            return Err(login_codes::TOKEN_EXPIRED);
        }
        let user = owner.expect("checked");
        if user.rec.deleted || !user.rec.active {
            return Err(login_codes::FORBIDDEN);
        }
        Ok(user.rec.id)
    }

    /// Issues a fresh access/refresh pair and queues the writes.
    fn issue_tokens(&mut self, user: UserId) -> OAuthTokens {
        let now = now();
        let access_ttl = self.config.limits.access_token_ttl.as_secs();
        let refresh_ttl = self.config.limits.refresh_token_ttl.as_secs();
        let tokens = OAuthTokens {
            access_token: random_token(),
            access_expire: access_ttl,
            refresh_token: random_token(),
            refresh_expire: refresh_ttl,
        };
        for (token, kind, ttl) in [
            (&tokens.access_token, TokenKind::Access, access_ttl),
            (&tokens.refresh_token, TokenKind::Refresh, refresh_ttl),
        ] {
            let rec = TokenRecord {
                hash: token_hash(token),
                user,
                kind,
                issued_at: now,
                expires_at: now + ttl as i64,
            };
            self.state.tokens.insert(rec.hash.clone(), rec.clone());
            self.out.write(Write::Token(rec));
        }
        tokens
    }

    /// Revokes every token of a user.
    pub(crate) fn revoke_tokens(&mut self, user: UserId) {
        let hashes: Vec<String> = self
            .state
            .tokens
            .values()
            .filter(|t| t.user == user)
            .map(|t| t.hash.clone())
            .collect();
        for hash in hashes {
            self.state.tokens.remove(&hash);
            self.out.write(Write::DeleteToken(hash));
        }
    }

    fn finish_login(
        &mut self,
        conn: Arc<ConnShared>,
        user: UserId,
        outcome: Result<(), u16>,
        reply: oneshot::Sender<AuthOutcome>,
    ) {
        if let Err(code) = outcome {
            let _ = reply.send(AuthOutcome::Failed(code));
            return;
        }
        let limit = self.config.limits.max_connections_per_user;
        let attached = self.state.conns.contains_key(&conn.id);
        if limit > 0
            && !attached
            && self
                .state
                .users
                .get(&user)
                .is_some_and(|u| u.conns.len() + self.connections_elsewhere(user) >= limit)
        {
            let _ = reply.send(AuthOutcome::Failed(login_codes::TOO_MANY_CONNECTIONS));
            return;
        }
        let tokens = self.issue_tokens(user);
        let display_name = self.state.users[&user].rec.display_name.clone();
        if let std::collections::hash_map::Entry::Vacant(slot) = self.state.conns.entry(conn.id) {
            slot.insert(Conn {
                user,
                handle: conn.clone(),
                online: false,
            });
            self.state
                .users
                .get_mut(&user)
                .expect("user")
                .conns
                .push(conn.id);
            self.state.conn_generation += 1;
            let here = self.online_here(user);
            self.publish_presence(user, here);
        }
        let mut frame = ServerSession::LoginSuccessful {
            display_name,
            tokens,
        }
        .to_frame();
        // The chatwire extensions, in a key the official Web SDK ignores.
        if let Some(options) = frame.params.get_mut(1) {
            self.config.limits.extensions().insert_into(options);
        }
        let frame = frame.encode();
        self.out.after.push(Box::new(move |ok| {
            if ok {
                conn.reply(frame.into());
                let _ = reply.send(AuthOutcome::LoggedIn(user));
            } else {
                let _ = reply.send(AuthOutcome::Failed(login_codes::INTERNAL));
            }
        }));
    }
}
