//! The simulated agent task, as a pure plan: which events a task emits and when, grouped into
//! the POSTs a producer would make. Deterministic in `(task_id, shape, seed)`, event ids
//! included, so resubmitting a plan is idempotent (SPEC §2: ids are idempotency keys).
//!
//! A task: `task.started`; per step a `reasoning.step`, a burst of parallel
//! `tool_call.started` in one POST, their `tool_call.completed` arriving spread out, then
//! `token.delta`s at `tokens_per_second`, flushed every [`FLUSH`]; finally `output.ready` and
//! `task.completed`.

use serde_json::{Value, json};
use std::time::Duration;

/// How long a producer buffers streamed tokens (and near-simultaneous tool results) before one
/// POST, so a thousand tasks at 50 tokens/s make ~7k requests/s, not 50k.
pub const FLUSH: Duration = Duration::from_millis(150);
/// Most events in one POST (SPEC §2).
pub const MAX_EVENTS_PER_POST: usize = 500;
/// Parallel tool calls per step when [`Shape::tools`] is 0: drawn from this range.
pub const RANDOM_TOOLS: std::ops::RangeInclusive<usize> = 8..=20;
/// How long a tool call runs, in ms.
const TOOL_MS: std::ops::RangeInclusive<u64> = 200..=1500;

/// The size and pace of one simulated agent task.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// Parallel tool calls per step; 0 draws 8–20 per step from the seed.
    pub tools: usize,
    /// Reasoning steps (each: tool calls, then streamed tokens).
    pub steps: usize,
    /// `token.delta` events per step.
    pub tokens_per_step: usize,
    /// Token streaming rate.
    pub tokens_per_second: f64,
}

impl Default for Shape {
    fn default() -> Self {
        Self {
            tools: 12,
            steps: 3,
            tokens_per_step: 40,
            tokens_per_second: 50.0,
        }
    }
}

/// One POST of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    /// When to send it, from the task's start.
    pub at: Duration,
    /// Event objects as ingest accepts them: `id`, `type`, `task_id`, `data` (no tenant; the
    /// key names it).
    pub events: Vec<Value>,
}

/// The plan of one agent task: its POSTs in send order (`at` never decreases). Every POST
/// holds at most [`MAX_EVENTS_PER_POST`] events; the first event is `task.started`, the last
/// `task.completed`.
pub fn agent_task(task_id: &str, shape: &Shape, seed: u64) -> Vec<Post> {
    let mut b = Builder {
        task_id,
        rng: Rng::new(seed ^ fnv1a(task_id.as_bytes())),
        posts: Vec::new(),
        next_index: 0,
    };
    let mut t = Duration::ZERO;
    let (steps, tokens, tool_calls) = (shape.steps, shape.tokens_per_step, shape.tools);
    b.post(
        t,
        vec![(
            "task.started",
            json!({"agent": "research-agent", "steps": steps, "prompt": "Compare three vendors and draft a summary"}),
        )],
    );
    let mut calls_total = 0;
    for step in 1..=steps {
        t += b.ms(100..=400);
        b.post(
            t,
            vec![(
                "reasoning.step",
                json!({"step": step, "thought": THOUGHTS[(step - 1) % THOUGHTS.len()]}),
            )],
        );
        t += b.ms(50..=150);
        let calls = if tool_calls == 0 {
            b.rng
                .range(*RANDOM_TOOLS.start() as u64..=*RANDOM_TOOLS.end() as u64)
                as usize
        } else {
            tool_calls
        };
        let started: Vec<(&str, Value)> = (1..=calls)
            .map(|c| {
                (
                    "tool_call.started",
                    json!({"call_id": format!("call_{step}_{c}"), "tool": TOOLS[(c - 1) % TOOLS.len()], "step": step}),
                )
            })
            .collect();
        b.post(t, started);
        let mut done: Vec<(Duration, usize)> =
            (1..=calls).map(|c| (t + b.ms(TOOL_MS), c)).collect();
        done.sort();
        let completed = done.iter().map(|(at, c)| {
            let took = at.saturating_sub(t).as_millis() as u64;
            let event = json!({"call_id": format!("call_{step}_{c}"), "tool": TOOLS[(c - 1) % TOOLS.len()], "duration_ms": took, "ok": true});
            (*at, ("tool_call.completed", event))
        });
        b.flushed(completed);
        t = done.last().map_or(t, |(at, _)| *at) + b.ms(50..=200);
        let per_token = Duration::from_secs_f64(1.0 / shape.tokens_per_second.max(0.001));
        let deltas = (0..tokens).map(|k| {
            let at = t + per_token.mul_f64(k as f64);
            let text = WORDS[(step * 7 + k) % WORDS.len()];
            (
                at,
                (
                    "token.delta",
                    json!({"step": step, "index": k, "text": text}),
                ),
            )
        });
        b.flushed(deltas);
        t += per_token.mul_f64(tokens.saturating_sub(1) as f64);
        calls_total += calls;
    }
    t += b.ms(50..=150);
    b.post(
        t,
        vec![(
            "output.ready",
            json!({"format": "markdown", "tokens": steps * tokens, "url": format!("https://example.com/outputs/{task_id}.md")}),
        )],
    );
    t += b.ms(10..=50);
    b.post(
        t,
        vec![(
            "task.completed",
            json!({"steps": steps, "tool_calls": calls_total, "tokens": steps * tokens}),
        )],
    );
    b.posts
}

