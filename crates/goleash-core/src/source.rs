//! What the line of Go source at a leak site says: the statement that blocks, the cases of
//! a `select`, whether it sits in a loop with a way out.
//!
//! Tracebacks carry absolute paths, so when goleash runs where the program was built the
//! source is at hand, and reading the line is what a person would do next: a `select` with a
//! `time.After` case will end on its own, one on a ticker inside `for {}` never will. The
//! analysis is lexical and forgiving (no Go parser): it looks at the lines around the site,
//! skips comments and strings, and matches braces.

/// What blocks at the site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Statement {
    /// `select { … }`.
    Select(SelectCases),
    /// `ch <- v`.
    Send {
        /// The channel expression.
        channel: String,
    },
    /// `<-ch`, `v := <-ch`, `for v := range ch`.
    Receive {
        /// The channel expression.
        channel: String,
    },
    /// `time.Sleep(…)`.
    Sleep,
    /// `wg.Wait()`, `cond.Wait()`.
    Wait,
    /// `mu.Lock()`, `mu.RLock()`.
    Lock,
    /// Anything else.
    Other,
}

/// The cases of a `select`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SelectCases {
    /// Cases in all.
    pub count: usize,
    /// A case on `ctx.Done()`, `done`, `quit`, `stop` or similar: a way to be told to stop.
    pub done: bool,
    /// A case on a one-shot timer (`time.After`, `timer.C`): it will fire.
    pub timer: bool,
    /// A case on a ticker (`ticker.C`, `time.Tick`): it fires forever.
    pub ticker: bool,
    /// A `default:` case: the select never blocks.
    pub default: bool,
}

/// What the source says about one leak site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteFacts {
    /// The line itself, trimmed.
    pub text: String,
    /// What blocks there.
    pub statement: Statement,
    /// The site is inside a `for` loop.
    pub in_loop: bool,
    /// The loop is `for {}` or `for range ticker.C`-like: no condition ends it.
    pub endless_loop: bool,
    /// The loop body has a `return` or a labelled `break`: a way out.
    pub loop_has_exit: bool,
}

/// A Go source file, lexed once for any number of questions about its lines.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The lines with comments and the insides of literals blanked out.
    code: Vec<String>,
    /// The lines as written.
    raw: Vec<String>,
}

impl SourceFile {
    /// Lexes a file's bytes (not UTF-8 bytes are replaced).
    pub fn parse(source: &[u8]) -> SourceFile {
        let text = String::from_utf8_lossy(source);
        SourceFile {
            code: strip_comments_and_strings(&text)
                .lines()
                .map(str::to_string)
                .collect(),
            raw: text.lines().map(str::to_string).collect(),
        }
    }

    /// What line `line` (1-based) says; `None` when there is no such line.
    pub fn site(&self, line: u32) -> Option<SiteFacts> {
        let index = usize::try_from(line).ok()?.checked_sub(1)?;
        self.code.get(index)?;
        let statement = statement_at(&self.code, index);
        let (in_loop, endless_loop, loop_has_exit) = enclosing_loop(&self.code, index);
        Some(SiteFacts {
            text: self
                .raw
                .get(index)
                .map_or(String::new(), |l| l.trim().to_string()),
            statement,
            in_loop,
            endless_loop,
            loop_has_exit,
        })
    }
}

/// Blanks out comments and the insides of string and rune literals, keeping line breaks, so
/// braces and keywords in them are not read as code.
fn strip_comments_and_strings(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'/' && bytes.get(i + 1) == Some(&b'/') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if b == b'/' && bytes.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                if bytes[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += 2;
            continue;
        }
        if b == b'"' || b == b'\'' || b == b'`' {
            let quote = b;
            out.push(quote as char);
            i += 1;
            while i < bytes.len() && bytes[i] != quote {
                if bytes[i] == b'\\' && quote != b'`' {
                    i += 1;
                } else if bytes[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            out.push(quote as char);
            i += 1;
            continue;
        }
        // Copy one UTF-8 character.
        let len = utf8_len(b);
        out.push_str(&text[i..(i + len).min(text.len())]);
        i += len;
    }
    out
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
    }
}

