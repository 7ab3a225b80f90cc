//! What a goroutine runs into once its timer fires: a `time.Sleep` or a `<-time.After(d)`
//! ends by itself, but when the code it then runs on to, in its function or, once that
//! returns, in its callers', reaches a channel operation that can never complete (a send
//! whose receiver has returned), the goroutine only trades one wait for one that lasts for
//! ever.
//!
//! The way there is followed only where it is certain: straight-line statements, `if`s
//! whose every branch falls through or returns, calls that return (the code between is
//! assumed to return normally, as code does unless it panics, which ends the program).
//! A loop, a `select`, a deferred literal, a call that ends the goroutine (`runtime.Goexit`,
//! `t.FailNow`), a branch that may skip the operation: the way on is not known, and the
//! timer stays the way out it is.

use tree_sitter::Node;

use super::analysis::{Cx, Place};
use super::syntax::{children, is_function, qualified_call, unparen, visit};
use super::values::{self, Traced};
use crate::group::Group;

/// Where a goroutine goes on from a statement.
enum Next<'c> {
    /// To this channel operation, on every path.
    Blocks(Node<'c>),
    /// Out of its function, on every path.
    Returns,
    /// The source does not say for certain.
    Unknown,
}

/// How one statement lets a goroutine through.
enum Through {
    /// It goes on to the next statement, or returns out of the function on some paths.
    Passes { may_return: bool },
    /// It returns.
    Returns,
    /// A send or a receive on a channel.
    ChannelOp,
    /// Anything else.
    Opaque,
}

/// The channel operation the goroutine at `statement` (the timer wait, in `place`'s
/// function) reaches once the timer fires, with how its wait is judged, when it cannot
/// complete. `None` when it can, may, or the way there is not certain.
pub fn blocks_after<'c>(
    cx: &'c Cx<'_>,
    group: &'c Group,
    place: &Place<'c>,
    statement: Node<'c>,
) -> Option<(String, String, Traced)> {
    let mut place = *place;
    let mut from = statement_of(statement)?;
    // Each frame up is one call returned from; the stack bounds the climb.
    for _ in 0..cx.tables.frames(group.stack).len() {
        // `return f()`: out of the caller too, once the call returns.
        let next = if from.kind() == "return_statement" {
            Next::Returns
        } else {
            runs_on(place.file, from)
        };
        match next {
            Next::Blocks(op) => {
                let traced = judge(cx, &place, op)?;
                if traced.can != super::Possibility::No {
                    return None;
                }
                return Some((place.file.quote(op), place.at(op), traced));
            }
            Next::Unknown => return None,
            Next::Returns => {
                let (_, index) = place.frame?;
                let caller = cx.caller(group, index)?;
                if caller.go {
                    // Out of the goroutine's own function: it ends.
                    return None;
                }
                place = caller.place;
                from = call_statement(place.function, caller.line)?;
            }
        }
    }
    None
}

/// How the wait of a channel operation found on the way is judged.
fn judge<'c>(cx: &'c Cx<'_>, place: &Place<'c>, op: Node<'_>) -> Option<Traced> {
    if op.kind() == "send_statement" {
        let channel = op.child_by_field_name("channel")?;
        if !values::made_unbuffered(cx, place, channel) {
            return None;
        }
        return Some(values::channel_wait(cx, place, channel, values::Wait::Send));
    }
    let receive = receive_of(op)?;
    let channel = receive.child_by_field_name("operand")?;
    if !values::made_unbuffered(cx, place, channel) {
        return None;
    }
    let bound = op.kind() != "expression_statement";
    Some(values::receive(cx, place, channel, bound).1)
}

