//! argon2id password hashing on a few dedicated threads, off the async workers.

use std::sync::{mpsc, Arc, Mutex};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;
use tokio::sync::oneshot;

use crate::config::PasswordCost;
use crate::store::Secret;

/// Hashes and verifies passwords with argon2id on a small pool of dedicated threads
/// (`concurrency` of them, default 2), so a burst of logins cannot starve the server, and the
/// 19 MiB working memory of each hash is reused by the same few threads instead of being kept
/// by the allocator of every thread of tokio's blocking pool.
#[derive(Clone)]
pub struct Hasher {
    jobs: mpsc::Sender<Job>,
    cost: PasswordCost,
}

type Job = Box<dyn FnOnce() + Send>;

fn argon2(cost: PasswordCost) -> Argon2<'static> {
    let params = match cost {
        PasswordCost::Standard => Params::default(),
        PasswordCost::Fast => Params::new(1024, 1, 1, None).expect("valid argon2 params"),
    };
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl Hasher {
    /// A hasher running at most `concurrency` hashes at once on its own threads.
    pub fn new(cost: PasswordCost, concurrency: usize) -> Self {
        let (jobs, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..concurrency.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("chatwire-hash-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return, // every Hasher dropped
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        Hasher { jobs, cost }
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(Argon2<'static>) -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        let cost = self.cost;
        self.jobs
            .send(Box::new(move || {
                let _ = tx.send(f(argon2(cost)));
            }))
            .ok()?;
        rx.await.ok()
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: String) -> Option<Secret> {
        self.run(move |argon| {
            let mut bytes = [0u8; 16];
            rand::rng().fill_bytes(&mut bytes);
            let salt = SaltString::encode_b64(&bytes).ok()?;
            argon
                .hash_password(password.as_bytes(), &salt)
                .ok()
                .map(|h| Secret(h.to_string()))
        })
        .await
        .flatten()
    }

    /// Verifies a password against a stored hash (parameters are read from the hash).
    pub async fn verify(&self, password: String, hash: Secret) -> bool {
        self.run(move |argon| {
            PasswordHash::new(&hash.0)
                .map(|parsed| argon.verify_password(password.as_bytes(), &parsed).is_ok())
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false)
    }
}
