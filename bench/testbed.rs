//! How long the sshd test bed (tests/common/sshd.rs) takes to start N hosts: a figure about
//! the test harness, measured here rather than asserted in a test, where wall time on a loaded
//! machine made it flaky. Needs root, like the test bed. `cargo run --example testbed [HOSTS]`
//! (default 4; `RUNS=`, default 5). The first start, which may generate the cached RSA keys, is
//! not timed. Prints every run, then the median as the last line, `start_seconds=X`.

#[path = "../tests/common/sshd.rs"]
mod sshd;

use std::time::Instant;

fn main() {
    let hosts: usize = std::env::args().nth(1).map_or(4, |a| a.parse().expect("HOSTS is a number"));
    let runs: usize = std::env::var("RUNS").ok().map_or(5, |r| r.parse().expect("RUNS is a number"));
    drop(sshd::Testbed::start(hosts));
    let mut times = Vec::with_capacity(runs);
    for run in 1..=runs {
        let start = Instant::now();
        let bed = sshd::Testbed::start(hosts);
        let seconds = start.elapsed().as_secs_f64();
        drop(bed);
        println!("run {run}: Testbed::start({hosts}) took {seconds:.3}s");
        times.push(seconds);
    }
    times.sort_by(f64::total_cmp);
    println!("start_seconds={:.3}", times[times.len() / 2]);
}
