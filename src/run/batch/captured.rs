//! A file's output as kept: its head and its tail.

/// Output kept per file: the head and the tail, so a runaway printer cannot eat the controller.
#[derive(Clone, Debug, Default)]
pub struct Captured {
    head: String,
    tail: String,
    cut: usize,
}

pub(super) const HEAD_LIMIT: usize = 16 * 1024;
pub(super) const TAIL_LIMIT: usize = 48 * 1024;

impl Captured {
    pub fn push_line(&mut self, line: &str) {
        if self.cut == 0 && self.head.len() + line.len() < HEAD_LIMIT {
            self.head.push_str(line);
            self.head.push('\n');
            return;
        }
        self.tail.push_str(line);
        self.tail.push('\n');
        if self.tail.len() > 2 * TAIL_LIMIT {
            let mut drop = self.tail.len() - TAIL_LIMIT;
            while !self.tail.is_char_boundary(drop) {
                drop += 1;
            }
            self.cut += drop;
            self.tail.drain(..drop);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.head.is_empty() && self.tail.is_empty()
    }

    pub fn render(&self) -> String {
        let mut out = self.head.clone();
        if self.cut > 0 {
            out.push_str(&format!("[… {} bytes of output left out …]\n", self.cut));
        }
        out.push_str(&self.tail);
        out
    }

    pub(super) fn append(&mut self, other: &Captured) {
        for line in other.render().lines() {
            self.push_line(line);
        }
    }
}

