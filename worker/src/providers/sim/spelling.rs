//! How the sim spells an item: its id, scrambled within 2^ID_BITS, written
//! in consonant-vowel syllables ("Molavere") with the leaf's kind or a
//! street prefix ("Molavere Museum", "Pont Dasilo"); and the way back from
//! a word to the id, so any spelling that mentions an item's word can be
//! traced to it, whether the world holds that id or a model invented it.

use super::words::{CONSONANTS, PREFIXES, VOWELS};

/// Item ids are scrambled within 2^ID_BITS; the name is the id spelled in
/// syllables, so distinct ids give distinct names.
pub(super) const ID_BITS: u32 = 24;

/// Letters of an item's own word: four consonant-vowel syllables.
pub(super) const WORD_LEN: usize = 8;

/// A 64-bit mixer (splitmix64's finaliser): seeds and hashes of small numbers.
pub(super) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A bijection of [0, 2^ID_BITS): odd multiplications and xor-shifts.
fn scramble(id: u64, world: u64) -> u64 {
    let mask = (1u64 << ID_BITS) - 1;
    let mut x = id & mask;
    for round in 0..3u64 {
        x = x.wrapping_mul(mix(world ^ round) | 1) & mask;
        x ^= x >> (ID_BITS / 2);
        x = (x ^ (mix(world.rotate_left(17) ^ round) & mask)) & mask;
    }
    x
}

/// The inverse of [`scramble`].
fn unscramble(x: u64, world: u64) -> u64 {
    let mask = (1u64 << ID_BITS) - 1;
    let mut x = x & mask;
    for round in (0..3u64).rev() {
        x ^= mix(world.rotate_left(17) ^ round) & mask;
        // x ^ (x >> 12) undoes itself on 24 bits.
        x ^= x >> (ID_BITS / 2);
        x = x.wrapping_mul(inverse(mix(world ^ round) | 1)) & mask;
    }
    x
}

/// The inverse of an odd number modulo 2^64 (Newton's iteration), so
/// also modulo 2^ID_BITS.
fn inverse(a: u64) -> u64 {
    let mut x = a;
    for _ in 0..6 {
        x = x.wrapping_mul(2u64.wrapping_sub(a.wrapping_mul(x)));
    }
    x
}

/// The id a lower-case word spells (the inverse of [`item_name`]'s word),
/// or `None` when it is not one of the syllable words.
pub(super) fn unspell(word: &str, world: u64) -> Option<u64> {
    let bytes = word.as_bytes();
    if bytes.len() != WORD_LEN {
        return None;
    }
    let base = (CONSONANTS.len() * VOWELS.len()) as u64;
    let mut x = 0u64;
    for s in (0..WORD_LEN / 2).rev() {
        let c = CONSONANTS.iter().position(|&b| b == bytes[2 * s])?;
        let v = VOWELS.iter().position(|&b| b == bytes[2 * s + 1])?;
        x = x * base + (c * VOWELS.len() + v) as u64;
    }
    (x < 1 << ID_BITS).then(|| unscramble(x, world))
}

/// "Molavere Museum", "Pont Dasilo": the scrambled id spelled in
/// consonant-vowel syllables (two letters each, so the spelling is unique),
/// with the leaf's kind or a street prefix; and that word, lower case.
pub(super) fn item_name(id: u64, kind: &str, world: u64) -> (String, [u8; WORD_LEN]) {
    let mut x = scramble(id, world);
    let base = (CONSONANTS.len() * VOWELS.len()) as u64;
    let mut letters = [0u8; WORD_LEN];
    for s in 0..WORD_LEN / 2 {
        let syllable = (x % base) as usize;
        letters[2 * s] = CONSONANTS[syllable / VOWELS.len()];
        letters[2 * s + 1] = VOWELS[syllable % VOWELS.len()];
        x /= base;
    }
    let mut word: String = letters.iter().map(|&b| b as char).collect();
    word[..1].make_ascii_uppercase();
    let name = match mix(id ^ world) % 3 {
        0 => format!(
            "{} {word}",
            PREFIXES[(mix(id) % PREFIXES.len() as u64) as usize]
        ),
        _ => format!("{word} {kind}"),
    };
    (name, letters)
}
