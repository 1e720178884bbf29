//! Keys: when two spellings are one item. `normalize` gives the exact key
//! (and its 128-bit hash), `names` the name key that merges near-duplicates,
//! `seen` the set of keys already stored, `table` the hash table under both.
//! Pure: values in, values out.

pub mod name_index;
pub mod name_pairs;
pub mod names;
pub mod normalize;
pub mod seen;
pub mod table;