fn statement_at(lines: &[String], index: usize) -> Statement {
    let line = lines[index].trim();
    // Also inside a one-line function: `func park() { select {} }`.
    if line.contains("select {}") {
        return Statement::Select(SelectCases::default());
    }
    if line.starts_with("select") && line.ends_with('{') {
        return Statement::Select(select_cases(lines, index));
    }
    if line.contains("time.Sleep(") {
        return Statement::Sleep;
    }
    if line.ends_with(".Wait()") || line.contains(".Wait()") {
        return Statement::Wait;
    }
    if line.contains(".Lock()") || line.contains(".RLock()") {
        return Statement::Lock;
    }
    if let Some(channel) = line.strip_prefix("for ").and_then(|r| {
        r.strip_prefix("range ")
            .or_else(|| r.split(" range ").nth(1))
    }) {
        let channel = channel.trim_end_matches('{').trim();
        return Statement::Receive {
            channel: channel.to_string(),
        };
    }
    if let Some(at) = line.find("<-") {
        let before = line[..at].trim_end();
        let after = line[at + 2..].trim();
        // A send has a channel expression before the arrow; anything else there (an
        // operator, `{` of a one-line function, a keyword) makes it a receive.
        let ends_expression = before
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b')' | b']'));
        let ends_keyword = ["case", "return", "go", "defer"]
            .iter()
            .any(|k| before == *k || before.ends_with(&format!(" {k}")));
        if !ends_expression || ends_keyword {
            let channel = after
                .trim_end_matches([':', ')', '{', '}', ';', ' '])
                .trim();
            return Statement::Receive {
                channel: channel.to_string(),
            };
        }
        let channel = before.trim_start_matches("case").trim();
        return Statement::Send {
            channel: channel.to_string(),
        };
    }
    Statement::Other
}

fn select_cases(lines: &[String], index: usize) -> SelectCases {
    let mut cases = SelectCases::default();
    let mut depth = 0i32;
    for line in &lines[index..] {
        let trimmed = line.trim();
        if depth == 1 {
            if let Some(case) = trimmed.strip_prefix("case ") {
                cases.count += 1;
                let case = case.trim_end_matches(':');
                let lower = case.to_ascii_lowercase();
                if case.contains(".Done()")
                    || [
                        "done", "quit", "stop", "exit", "closing", "shutdown", "cancel",
                    ]
                    .iter()
                    .any(|w| lower.contains(w))
                {
                    cases.done = true;
                } else if case.contains("time.After(")
                    || lower.contains("timer")
                    || lower.contains("timeout")
                {
                    cases.timer = true;
                } else if case.contains("time.Tick(") || lower.contains("tick") {
                    cases.ticker = true;
                } else if case.trim_start_matches("<-").trim().ends_with(".C") {
                    cases.timer = true;
                }
            } else if trimmed.starts_with("default:") {
                cases.count += 1;
                cases.default = true;
            }
        }
        depth += brace_delta(line);
        if depth <= 0 && line.contains('}') {
            break;
        }
    }
    cases
}

fn brace_delta(line: &str) -> i32 {
    line.bytes()
        .map(|b| match b {
            b'{' => 1,
            b'}' => -1,
            _ => 0,
        })
        .sum()
}

/// Whether line `index` is inside a `for` loop, whether that loop has no condition, and
/// whether its body has a way out.
fn enclosing_loop(lines: &[String], index: usize) -> (bool, bool, bool) {
    // Walk back to each enclosing block opener: the line where the depth first goes
    // negative is the header of the block the site is in.
    let mut depth = 0i32;
    for opener in (0..index).rev() {
        let line = &lines[opener];
        depth += brace_delta(line);
        if depth > 0 {
            depth = 0;
            let header = line.trim();
            let opens_function = header.starts_with("func ")
                || (header.contains("func(") && !header.starts_with("for"));
            if opens_function {
                // A loop outside the function (or closure) does not repeat this site.
                return (false, false, false);
            }
            if header.starts_with("for ") || header == "for {" {
                let endless = header == "for {"
                    || header.starts_with("for range time.Tick")
                    || (header.contains(" range ") && header.contains(".C"));
                let has_exit = loop_body_has_exit(lines, opener);
                return (true, endless, has_exit);
            }
        }
    }
    (false, false, false)
}

