//! The webhook jobs one invocation has enqueued, per task, so a commit round that re-plans a
//! task to the same jobs does not send them again. Pure bookkeeping.
//!
//! Jobs go out before the commit that stores their events. When a transaction loses (a
//! conflict on another task in it, a moved head) the affected tasks are re-planned; a task
//! whose plan comes out the same has the same jobs, which are already in the queue.

use burstline::ids::TaskKey;
use burstline::job::DeliveryJob;
use std::collections::HashMap;

/// What this invocation last enqueued for each task (`J`: a job; generic for tests).
#[derive(Debug)]
pub struct Enqueued<J = DeliveryJob> {
    sent: HashMap<TaskKey, Vec<J>>,
}

impl<J> Default for Enqueued<J> {
    fn default() -> Self {
        Self {
            sent: HashMap::new(),
        }
    }
}

impl<J: PartialEq> Enqueued<J> {
    /// Whether `jobs` for `key` differ from what was last enqueued for it (a task never
    /// enqueued with no jobs needs nothing).
    pub fn differs(&self, key: &TaskKey, jobs: &[J]) -> bool {
        match self.sent.get(key) {
            Some(sent) => sent.as_slice() != jobs,
            None => !jobs.is_empty(),
        }
    }

    /// Notes that `jobs` for `key` are in the queue.
    pub fn record(&mut self, key: TaskKey, jobs: Vec<J>) {
        self.sent.insert(key, jobs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_jobs_are_not_enqueued_twice() {
        let key = TaskKey::new("acme".parse().unwrap(), "run".parse().unwrap());
        let mut sent: Enqueued<&str> = Enqueued::default();
        assert!(!sent.differs(&key, &[]), "nothing to send");
        assert!(sent.differs(&key, &["seq 1-2"]));
        sent.record(key.clone(), vec!["seq 1-2"]);
        assert!(!sent.differs(&key, &["seq 1-2"]), "same plan, same jobs");
        assert!(
            sent.differs(&key, &["seq 1"]),
            "a re-plan without a duplicate"
        );
        assert!(
            sent.differs(&key, &[]),
            "a re-plan with nothing left to deliver"
        );
    }
}
