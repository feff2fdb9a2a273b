//! Batches as the runner processes on an sshd host record them: every runner appends
//! `start <pid> <time>` and `end <pid> <time> <TEST_ENV_NUMBER>` to ~/batches.log there, so a
//! test can tell how many ran at once (slot leases, shared hosts).

use super::sshd::Testbed;
use super::Project;

const TRACK: &str = r#"
RSpec.configure do |c|
  log = File.join(Dir.home, "batches.log")
  clock = -> { Process.clock_gettime(Process::CLOCK_REALTIME) }
  c.before(:suite) { File.open(log, "a") { |f| f.puts "start #{Process.pid} #{clock.call}" } }
  c.after(:suite) { File.open(log, "a") { |f| f.puts "end #{Process.pid} #{clock.call} #{ENV['TEST_ENV_NUMBER']}" } }
end
"#;

/// `files` spec files (`spec/shared_NN_spec.rb`) of one example that sleeps `seconds`, each
/// recording its runner in batches.log.
pub fn write_suite(p: &Project, files: usize, seconds: f64) -> Vec<String> {
    p.write("spec/support/track.rb", TRACK);
    (0..files)
        .map(|i| {
            let path = format!("spec/shared_{i:02}_spec.rb");
            p.write(&path, &format!("require_relative \"support/track\"\nRSpec.describe(\"s{i}\") {{ it(\"waits\") {{ sleep {seconds} }} }}\n"));
            path
        })
        .collect()
}

/// The most runner processes that ran at once on host `i`, and the TEST_ENV_NUMBERs they had.
pub fn max_concurrent(bed: &Testbed, i: usize) -> (usize, Vec<String>) {
    let out = bed.ssh(i, "cat batches.log");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut events: Vec<(f64, i32)> = Vec::new();
    let mut numbers = Vec::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let t: f64 = parts[2].parse().unwrap();
        events.push((t, if parts[0] == "start" { 1 } else { -1 }));
        if parts[0] == "end" {
            numbers.push(parts.get(3).unwrap_or(&"").to_string());
        }
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in events {
        now += d;
        most = most.max(now);
    }
    numbers.sort();
    numbers.dedup();
    (most as usize, numbers)
}
