//! From a blocked group to its ways out: the function and statement the goroutines wait
//! on, the loops around it (in its function and in its callers), and for each event that
//! ends the wait, whether the goroutine then leaves or waits again.

use std::cell::RefCell;
use std::collections::HashMap;

use tree_sitter::Node;

use super::duration;
use super::names::{self, go_name};
use super::syntax::{
    GoFile, children, covers, is_function, line_of, method_call, qualified_call, unparen, visit,
    within,
};
use super::values::{self, Traced};
use super::{
    Deadline, ExitCondition, ExitKind, Exits, Held, Lookup, Possibility, SourceLookup, Statement,
};
use crate::classify::Blocking;
use crate::code::{Origin, origin};
use crate::group::{Group, ParentRef, Snapshot};
use crate::intern::{FrameId, Tables};

/// What reading the source of a group gave.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    /// The ways out, when the source was read and matches the dump.
    pub exits: Option<Exits>,
    /// Why the source at hand is not what the binary was built from.
    pub mismatch: Option<String>,
}

/// Reads the ways out of `group`, blocked in `blocking`, from the source of its frame
/// `leak_site` (the innermost of the program's own code).
pub fn analyse(
    tables: &Tables,
    snapshot: &Snapshot,
    group: &Group,
    blocking: Blocking,
    leak_site: FrameId,
    lookup: &dyn SourceLookup,
) -> Analysis {
    let frames = tables.frames(group.stack);
    let Some(index) = frames.iter().position(|&f| f == leak_site) else {
        return Analysis::default();
    };
    let cx = Cx {
        lookup,
        tables,
        snapshot,
        group,
        files: Held::new(256),
        strings: Held::new(256),
        others: RefCell::default(),
    };
    let place = match cx.place_of_frame(group, index) {
        Ok(place) => place,
        Err(mismatch) => {
            return Analysis {
                exits: None,
                mismatch,
            };
        }
    };
    let line = cx.frame(leak_site).2;
    let text = place.file.line(line).unwrap_or("").trim().to_string();
    let waits_directly = frames[..index]
        .iter()
        .all(|&f| matches!(origin(tables, f), Origin::Runtime | Origin::Stdlib));
    let Some((statement, shape)) = find_statement(&place, line, blocking) else {
        // The frame calls something that blocks further down (another package, a helper
        // the dump shows): nothing to say about its ways out. When the runtime or the
        // standard library is right under it, the line should hold the operation.
        let expects = !matches!(
            blocking,
            Blocking::Unknown
                | Blocking::IoWait
                | Blocking::Syscall
                | Blocking::Running
                | Blocking::Runnable
                | Blocking::Runtime
                | Blocking::Semaphore
        );
        if waits_directly && expects && calls_nothing(&place, line) {
            return Analysis {
                exits: None,
                mismatch: Some(format!(
                    "line {line} of {} is `{text}`, which does not block in {}",
                    place.short_file(),
                    blocking.name()
                )),
            };
        }
        return Analysis {
            exits: Some(Exits {
                text,
                statement: Statement::Other,
                in_loop: false,
                conditions: Vec::new(),
            }),
            mismatch: None,
        };
    };
    let wakes = wakes(&cx, &place, statement, shape, blocking);
    let (in_loop, mut conditions) = through_loops(&cx, &place, statement, wakes);
    callers_loops(&cx, &place, &mut conditions);
    for c in &mut conditions {
        left_by_wait(c, group.wait_minutes);
    }
    Analysis {
        exits: Some(Exits {
            text,
            statement: shape,
            in_loop,
            conditions,
        }),
        mismatch: None,
    }
}

/// What is left of a deadline, by the dump's `N minutes`: the runtime stamps how long a
/// goroutine has waited, so the longest waiter has the least left.
fn left_by_wait(c: &mut ExitCondition, wait_minutes: Option<(u32, u32)>) {
    let Some(deadline) = c.deadline.as_mut() else {
        return;
    };
    if c.can_happen != Possibility::Yes {
        return;
    }
    let Some((_, longest)) = wait_minutes else {
        return;
    };
    let waited = f64::from(longest) * 60.0;
    let left = (deadline.after_secs - waited).max(0.0);
    deadline.left_secs = Some(left);
    c.why = if left > 0.0 {
        format!(
            "{}: {} left by the wait time ({longest} min so far)",
            c.why,
            duration::say(left)
        )
    } else {
        format!(
            "{}: due already by the wait time ({longest} min so far)",
            c.why
        )
    };
}

