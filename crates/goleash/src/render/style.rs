//! Terminal styling: colour only on a terminal, never when `NO_COLOR` is set, and the same
//! text either way.

use std::io::IsTerminal;

/// When to colour output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// ANSI styles, or nothing.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    color: bool,
}

impl Style {
    /// Decides for stdout.
    pub fn for_stdout(choice: ColorChoice) -> Self {
        Self::decide(choice, std::io::stdout().is_terminal())
    }

    fn decide(choice: ColorChoice, terminal: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => terminal && !no_color,
        };
        Style { color }
    }

    fn wrap(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Emphasis: counts, the program's own frames.
    pub fn bold(&self, text: &str) -> String {
        self.wrap("1", text)
    }
    /// De-emphasis: runtime and standard library frames, positions.
    pub fn dim(&self, text: &str) -> String {
        self.wrap("2", text)
    }
    /// Proven or certain problems.
    pub fn red(&self, text: &str) -> String {
        self.wrap("1;31", text)
    }
    /// Things to look at.
    pub fn yellow(&self, text: &str) -> String {
        self.wrap("33", text)
    }
    /// What will happen: a way out that can.
    pub fn green(&self, text: &str) -> String {
        self.wrap("32", text)
    }
    /// Names and positions in the program's own code.
    pub fn cyan(&self, text: &str) -> String {
        self.wrap("36", text)
    }
}