/// The id of a task's `index`-th event: `{task_id}:{index}`, or a hash of the task id when
/// that would pass the 64-character limit on ids.
pub fn event_id(task_id: &str, index: usize) -> String {
    let id = format!("{task_id}:{index}");
    if id.len() <= 64 {
        id
    } else {
        format!("sim_{:016x}:{index}", fnv1a(task_id.as_bytes()))
    }
}

/// Number of events in a plan.
pub fn event_count(posts: &[Post]) -> usize {
    posts.iter().map(|p| p.events.len()).sum()
}

/// Accumulates POSTs, numbering events as they are added.
struct Builder<'a> {
    task_id: &'a str,
    rng: Rng,
    posts: Vec<Post>,
    next_index: usize,
}

impl Builder<'_> {
    fn ms(&mut self, range: std::ops::RangeInclusive<u64>) -> Duration {
        Duration::from_millis(self.rng.range(range))
    }

    fn event(&mut self, event_type: &str, data: Value) -> Value {
        let id = event_id(self.task_id, self.next_index);
        self.next_index += 1;
        json!({"id": id, "type": event_type, "task_id": self.task_id, "data": data})
    }

    /// One POST at `at` (several when over the per-request limit).
    fn post(&mut self, at: Duration, events: Vec<(&str, Value)>) {
        let events: Vec<Value> = events
            .into_iter()
            .map(|(ty, data)| self.event(ty, data))
            .collect();
        for chunk in events.chunks(MAX_EVENTS_PER_POST) {
            self.posts.push(Post {
                at,
                events: chunk.to_vec(),
            });
        }
    }

    /// Events produced at their own instants (ascending), sent in POSTs of what a producer
    /// buffered for [`FLUSH`]: each POST goes when its last event exists.
    fn flushed<'e>(&mut self, timed: impl Iterator<Item = (Duration, (&'e str, Value))>) {
        let mut group: Vec<(&str, Value)> = Vec::new();
        let mut opened = Duration::ZERO;
        let mut last = Duration::ZERO;
        for (at, event) in timed {
            if !group.is_empty() && at.saturating_sub(opened) >= FLUSH {
                self.post(last, std::mem::take(&mut group));
            }
            if group.is_empty() {
                opened = at;
            }
            last = at;
            group.push(event);
        }
        if !group.is_empty() {
            self.post(last, group);
        }
    }
}

/// SplitMix64: small, fast, and the same on every platform (plans must not depend on it).
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn range(&mut self, range: std::ops::RangeInclusive<u64>) -> u64 {
        let span = range.end().saturating_sub(*range.start()).saturating_add(1);
        range.start() + self.next() % span.max(1)
    }
}

/// FNV-1a, 64 bits.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

const TOOLS: [&str; 12] = [
    "web_search",
    "fetch_url",
    "read_file",
    "run_python",
    "sql_query",
    "vector_search",
    "calculator",
    "browser.click",
    "code_search",
    "calendar.lookup",
    "send_email",
    "summarize",
];

const THOUGHTS: [&str; 4] = [
    "Gather sources for each vendor",
    "Extract pricing and limits from the sources",
    "Cross-check the numbers and resolve conflicts",
    "Draft the comparison",
];