/// Whether line `line` calls nothing: a call could block for it further down (inlined,
/// or in a frame the format leaves out).
fn calls_nothing(place: &Place<'_>, line: u32) -> bool {
    let mut plain = true;
    super::syntax::own_nodes(place.function, &mut |n| {
        if n.kind() == "call_expression" && covers(n, line) {
            plain = false;
        }
    });
    plain
}

/// One analysis: the group, its snapshot, and the files it holds.
pub(super) struct Cx<'a> {
    pub lookup: &'a dyn SourceLookup,
    pub tables: &'a Tables,
    pub snapshot: &'a Snapshot,
    pub group: &'a Group,
    files: Held<std::rc::Rc<GoFile>>,
    strings: Held<String>,
    /// Frames of the other groups in the packages asked about.
    others: RefCell<HashMap<String, Vec<OtherFrame>>>,
}

/// A frame of another group: function, file name (without its directory), line.
type OtherFrame = (String, String, u32);

/// Where some code is: a function of a file, and how to find its callers.
#[derive(Clone, Copy)]
pub(super) struct Place<'c> {
    pub file: &'c GoFile,
    /// The function declaration or literal.
    pub function: Node<'c>,
    /// The frame running it, when a stack of the dump does.
    pub frame: Option<(&'c Group, usize)>,
    /// The dump's name of the file, for locations.
    pub dump_file: &'c str,
    /// The function's package, as tracebacks name it.
    pub package: &'c str,
}

impl<'c> Place<'c> {
    /// `main.go`.
    pub fn short_file(&self) -> &'c str {
        self.file.path.rsplit('/').next().unwrap_or(&self.file.path)
    }

    /// `main.go:12`.
    pub fn at(&self, node: Node<'_>) -> String {
        format!("{}:{}", self.short_file(), line_of(node))
    }

    /// The Go name of a function in this file.
    pub fn name_of(&self, function: Node<'_>) -> String {
        go_name(self.file, function, self.package)
            .unwrap_or_else(|| format!("a function of {} at {}", self.package, self.at(function)))
    }

    /// The same file, another function.
    pub fn with_function(self, function: Node<'c>) -> Place<'c> {
        Place {
            function,
            frame: None,
            ..self
        }
    }
}

impl<'a> Cx<'a> {
    /// A frame's function, file and line.
    pub fn frame(&self, id: FrameId) -> (String, String, u32) {
        let frame = self.tables.get_frame(id);
        (
            self.tables.str(frame.function).into_owned(),
            self.tables.str(frame.file).into_owned(),
            frame.line,
        )
    }

    /// Keeps a file for the rest of the analysis.
    pub fn hold(&self, file: std::rc::Rc<GoFile>) -> Option<&GoFile> {
        if let Some(held) = self.files.find(|f| std::rc::Rc::ptr_eq(f, &file)) {
            return Some(held);
        }
        self.files.hold(file).map(|f| &**f)
    }

