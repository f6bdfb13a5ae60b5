//! argon2id password hashing on a few dedicated threads, off the async workers.

use std::sync::{mpsc, Arc, Mutex};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;
use subtle::ConstantTimeEq;
use tokio::sync::oneshot;

use crate::config::PasswordCost;
use crate::store::Secret;

/// Hashes and verifies passwords with argon2id on a small pool of dedicated threads
/// (`concurrency` of them, default 2), so a burst of logins cannot starve the server. Each thread
/// keeps one argon2 working buffer (19 MiB with the standard cost) and reuses it for every hash:
/// allocating it per hash made the allocator keep hundreds of MiB after a burst of logins.
#[derive(Clone)]
pub struct Hasher {
    jobs: mpsc::Sender<Job>,
    cost: PasswordCost,
}

/// A unit of hashing work; it borrows the thread's working buffer.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

fn params(cost: PasswordCost) -> Params {
    match cost {
        PasswordCost::Standard => Params::default(),
        PasswordCost::Fast => Params::new(1024, 1, 1, None).expect("valid argon2 params"),
    }
}

/// The raw argon2 output for `password` with the decoded `salt`, computed in `blocks`.
fn compute(
    argon: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    len: usize,
    blocks: &mut Vec<Block>,
) -> Option<Output> {
    blocks.resize(params.block_count(), Block::default());
    Output::init_with(len, |out| {
        argon
            .hash_password_into_with_memory(password, salt, out, &mut blocks[..])
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .ok()
}

fn hash_with(cost: PasswordCost, password: &[u8], blocks: &mut Vec<Block>) -> Option<Secret> {
    let params = params(cost);
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let salt = SaltString::encode_b64(&bytes).ok()?;
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.as_salt().decode_b64(&mut salt_buf).ok()?;
    let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = compute(&argon, &params, password, salt_bytes, len, blocks)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).ok()?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Some(Secret(phc.to_string()))
}

fn verify_with(password: &[u8], stored: &str, blocks: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params.clone());
    let mut salt_buf = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    match compute(
        &argon,
        &params,
        password,
        salt_bytes,
        expected.len(),
        blocks,
    ) {
        Some(actual) => actual.as_bytes().ct_eq(expected.as_bytes()).into(),
        None => false,
    }
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
                .spawn(move || {
                    let mut blocks = Vec::new();
                    loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(&mut blocks),
                            Err(_) => return, // every Hasher dropped
                        }
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
        f: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move |blocks| {
                let _ = tx.send(f(blocks));
            }))
            .ok()?;
        rx.await.ok()
    }

    /// Hashes a password into a PHC string (argon2id).
    pub async fn hash(&self, password: String) -> Option<Secret> {
        let cost = self.cost;
        self.run(move |blocks| hash_with(cost, password.as_bytes(), blocks))
            .await
            .flatten()
    }

    /// Verifies a password against a stored PHC hash (parameters are read from the hash).
    pub async fn verify(&self, password: String, hash: Secret) -> bool {
        self.run(move |blocks| verify_with(password.as_bytes(), &hash.0, blocks))
            .await
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    #[test]
    fn our_hashes_are_standard_phc_argon2id_and_standard_hashes_verify() {
        let mut blocks = Vec::new();
        let ours = hash_with(PasswordCost::Fast, b"correct horse", &mut blocks).unwrap();
        assert!(ours.0.starts_with("$argon2id$v=19$"), "{}", ours.0);
        let parsed = PasswordHash::new(&ours.0).unwrap();
        let standard = Argon2::default();
        assert!(standard.verify_password(b"correct horse", &parsed).is_ok());
        assert!(standard.verify_password(b"wrong", &parsed).is_err());
        // A hash made the standard way (as stored by earlier versions) verifies here.
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let theirs = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            params(PasswordCost::Fast),
        )
        .hash_password(b"battery staple", &salt)
        .unwrap()
        .to_string();
        assert!(verify_with(b"battery staple", &theirs, &mut blocks));
        assert!(!verify_with(b"battery", &theirs, &mut blocks));
        assert!(!verify_with(b"x", "not a phc string", &mut blocks));
    }
}
