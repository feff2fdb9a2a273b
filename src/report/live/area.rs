//! The status area (a terminal) and, in plain lines, the SLOW lines and the heartbeat: what
//! runs now, for how long, and the ETA.

use super::{Live, Running};
use crate::decimal::Fixed;
use crate::events::SlotInfo;
use crate::report::status_level::{expected_words, slow_threshold};
use crate::plural::plural;
use std::fmt::Write;
use std::time::{Duration, Instant};

/// At most this many running files are listed under the bar.
const MAX_RUNNING_LINES: usize = 8;

impl Live {
    /// Every `TICK`: the status area redrawn (the running files' times move), or in plain
    /// lines the files that just turned SLOW and the heartbeat.
    pub(super) fn tick(&mut self) {
        if self.quiet || self.started.is_none() {
            return;
        }
        // Lines held for more of their cause: said once a second passes without more.
        if self.held.is_some() && self.held_at.elapsed() >= Duration::from_secs(1) {
            self.say_held();
        }
        if self.screen.bar {
            self.clear();
            self.draw();
            return;
        }
        let now = Instant::now();
        if self.level.shows_slow() {
            for text in self.newly_slow(now) {
                self.line(&text);
            }
        }
        if let (Some(at), Some(period)) = (self.next_heartbeat, self.options.heartbeat) {
            if now >= at {
                self.next_heartbeat = Some(now + period);
                let text = self.heartbeat(now);
                self.line(&text);
            }
        }
    }

    /// Plain lines: a SLOW line for each running file that just passed its threshold.
    fn newly_slow(&mut self, now: Instant) -> Vec<String> {
        let slow_after = self.options.slow_after;
        let mut newly: Vec<String> = Vec::new();
        for (slot, r) in self.running.iter_mut() {
            let seconds = now.duration_since(r.since).as_secs_f64();
            let threshold = slow_threshold(r.expected, slow_after);
            if !r.slow_said && seconds > threshold {
                r.slow_said = true;
                let place = self.slots.iter().find(|s| s.id == *slot).map(SlotInfo::name).unwrap_or_default();
                newly.push(format!(
                    "{} [>{:>6}s] {} ({place}, {})",
                    self.styles.pending.apply_to(format!("{:>8}", "SLOW")),
                    Fixed::new(threshold, 1),
                    r.path,
                    expected_words(r.expected, r.guessed),
                ));
            }
        }
        newly
    }

    /// The plain lines' heartbeat: how far the run is, and what runs now, for how long.
    fn heartbeat(&self, now: Instant) -> String {
        let elapsed = self.started.map_or(0.0, |s| now.duration_since(s).as_secs_f64());
        let mut text = format!(
            "{} [{:>7}s] {}/{} files done, {} running{}",
            self.styles.bold.apply_to(format!("{:>8}", "RUNNING")),
            Fixed::new(elapsed, 1),
            self.files_done,
            self.files_total,
            self.running.len(),
            if self.running.is_empty() { "" } else { ":" }
        );
        for line in self.running_lines(now, usize::MAX) {
            let _ = write!(text, "\n{:>8} {line}", "");
        }
        text
    }

    /// A line per running file, longest running first: `local/2   12s spec/a_spec.rb SLOW`,
    /// the path cut from its left to fit `width` columns.
    fn running_lines(&self, now: Instant, width: usize) -> Vec<String> {
        let mut running: Vec<(&usize, &Running)> = self.running.iter().collect();
        running.sort_by_key(|(_, r)| r.since);
        let slow_after = self.options.slow_after;
        running
            .iter()
            .map(|(slot, r)| {
                let seconds = now.duration_since(r.since).as_secs_f64();
                let place = self.slots.iter().find(|s| s.id == **slot).map(SlotInfo::name).unwrap_or_default();
                let head = format!("{place:<w$} {:>6}", clock(seconds), w = self.slot_width);
                let slow = seconds > slow_threshold(r.expected, slow_after);
                let tail = if slow { " SLOW" } else { "" };
                let room = width.saturating_sub(head.chars().count() + 1 + tail.len());
                let path = fit_left(&r.path, room);
                let tail = if slow { format!(" {}", self.styles.fail.apply_to("SLOW")) } else { String::new() };
                format!("{head} {path}{tail}")
            })
            .collect()
    }