    /// The place frame `index` of `group`'s stack runs; `Err(Some(why))` when its file is
    /// here but does not match the dump.
    pub fn place_of_frame<'c>(
        &'c self,
        group: &'c Group,
        index: usize,
    ) -> Result<Place<'c>, Option<String>> {
        let id = *self.tables.frames(group.stack).get(index).ok_or(None)?;
        self.place_of(id, Some((group, index)))
    }

    /// The place of a frame (or a `created by`).
    pub fn place_of<'c>(
        &'c self,
        id: FrameId,
        frame: Option<(&'c Group, usize)>,
    ) -> Result<Place<'c>, Option<String>> {
        let raw = self.tables.get_frame(id);
        let function = self.tables.str(raw.function);
        let dump_file = self.tables.str(raw.file);
        let file = match self.lookup.frame_file(&dump_file, &function, raw.line) {
            Lookup::Found(file) => self.hold(file).ok_or(None)?,
            Lookup::Missing => return Err(None),
            Lookup::Mismatch(why) => return Err(Some(why)),
        };
        let node = names::find(file, &function, raw.line).map_err(|m| Some(m.0))?;
        let package =
            String::from_utf8_lossy(crate::code::package_of(self.tables.bytes(raw.function)))
                .into_owned();
        Ok(Place {
            file,
            function: node,
            frame,
            dump_file: self.intern(dump_file.into_owned()),
            package: self.intern(package),
        })
    }

    /// Keeps a string for the rest of the analysis (names and paths places borrow).
    fn intern(&self, text: String) -> &str {
        if let Some(held) = self.strings.find(|s| *s == text) {
            return held;
        }
        self.strings.hold(text).map_or("", String::as_str)
    }

    /// Whether any goroutine of another group of the snapshot runs `function` (of `place`'s
    /// file) right now, or may call into it: the function itself on its stack, not a
    /// literal inside it.
    pub fn active(&self, place: &Place<'_>, function: Node<'_>) -> bool {
        let Some(decl) = top_declaration(function) else {
            return false;
        };
        let decl_name = place.name_of(decl);
        let (first, last) = (line_of(function), function.end_position().row as u32 + 1);
        let file_name = place.short_file();
        let mut others = self.others.borrow_mut();
        let frames = others
            .entry(place.package.to_string())
            .or_insert_with(|| self.frames_in_package(place.package));
        frames.iter().any(|(f, file, line)| {
            let f = names::without_type_args(f);
            let inside = f == decl_name || f.starts_with(&format!("{decl_name}."));
            inside
                && file == file_name
                && (first..=last).contains(line)
                && innermost_at(function, *line).id() == function.id()
        })
    }

    /// Every frame of the other groups in `package`, once per analysis.
    fn frames_in_package(&self, package: &str) -> Vec<OtherFrame> {
        let prefix = format!("{package}.");
        let mut out = Vec::new();
        for g in &self.snapshot.groups {
            if std::ptr::eq(g, self.group) {
                continue;
            }
            for &id in self.tables.frames(g.stack) {
                let frame = self.tables.get_frame(id);
                if self
                    .tables
                    .bytes(frame.function)
                    .starts_with(prefix.as_bytes())
                {
                    let file = self.tables.str(frame.file);
                    out.push((
                        self.tables.str(frame.function).into_owned(),
                        file.rsplit('/').next().unwrap_or(&file).to_string(),
                        frame.line,
                    ));
                }
            }
        }
        out
    }

    /// The place that called frame `index` of `group`, and the frame index there; for the
    /// goroutine's first function, its `go` statement in the parent (`created by`).
    pub fn caller<'c>(&'c self, group: &'c Group, index: usize) -> Option<Caller<'c>> {
        let frames = self.tables.frames(group.stack);
        let next = frames[index + 1..]
            .iter()
            .position(|&f| {
                let function = self.tables.bytes(self.tables.get_frame(f).function);
                !crate::signature::is_wrapper(function)
            })
            .map(|p| index + 1 + p);
        match next {
            Some(j)
                if self.tables.bytes(self.tables.get_frame(frames[j]).function)
                    != b"runtime.goexit" =>
            {
                let place = self.place_of_frame(group, j).ok()?;
                Some(Caller {
                    place,
                    line: self.frame(frames[j]).2,
                    go: false,
                })
            }
            _ => {
                let creator = group.created_by?;
                let (function, _, line) = self.frame(creator);
                // The parent, when it is alive, is somewhere in the creator: its frame
                // there leads further up.
                let parent_frame = group.parents.iter().find_map(|(p, _)| match p {
                    ParentRef::Group(g) => {
                        let g = self.snapshot.groups.get(*g)?;
                        let at = self.tables.frames(g.stack).iter().position(|&f| {
                            self.tables.str(self.tables.get_frame(f).function) == function
                        })?;
                        Some((g, at))
                    }
                    ParentRef::Exited => None,
                });
                let place = self.place_of(creator, parent_frame).ok()?;
                Some(Caller {
                    place,
                    line,
                    go: true,
                })
            }
        }
    }
}

/// A call into a function: the calling place, the line of the call, and whether it is the
/// `go` statement that started the goroutine.
#[derive(Clone, Copy)]
pub(super) struct Caller<'c> {
    pub place: Place<'c>,
    pub line: u32,
    pub go: bool,
}

