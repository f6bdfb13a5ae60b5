//! What the rest of the server sends to the engine and gets back: [`Command`]s through an
//! [`EngineHandle`], with the admin and auth operations and their replies.

use std::sync::{mpsc, Arc};

use chatwire_protocol::{Request, UserId};
use tokio::sync::oneshot;

use crate::outbound::{ConnId, ConnShared, ReplyCredit};
use crate::store::Secret;

/// A unit of work for the engine.
pub(crate) enum Command {
    /// A decoded messaging request from a logged-in connection.
    Request {
        conn: Arc<ConnShared>,
        user: UserId,
        request_uuid: Option<String>,
        /// The envelope's idempotency key (checked), on a connection that opted in; the
        /// engine honours it on seq-consuming mutations only.
        idempotency_key: Option<String>,
        request: Request,
        /// Room the connection reserved for the replies; given back once they are queued.
        credit: ReplyCredit,
    },
    /// A connection closed.
    Detach { conn: ConnId },
    /// Login and token operations.
    Auth(AuthCommand),
    /// Admin API operations.
    Admin(
        AdminCommand,
        oneshot::Sender<Result<AdminReply, AdminError>>,
    ),
    /// Answered once everything sent to the engine before it is durable and released.
    Flush(oneshot::Sender<()>),
    /// A batch failed as stale (another node committed first): refresh and run it again.
    Stale,
    /// From another node, over the bus.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    Bus(crate::bus::Incoming),
}

/// A cheap, cloneable handle to the engine thread.
#[derive(Clone)]
pub(crate) struct EngineHandle {
    tx: mpsc::Sender<Command>,
}

impl EngineHandle {
    /// The handle on the engine thread that receives from `tx`'s channel.
    pub(super) fn new(tx: mpsc::Sender<Command>) -> Self {
        EngineHandle { tx }
    }

    /// Sends a command; `false` if the engine has stopped.
    pub fn send(&self, cmd: Command) -> bool {
        self.tx.send(cmd).is_ok()
    }

    /// Runs an admin command.
    pub async fn admin(&self, cmd: AdminCommand) -> Result<AdminReply, AdminError> {
        let (tx, rx) = oneshot::channel();
        if !self.send(Command::Admin(cmd, tx)) {
            return Err(AdminError::Internal);
        }
        rx.await.unwrap_or(Err(AdminError::Internal))
    }

    /// Hands a bus message to the engine.
    #[cfg_attr(not(feature = "cluster"), allow(dead_code))]
    pub fn bus(&self, msg: crate::bus::Incoming) -> bool {
        self.send(Command::Bus(msg))
    }

    /// Waits until everything sent so far is durable and released.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.send(Command::Flush(tx)) {
            let _ = rx.await;
        }
    }
}

// ---- admin API ----

/// Which user an admin call names.
#[derive(Debug, Clone)]
pub enum AdminTarget {
    /// Admin `user_id`.
    Id(u64),
    /// Short user name.
    Name(String),
}

/// An admin API operation (parameters already validated and passwords already hashed).
#[derive(Debug)]
#[non_exhaustive]
pub enum AdminCommand {
    /// `AddUser`.
    AddUser {
        /// Short name.
        name: String,
        /// Display name.
        display_name: String,
        /// argon2id hash of the password.
        password_hash: Secret,
    },
    /// `GetUsers`.
    GetUsers {
        /// Admin ids to match (any of them).
        ids: Option<Vec<u64>>,
        /// Short name to match.
        name: Option<String>,
        /// Page size.
        count: usize,
        /// Page offset.
        offset: usize,
    },
    /// `DelUser`.
    DelUser {
        /// The user.
        target: AdminTarget,
    },
    /// `SetUserInfo`.
    SetUserInfo {
        /// The user.
        target: AdminTarget,
        /// New display name.
        display_name: Option<String>,
        /// New password hash (revokes every token).
        password_hash: Option<Secret>,
        /// Activate or deactivate (deactivation closes connections with 4003).
        active: Option<bool>,
    },
}

/// A user as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// Admin id.
    pub user_id: u64,
    /// IM id (not part of the admin API response; useful in-process).
    pub im_id: UserId,
    /// Short name.
    pub user_name: String,
    /// Display name.
    pub user_display_name: String,
    /// Active.
    pub user_active: bool,
    /// Creation time, UNIX seconds.
    pub created: i64,
    /// Last change, UNIX seconds.
    pub modified: i64,
}

/// Successful admin results.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AdminReply {
    /// `AddUser`.
    Added {
        /// Admin id.
        user_id: u64,
        /// IM id.
        im_id: UserId,
    },
    /// `GetUsers`.
    Users {
        /// This page.
        result: Vec<UserInfo>,
        /// Every match.
        total_count: usize,
    },
    /// `DelUser`, `SetUserInfo`.
    Done,
}

/// Admin failures (the API's error codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// 104.
    #[error("user not found")]
    NotFound,
    /// 105.
    #[error("user name already exists")]
    NameTaken,
    /// 500.
    #[error("internal error")]
    Internal,
}

// ---- logins and tokens ----

/// What a password login needs to verify.
pub(crate) struct LoginInfo {
    pub user: UserId,
    pub password_hash: Secret,
    pub credential_version: u64,
}

/// The result of an auth command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthOutcome {
    /// Logged in (the success frame is already queued).
    LoggedIn(UserId),
    /// Tokens refreshed (the success frame is already queued).
    Refreshed,
    /// Refused with this code; the connection task sends the failure frame.
    Failed(u16),
}

/// Login and token operations: the engine's half of the session layer.
pub(crate) enum AuthCommand {
    /// Finds a user by short name for a password login.
    Lookup {
        name: String,
        reply: oneshot::Sender<Option<LoginInfo>>,
    },
    /// Completes a password login whose hash matched.
    PasswordLogin {
        conn: Arc<ConnShared>,
        user: UserId,
        credential_version: u64,
        reply: oneshot::Sender<AuthOutcome>,
    },
    /// A token login.
    TokenLogin {
        conn: Arc<ConnShared>,
        name: String,
        token: String,
        current: Option<UserId>,
        reply: oneshot::Sender<AuthOutcome>,
    },
    /// `refreshOauthToken`.
    Refresh {
        conn: Arc<ConnShared>,
        name: String,
        token: String,
        reply: oneshot::Sender<AuthOutcome>,
    },
}