const WORDS: [&str; 16] = [
    "The ",
    "first ",
    "vendor ",
    "offers ",
    "lower ",
    "latency ",
    "but ",
    "a ",
    "stricter ",
    "rate ",
    "limit; ",
    "the ",
    "second ",
    "scales ",
    "further. ",
    "\n",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn types(posts: &[Post]) -> Vec<String> {
        posts
            .iter()
            .flat_map(|p| &p.events)
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect()
    }

    fn count(posts: &[Post], ty: &str) -> usize {
        types(posts).iter().filter(|t| *t == ty).count()
    }

    #[test]
    fn counts_follow_the_shape() {
        let shape = Shape {
            tools: 8,
            steps: 2,
            tokens_per_step: 30,
            tokens_per_second: 50.0,
        };
        let posts = agent_task("run-1", &shape, 7);
        assert_eq!(count(&posts, "task.started"), 1);
        assert_eq!(count(&posts, "reasoning.step"), 2);
        assert_eq!(count(&posts, "tool_call.started"), 16);
        assert_eq!(count(&posts, "tool_call.completed"), 16);
        assert_eq!(count(&posts, "token.delta"), 60);
        assert_eq!(count(&posts, "output.ready"), 1);
        assert_eq!(count(&posts, "task.completed"), 1);
        assert_eq!(event_count(&posts), 1 + 2 * (1 + 8 + 8 + 30) + 2);
    }

    #[test]
    fn order_is_started_first_terminal_last_and_time_never_goes_back() {
        let posts = agent_task("run-1", &Shape::default(), 1);
        let t = types(&posts);
        assert_eq!(t.first().map(String::as_str), Some("task.started"));
        assert_eq!(t.last().map(String::as_str), Some("task.completed"));
        assert_eq!(t[t.len() - 2], "output.ready");
        assert!(posts.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(posts.iter().all(|p| !p.events.is_empty()));
        // Every call completes after it started.
        let mut open = std::collections::HashSet::new();
        for e in posts.iter().flat_map(|p| &p.events) {
            let call = e["data"]["call_id"].as_str().map(str::to_owned);
            match e["type"].as_str().unwrap() {
                "tool_call.started" => assert!(open.insert(call.unwrap())),
                "tool_call.completed" => assert!(open.remove(&call.unwrap())),
                _ => {}
            }
        }
        assert!(open.is_empty());
    }

    #[test]
    fn tool_calls_start_together_in_one_post() {
        let posts = agent_task("run-1", &Shape::default(), 3);
        let bursts: Vec<&Post> = posts
            .iter()
            .filter(|p| p.events[0]["type"] == "tool_call.started")
            .collect();
        assert_eq!(bursts.len(), 3);
        for p in bursts {
            assert_eq!(p.events.len(), 12);
            assert!(p.events.iter().all(|e| e["type"] == "tool_call.started"));
        }
        let random = Shape {
            tools: 0,
            ..Shape::default()
        };
        for seed in 0..50 {
            for p in agent_task("run-r", &random, seed)
                .iter()
                .filter(|p| p.events[0]["type"] == "tool_call.started")
            {
                assert!(RANDOM_TOOLS.contains(&p.events.len()), "{}", p.events.len());
            }
        }
    }

    #[test]
    fn tokens_stream_at_the_rate_in_flushed_posts() {
        let shape = Shape {
            tools: 8,
            steps: 1,
            tokens_per_step: 101,
            tokens_per_second: 50.0,
        };
        let posts = agent_task("run-1", &shape, 9);
        let token_posts: Vec<&Post> = posts
            .iter()
            .filter(|p| p.events[0]["type"] == "token.delta")
            .collect();
        let first = token_posts.first().unwrap().at;
        let last = token_posts.last().unwrap().at;
        // 101 tokens at 50/s span 2 s; each POST carries what 150 ms produced (7–8 tokens).
        let span = last - first;
        assert!(
            span >= Duration::from_millis(1800) && span <= Duration::from_millis(2000),
            "{span:?}"
        );
        assert!(token_posts.iter().all(|p| p.events.len() <= 8));
        let rate = 101.0 / (span + Duration::from_millis(150)).as_secs_f64();
        assert!((40.0..=60.0).contains(&rate), "{rate}");
        // Posts are spaced by the flush interval, not one per token.
        assert!(token_posts.len() <= 15, "{}", token_posts.len());
    }

    #[test]
    fn plans_are_deterministic_with_stable_unique_ids() {
        let a = agent_task("run-1", &Shape::default(), 42);
        assert_eq!(a, agent_task("run-1", &Shape::default(), 42));
        assert_ne!(a, agent_task("run-1", &Shape::default(), 43));
        let ids: Vec<&str> = a
            .iter()
            .flat_map(|p| &p.events)
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids[0], "run-1:0");
        assert_eq!(ids[5], "run-1:5");
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        assert!(
            a.iter()
                .flat_map(|p| &p.events)
                .all(|e| e["task_id"] == "run-1" && e.get("tenant_id").is_none())
        );
    }

    #[test]
    fn long_task_ids_get_hashed_ids_and_big_bursts_are_split() {
        let long = "t".repeat(100);
        let id = event_id(&long, 3);
        assert!(id.len() <= 64 && id.ends_with(":3"));
        assert_ne!(id, event_id(&"u".repeat(100), 3));
        let posts = agent_task(
            "run-1",
            &Shape {
                tools: 1200,
                steps: 1,
                ..Shape::default()
            },
            0,
        );
        assert!(posts.iter().all(|p| p.events.len() <= MAX_EVENTS_PER_POST));
        assert_eq!(count(&posts, "tool_call.started"), 1200);
    }
}