/// The top-level declaration around a node.
pub(super) fn top_declaration(node: Node<'_>) -> Option<Node<'_>> {
    let mut at = node;
    while let Some(up) = at.parent() {
        if up.kind() == "source_file" {
            return is_function(at).then_some(at);
        }
        at = up;
    }
    None
}

/// The innermost function (declaration or literal) under `function` that covers `line`.
fn innermost_at(function: Node<'_>, line: u32) -> Node<'_> {
    let mut best = function;
    visit(function, &mut |n| {
        if !covers(n, line) {
            return false;
        }
        if n.kind() == "func_literal" {
            best = n;
        }
        true
    });
    best
}

/// The statement at `line` of the place's function that blocks in `blocking`.
fn find_statement<'c>(
    place: &Place<'c>,
    line: u32,
    blocking: Blocking,
) -> Option<(Node<'c>, Statement)> {
    let file = place.file;
    let mut found: Vec<(Node<'c>, Statement)> = Vec::new();
    super::syntax::own_nodes(place.function, &mut |n| {
        if !covers(n, line) {
            return;
        }
        let shape = match n.kind() {
            "select_statement" => Statement::Select {
                cases: children(n)
                    .filter(|c| matches!(c.kind(), "communication_case" | "default_case"))
                    .count(),
            },
            "send_statement" if n.parent().is_none_or(|p| p.kind() != "communication_case") => {
                Statement::Send
            }
            "unary_expression"
                if n.child_by_field_name("operator")
                    .is_some_and(|o| file.text(o) == "<-") =>
            {
                Statement::Receive { range: false }
            }
            "for_statement" if line_of(n) == line && range_channel(n).is_some() => {
                Statement::Receive { range: true }
            }
            "call_expression" => match qualified_call(file, n) {
                Some((pkg, "Sleep")) if Some(pkg) == file.import_name("time").as_deref() => {
                    Statement::Sleep
                }
                _ => match method_call(file, n).map(|(_, m, _)| m) {
                    Some("Wait") => Statement::Wait,
                    Some("Lock" | "RLock") => Statement::Lock,
                    _ => return,
                },
            },
            _ => return,
        };
        found.push((n, shape));
    });
    let wanted = |s: &Statement| match blocking {
        Blocking::Select | Blocking::SelectNoCases => matches!(s, Statement::Select { .. }),
        Blocking::ChanReceive | Blocking::ChanReceiveNil => {
            matches!(
                s,
                Statement::Receive { .. } | Statement::Select { cases: 1 }
            )
        }
        Blocking::ChanSend | Blocking::ChanSendNil => {
            matches!(s, Statement::Send | Statement::Select { cases: 1 })
        }
        Blocking::ChanOp => matches!(
            s,
            Statement::Send | Statement::Receive { .. } | Statement::Select { .. }
        ),
        Blocking::WaitGroup | Blocking::Cond => *s == Statement::Wait,
        Blocking::Mutex | Blocking::RWMutexRead | Blocking::RWMutexWrite => *s == Statement::Lock,
        Blocking::Sleep => *s == Statement::Sleep,
        _ => false,
    };
    // The innermost candidate on the line: `for v := range ch` before the receive inside
    // its body on the same line; the statement that starts on the line before one that
    // only spans it.
    found
        .iter()
        .filter(|(_, s)| wanted(s))
        .min_by_key(|(n, s)| {
            (
                line_of(*n) != line,
                !matches!(s, Statement::Receive { range: true }),
                n.byte_range().len(),
            )
        })
        .copied()
}

/// The channel a `for … range` loop ranges over, when it is one (anything but a literal
/// collection, a number or a call of a function that is not a channel maker).
fn range_channel(for_statement: Node<'_>) -> Option<Node<'_>> {
    let clause = children(for_statement).find(|c| c.kind() == "range_clause")?;
    clause.child_by_field_name("right")
}

/// One event that ends the wait: a case of a select, or the blocking operation itself.
pub(super) struct Wake<'c> {
    pub kind: ExitKind,
    /// Where it is, for the location and the quoted code.
    pub node: Node<'c>,
    /// Whether it can happen.
    pub traced: Traced,
    /// For a case of a select: the statement in its body that leaves the loop, or the
    /// function, when there is one.
    pub leaves: Option<Node<'c>>,
    /// The event ends the loop itself (`for range ch` when `ch` is closed).
    pub ends_loop: bool,
}

fn wakes<'c>(
    cx: &'c Cx<'_>,
    place: &Place<'c>,
    statement: Node<'c>,
    shape: Statement,
    blocking: Blocking,
) -> Vec<Wake<'c>> {
    let file = place.file;
    let one = |kind, node, traced, ends_loop| Wake {
        kind,
        node,
        traced,
        leaves: None,
        ends_loop,
    };
    match shape {
        Statement::Select { .. } => {
            let mut out = Vec::new();
            for case in children(statement) {
                match case.kind() {
                    "communication_case" => {
                        let Some(comm) = case.child_by_field_name("communication") else {
                            continue;
                        };
                        let leaves = leaving_statement(place.file, case);
                        let (kind, traced) = match comm.kind() {
                            "send_statement" => {
                                let channel = comm.child_by_field_name("channel");
                                (
                                    ExitKind::Channel,
                                    channel.map_or_else(Traced::unknown, |c| {
                                        values::channel_wait(cx, place, c, values::Wait::Send)
                                    }),
                                )
                            }
                            _ => {
                                let right = comm
                                    .child_by_field_name("right")
                                    .map(unparen)
                                    .and_then(|r| r.child_by_field_name("operand"));
                                let bound = comm.child_by_field_name("left").is_some();
                                match right {
                                    Some(channel) => values::receive(cx, place, channel, bound),
                                    None => (ExitKind::Channel, Traced::unknown()),
                                }
                            }
                        };
                        out.push(Wake {
                            kind,
                            node: comm,
                            traced,
                            leaves,
                            ends_loop: false,
                        });
                    }
                    "default_case" => out.push(Wake {
                        kind: ExitKind::Default,
                        node: case,
                        traced: Traced::yes("`default` runs when no other case is ready"),
                        leaves: leaving_statement(place.file, case),
                        ends_loop: false,
                    }),
                    _ => {}
                }
            }
            out
        }
        Statement::Receive { range: true } => {
            let Some(channel) = range_channel(statement) else {
                return Vec::new();
            };
            let (kind, traced) = values::range_end(cx, place, channel);
            vec![one(kind, statement, traced, true)]
        }
        Statement::Receive { range: false } => {
            let Some(channel) = statement.child_by_field_name("operand") else {
                return Vec::new();
            };
            // `<-done` alone waits for a signal; `v := <-ch` for a value.
            let bound = statement
                .parent()
                .is_some_and(|p| p.kind() != "expression_statement");
            let (kind, traced) = values::receive(cx, place, channel, bound);
            let traced = match kind {
                ExitKind::Timer => then_blocks(cx, place, statement, traced),
                _ => traced,
            };
            vec![one(kind, statement, traced, false)]
        }
        Statement::Send => {
            let Some(channel) = statement.child_by_field_name("channel") else {
                return Vec::new();
            };
            let traced = values::channel_wait(cx, place, channel, values::Wait::Send);
            vec![one(ExitKind::Channel, statement, traced, false)]
        }
        Statement::Sleep => {
            let arg = super::syntax::arguments(statement).first().copied();
            let secs = arg
                .and_then(|a| duration::evaluate(file, a))
                .map(|ns| ns as f64 / 1e9);
            let traced = match secs {
                Some(s) => Traced::yes(&format!("the sleep ends after {}", duration::say(s)))
                    .with_deadline(s),
                None => Traced::yes("the sleep ends by itself"),
            };
            let traced = then_blocks(cx, place, statement, traced);
            vec![one(ExitKind::Sleep, statement, traced, false)]
        }
        Statement::Wait => {
            let Some((target, _, _)) = method_call(file, statement) else {
                return Vec::new();
            };
            let cond = blocking == Blocking::Cond;
            let (kind, traced) = values::wait(cx, place, target, statement, cond);
            vec![one(kind, statement, traced, false)]
        }
        Statement::Lock => {
            let Some((target, method, _)) = method_call(file, statement) else {
                return Vec::new();
            };
            let traced = values::lock(cx, place, target, statement, method == "RLock");
            vec![one(ExitKind::Unlock, statement, traced, false)]
        }
        Statement::Other => Vec::new(),
    }
}

