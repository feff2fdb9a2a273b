//! `--junit`: one JUnit XML file for the whole run, a test suite per file.

use super::Aggregate;
use crate::events::{ExampleStatus, FileError};
use crate::framework::Framework;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};
use std::time::Duration;

pub fn render(framework: Framework, agg: &Aggregate) -> Result<String, String> {
    let mut report = Report::new("testbot");
    report.set_time(Duration::from_secs_f64(agg.wall_seconds.max(0.0)));
    for file in &agg.files {
        let mut suite = TestSuite::new(file.path.clone());
        suite.set_time(Duration::from_secs_f64(file.seconds.max(0.0)));
        for ex in &file.examples {
            let status = match ex.status {
                ExampleStatus::Passed => {
                    // A pass after failed tries: JUnit's flakyFailure elements, one per failed try.
                    let mut s = TestCaseStatus::success();
                    s.add_reruns(ex.earlier_failures.iter().map(|message| {
                        let mut rerun = TestRerun::new(NonSuccessKind::Failure);
                        rerun.set_message(first_line(message).to_string());
                        rerun.set_description(message.clone());
                        rerun
                    }));
                    s
                }
                ExampleStatus::Pending => {
                    let mut s = TestCaseStatus::skipped();
                    if let Some(m) = &ex.message {
                        s.set_message(m.clone());
                    }
                    s
                }
                ExampleStatus::Failed => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    let message = ex.message.clone().unwrap_or_default();
                    s.set_message(message.lines().find(|l| !l.trim().is_empty()).unwrap_or("failed").trim().to_string());
                    s.set_description(format!("{}\n{}", message, ex.backtrace.join("\n")));
                    s
                }
            };
            let mut case = TestCase::new(ex.description.clone(), status);
            case.set_classname(file.path.clone());
            case.set_time(Duration::from_secs_f64(ex.seconds.max(0.0)));
            case.extra.insert("file".into(), file.path.clone().into());
            suite.add_test_case(case);
        }
        if let Some(error) = &file.error {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(format!("{}: {}", error.kind(), first_line(error.message())));
            status.set_description(error.message().to_string());
            let mut case = TestCase::new(format!("{} ({})", file.path, error.kind()), status);
            case.set_classname(file.path.clone());
            if !file.output.is_empty() {
                case.set_system_out(file.output.clone());
            }
            let _: &FileError = error;
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    if !agg.batch_errors.is_empty() {
        let mut suite = TestSuite::new("errors outside examples");
        for (i, err) in agg.batch_errors.iter().enumerate() {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(first_line(&err.message).to_string());
            status.set_description(err.message.clone());
            let mut case = TestCase::new(format!("error outside examples #{}", i + 1), status);
            case.set_classname(framework.name());
            if !err.output.is_empty() {
                case.set_system_out(err.output.clone());
            }
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.to_string().map_err(|e| e.to_string())
}

fn first_line(text: &str) -> &str {
    text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("")
}