    /// The status area's lines, each fitted to `width` columns.
    pub(super) fn area(&self, now: Instant, width: usize, rows: usize) -> Vec<String> {
        let Some(started) = self.started else { return Vec::new() };
        let elapsed = now.duration_since(started).as_secs_f64();
        let mut tail = format!(" {}/{} files · {}", self.files_done.min(self.files_total), self.files_total, plural(self.examples, "example", "examples"));
        let mut plain_tail = tail.clone();
        if self.failures > 0 {
            let failures = plural(self.failures, "failure", "failures");
            plain_tail.push_str(&format!(" · {failures}"));
            tail.push_str(&format!(" · {}", self.styles.fail.apply_to(failures)));
        }
        let eta = eta(self.eta_input(now));
        let eta = format!(" · ETA {}", clock(eta));
        plain_tail.push_str(&eta);
        tail.push_str(&eta);
        let head = format!("{:>6}", clock(elapsed));
        // The bar takes what is left, up to 30 columns; under 10 it goes.
        let room = width.saturating_sub(head.chars().count() + 3 + console::measure_text_width(&plain_tail));
        let bar_width = room.min(30);
        let mut first = if bar_width >= 10 {
            let filled = (bar_width * self.files_done.min(self.files_total)).checked_div(self.files_total).unwrap_or(0);
            let bar: String = if filled == bar_width {
                "=".repeat(bar_width)
            } else {
                format!("{}>{}", "=".repeat(filled), " ".repeat(bar_width - filled - 1))
            };
            format!("{} [{}]{tail}", self.styles.dim.apply_to(head), self.styles.pass.apply_to(bar))
        } else {
            format!("{}{tail}", self.styles.dim.apply_to(head))
        };
        first = console::truncate_str(&first, width, "").into_owned();
        let mut lines = vec![first];
        let most = MAX_RUNNING_LINES.min(rows.saturating_sub(2) / 2);
        let running = self.running_lines(now, width.saturating_sub(2));
        let shown = if running.len() > most { most.saturating_sub(1) } else { running.len() };
        for line in &running[..shown] {
            lines.push(console::truncate_str(&format!("  {line}"), width, "").into_owned());
        }
        if shown < running.len() {
            let more = format!("  … and {} more running", running.len() - shown);
            lines.push(console::truncate_str(&more, width, "").into_owned());
        }
        lines
    }

    fn eta_input(&self, now: Instant) -> EtaInput {
        let running: Vec<(f64, f64)> = self.running.values().map(|r| (r.expected, now.duration_since(r.since).as_secs_f64())).collect();
        let started: f64 = running.iter().map(|(e, _)| e).sum();
        EtaInput {
            slots: self.slots.len(),
            queued: (self.expected_total - self.expected_done - started).max(0.0),
            running,
            pace: if self.expected_done > 0.0 && self.seconds_done > 0.0 { self.seconds_done / self.expected_done } else { 1.0 },
        }
    }
}

/// What the ETA is computed from.
#[derive(Debug)]
struct EtaInput {
    slots: usize,
    /// Expected seconds of the files not started.
    queued: f64,
    /// (expected, elapsed) seconds of each running file.
    running: Vec<(f64, f64)>,
    /// Actual over expected seconds of the finished files (1 before any).
    pace: f64,
}

/// A running file is expected to need at least this share of what it has run so far: one past
/// its expected time has no time "left" by its estimate, yet it still runs, and the longer it
/// runs the longer it is likely to go on (the ETA grows with it instead of sitting at `0s`).
const OVERRUN_SHARE: f64 = 0.5;

/// Seconds left: the work left (the queue, and what the running files have left of their
/// expected time — or, past it, `OVERRUN_SHARE` of how long they have run), at the pace the
/// finished files kept, spread over the slots — but never less than the longest running file
/// still needs.
fn eta(input: EtaInput) -> f64 {
    let pace = input.pace.clamp(0.2, 5.0);
    let left: Vec<f64> =
        input.running.iter().map(|(expected, elapsed)| (expected * pace - elapsed).max(elapsed * OVERRUN_SHARE)).collect();
    let longest = left.iter().copied().fold(0.0, f64::max);
    let work = input.queued * pace + left.iter().sum::<f64>();
    (work / input.slots.max(1) as f64).max(longest)
}