/// A timer's end that only leads the goroutine to a channel operation that can never
/// complete is no way out: it blocks for ever once the timer fires.
fn then_blocks<'c>(
    cx: &'c Cx<'_>,
    place: &Place<'c>,
    statement: Node<'c>,
    timer: Traced,
) -> Traced {
    if timer.can != Possibility::Yes {
        return timer;
    }
    match super::after::blocks_after(cx, cx.group, place, statement) {
        Some((code, at, then)) => Traced {
            can: Possibility::No,
            why: format!(
                "{}, but then it runs on to `{code}` ({at}), which blocks for ever: {}",
                timer.why, then.why
            ),
            deadline: None,
            ..timer
        },
        None => timer,
    }
}

/// The first statement in a case body that leaves: a `return`, a `break` or `goto` out
/// of the loop around the select, `runtime.Goexit()`. A bare `break` only leaves the select.
fn leaving_statement<'c>(file: &'c GoFile, case: Node<'c>) -> Option<Node<'c>> {
    let mut found = None;
    visit(case, &mut |n| {
        if found.is_some() || n.kind() == "func_literal" {
            return false;
        }
        let leaves = match n.kind() {
            "return_statement" | "goto_statement" => true,
            "break_statement" | "continue_statement" => {
                children(n).any(|c| c.kind() == "label_name")
            }
            "call_expression" => matches!(
                qualified_call(file, n),
                Some(("runtime", "Goexit") | ("os", "Exit"))
            ),
            _ => false,
        };
        if leaves {
            found = Some(n);
        }
        true
    });
    found
}

