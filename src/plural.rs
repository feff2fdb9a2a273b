//! A count with its noun, `1 file`, `2 files`: the summary and the live display say it, and so
//! does the engine's note on a runner whose counts differ from what testbot saw.

use std::fmt::Display;

/// `1 file`, `2 files`; `1 batch`, `3 batches`.
pub fn plural<N: Copy + Display + PartialEq + From<u8>>(n: N, one: &str, many: &str) -> String {
    format!("{n} {}", if n == N::from(1) { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_takes_the_noun_that_fits() {
        assert_eq!(plural(1usize, "batch", "batches"), "1 batch");
        assert_eq!(plural(0usize, "file", "files"), "0 files");
        assert_eq!(plural(2usize, "error occurred", "errors occurred"), "2 errors occurred");
        assert_eq!(plural(1u64, "example", "examples"), "1 example");
        assert_eq!(plural(3u64, "failure", "failures"), "3 failures");
    }
}
