//! Random secrets: bearer tokens (kept only as their SHA-256) and generated passwords.

use sha2::{Digest, Sha256};

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// A new bearer token: 32 random bytes, hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    hex(&bytes)
}

/// What is stored of a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// A strong password of 24 characters from letters and digits (about 142 bits).
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut out = String::with_capacity(24);
    while out.len() < 24 {
        let mut byte = [0u8; 1];
        rand::fill(&mut byte);
        // Rejection sampling keeps every character equally likely.
        let limit = 256 - 256 % ALPHABET.len();
        if usize::from(byte[0]) < limit {
            out.push(char::from(ALPHABET[usize::from(byte[0]) % ALPHABET.len()]));
        }
    }
    out
}

/// A recovery code: ten characters in two groups (`k7mq2-x9tvb`, 50 bits), from letters and
/// digits that are not mistaken for one another when copied by hand.
pub fn recovery_code() -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz234567890";
    let mut bytes = [0u8; 10];
    rand::fill(&mut bytes);
    let mut out = String::with_capacity(11);
    for (i, b) in bytes.iter().enumerate() {
        if i == 5 {
            out.push('-');
        }
        // 32 divides 256: every character equally likely.
        out.push(char::from(ALPHABET[usize::from(b % 32)]));
    }
    out
}

/// A recovery code as typed, in the one form it is hashed in: lowercase, without spaces or
/// dashes.
pub fn recovery_code_key(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_their_hash_is_sha256() {
        let a = new_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, new_token());
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn generated_passwords_are_long_and_differ() {
        let p = random_password();
        assert_eq!(p.chars().count(), 24);
        assert!(p.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(p, random_password());
    }

    #[test]
    fn recovery_codes_are_two_groups_and_read_back_however_typed() {
        let code = recovery_code();
        assert_eq!(code.len(), 11);
        assert_eq!(code.chars().nth(5), Some('-'));
        assert_ne!(code, recovery_code());
        let typed = format!(" {} ", code.to_uppercase().replace('-', " "));
        assert_eq!(recovery_code_key(&typed), code.replace('-', ""));
    }
}
