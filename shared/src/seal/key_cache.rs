//! Data keys a warm function keeps, so that opening an endpoint's secrets on every job costs no
//! KMS call: each entry lives at most [`KeyCachePolicy::max_age`] and serves at most
//! [`KeyCachePolicy::max_uses`] times; the cache holds at most [`KeyCachePolicy::max_entries`]
//! (when full, the oldest entry goes). Time is passed in.

use super::envelope::DataKey;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long and how often a cached data key may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyCachePolicy {
    /// Longest an entry is used after it was fetched.
    pub max_age: Duration,
    /// Most uses of one entry.
    pub max_uses: u32,
    /// Most entries.
    pub max_entries: usize,
}

impl Default for KeyCachePolicy {
    /// 5 minutes, 10,000 uses, 1,000 entries.
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(300),
            max_uses: 10_000,
            max_entries: 1_000,
        }
    }
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    fetched: Instant,
    uses: u32,
}

/// Data keys (with whatever travels with them, `V`) by `K`. `Debug` shows the size only.
pub struct KeyCache<K, V = DataKey> {
    policy: KeyCachePolicy,
    entries: Mutex<HashMap<K, Entry<V>>>,
}

impl<K, V> std::fmt::Debug for KeyCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<K: Eq + Hash + Clone, V: Clone> KeyCache<K, V> {
    /// An empty cache.
    pub fn new(policy: KeyCachePolicy) -> Self {
        Self {
            policy,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The entry for `key` at `now`, counting one use; `None` when absent, too old or used up
    /// (and then it is dropped).
    pub fn get(&self, key: &K, now: Instant) -> Option<V> {
        let mut entries = self.entries.lock().ok()?;
        let fresh = entries.get_mut(key).and_then(|e| {
            let young = now.saturating_duration_since(e.fetched) < self.policy.max_age;
            (young && e.uses < self.policy.max_uses).then(|| {
                e.uses += 1;
                e.value.clone()
            })
        });
        if fresh.is_none() {
            entries.remove(key);
        }
        fresh
    }

    /// Keeps `value` for `key` from `now` (its first use counted).
    pub fn put(&self, key: K, value: V, now: Instant) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= self.policy.max_entries && !entries.contains_key(&key) {
            let oldest = entries
                .iter()
                .min_by_key(|(_, e)| e.fetched)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                entries.remove(&k);
            }
        }
        entries.insert(
            key,
            Entry {
                value,
                fetched: now,
                uses: 1,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(max_age: u64, max_uses: u32, max_entries: usize) -> KeyCache<&'static str, u8> {
        KeyCache::new(KeyCachePolicy {
            max_age: Duration::from_secs(max_age),
            max_uses,
            max_entries,
        })
    }

    #[test]
    fn entries_expire_by_age() {
        let c = cache(60, 100, 10);
        let t0 = Instant::now();
        c.put("a", 1, t0);
        assert_eq!(c.get(&"a", t0 + Duration::from_secs(59)), Some(1));
        assert_eq!(c.get(&"a", t0 + Duration::from_secs(60)), None);
        assert_eq!(c.get(&"a", t0), None, "dropped once expired");
    }

    #[test]
    fn entries_are_used_a_bounded_number_of_times() {
        let c = cache(60, 3, 10);
        let t0 = Instant::now();
        c.put("a", 1, t0);
        assert_eq!(c.get(&"a", t0), Some(1));
        assert_eq!(c.get(&"a", t0), Some(1));
        assert_eq!(c.get(&"a", t0), None, "the put counted as the first use");
    }

    #[test]
    fn a_full_cache_drops_its_oldest_entry() {
        let c = cache(60, 100, 2);
        let t0 = Instant::now();
        c.put("a", 1, t0);
        c.put("b", 2, t0 + Duration::from_secs(1));
        c.put("c", 3, t0 + Duration::from_secs(2));
        assert_eq!(c.get(&"a", t0 + Duration::from_secs(2)), None);
        assert_eq!(c.get(&"b", t0 + Duration::from_secs(2)), Some(2));
        assert_eq!(c.get(&"c", t0 + Duration::from_secs(2)), Some(3));
    }
}