fn loop_body_has_exit(lines: &[String], opener: usize) -> bool {
    let mut depth = 0i32;
    for line in &lines[opener..] {
        let trimmed = line.trim();
        if depth >= 1
            && (trimmed.starts_with("return")
                || trimmed.contains(" return")
                || (trimmed.starts_with("break ") && trimmed.len() > 6)
                || trimmed.starts_with("goto ")
                || trimmed.contains("os.Exit("))
        {
            return true;
        }
        depth += brace_delta(line);
        if depth <= 0 && line.contains('}') {
            break;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const GO: &str = r#"package main

func ticker(ctx context.Context) {
	t := time.NewTicker(time.Second)
	for {
		select { // "}" in a comment
		case <-t.C:
			fmt.Println("{")
		}
	}
}

func metrics(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func lingering(ch chan int) {
	select {
	case v := <-ch:
		_ = v
	case <-time.After(2 * time.Hour):
	}
}

func send(results chan<- int) {
	results <- 42
}

func sleeper() {
	for {
		time.Sleep(time.Second)
	}
}

func consumer(jobs <-chan int) {
	for j := range jobs {
		_ = j
	}
}
"#;

    #[test]
    fn select_in_an_endless_ticker_loop() {
        let facts = SourceFile::parse(GO.as_bytes()).site(6).unwrap();
        let Statement::Select(cases) = &facts.statement else {
            panic!("{facts:?}")
        };
        assert_eq!(cases.count, 1);
        assert!(cases.timer || cases.ticker);
        assert!(!cases.done);
        assert!(facts.in_loop && facts.endless_loop && !facts.loop_has_exit);
    }

    #[test]
    fn select_with_done_has_a_way_out() {
        let facts = SourceFile::parse(GO.as_bytes()).site(17).unwrap();
        let Statement::Select(cases) = &facts.statement else {
            panic!("{facts:?}")
        };
        assert!(cases.done);
        assert_eq!(cases.count, 2);
        assert!(facts.loop_has_exit);
    }

    #[test]
    fn select_on_a_timer_will_end() {
        let facts = SourceFile::parse(GO.as_bytes()).site(26).unwrap();
        let Statement::Select(cases) = &facts.statement else {
            panic!("{facts:?}")
        };
        assert!(cases.timer && !cases.done);
        assert!(!facts.in_loop);
    }

    #[test]
    fn sends_receives_and_sleeps() {
        assert_eq!(
            SourceFile::parse(GO.as_bytes()).site(34).unwrap().statement,
            Statement::Send {
                channel: "results".into()
            }
        );
        let sleeper = SourceFile::parse(GO.as_bytes()).site(39).unwrap();
        assert_eq!(sleeper.statement, Statement::Sleep);
        assert!(sleeper.endless_loop && !sleeper.loop_has_exit);
        assert_eq!(
            SourceFile::parse(GO.as_bytes()).site(44).unwrap().statement,
            Statement::Receive {
                channel: "jobs".into()
            }
        );
        assert!(SourceFile::parse(GO.as_bytes()).site(999).is_none());
    }

    #[test]
    fn tells_a_send_from_a_receive_by_what_stands_before_the_arrow() {
        let statement = |line: &str| statement_at(&[line.to_string()], 0);
        let receive = |channel: &str| Statement::Receive {
            channel: channel.into(),
        };
        let send = |channel: &str| Statement::Send {
            channel: channel.into(),
        };
        assert_eq!(
            statement("func (w *Watcher) Wait() { <-w.done }"),
            receive("w.done")
        );
        assert_eq!(statement("v, ok := <-in"), receive("in"));
        assert_eq!(statement("return <-reply"), receive("reply"));
        assert_eq!(statement("if !<-ready {"), receive("ready"));
        assert_eq!(statement("case <-stop:"), receive("stop"));
        assert_eq!(statement("case out <- v:"), send("out"));
        assert_eq!(statement("s.queue[i] <- job"), send("s.queue[i]"));
        assert_eq!(statement("pick() <- 1"), send("pick()"));
        assert_eq!(statement("for range t.C {"), receive("t.C"));
        assert_eq!(statement("for job := range jobs {"), receive("jobs"));
        assert_eq!(
            statement("func Park() { select {} }"),
            Statement::Select(SelectCases::default())
        );
    }
}
