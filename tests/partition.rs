//! `--partition K/N` and `testbot report merge`: CI jobs that each run a share of the suite, and
//! one summary, JSON report and JUnit file for all of them.

mod common;

use common::*;

#[test]
fn partitions_run_every_file_once_and_merge_into_the_whole_run() {
    let p = Project::new("rspec_basic");
    let whole_json = p.fresh_path("whole", "json");
    let whole_junit = p.fresh_path("whole", "xml");
    let (whole, whole_report) = p.testbot(["-n", "2"]).report_to(&whole_json).junit_to(&whole_junit).run_with_report();
    whole.assert_exit(1);

    // Every CI job starts from the same checkout and the same runtime history (a cached or
    // committed log): each share here starts from the log the whole run left.
    let log = p.path("tmp/testbot-runtime-rspec.log");
    let history = std::fs::read_to_string(&log).unwrap();
    let mut shares = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for k in 1..=3 {
        std::fs::write(&log, &history).unwrap();
        let json = p.fresh_path(&format!("share{k}"), "json");
        let (run, report) = p.testbot(["-n", "2", "--partition", &format!("{k}/3")]).report_to(&json).run_with_report();
        let paths = report.file_paths();
        assert!(!paths.is_empty(), "share {k} of 7 files is empty: {}", run.dump());
        assert_eq!(report.totals().files as usize, paths.len());
        seen.extend(paths);
        shares.push(json);
    }
    seen.sort();
    assert_eq!(seen, sorted(BASIC_FILES), "every file in exactly one share");
    // And in halves.
    let mut halves: Vec<String> = Vec::new();
    for k in 1..=2 {
        std::fs::write(&log, &history).unwrap();
        let json = p.fresh_path(&format!("half{k}"), "json");
        let (_, report) = p.testbot(["-n", "2", "--partition", &format!("{k}/2")]).report_to(&json).run_with_report();
        halves.extend(report.file_paths());
    }
    halves.sort();
    assert_eq!(halves, sorted(BASIC_FILES), "1/2 and 2/2 run every file exactly once");

    let merged_json = p.fresh_path("merged", "json");
    let merged_junit = p.fresh_path("merged", "xml");
    let mut args: Vec<String> = vec!["report".into(), "merge".into()];
    args.extend(shares.iter().map(|s| s.to_string_lossy().into_owned()));
    args.extend(["--report-json".into(), merged_json.to_string_lossy().into_owned()]);
    args.extend(["--junit".into(), merged_junit.to_string_lossy().into_owned()]);
    let run = p.testbot(&args).run();
    run.assert_exit(1);
    let merged = Report::read(&merged_json, &run);
    merged.assert_consistent();
    assert_eq!(merged.totals(), whole_report.totals(), "{}", run.dump());
    assert_eq!(merged.file_paths(), whole_report.file_paths());
    let failures = |r: &Report| {
        let mut f: Vec<(String, u64, String)> = r.failures().into_iter().map(|f| (f.path, f.line, f.description)).collect();
        f.sort();
        f
    };
    assert_eq!(failures(&merged), failures(&whole_report));
    let junit = |path| junit_counts(&std::fs::read_to_string(path).unwrap());
    assert_eq!(junit(&merged_junit), junit(&whole_junit));
    // One summary for the build: its failures, the slots of all three shares, the totals.
    run.assert_stdout_contains("Failed examples:\nrspec ./spec/error_spec.rb:8 # Errors raises an exception\nrspec ./spec/math_spec.rb:6 # Math adds wrongly\n");
    run.assert_stdout_contains("\nSlots: 6 busy ");
    let last = run.stdout.lines().last().unwrap_or_default();
    assert!(last.starts_with("FAILED [") && last.ends_with("] 7 files on 6 slots: 18 examples, 2 failures, 2 pending"), "{}", run.dump());
}

#[test]
fn merge_names_a_file_that_is_not_a_report() {
    let p = Project::new("rspec_basic");
    let bogus = p.outside("bogus.json");
    std::fs::write(&bogus, "{\"hello\": 1}").unwrap();
    let run = p.testbot(["report".to_string(), "merge".to_string(), bogus.to_string_lossy().into_owned()]).run();
    run.assert_exit(2);
    run.assert_output_contains("bogus.json is not a testbot JSON report (written by `--report-json`)");
    let run = p.testbot(["report", "merge", "/nonexistent/r.json"]).run();
    run.assert_exit(2);
    run.assert_output_contains("failed to read the report /nonexistent/r.json");
}

