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
        // Once a line went to the tail, none goes to the head: the output keeps its order.
        if self.tail.is_empty() && self.head.len() + line.len() < HEAD_LIMIT {
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


#[cfg(test)]
mod tests {
    use super::*;

    /// Line `i` of 1023 bytes (1024 with its newline).
    fn kib(i: usize) -> String {
        format!("{i:04}{}", "x".repeat(1019))
    }

    fn pushed(lines: &[String]) -> Captured {
        let mut c = Captured::default();
        for l in lines {
            c.push_line(l);
        }
        c
    }

    fn joined(lines: &[String]) -> String {
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    #[test]
    fn output_up_to_the_limits_is_kept_whole_and_in_order() {
        assert!(Captured::default().is_empty());
        assert_eq!(Captured::default().render(), "");
        let c = pushed(&["one".into(), "two".into()]);
        assert!(!c.is_empty());
        assert_eq!(c.render(), "one\ntwo\n");
        // A line too long for the head, then short ones: still in order.
        let lines = vec!["y".repeat(HEAD_LIMIT), "after".to_string(), "more".to_string()];
        let c = pushed(&lines);
        assert!(!c.is_empty());
        assert_eq!(c.render(), joined(&lines));
        // 16 KiB of head and exactly twice the tail limit after it: nothing is left out yet.
        let lines: Vec<String> = (0..16 + 96).map(kib).collect();
        assert_eq!(pushed(&lines).render(), joined(&lines));
    }

    #[test]
    fn past_twice_the_tail_limit_the_tail_is_cut_to_the_limit() {
        // 16 lines fill the head (16 × 1024 bytes = HEAD_LIMIT: the 16th still fits, as 15 × 1024
        // + 1023 < HEAD_LIMIT); the 97th tail line passes 2 × TAIL_LIMIT and the tail is cut to
        // its last TAIL_LIMIT bytes: 48 lines, 49 lines (50176 bytes) left out.
        let lines: Vec<String> = (0..16 + 97).map(kib).collect();
        let c = pushed(&lines);
        let expected = format!("{}[… 50176 bytes of output left out …]\n{}", joined(&lines[..16]), joined(&lines[16 + 49..]));
        // The marker first: a failing `assert_eq!` of 100 KB strings is slow to print.
        assert!(c.render().contains("\n[… 50176 bytes of output left out …]\n"));
        assert_eq!(c.render(), expected);
        assert!(!c.is_empty());
    }

    #[test]
    fn a_line_as_long_as_the_head_limit_goes_to_the_tail() {
        let mut lines = vec!["H".repeat(HEAD_LIMIT)];
        lines.extend((0..96).map(kib));
        let text = pushed(&lines).render();
        assert!(text.starts_with("[… "), "{}", text.chars().take(40).collect::<String>());
        let mut lines = vec!["H".repeat(HEAD_LIMIT - 1)];
        lines.extend((0..97).map(kib));
        let text = pushed(&lines).render();
        assert!(text.starts_with(&format!("{}\n[… ", lines[0])), "{}", text.chars().take(40).collect::<String>());
    }

    #[test]
    fn the_cut_lands_on_a_character_boundary() {
        // Lines of 100 three-byte characters (301 bytes): the head takes 54 (16254 bytes); the
        // 327th tail line brings it to 98427 > 2 × TAIL_LIMIT, and 98427 − TAIL_LIMIT = 49275 is
        // byte 212 of line 163 (mid-character), so the cut moves on to byte 213: 49276 bytes
        // left out, the tail starts with that line's last 29 characters.
        let line = "€".repeat(100);
        let lines = vec![line.clone(); 54 + 327];
        let c = pushed(&lines);
        let expected = format!(
            "{}[… 49276 bytes of output left out …]\n{}\n{}",
            joined(&lines[..54]),
            "€".repeat(29),
            joined(&lines[..163])
        );
        assert!(c.render().contains("\n[… 49276 bytes of output left out …]\n"));
        assert_eq!(c.render(), expected);
    }

    #[test]
    fn append_keeps_the_others_lines_after_its_own() {
        let mut a = pushed(&["a1".into(), "a2".into()]);
        a.append(&pushed(&["b1".into()]));
        assert_eq!(a.render(), "a1\na2\nb1\n");
    }
}