/// A `for` loop around the statement, within its function.
struct Loop<'c> {
    node: Node<'c>,
    /// `for {}`, `for ;; {}`: nothing but a jump ends it.
    endless: bool,
}

fn loops_around<'c>(statement: Node<'c>, function: Node<'c>) -> Vec<Loop<'c>> {
    let mut out = Vec::new();
    let mut up = statement.parent();
    while let Some(n) = up {
        if n.id() == function.id() || is_function(n) {
            break;
        }
        if n.kind() == "for_statement" {
            let endless = children(n).all(|c| match c.kind() {
                "block" => true,
                "for_clause" => c.child_by_field_name("condition").is_none(),
                _ => false,
            });
            out.push(Loop { node: n, endless });
        }
        up = n.parent();
    }
    out
}

/// The label of a labelled loop.
fn label_of<'t>(file: &'t GoFile, for_statement: Node<'t>) -> Option<&'t str> {
    let parent = for_statement.parent()?;
    (parent.kind() == "labeled_statement")
        .then(|| parent.child_by_field_name("label"))
        .flatten()
        .map(|l| file.text(l))
}

/// The ways the loop `lp` can end other than through `skip` (the blocking select, whose
/// cases are judged with the select): its condition, returns and breaks out of it.
fn loop_exits<'c>(
    cx: &'c Cx<'_>,
    place: &Place<'c>,
    lp: &Loop<'c>,
    skip: Option<Node<'c>>,
    reached: &dyn Fn() -> (Possibility, String),
) -> Vec<ExitCondition> {
    let file = place.file;
    let mut out = Vec::new();
    let label = label_of(file, lp.node);
    // The condition: `for cond {}`, `for i := 0; i < n; i++ {}`, `for range xs {}`.
    for clause in children(lp.node) {
        let condition = match clause.kind() {
            "for_clause" => clause.child_by_field_name("condition"),
            "block" | "comment" => None,
            "range_clause" => None,
            _ => Some(clause),
        };
        if let Some(condition) = condition {
            let (p, why) = reached();
            let (kind, own) = match values::context_check(cx, place, condition) {
                Some(traced) => (ExitKind::Cancel, traced),
                None => (
                    ExitKind::LoopCondition,
                    values::loop_flag(cx, place, condition).unwrap_or_else(|| {
                        Traced::unknown_because(&format!(
                            "the loop ends when `{}` is false",
                            file.quote(condition)
                        ))
                    }),
                ),
            };
            out.push(condition_at(
                place,
                kind,
                condition,
                own.and_reached(p, &why),
            ));
        }
        if clause.kind() == "range_clause"
            && let Some(right) = clause.child_by_field_name("right")
            && skip.is_none_or(|s| s.id() != lp.node.id())
        {
            let (p, why) = reached();
            let (kind, own) = values::range_end(cx, place, right);
            out.push(condition_at(place, kind, right, own.and_reached(p, &why)));
        }
    }
    let Some(body) = lp.node.child_by_field_name("body") else {
        return out;
    };
    visit(body, &mut |n| {
        if n.kind() == "func_literal" || skip.is_some_and(|s| s.id() == n.id()) {
            return false;
        }
        let kind = match n.kind() {
            "return_statement" => ExitKind::Return,
            "goto_statement" => ExitKind::Break,
            "break_statement" | "continue_statement" => {
                let target = children(n)
                    .find(|c| c.kind() == "label_name")
                    .map(|l| file.text(l));
                let leaves = match target {
                    // A labelled break or continue leaves this loop unless it names it
                    // (a continue of this loop goes round again).
                    Some(t) => !(Some(t) == label && n.kind() == "continue_statement"),
                    // A bare break leaves the innermost for, switch or select around it.
                    None => n.kind() == "break_statement" && breaks_loop(n, lp.node),
                };
                if !leaves {
                    return true;
                }
                ExitKind::Break
            }
            _ => return true,
        };
        let (p, why) = reached();
        let own = match values::guard_context(cx, place, n, lp.node) {
            Some(traced) => {
                out.push(condition_at(
                    place,
                    ExitKind::Cancel,
                    n,
                    traced.and_reached(p, &why),
                ));
                return true;
            }
            None => Traced::unknown_because(&match guard_of(n, lp.node) {
                Some(guard) => format!("`{}` when `{}`", file.quote(n), file.quote(guard)),
                None => format!("`{}` in the loop", file.quote(n)),
            }),
        };
        out.push(condition_at(place, kind, n, own.and_reached(p, &why)));
        true
    });
    out
}