#[test]
fn a_bad_partition_is_a_usage_error() {
    let p = Project::new("rspec_basic");
    let run = p.testbot(["--partition", "3/2"]).run();
    run.assert_exit(2);
    run.assert_output_contains("K must be from 1 to N");
}

/// A runtime history that says every file of `files` takes `seconds`.
fn history_of(files: &[&str], seconds: f64) -> String {
    files.iter().map(|f| format!("{f}:{seconds}\n")).collect()
}

/// `testbot report merge` of `reports`, with more arguments after them.
fn merge(p: &Project, reports: &[&std::path::PathBuf], more: &[&str]) -> Run {
    let mut args: Vec<String> = vec!["report".into(), "merge".into()];
    args.extend(reports.iter().map(|s| s.to_string_lossy().into_owned()));
    args.extend(more.iter().map(|s| s.to_string()));
    p.testbot(&args).run()
}

/// The `partition` object of a share's report: (index, count, plan, digest).
fn share_of(report: &Report) -> (u64, u64, Vec<Vec<String>>, String) {
    let part = &report.json["partition"];
    let plan = serde_json::from_value(part["plan"].clone()).unwrap_or_else(|e| panic!("no plan ({e}) in {part}"));
    (part["index"].as_u64().unwrap(), part["count"].as_u64().unwrap(), plan, part["digest"].as_str().unwrap().to_string())
}

#[test]
fn shares_run_one_after_another_in_one_checkout_cover_every_file_once() {
    let p = Project::new("rspec_basic");
    // A history that is wrong (every file 1 s): a share that wrote what it measured would
    // change the plan of the shares after it.
    let log = p.path("tmp/testbot-runtime-rspec.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let history = history_of(BASIC_FILES, 1.0);
    std::fs::write(&log, &history).unwrap();
    let mut seen: Vec<String> = Vec::new();
    let mut shares = Vec::new();
    let mut reports = Vec::new();
    for k in 1..=3 {
        let json = p.fresh_path(&format!("share{k}"), "json");
        let (_, report) = p.testbot(["-n", "2", "--partition", &format!("{k}/3")]).report_to(&json).run_with_report();
        seen.extend(report.file_paths());
        reports.push(report);
        shares.push(json);
    }
    seen.sort();
    assert_eq!(seen, sorted(BASIC_FILES), "every file in exactly one share");
    let mut plans = Vec::new();
    for (k, report) in (1..).zip(&reports) {
        let (index, count, plan, digest) = share_of(report);
        assert_eq!((index, count), (k, 3));
        let mut planned = plan[k as usize - 1].clone();
        planned.sort();
        assert_eq!(report.file_paths(), planned, "share {k} ran its part of the plan");
        plans.push((plan, digest));
    }
    assert!(plans.windows(2).all(|w| w[0] == w[1]), "the three shares recorded one plan: {plans:?}");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), history, "a --partition run leaves the history as it was");

    // math_spec.rb fails: the build does.
    let merged_json = p.fresh_path("merged", "json");
    let merged_log = p.fresh_path("merged-runtime", "log");
    let run = merge(
        &p,
        &shares.iter().collect::<Vec<_>>(),
        &["--report-json", merged_json.to_str().unwrap(), "--runtime-log", merged_log.to_str().unwrap()],
    );
    run.assert_exit(1);
    run.assert_stdout_contains("7 files");
    let merged = Report::read(&merged_json, &run);
    assert_eq!(merged.file_paths(), sorted(BASIC_FILES));
    assert_eq!(merged.totals().files, 7);
    assert!(!run.combined().contains("have no result"), "{}", run.dump());
    // `--runtime-log`: the shares' times, for the next build to plan with (files that did not
    // run cleanly excluded, as after a run).
    let times: Vec<String> = read_runtime_log(&merged_log).into_iter().map(|(path, _)| path).collect();
    let clean: Vec<String> = merged.files().into_iter().filter(|f| f.status != "errored").map(|f| f.path).collect();
    assert_eq!(times, clean);
}

