//! Connection fan-out: opens `--connections` SSH connections at once, spread round-robin over
//! the `[[host]]`s of an inventory, the way a run connects to every host at once, and reports
//! how long until all were authenticated and until each had answered one command.
//!
//!     cargo run --release --example fanout -- --config testbot.toml [--connections 100]
//!
//! Each connection is its own `SshHost` (testbot's russh client, host keys checked against the
//! inventory's known_hosts), so N connections cost N TCP connects, key exchanges and
//! authentications. Prints `connections=… hosts=… failed=… connected_seconds=X ready_seconds=Y`
//! on stdout; ready is connected plus one `true` run on every connection (the round trip a run
//! makes when it asks a host for its cores). Exits 1 if any connection failed. Run by
//! bench/fanout.sh.

use std::path::PathBuf;
use std::time::Instant;
use testbot::framework::Framework;
use testbot::inventory::Inventory;
use testbot::ssh::{Host, HostCommand, SshHost, RUN_TIMEOUT};

fn main() {
    let mut config: Option<PathBuf> = None;
    let mut connections = 100usize;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| die(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--config" => config = Some(value.into()),
            "--connections" => connections = value.parse().unwrap_or_else(|_| die("--connections: not a number")),
            _ => die(&format!("unknown option {flag}")),
        }
    }
    let config = config.unwrap_or_else(|| die("--config FILE is required"));
    let inventory =
        Inventory::load(&config, &Framework::names()).unwrap_or_else(|e| die(&format!("{}: {e}", config.display())));
    if inventory.hosts.is_empty() {
        die("the inventory has no [[host]]");
    }
    let targets: Vec<_> = (0..connections)
        .map(|i| {
            let spec = &inventory.hosts[i % inventory.hosts.len()];
            let (mut target, _) = testbot::fleet::remote::target(spec, &inventory).unwrap_or_else(|e| die(&testbot::error_chain::chain(&e)));
            target.name = format!("{}#{}", target.name, i + 1);
            target
        })
        .collect();
    // As the testbot binary runs: its runtime.
    let runtime = testbot::commands::runtime().expect("a runtime");
    let (connected, ready, failed) = runtime.block_on(async move {
        let started = Instant::now();
        let results = futures::future::join_all(targets.into_iter().map(|t| async move {
            let host = SshHost::connect(t, 1, None).await.map_err(|e| testbot::error_chain::chain(&e))?;
            let connected = started.elapsed();
            let ran = host.run(HostCommand::shell("true"), RUN_TIMEOUT).await.map_err(|e| testbot::error_chain::chain(&e))?;
            if !ran.exit.success() {
                return Err(format!("`true` {}: {}", ran.exit, String::from_utf8_lossy(&ran.stderr())));
            }
            Ok::<_, String>((host, connected, started.elapsed()))
        }))
        .await;
        let mut connected = 0.0f64;
        let mut ready = 0.0f64;
        let mut failed = 0;
        let mut hosts = Vec::new();
        for r in results {
            match r {
                Ok((host, c, rd)) => {
                    connected = connected.max(c.as_secs_f64());
                    ready = ready.max(rd.as_secs_f64());
                    hosts.push(host);
                }
                Err(e) => {
                    failed += 1;
                    eprintln!("fanout: {e}");
                }
            }
        }
        (connected, ready, failed)
    });
    println!(
        "connections={connections} hosts={} failed={failed} connected_seconds={connected:.3} ready_seconds={ready:.3}",
        inventory.hosts.len()
    );
    if failed > 0 {
        std::process::exit(1);
    }
}

fn die(message: &str) -> ! {
    eprintln!("fanout: {message}");
    std::process::exit(2);
}