/// The condition of the `if` (or the case of a `switch` or `select`) that guards `exit`
/// inside `lp`.
fn guard_of<'c>(exit: Node<'c>, lp: Node<'c>) -> Option<Node<'c>> {
    let mut up = exit.parent();
    while let Some(n) = up {
        if n.id() == lp.id() {
            return None;
        }
        match n.kind() {
            "if_statement" => return n.child_by_field_name("condition"),
            "communication_case" => return n.child_by_field_name("communication"),
            "expression_case" => return n.child_by_field_name("value"),
            _ => {}
        }
        up = n.parent();
    }
    None
}

/// Whether a bare `break` inside `lp` leaves `lp` (and not a switch, select or inner loop).
fn breaks_loop(brk: Node<'_>, lp: Node<'_>) -> bool {
    let mut up = brk.parent();
    while let Some(n) = up {
        if n.id() == lp.id() {
            return true;
        }
        if matches!(
            n.kind(),
            "for_statement"
                | "expression_switch_statement"
                | "type_switch_statement"
                | "select_statement"
        ) {
            return false;
        }
        up = n.parent();
    }
    false
}

pub(super) fn condition_at(
    place: &Place<'_>,
    kind: ExitKind,
    node: Node<'_>,
    traced: Traced,
) -> ExitCondition {
    ExitCondition {
        kind,
        file: place.dump_file.to_string(),
        line: line_of(node),
        code: head(place.file, node),
        can_happen: traced.can,
        why: traced.why,
        deadline: traced.deadline.map(|after_secs| Deadline {
            after_secs,
            left_secs: None,
        }),
        peers: traced.peers,
    }
}

/// A node's code for messages; for a loop or a select, its header only.
fn head(file: &GoFile, node: Node<'_>) -> String {
    let body = match node.kind() {
        "for_statement" => node.child_by_field_name("body"),
        "select_statement" => return "select".to_string(),
        _ => None,
    };
    match body {
        Some(body) => {
            let text = &file.text(node)[..body.start_byte() - node.start_byte()];
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        }
        None => file.quote(node),
    }
}

/// Turns the wakes of the statement into ways out, through the loops around it.
fn through_loops<'c>(
    cx: &'c Cx<'_>,
    place: &Place<'c>,
    statement: Node<'c>,
    wakes: Vec<Wake<'c>>,
) -> (bool, Vec<ExitCondition>) {
    let mut loops = loops_around(statement, place.function);
    // `for range ch` is a loop of its own, and its own statement.
    let ranged = wakes.iter().any(|w| w.ends_loop);
    if ranged {
        loops.insert(
            0,
            Loop {
                node: statement,
                endless: false,
            },
        );
    }
    let Some(innermost) = loops.first() else {
        let conditions = wakes
            .into_iter()
            .map(|w| condition_at(place, w.kind, w.node, w.traced))
            .collect();
        return (false, conditions);
    };
    let loop_at = place.at(innermost.node);
    // The loop's other exits are reached only once the wait ends and the goroutine goes on
    // into the loop: after a wake that does not leave by itself (for `for range ch`, a
    // value received).
    let back: Vec<&Wake<'c>> = wakes
        .iter()
        .filter(|w| w.leaves.is_none() && !w.ends_loop)
        .collect();
    let reach = if ranged {
        let range = range_channel(statement);
        range.map_or(Possibility::Unknown, |r| {
            values::channel_wait(cx, place, r, values::Wait::Receive).can
        })
    } else {
        back.iter().fold(Possibility::No, |p, w| p.or(w.traced.can))
    };
    let waits_for = back
        .iter()
        .map(|w| format!("`{}`", head(place.file, w.node)))
        .collect::<Vec<_>>()
        .join(" or ");
    let reached = || {
        let why = match reach {
            Possibility::No if ranged => "nothing sends it a value to get there".to_string(),
            Possibility::No => format!("it is reached only after {waits_for}, which cannot happen"),
            _ => String::new(),
        };
        (reach, why)
    };
    let skip = (ranged || statement.kind() == "select_statement").then_some(statement);
    let exits = loop_exits(cx, place, innermost, skip, &reached);
    // Leaving the innermost loop lands in the one around it, when there is one: an endless
    // loop with no exit of its own starts the wait again.
    let outer = loops.get(1);
    let outer_exits = outer.map(|lp| loop_exits(cx, place, lp, Some(innermost.node), &reached));
    let trapped = match (outer, &outer_exits) {
        (Some(lp), Some(exits)) => (lp.endless && exits.is_empty()).then(|| place.at(lp.node)),
        _ => None,
    };
    let trap = |mut c: ExitCondition| {
        if let Some(at) = &trapped
            && !matches!(c.kind, ExitKind::Return | ExitKind::Cancel)
            && !c.code.starts_with("return")
        {
            c.can_happen = Possibility::No;
            c.why = format!("{}, then the loop around it ({at}) starts it again", c.why);
        }
        c
    };
    let nothing_else = exits.is_empty() && outer_exits.as_ref().is_none_or(Vec::is_empty);
    let mut conditions = Vec::new();
    for w in wakes {
        let traced = match (w.leaves, w.ends_loop) {
            (Some(leave), _) => {
                let how = place.file.quote(leave);
                w.traced.then_leaves(&format!(
                    "its case leaves with `{how}` ({})",
                    place.at(leave)
                ))
            }
            (None, true) => w.traced,
            (None, false) if nothing_else => w.traced.goes_back(&format!(
                "then the loop ({loop_at}) goes round again: it has no return, break or condition"
            )),
            (None, false) => w
                .traced
                .goes_back(&format!("then the loop ({loop_at}) goes round again")),
        };
        // A channel that looks like a stop signal (`chan struct{}`, `done`) but whose case
        // goes round the loop again is an ordinary event, not a way to be told to stop.
        let kind = match (w.kind, w.leaves, w.ends_loop) {
            (ExitKind::DoneChannel, None, false) => ExitKind::Channel,
            (kind, _, _) => kind,
        };
        conditions.push(trap(condition_at(place, kind, w.node, traced)));
    }
    conditions.extend(exits.into_iter().map(trap));
    conditions.extend(outer_exits.into_iter().flatten());
    conditions.sort_by_key(|c| c.line);
    (true, conditions)
}