#[test]
fn merge_fails_on_a_missing_share_and_on_shares_of_different_plans() {
    let p = Project::new("rspec_basic");
    // Green: only merge itself can fail the build.
    std::fs::remove_file(p.path("spec/error_spec.rb")).unwrap();
    std::fs::remove_file(p.path("spec/math_spec.rb")).unwrap();
    let files: Vec<&str> = BASIC_FILES.iter().copied().filter(|f| !f.contains("error") && !f.contains("math")).collect();
    let log = p.path("tmp/testbot-runtime-rspec.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    std::fs::write(&log, history_of(&files, 1.0)).unwrap();
    let mut shares = Vec::new();
    let mut planned = Vec::new();
    for k in 1..=3 {
        let json = p.fresh_path(&format!("share{k}"), "json");
        let (run, report) = p.testbot(["-n", "2", "--partition", &format!("{k}/3")]).report_to(&json).run_with_report();
        run.assert_exit(0);
        planned.push(report.file_paths());
        shares.push(json);
    }
    let run = merge(&p, &[&shares[0], &shares[1], &shares[2]], &[]);
    run.assert_exit(0);

    // Share 2 is missing: its files are named, and the build fails.
    let run = merge(&p, &[&shares[0], &shares[2]], &[]);
    run.assert_exit(1);
    assert!(!planned[1].is_empty());
    // One reason, said once with the count (issue 31 item 2); the first files named.
    match planned[1].as_slice() {
        [file] => run.assert_output_contains(&format!("{file} (not run): share 2/3 has no report among those merged")),
        files => {
            run.assert_output_contains(&format!("{} files (not run): share 2/3 has no report among those merged", files.len()));
            run.assert_output_contains(&files[0]);
        }
    }
    run.assert_output_contains(&format!("{} file(s) have no result: share 2/3 has no report among those merged", planned[1].len()));

    // Share 2 again, from another history: another plan.
    std::fs::write(&log, history_of(&files, 1.0).replace("spec/empty_spec.rb:1", "spec/empty_spec.rb:9")).unwrap();
    let other = p.fresh_path("share2-other", "json");
    let (run, _) = p.testbot(["-n", "2", "--partition", "2/3"]).report_to(&other).run_with_report();
    run.assert_exit(0);
    let run = merge(&p, &[&shares[0], &other, &shares[2]], &[]);
    run.assert_exit(1);
    run.assert_output_contains(&format!("{} (share 1/3, plan ", shares[0].display()));
    run.assert_output_contains(&format!("{} (share 2/3, plan ", other.display()));
    run.assert_output_contains("were cut from different plans");
}

#[test]
fn list_shows_the_files_each_share_runs() {
    let p = Project::new("rspec_basic");
    // A real history first (a whole run writes one), so that the plan is by measured times.
    let (whole, _) = p.testbot(["-n", "2"]).report_to(&p.fresh_path("whole", "json")).run_with_report();
    whole.assert_exit(1);
    let listed = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["list"];
        all.extend(args);
        let run = p.testbot(&all).run();
        run.assert_exit(0);
        let mut paths: Vec<String> = run
            .stdout
            .lines()
            .map(|line| {
                let (seconds, path) = line.split_once('\t').unwrap_or_else(|| panic!("not SECONDS<tab>PATH: {line:?}\n{}", run.dump()));
                assert!(seconds.parse::<f64>().is_ok_and(|s| s > 0.0), "{line:?}");
                path.to_string()
            })
            .collect();
        paths.sort();
        paths
    };
    assert_eq!(listed(&[]), sorted(BASIC_FILES));
    let mut all = Vec::new();
    for k in 1..=3 {
        let share = format!("{k}/3");
        let shown = listed(&["--partition", &share]);
        let json = p.fresh_path(&format!("share{k}"), "json");
        let (run, report) = p.testbot(["-n", "2", "--partition", &share]).report_to(&json).run_with_report();
        assert_eq!(shown, report.file_paths(), "`testbot list --partition {share}` shows what the share ran\n{}", run.dump());
        all.extend(shown);
    }
    all.sort();
    assert_eq!(all, sorted(BASIC_FILES));
}

