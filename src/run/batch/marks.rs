//! Where output goes: the runner marks its output where a file starts or ends, and output is
//! placed by those marks, not by when it was read.

use super::BatchTracker;
use crate::events::RunEvent;
use crate::framework::protocol::Piece;

/// Output and events arrive apart; the runner marks its output where a file starts or ends, and
/// the event that did so carries the mark's number. Output is placed by the last mark before
/// it, not by when it was read: the file that was running after event `q`. Output read before
/// its event is held until the event arrives; a file's report waits until the output has passed
/// the mark of its end. Without marks (a runner that has none, stdout closed), output goes to
/// the file running when it is read.
#[derive(Debug, Default)]
pub(super) struct Marks {
    /// The file running after marked event `q` is `after[q - 1]`.
    after: Vec<Option<usize>>,
    /// The last mark seen in the output.
    output: u64,
    /// Output past a mark whose event has not arrived yet.
    waiting: Vec<(u64, String)>,
    /// Files done (mark, file, seconds) whose output has not reached that mark yet.
    done: Vec<(u64, usize, f64)>,
}

impl BatchTracker {
    pub fn piece(&mut self, piece: Piece, events: &mut Vec<RunEvent>) {
        match piece {
            Piece::Output(line) => {
                let q = self.marks.output;
                // Past a mark whose event has not come yet (the output pipe read first, as
                // a forked runner's burst often is): it waits for that event, even the first.
                if q == 0 {
                    self.push_output(self.current, &line);
                } else if let Some(&file) = self.marks.after.get(q as usize - 1) {
                    self.push_output(file, &line);
                } else {
                    self.marks.waiting.push((q, line));
                }
            }
            Piece::OutputMark(q) => {
                self.marks.output = self.marks.output.max(q);
                self.settle_marks(events);
            }
            Piece::Event(event) => self.event(event, None, events),
            Piece::Marked(event, q) => self.event(event, Some(q), events),
        }
    }

    pub(super) fn push_output(&mut self, file: Option<usize>, line: &str) {
        match file {
            Some(i) if !self.files[i].reported => self.files[i].output.push_line(line),
            _ => self.batch_output.push_line(line),
        }
    }

    /// Output held for a mark whose event is here now goes where it belongs; files whose output
    /// has passed their end's mark are reported.
    pub(super) fn settle_marks(&mut self, events: &mut Vec<RunEvent>) {
        let known = self.marks.after.len() as u64;
        let waiting = std::mem::take(&mut self.marks.waiting);
        for (q, line) in waiting {
            if q <= known {
                self.push_output(self.marks.after[q as usize - 1], &line);
            } else {
                self.marks.waiting.push((q, line));
            }
        }
        let reached = self.marks.output;
        let done = std::mem::take(&mut self.marks.done);
        for (q, i, seconds) in done {
            if q <= reached {
                self.file_done(i, seconds, events);
            } else {
                self.marks.done.push((q, i, seconds));
            }
        }
    }

    pub(super) fn file_done(&mut self, i: usize, seconds: f64, events: &mut Vec<RunEvent>) {
        if !self.files[i].reported {
            events.push(self.report(i, seconds, None));
        }
    }

    /// A marked event was handled: the file running now is where output after its mark goes.
    pub(super) fn marked(&mut self, mark: Option<u64>, events: &mut Vec<RunEvent>) {
        let Some(q) = mark else { return };
        let q = q as usize;
        if q == 0 || q <= self.marks.after.len() {
            return;
        }
        // Marks are numbered 1, 2, …; one never seen keeps the file of the one before.
        let last = self.marks.after.last().copied().flatten();
        self.marks.after.resize(q - 1, last);
        self.marks.after.push(self.current);
        self.settle_marks(events);
    }

    /// The stream ended: what waits for a mark goes where it can.
    pub(super) fn flush_marks(&mut self, events: &mut Vec<RunEvent>) {
        self.marks.output = u64::MAX;
        for (_, line) in std::mem::take(&mut self.marks.waiting) {
            let last = self.marks.after.last().copied().flatten();
            self.push_output(last, &line);
        }
        self.settle_marks(events);
    }

    /// The runner is done with file `i` (`FileDone`, after `seconds`): reported now, or once
    /// its output has reached the mark of its end.
    pub(super) fn file_ended(&mut self, i: usize, seconds: f64, mark: Option<u64>, events: &mut Vec<RunEvent>) {
        if !self.files[i].finished {
            self.files[i].finished = true;
            match mark {
                // Its output is not all here yet: reported when it is.
                Some(q) if self.marks.output < q => self.marks.done.push((q, i, seconds)),
                _ => events.push(self.report(i, seconds, None)),
            }
        }
        self.marked(mark, events);
    }
}