/// The callers of the place in the same goroutine: a call made in a loop comes back to
/// the wait whatever ends it, so only the loop's own exits get the goroutine out.
fn callers_loops<'c>(cx: &'c Cx<'_>, place: &Place<'c>, conditions: &mut Vec<ExitCondition>) {
    let Some((group, mut index)) = place.frame else {
        return;
    };
    let name = place.name_of(place.function);
    for _ in 0..8 {
        let Some(caller) = cx.caller(group, index) else {
            return;
        };
        if caller.go {
            return;
        }
        let Some((_, at)) = caller.place.frame else {
            return;
        };
        if let Some(call) = call_at(&caller.place, caller.line)
            && let Some(lp) = loops_around(call, caller.place.function).into_iter().next()
        {
            let reach = conditions
                .iter()
                .fold(Possibility::No, |p, c| p.or(c.can_happen));
            let reached = || {
                let why = match reach {
                    Possibility::No => format!("{name} never returns to it"),
                    _ => String::new(),
                };
                (reach, why)
            };
            let exits = loop_exits(cx, &caller.place, &lp, None, &reached);
            let again = format!(
                "then {} calls it again: its loop ({}) {}",
                caller.place.name_of(caller.place.function),
                caller.place.at(lp.node),
                if exits.is_empty() {
                    "has no return, break or condition"
                } else {
                    "goes round"
                }
            );
            for c in conditions.iter_mut() {
                if c.can_happen != Possibility::No {
                    c.can_happen = Possibility::No;
                    c.deadline = None;
                    c.why = format!("{}, {again}", c.why);
                }
            }
            conditions.extend(exits);
            return;
        }
        index = at;
    }
}

/// The outermost call expression on `line` of the place's function.
fn call_at<'c>(place: &Place<'c>, line: u32) -> Option<Node<'c>> {
    let mut best: Option<Node<'c>> = None;
    super::syntax::own_nodes(place.function, &mut |n| {
        if n.kind() == "call_expression" && covers(n, line) && best.is_none_or(|b| !within(n, b)) {
            best = Some(n);
        }
    });
    best
}

/// Whether the `go` statement at `created_by` is inside a loop of its function: the mark
/// of a pool (one caller starting many goroutines) rather than of one goroutine per call.
pub fn started_in_loop(
    tables: &Tables,
    created_by: FrameId,
    lookup: &dyn SourceLookup,
) -> Option<bool> {
    let frame = tables.get_frame(created_by);
    let function = tables.str(frame.function);
    let Lookup::Found(file) = lookup.frame_file(&tables.str(frame.file), &function, frame.line)
    else {
        return None;
    };
    let node = names::find(&file, &function, frame.line).ok()?;
    let mut statement = None;
    super::syntax::own_nodes(node, &mut |n| {
        if n.kind() == "go_statement" && covers(n, frame.line) && statement.is_none() {
            statement = Some(n);
        }
    });
    Some(!loops_around(statement?, node).is_empty())
}