#[test]
fn whole_runs_merged_with_a_file_in_both_name_it() {
    let p = Project::new("rspec_basic");
    let a = p.fresh_path("a", "json");
    let b = p.fresh_path("b", "json");
    let (first, _) = p.testbot(["-n", "1", "spec/passing_spec.rb", "spec/pending_spec.rb"]).report_to(&a).run_with_report();
    first.assert_exit(0);
    let (second, _) = p.testbot(["-n", "1", "spec/pending_spec.rb", "spec/nested_spec.rb"]).report_to(&b).run_with_report();
    second.assert_exit(0);
    let run = merge(&p, &[&a, &b], &[]);
    run.assert_output_contains("1 file(s) are in more than one report (partitions that overlap?): spec/pending_spec.rb");
    // No other file is named as overlapping.
    assert_eq!(run.combined().matches("more than one report").count(), 1, "{}", run.dump());
}

// ---------------------------------------------------------------------------
// Issue 31 item 4: `report merge` gives each share's slots their own busy time, labelled with
// the share; item 10: `-C DIR` before `report merge`.

/// A per-slot line under `Slots:`: its label (`share 1/2`), if any, and each slot with its seconds.
type SlotLine = (Option<String>, Vec<(String, f64)>);

/// The per-slot line(s) under `Slots:`.
fn slot_figures(stdout: &str) -> Vec<SlotLine> {
    let lines = stdout.lines().skip_while(|l| !l.starts_with("Slots: ")).skip(1).take_while(|l| l.starts_with("  "));
    lines
        .map(|line| {
            let (label, figures) = match line.trim().split_once(": ") {
                Some((label, figures)) => (Some(label.to_string()), figures),
                None => (None, line.trim()),
            };
            let figures = figures
                .split(", ")
                .map(|f| {
                    let (slot, secs) = f.split_once(' ').unwrap_or_else(|| panic!("{f:?} in {line:?}"));
                    (slot.to_string(), secs.strip_suffix('s').unwrap().parse::<f64>().unwrap())
                })
                .collect();
            (label, figures)
        })
        .collect()
}

#[test]
fn a_merge_shows_each_shares_slots_with_their_own_time_and_takes_c_before_the_command() {
    let p = Project::new("rspec_basic");
    // One file that takes a while: the slot that runs it is busier than the other.
    p.write("spec/sleepy_spec.rb", "RSpec.describe('sleepy') { it('naps') { sleep 3 } }\n");
    let log = p.path("tmp/testbot-runtime-rspec.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    std::fs::write(&log, history_of(BASIC_FILES, 0.1) + "spec/sleepy_spec.rb:3.0\n").unwrap();
    let mut own = Vec::new();
    let reports = p.out_dir("reports");
    for k in 1..=2 {
        let json = reports.join(format!("share{k}.json"));
        let run = p.testbot(["-n", "2", "--partition", &format!("{k}/2")]).report_to(&json).run();
        let figures = slot_figures(&run.stdout);
        assert_eq!(figures.len(), 1, "one line of slots:\n{}", run.dump());
        assert_eq!(figures[0].0, None, "{}", run.dump());
        own.push(figures[0].1.clone());
    }
    // Relative report names, read from the folder `-C` names: before the command, as the
    // README has it.
    let run = p.testbot(["-C", reports.to_str().unwrap(), "report", "merge", "share1.json", "share2.json"]).run();
    run.assert_exit(1);
    let merged = slot_figures(&run.stdout);
    assert_eq!(merged.len(), 2, "a line per share:\n{}", run.dump());
    for (k, ((label, figures), own)) in (1..).zip(merged.iter().zip(&own)) {
        assert_eq!(label.as_deref(), Some(format!("share {k}/2").as_str()), "{}", run.dump());
        // Each slot once, with its share's own figure (rounded: the report keeps milliseconds).
        let names: Vec<&str> = figures.iter().map(|(slot, _)| slot.as_str()).collect();
        assert_eq!(names, ["local#1", "local#2"], "{}", run.dump());
        for ((slot, secs), (_, own_secs)) in figures.iter().zip(own) {
            assert!((secs - own_secs).abs() <= 0.1, "share {k}'s {slot}: {secs}s merged, {own_secs}s in its own run\n{}", run.dump());
        }
    }
    // The nap shows: its slot was busier than the other one of its share.
    let spread = |figures: &[(String, f64)]| (figures[0].1 - figures[1].1).abs();
    assert!(own.iter().any(|f| spread(f) >= 1.0), "{own:?}");
    run.assert_stdout_contains("\nSlots: 4 busy ");
}
