//! argon2id password hashing, run off the async workers with a concurrency cap.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;
use tokio::sync::Semaphore;

use crate::config::PasswordCost;
use crate::store::Secret;

/// Hashes and verifies passwords with argon2id on blocking threads, at most `concurrency` at a
/// time, so a burst of logins cannot starve the server.
#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    cost: PasswordCost,
}

fn argon2(cost: PasswordCost) -> Argon2<'static> {
    let params = match cost {
        PasswordCost::Standard => Params::default(),
        PasswordCost::Fast => Params::new(1024, 1, 1, None).expect("valid argon2 params"),
    };
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl Hasher {
    /// A hasher running at most `concurrency` hashes at once.
    pub fn new(cost: PasswordCost, concurrency: usize) -> Self {
        Hasher {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            cost,
        }
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: String) -> Option<Secret> {
        let _permit = self.permits.acquire().await.ok()?;
        let cost = self.cost;
        tokio::task::spawn_blocking(move || {
            let mut bytes = [0u8; 16];
            rand::rng().fill_bytes(&mut bytes);
            let salt = SaltString::encode_b64(&bytes).ok()?;
            argon2(cost)
                .hash_password(password.as_bytes(), &salt)
                .ok()
                .map(|h| Secret(h.to_string()))
        })
        .await
        .ok()
        .flatten()
    }

    /// Verifies a password against a stored hash (parameters are read from the hash).
    pub async fn verify(&self, password: String, hash: Secret) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let cost = self.cost;
        tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash.0)
                .map(|parsed| {
                    argon2(cost)
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false)
    }
}
