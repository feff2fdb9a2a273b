//! The selection syntax of a rerun line, parsed and written here only: `spec/a_spec.rb:12:30`
//! (the examples or groups at those lines) and `spec/a_spec.rb[1:2,1:5]` (RSpec's example ids),
//! as RSpec prints them and as testbot passes them on to a runner.

/// Part of a file to run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Only {
    pub lines: Vec<u32>,
    pub ids: Vec<String>,
}

impl Only {
    /// The same file named twice: the whole file if either asks for it (None), else both parts.
    pub fn merge(a: Option<Only>, b: Option<Only>) -> Option<Only> {
        let (mut a, b) = (a?, b?);
        for line in b.lines {
            if !a.lines.contains(&line) {
                a.lines.push(line);
            }
        }
        for id in b.ids {
            if !a.ids.contains(&id) {
                a.ids.push(id);
            }
        }
        Some(a)
    }

    /// The runner arguments that run this part of `path`: `path[1:2,1:5]` for its ids,
    /// `path:12:30` for its lines, `path` alone when it names neither (the whole file).
    pub fn arguments(&self, path: &str) -> Vec<String> {
        let mut args = Vec::new();
        if !self.ids.is_empty() {
            args.push(format!("{path}[{}]", self.ids.join(",")));
        }
        if !self.lines.is_empty() {
            let lines: Vec<String> = self.lines.iter().map(u32::to_string).collect();
            args.push(format!("{path}:{}", lines.join(":")));
        }
        if args.is_empty() {
            args.push(path.to_string());
        }
        args
    }
}

/// `spec/a_spec.rb:12:30` or `spec/a_spec.rb[1:2,1:5]`: the path and the part of it; None when
/// `given` has no such ending.
pub fn split(given: &str) -> Option<(&str, Only)> {
    if let Some(inner) = given.strip_suffix(']') {
        let (base, ids) = inner.rsplit_once('[')?;
        let ids: Vec<String> = ids.split(',').map(|id| id.trim().to_string()).filter(|id| !id.is_empty()).collect();
        let valid = !base.is_empty() && !ids.is_empty() && ids.iter().all(|id| id.bytes().all(|b| b.is_ascii_digit() || b == b':'));
        return valid.then_some((base, Only { lines: Vec::new(), ids }));
    }
    let (base, lines) = split_lines(given);
    (!lines.is_empty() && !base.is_empty()).then_some((base, Only { lines, ids: Vec::new() }))
}

/// `spec/a_spec.rb:12:30` → (`spec/a_spec.rb`, [12, 30]); no lines when it ends in none.
fn split_lines(given: &str) -> (&str, Vec<u32>) {
    let mut base = given;
    let mut lines = Vec::new();
    while let Some((head, tail)) = base.rsplit_once(':') {
        match tail.parse::<u32>() {
            Ok(line) if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) => {
                lines.insert(0, line);
                base = head;
            }
            _ => break,
        }
    }
    (base, lines)
}

/// The file a runner argument or an example's location names: `spec/a_spec.rb[1:2]`,
/// `spec/a_spec.rb:12:30` and `spec/a_spec.rb` → `spec/a_spec.rb`.
pub fn file_of(argument: &str) -> &str {
    if let (Some(open), true) = (argument.find('['), argument.ends_with(']')) {
        return &argument[..open];
    }
    split_lines(argument).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rerun_lines_split_into_a_path_and_a_part() {
        let lines = |l: &[u32]| Only { lines: l.to_vec(), ids: Vec::new() };
        assert_eq!(split("spec/a_spec.rb:12"), Some(("spec/a_spec.rb", lines(&[12]))));
        assert_eq!(split("./spec/a_spec.rb:12:30"), Some(("./spec/a_spec.rb", lines(&[12, 30]))));
        assert_eq!(split("spec/a_spec.rb[1:2, 1:5]"), Some(("spec/a_spec.rb", Only { lines: Vec::new(), ids: vec!["1:2".into(), "1:5".into()] })));
        for plain in ["spec/a_spec.rb", "spec/a:b_spec.rb", ":12", "spec/a_spec.rb[x]", "spec/a_spec.rb[]", "a_spec.rb:"] {
            assert_eq!(split(plain), None, "{plain}");
        }
        assert_eq!(Only::merge(Some(lines(&[1])), Some(lines(&[2, 1]))), Some(lines(&[1, 2])));
        assert_eq!(Only::merge(Some(lines(&[1])), None), None, "the whole file wins");
    }

    #[test]
    fn a_part_written_as_arguments_reads_back_as_itself() {
        let ids = Only { lines: Vec::new(), ids: vec!["1:2".into(), "1:5".into()] };
        assert_eq!(ids.arguments("spec/a_spec.rb"), ["spec/a_spec.rb[1:2,1:5]"]);
        assert_eq!(split(&ids.arguments("spec/a_spec.rb")[0]), Some(("spec/a_spec.rb", ids)));
        let lines = Only { lines: vec![12, 30], ids: Vec::new() };
        assert_eq!(split(&lines.arguments("spec/a_spec.rb")[0]), Some(("spec/a_spec.rb", lines)));
        let both = Only { lines: vec![3], ids: vec!["1:1".into()] };
        assert_eq!(both.arguments("a_spec.rb"), ["a_spec.rb[1:1]", "a_spec.rb:3"]);
        assert_eq!(Only::default().arguments("a_spec.rb"), ["a_spec.rb"]);
    }

    #[test]
    fn an_argument_names_its_file() {
        assert_eq!(file_of("spec/a_spec.rb"), "spec/a_spec.rb");
        assert_eq!(file_of("spec/a_spec.rb[1:2,1:3]"), "spec/a_spec.rb");
        assert_eq!(file_of("spec/a_spec.rb:12:30"), "spec/a_spec.rb");
        assert_eq!(file_of("spec/a:b_spec.rb"), "spec/a:b_spec.rb");
        assert_eq!(file_of("test/a_test.rb:12"), "test/a_test.rb");
    }
}