/// The statement of a block that holds `node`.
fn statement_of(node: Node<'_>) -> Option<Node<'_>> {
    let mut at = node;
    loop {
        let up = at.parent()?;
        if matches!(up.kind(), "block" | "statement_list") {
            return Some(at);
        }
        if is_function(up) {
            return None;
        }
        at = up;
    }
}

/// The statement of `function`'s own blocks that holds the call at `line`.
fn call_statement(function: Node<'_>, line: u32) -> Option<Node<'_>> {
    let mut found = None;
    visit(function, &mut |n| {
        if n.id() != function.id() && is_function(n) {
            return false;
        }
        if n.kind() == "call_expression" && super::syntax::line_of(n) == line && found.is_none() {
            found = Some(n);
        }
        true
    });
    let statement = statement_of(found?)?;
    // A call in an `if`'s or a loop's header leads into branches: not followed.
    matches!(
        statement.kind(),
        "expression_statement"
            | "short_var_declaration"
            | "assignment_statement"
            | "return_statement"
    )
    .then_some(statement)
}

/// Where the goroutine goes from the end of `statement`.
fn runs_on<'c>(file: &'c super::GoFile, statement: Node<'c>) -> Next<'c> {
    let mut at = statement;
    let mut may_have_returned = false;
    loop {
        let Some(container) = at.parent() else {
            return Next::Unknown;
        };
        for next in children(container).filter(|n| n.start_byte() >= at.end_byte()) {
            if next.kind() == "comment" {
                continue;
            }
            match through(file, next) {
                Through::Passes { may_return } => may_have_returned |= may_return,
                Through::Returns => return Next::Returns,
                Through::ChannelOp if !may_have_returned => return Next::Blocks(next),
                Through::ChannelOp | Through::Opaque => return Next::Unknown,
            }
        }
        // The end of the block: out of the function, or on after the `if` it is a branch of.
        let block = if container.kind() == "statement_list" {
            match container.parent() {
                Some(b) => b,
                None => return Next::Unknown,
            }
        } else {
            container
        };
        let Some(owner) = block.parent() else {
            return Next::Unknown;
        };
        if is_function(owner) {
            return Next::Returns;
        }
        if owner.kind() != "if_statement" {
            return Next::Unknown;
        }
        // An `else if` is the alternative of the `if` above it.
        let mut chain = owner;
        while let Some(up) = chain.parent().filter(|p| p.kind() == "if_statement") {
            chain = up;
        }
        at = chain;
    }
}

/// How `statement` lets the goroutine through.
fn through(file: &super::GoFile, statement: Node<'_>) -> Through {
    match statement.kind() {
        "return_statement" => Through::Returns,
        "send_statement" => Through::ChannelOp,
        "if_statement" => {
            let mut may_return = false;
            for part in children(statement) {
                match part.kind() {
                    "block" => match block_through(file, part) {
                        Some(r) => may_return |= r,
                        None => return Through::Opaque,
                    },
                    "if_statement" => match through(file, part) {
                        Through::Passes { may_return: r } => may_return |= r,
                        _ => return Through::Opaque,
                    },
                    // The condition and its initializer.
                    _ if !plain(file, part) => return Through::Opaque,
                    _ => {}
                }
            }
            Through::Passes { may_return }
        }
        "expression_statement" | "short_var_declaration" | "assignment_statement"
            if receive_of(statement).is_some() =>
        {
            Through::ChannelOp
        }
        "expression_statement"
        | "short_var_declaration"
        | "assignment_statement"
        | "inc_statement"
        | "dec_statement"
        | "var_declaration"
        | "const_declaration"
        | "go_statement"
        | "defer_statement"
        | "empty_statement"
            if plain(file, statement) =>
        {
            Through::Passes { may_return: false }
        }
        _ => Through::Opaque,
    }
}

/// Whether every path through a branch's block falls through or returns with nothing on
/// the way that waits: `Some(true)` when some path returns.
fn block_through(file: &super::GoFile, block: Node<'_>) -> Option<bool> {
    let mut may_return = false;
    let statements: Vec<Node<'_>> = children(block)
        .flat_map(|n| {
            if n.kind() == "statement_list" {
                children(n).collect::<Vec<_>>()
            } else {
                vec![n]
            }
        })
        .filter(|n| n.is_named() && n.kind() != "comment")
        .collect();
    for statement in statements {
        match through(file, statement) {
            Through::Passes { may_return: r } => may_return |= r,
            Through::Returns => return Some(true),
            Through::ChannelOp | Through::Opaque => return None,
        }
    }
    Some(may_return)
}

/// The receive a simple statement is: `<-ch`, `v := <-ch`, `v, ok = <-ch`.
fn receive_of(statement: Node<'_>) -> Option<Node<'_>> {
    let value = match statement.kind() {
        "expression_statement" => children(statement).find(|n| n.is_named())?,
        "short_var_declaration" | "assignment_statement" => {
            let right = statement.child_by_field_name("right")?;
            if right.kind() == "expression_list" {
                let mut values = children(right).filter(|n| n.is_named());
                let first = values.next()?;
                if values.next().is_some() {
                    return None;
                }
                first
            } else {
                right
            }
        }
        _ => return None,
    };
    let value = unparen(value);
    let is_receive = value.kind() == "unary_expression"
        && value
            .child_by_field_name("operator")
            .is_some_and(|o| o.kind() == "<-");
    is_receive.then_some(value)
}

/// Code that runs through without waiting, as far as the source shows: no channel
/// operation, no function literal (a deferred one runs on the way out), and no call that
/// ends the goroutine or the program.
fn plain(file: &super::GoFile, node: Node<'_>) -> bool {
    let mut plain = true;
    visit(node, &mut |n| {
        if !plain {
            return false;
        }
        match n.kind() {
            "func_literal" | "send_statement" | "select_statement" | "for_statement"
            | "goto_statement" | "labeled_statement" => plain = false,
            "unary_expression"
                if n.child_by_field_name("operator")
                    .is_some_and(|o| o.kind() == "<-") =>
            {
                plain = false
            }
            "call_expression" if ends_goroutine(file, n) => plain = false,
            _ => {}
        }
        plain
    });
    plain
}

/// `runtime.Goexit()`, `os.Exit(…)`, `t.FailNow()`, `t.Fatal(…)`, `t.Skip(…)` …
fn ends_goroutine(file: &super::GoFile, call: Node<'_>) -> bool {
    if matches!(
        qualified_call(file, call),
        Some(("runtime", "Goexit") | ("os", "Exit") | ("log", "Fatal" | "Fatalf" | "Fatalln"))
    ) {
        return true;
    }
    let Some(function) = call.child_by_field_name("function") else {
        return false;
    };
    function.kind() == "selector_expression"
        && function.child_by_field_name("field").is_some_and(|f| {
            matches!(
                file.text(f),
                "FailNow" | "Fatal" | "Fatalf" | "SkipNow" | "Skip" | "Skipf"
            )
        })
}
