//! Times the rate limiter's `check` alone, with a limit on, in three shapes:
//! one caller again and again, 10,000 callers in turn, and a new caller on
//! every call (past the limiter's memory, so every call makes room).
//! `cargo run --release -p command-api --example limiter_bench`; prints
//! nanoseconds per check, the median of three runs of each shape.

use command_api::RateLimits;
use command_api::limits::{Limit, RateLimiter};
use std::time::Instant;

fn main() {
    let callers: Vec<String> = (0..120_000).map(|i| format!("user-{i:08}")).collect();
    let shapes: [(&str, usize, usize); 3] = [
        ("one caller", 1, 1_000_000),
        ("10,000 callers in turn", 10_000, 1_000_000),
        // 20,000 past the limiter's memory of 100,000 callers.
        ("a new caller each time", 120_000, 120_000),
    ];
    for (name, distinct, checks) in shapes {
        let mut runs: Vec<f64> = (0..3)
            .map(|_| {
                // A fresh limiter per run, allowing every check, so only the
                // bookkeeping is timed.
                let limiter = RateLimiter::new(RateLimits { posts_per_minute: u32::MAX, ..RateLimits::OFF });
                let started = Instant::now();
                for i in 0..checks {
                    let passed = limiter.check(Limit::Posts, &callers[i % distinct]).is_ok();
                    std::hint::black_box(passed);
                }
                started.elapsed().as_nanos() as f64 / checks as f64
            })
            .collect();
        runs.sort_by(f64::total_cmp);
        println!("{name}: {:.0} ns per check", runs[1]);
    }
}
