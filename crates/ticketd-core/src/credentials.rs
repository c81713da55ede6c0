//! Secrets: password verifiers for every dialect's login form, hashed tokens, and HMAC checks.

use crate::identity::PasswordHashes;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

/// How a client presents a password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordForm {
    /// The password itself (JumpServer, DataArts).
    Plain,
    /// Its lowercase MD5 hex (TopHC).
    Md5Hex,
    /// Its lowercase SHA-512 hex (ZStack).
    Sha512Hex,
}

/// Errors while hashing (only on a broken salt, which callers treat as internal).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// The lowercase MD5 hex of `password`, as TopHC clients send it.
pub fn md5_hex(password: &str) -> String {
    hex::encode(Md5::digest(password.as_bytes()))
}

/// The lowercase SHA-512 hex of `password`, as ZStack clients send it.
pub fn sha512_hex(password: &str) -> String {
    hex::encode(Sha512::digest(password.as_bytes()))
}

fn argon2_hash(secret: &str, salt: &[u8; 16]) -> Result<String, HashError> {
    let salt = SaltString::encode_b64(salt).map_err(|e| HashError(e.to_string()))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Hashes the three verifiers of a password with argon2; `salts` are 48 random bytes.
pub fn hash_password(password: &str, salts: [u8; 48]) -> Result<PasswordHashes, HashError> {
    let salt = |i: usize| -> [u8; 16] {
        let mut s = [0u8; 16];
        s.copy_from_slice(&salts[i * 16..(i + 1) * 16]);
        s
    };
    Ok(PasswordHashes {
        plain: argon2_hash(password, &salt(0))?,
        md5_hex: argon2_hash(&md5_hex(password), &salt(1))?,
        sha512_hex: argon2_hash(&sha512_hex(password), &salt(2))?,
    })
}

/// Checks a presented password against the stored verifier of its form.
///
/// Hex forms are compared case-insensitively (clients differ in the case they send).
pub fn verify_password(hashes: &PasswordHashes, form: PasswordForm, presented: &str) -> bool {
    let (stored, presented) = match form {
        PasswordForm::Plain => (&hashes.plain, presented.to_owned()),
        PasswordForm::Md5Hex => (&hashes.md5_hex, presented.to_ascii_lowercase()),
        PasswordForm::Sha512Hex => (&hashes.sha512_hex, presented.to_ascii_lowercase()),
    };
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(presented.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Verifiers of no account's password, checked when a login names an unknown account (or one
/// without a password) so that it takes as long as a wrong password: answered at once, an
/// unknown name told apart from a known one in a millisecond against some fifteen (made once,
/// with a fixed salt: nothing verifies against them).
pub fn decoy_hashes() -> &'static PasswordHashes {
    static DECOY: std::sync::OnceLock<PasswordHashes> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        hash_password("no account's password", [7u8; 48]).unwrap_or_else(|_broken| PasswordHashes {
            plain: String::new(),
            md5_hex: String::new(),
            sha512_hex: String::new(),
        })
    })
}

/// SHA-256 of a token: tokens are looked up by this digest and never stored in clear.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A printable secret (lowercase hex) from random bytes.
pub fn secret_from_bytes(random: &[u8]) -> String {
    hex::encode(random)
}

/// The hash of an HTTP Signature's `hmac-*` algorithm (JumpServer accepts these three).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HmacHash {
    /// `hmac-sha1`.
    Sha1,
    /// `hmac-sha256`.
    Sha256,
    /// `hmac-sha512`.
    Sha512,
}

impl HmacHash {
    /// The hash an `algorithm` parameter names (any case), if it is one of the three.
    pub fn of_algorithm(algorithm: &str) -> Option<Self> {
        match algorithm.to_ascii_lowercase().as_str() {
            "hmac-sha1" => Some(Self::Sha1),
            "hmac-sha256" => Some(Self::Sha256),
            "hmac-sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The HMAC of `message` under `key` with this hash.
    pub fn mac(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        fn with<M: Mac + hmac::digest::KeyInit>(key: &[u8], message: &[u8]) -> Vec<u8> {
            // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
            let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
                return Vec::new();
            };
            mac.update(message);
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            Self::Sha1 => with::<Hmac<sha1::Sha1>>(key, message),
            Self::Sha256 => hmac_sha256(key, message).to_vec(),
            Self::Sha512 => with::<Hmac<Sha512>>(key, message),
        }
    }
}

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return [0u8; 32];
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Compares two byte strings in constant time (for their common length).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decoy_costs_what_a_real_verifier_costs() {
        // An unknown account's login verifies against the decoy: it must be an argon2 verifier
        // of the same parameters as a real one (an empty or broken one would answer at once),
        // and accept nothing a client sends.
        let real = hash_password("secret", [1u8; 48]).unwrap();
        let decoy = decoy_hashes();
        for (decoy, real) in [
            (&decoy.plain, &real.plain),
            (&decoy.md5_hex, &real.md5_hex),
            (&decoy.sha512_hex, &real.sha512_hex),
        ] {
            let (decoy, real) = (
                PasswordHash::new(decoy).unwrap(),
                PasswordHash::new(real).unwrap(),
            );
            assert_eq!(
                (decoy.algorithm, decoy.version, &decoy.params),
                (real.algorithm, real.version, &real.params)
            );
        }
        for form in [
            PasswordForm::Plain,
            PasswordForm::Md5Hex,
            PasswordForm::Sha512Hex,
        ] {
            assert!(!verify_password(decoy, form, ""));
            assert!(!verify_password(decoy, form, "secret"));
        }
    }

    #[test]
    fn each_dialect_form_verifies_the_same_password_and_nothing_else() {
        let hashes = hash_password("s3cret!", [7u8; 48]).unwrap();
        assert!(verify_password(&hashes, PasswordForm::Plain, "s3cret!"));
        assert!(verify_password(
            &hashes,
            PasswordForm::Md5Hex,
            &md5_hex("s3cret!")
        ));
        assert!(verify_password(
            &hashes,
            PasswordForm::Sha512Hex,
            &sha512_hex("s3cret!").to_uppercase()
        ));
        assert!(!verify_password(&hashes, PasswordForm::Plain, "s3cret"));
        assert!(!verify_password(&hashes, PasswordForm::Md5Hex, "s3cret!"));
        assert!(!verify_password(
            &hashes,
            PasswordForm::Sha512Hex,
            &md5_hex("s3cret!")
        ));
    }

    #[test]
    fn hmacs_match_their_rfc_test_vectors() {
        // RFC 2202 and RFC 4231, test case 2.
        let (key, data) = (b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(HmacHash::Sha1.mac(key, data)),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            hex::encode(HmacHash::Sha256.mac(key, data)),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex::encode(HmacHash::Sha512.mac(key, data)),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
        assert_eq!(HmacHash::of_algorithm("HMAC-SHA1"), Some(HmacHash::Sha1));
        assert_eq!(HmacHash::of_algorithm("rsa-sha256"), None);
    }

    #[test]
    fn constant_time_eq_needs_equal_length_and_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