/// `7s`, `2m05s`, `1h02m`.
fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// `text` in at most `width` columns, cut from its left (`…els/user_spec.rb`): a path's end
/// says the most.
fn fit_left(text: &str, width: usize) -> String {
    let n = text.chars().count();
    if n <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let keep: String = text.chars().skip(n - (width - 1)).collect();
    format!("…{keep}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn live(slots: usize) -> Live {
        let options = crate::report::DisplayOptions::default().live();
        let screen = super::super::Screen { bar: true, colours: false, out: Box::new(std::io::sink()), err: Box::new(std::io::sink()) };
        let mut live = Live::new(options, screen);
        live.slots = (1..=slots).map(|i| SlotInfo { id: i, host: Arc::from("local"), host_slot: i }).collect();
        live.slot_width = 7;
        live
    }

    #[test]
    fn the_eta_comes_from_the_work_left_not_the_files_done() {
        // 1 s into a run of 14 s of expected work on 2 slots, nothing finished: 6 s left.
        let e = eta(EtaInput { slots: 2, queued: 10.0, running: vec![(2.0, 1.0), (2.0, 1.0)], pace: 1.0 });
        assert_eq!(e, 6.0);
        // One long file holds the end, whatever the queue says.
        let e = eta(EtaInput { slots: 4, queued: 0.0, running: vec![(30.0, 10.0), (1.0, 0.5)], pace: 1.0 });
        assert_eq!(e, 20.0);
        // Files have run twice as long as expected: so will the rest.
        let e = eta(EtaInput { slots: 1, queued: 3.0, running: vec![], pace: 2.0 });
        assert_eq!(e, 6.0);
        // A file past its time still runs: it is expected to need half as long again as it
        // has run, so the ETA grows with it, never `0s`.
        assert_eq!(eta(EtaInput { slots: 1, queued: 0.0, running: vec![(1.0, 9.0)], pace: 1.0 }), 4.5);
        assert_eq!(eta(EtaInput { slots: 1, queued: 0.0, running: vec![(1.0, 20.0)], pace: 1.0 }), 10.0);
        // Until then the estimate rules.
        assert_eq!(eta(EtaInput { slots: 1, queued: 0.0, running: vec![(10.0, 4.0)], pace: 1.0 }), 6.0);
    }

    #[test]
    fn clocks_and_paths_fit() {
        assert_eq!(clock(7.4), "7s");
        assert_eq!(clock(125.0), "2m05s");
        assert_eq!(clock(3720.0), "1h02m");
        assert_eq!(fit_left("spec/models/user_spec.rb", 12), "…ser_spec.rb");
        assert_eq!(fit_left("spec/a_spec.rb", 40), "spec/a_spec.rb");
    }

    #[test]
    fn the_status_area_fits_any_width_and_lists_what_runs() {
        let mut live = live(3);
        let start = Instant::now();
        live.started = Some(start);
        live.files_total = 23;
        live.files_done = 21;
        live.examples = 1234;
        live.failures = 2;
        live.expected_total = 40.0;
        live.expected_done = 30.0;
        live.seconds_done = 30.0;
        let long = "spec/models/a_very_long_folder_name/and_another_one/the_file_that_hangs_spec.rb";
        live.running.insert(1, Running { path: long.into(), expected: 1.0, guessed: false, since: start, slow_said: false });
        live.running.insert(3, Running { path: "spec/b_spec.rb".into(), expected: 8.0, guessed: false, since: start + Duration::from_secs(10), slow_said: false });
        let now = start + Duration::from_secs(12);
        for width in [20, 40, 59, 79, 89, 120] {
            let lines = live.area(now, width, 24);
            assert_eq!(lines.len(), 3, "{lines:?}");
            for line in &lines {
                assert!(console::measure_text_width(line) <= width, "{width}: {line:?}");
            }
        }
        let lines = live.area(now, 89, 24);
        assert_eq!(lines[0], "   12s [===========================>  ] 21/23 files · 1234 examples · 2 failures · ETA 6s");
        assert_eq!(lines[1], format!("  local/1    12s …{} SLOW", &long[long.len() - 66..]));
        assert_eq!(console::measure_text_width(&lines[1]), 89);
        assert_eq!(lines[2], "  local/3     2s spec/b_spec.rb");
        // Few rows: the rest is counted, not listed.
        let lines = live.area(now, 89, 5);
        assert_eq!(lines[1..], ["  … and 2 more running".to_string()]);
    }

    #[test]
    fn nothing_is_drawn_before_the_run_starts() {
        let live = live(2);
        assert!(live.area(Instant::now(), 80, 24).is_empty());
    }
}
