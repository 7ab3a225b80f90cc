//! What would stop a goroutine that waits to be told to stop, read from the source: the
//! method of its type that closes its done channel, the caller that must cancel the
//! context it was handed, or, said plainly, that the code offers no way at all.

use super::names;
use super::syntax::{GoFile, children, enclosing_function, expressions, line_of, visit};
use super::{ExitCondition, ExitKind, Exits, Lookup, Possibility, SourceLookup};
use crate::group::Group;
use crate::intern::{FrameId, Tables};

/// Method names that, by Go convention, end what a value started.
const STOP_METHODS: &[&str] = &["Close", "Stop", "Shutdown", "Cancel", "Quit"];

/// The fix the code needs for a goroutine whose way out is a stop signal that never came
/// (a done channel nobody closed, a context nobody cancelled), when the source says which.
/// `leak_site` is the frame of the program's code it waits in. `None` when the wait has no
/// such way out, or one that can still happen.
pub fn how_to_stop(
    tables: &Tables,
    group: &Group,
    leak_site: FrameId,
    exits: &Exits,
    lookup: &dyn SourceLookup,
) -> Option<String> {
    let frame = tables.get_frame(leak_site);
    let function = tables.str(frame.function);
    let found = || match lookup.frame_file(&tables.str(frame.file), &function, frame.line) {
        Lookup::Found(file) => Some(file),
        _ => None,
    };
    let ranged_ticker = exits
        .conditions
        .iter()
        .filter(|c| c.kind == ExitKind::Close && c.can_happen != Possibility::Yes)
        .find_map(|c| ticker_field(&c.code));
    if let Some((receiver, field)) = ranged_ticker {
        let file = found()?;
        return by_ticker_field(&file, &function, receiver, field, lookup);
    }
    if let Some(fix) = exits
        .conditions
        .iter()
        .filter(|c| c.can_happen == Possibility::No)
        .find_map(skipped_release)
    {
        return Some(fix);
    }
    let returned = exits.conditions.iter().find(|c| {
        matches!(c.kind, ExitKind::Close | ExitKind::DoneChannel)
            && c.can_happen != Possibility::Yes
            && c.line == frame.line
    });
    if let Some(stop) = returned
        && let Some(file) = found()
        && let Some(hint) = by_returned_closer(&file, &function, frame.line, stop, lookup)
    {
        return Some(hint);
    }
    let stop = exits.conditions.iter().find(|c| {
        matches!(c.kind, ExitKind::DoneChannel | ExitKind::Cancel)
            && c.can_happen != Possibility::Yes
    })?;
    let file = found()?;
    let waited = received_from(&stop.code)?;
    match stop.kind {
        ExitKind::Cancel => by_context(&file, &function, frame.line, group, tables, stop, waited),
        _ => {
            let maker = group
                .created_by
                .map(|f| tables.str(tables.get_frame(f).function).into_owned());
            by_channel(&file, &function, waited, maker.as_deref(), lookup)
        }
    }
}

/// The fix for a goroutine that waits, at `line`, for a channel that only a function
/// returned by the function that started it closes (`sub, stop := b.Subscribe(…)`): that
/// function must be called, and the caller found throwing it away (`sub, _ := …`) is named.
/// The generalisation of a dropped `cancel`.
fn by_returned_closer(
    file: &GoFile,
    function: &str,
    line: u32,
    stop: &ExitCondition,
    lookup: &dyn SourceLookup,
) -> Option<String> {
    let channel = match stop.kind {
        ExitKind::Close => ranged_over(&stop.code),
        _ => received_from(&stop.code)?,
    };
    let waiting = names::find(file, function, line).ok()?;
    let mut declaration = waiting;
    while let Some(up) = enclosing_function(declaration) {
        declaration = up;
    }
    if declaration.id() == waiting.id() {
        return None;
    }
    let starter = file.text(declaration.child_by_field_name("name")?);
    let closing = format!("close({})", channel.replace(' ', ""));
    let mut returned_at = None;
    visit(declaration, &mut |n| {
        if returned_at.is_none() && n.kind() == "return_statement" {
            let results = n.named_child(0).map(expressions).unwrap_or_default();
            returned_at = results.iter().position(|r| {
                r.kind() == "func_literal" && file.text(*r).replace(' ', "").contains(&closing)
            });
        }
        returned_at.is_none()
    });
    let position = returned_at?;
    let package = lookup.package(file);
    let files: Vec<&GoFile> = if package.is_empty() {
        vec![file]
    } else {
        package.iter().map(|f| &**f).collect()
    };
    let ordinal = match position {
        0 => "first",
        1 => "second",
        2 => "third",
        _ => "last",
    };
    let mut hint = format!(
        "The goroutine stops when `{channel}` is closed, and only the function {starter} returns (its {ordinal} result) closes it: keep that function and call it when done (`x, stop := …{starter}(…)` and `defer stop()`)."
    );
    let calls: Vec<Call> = files
        .iter()
        .flat_map(|f| calls_of(f, starter, position))
        .collect();
    let short = |path: &str| path.rsplit('/').next().unwrap_or(path).to_string();
    if let Some(dropped) = calls.iter().find(|c| c.kept.is_none()) {
        hint.push_str(&format!(
            " `{}` ({}:{}) throws it away, so nothing can ever stop this goroutine.",
            dropped.code,
            short(dropped.path),
            dropped.line
        ));
    } else if let Some(call) = calls.iter().find(|c| !c.caller_does("defer{}()")) {
        let kept = call.kept.unwrap_or_default();
        hint.push_str(&format!(
            " `{}` ({}:{}) keeps it as `{kept}` but does not defer it: a path that returns \
             without calling `{kept}()` leaves this goroutine behind; `defer {kept}()` right \
             after the call ends it on every path.",
            call.code,
            short(call.path),
            call.line
        ));
    }
    Some(hint)
}

/// The fix for a wait whose release an early return skips, as the analysis of the wait
/// found it (the `why` of [`super::values`]): a `wg.Done()` that is not deferred, an unlock
/// after a return that leaves with the lock held.
fn skipped_release(condition: &ExitCondition) -> Option<String> {
    let why = condition.why.as_str();
    match condition.kind {
        ExitKind::WaitGroup => {
            let (before, after) = why.split_once(" is not deferred, and the return at ")?;
            let done = before.rsplit_once('`').map(|(head, _)| head)?;
            let (_, done) = done.rsplit_once('`')?;
            let at = before.rsplit_once(" (")?.1.trim_end_matches(')');
            let ret = after.split_once(" skips it")?.0;
            Some(format!(
                "`{done}` ({at}) is reached only when the goroutine gets that far: the return at \
                 {ret} skips it, so the counter never reaches zero and Wait never returns. Make \
                 `defer {done}` the goroutine's first statement."
            ))
        }
        ExitKind::Unlock => {
            let (_, after) = why.split_once("the return at ")?;
            let (ret, rest) = after.split_once(" skips its unlock")?;
            let lock = condition.code.trim();
            let name = lock
                .strip_suffix(".Lock()")
                .or_else(|| lock.strip_suffix(".RLock()"))?;
            let unlock = if lock.ends_with(".RLock()") {
                "RUnlock"
            } else {
                "Unlock"
            };
            let at = rest
                .strip_prefix(" (")
                .and_then(|r| r.split_once(')'))
                .map(|(at, _)| format!(" at {at}"))
                .unwrap_or_default();
            Some(format!(
                "The return at {ret} leaves `{name}` locked (its {unlock}{at} is never reached), \
                 and every later `{lock}` waits for ever: write `{lock}` then `defer \
                 {name}.{unlock}()`, or unlock before that return."
            ))
        }
        _ => None,
    }
}

/// `s.feed` out of `for ev := range s.feed {` (or of `s.feed` itself).
fn ranged_over(code: &str) -> &str {
    let ranged = code.rsplit_once("range ").map_or(code, |(_, r)| r);
    ranged.trim().trim_end_matches('{').trim()
}

/// A call of the function that returns a stop function.
struct Call<'f> {
    path: &'f str,
    line: u32,
    /// The statement, as quoted.
    code: String,
    /// The name the stop function is kept under; `None` when it is thrown away (`_`, or
    /// the call's results not kept at all).
    kept: Option<&'f str>,
    /// The text of the function making the call.
    caller: &'f str,
}

impl Call<'_> {
    /// The caller does `what` (spaces aside) with what it kept: `defer stop()` for
    /// `defer{}()`, `c.Close` for `{}.Close`.
    fn caller_does(&self, what: &str) -> bool {
        self.kept.is_some_and(|k| {
            self.caller
                .replace(' ', "")
                .contains(&what.replace("{}", k))
        })
    }
}

/// The calls of `name` (a function or method) in `file` that are statements of their own
/// or assignments, with what becomes of the result at `position`.
fn calls_of<'f>(file: &'f GoFile, name: &str, position: usize) -> Vec<Call<'f>> {
    let mut calls = Vec::new();
    visit(file.root(), &mut |n| {
        if n.kind() != "call_expression" {
            return true;
        }
        let called = n.child_by_field_name("function").is_some_and(|f| {
            let text = file.text(f);
            text.rsplit('.').next().unwrap_or(text) == name
        });
        let Some(parent) = n.parent().filter(|_| called) else {
            return true;
        };
        let (statement, kept) = if parent.kind() == "expression_statement" {
            (parent, None)
        } else {
            let Some(statement) = parent
                .parent()
                .filter(|s| matches!(s.kind(), "short_var_declaration" | "assignment_statement"))
            else {
                return true;
            };
            let left = statement
                .child_by_field_name("left")
                .map(expressions)
                .unwrap_or_default();
            let Some(result) = left.get(position) else {
                return true;
            };
            let name = file.text(*result);
            (statement, (name != "_").then_some(name))
        };
        calls.push(Call {
            path: file.path.as_str(),
            line: line_of(statement),
            code: file.quote(statement),
            kept,
            caller: enclosing_function(statement).map_or("", |f| file.text(f)),
        });
        true
    });
    calls
}

/// `s.quit` out of `<-s.quit`, `case <-s.quit:`, `case _, ok := <-c.done:`;
/// `ctx` out of `<-ctx.Done()`.
fn received_from(code: &str) -> Option<&str> {
    let after = code.split_once("<-")?.1.trim();
    let expression = after.trim_end_matches(':').trim();
    let expression = expression.strip_suffix(".Done()").unwrap_or(expression);
    let simple = !expression.is_empty()
        && expression
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.');
    simple.then_some(expression)
}

/// The fix for a goroutine waiting for a context's cancellation: a context parameter is its
/// caller's to cancel; one made here needs its cancel function called.
fn by_context(
    file: &GoFile,
    function: &str,
    line: u32,
    group: &Group,
    tables: &Tables,
    stop: &ExitCondition,
    ctx: &str,
) -> Option<String> {
    let node = names::find(file, function, line).ok()?;
    let parameters = node
        .child_by_field_name("parameters")
        .map(|p| file.text(p))
        .unwrap_or_default();
    let is_parameter = parameters
        .split([',', '(', ')'])
        .any(|p| p.split_whitespace().next() == Some(ctx))
        || parameters.contains(&format!("{ctx} context.Context"));
    let local = names::local_name(function);
    if is_parameter {
        let caller = group
            .created_by
            .map(|f| tables.str(tables.get_frame(f).function).into_owned())
            .map_or(String::new(), |c| format!(" (here {c})"));
        return Some(format!(
            "`{ctx}` is a parameter of {local}: the caller that starts it{caller} must pass a \
             context it cancels when the work is done (`ctx, cancel := context.WithCancel(parent)` \
             and `defer cancel()`, or the request's context), not `context.Background()` or \
             `context.TODO()`, which are never cancelled."
        ));
    }
    let dropped = stop.why.contains("cancel function is dropped")
        || stop.why.contains("cancel function is not kept");
    Some(if dropped {
        format!(
            "The cancel function of `{ctx}` is thrown away, so nothing can ever cancel it: keep \
             it (`ctx, cancel := context.WithCancel(parent)`) and call it when the work is done \
             (`defer cancel()`)."
        )
    } else {
        format!(
            "Nothing cancels `{ctx}`: call its cancel function when the work is done (`defer \
             cancel()` where it is made), and do not hand the goroutine `context.Background()`."
        )
    })
}

/// The fix for a goroutine waiting for a channel to be closed: the method of its owner's
/// type that closes it, or that there is none.
fn by_channel(
    file: &GoFile,
    function: &str,
    channel: &str,
    maker: Option<&str>,
    lookup: &dyn SourceLookup,
) -> Option<String> {
    let Some((_, field)) = channel.rsplit_once('.') else {
        return Some(format!(
            "The goroutine stops when `{channel}` is closed, and nothing closes it: close it when \
             its owner is done (`defer close({channel})` in the function that made it), or hand \
             the goroutine a context and cancel it."
        ));
    };
    let type_name = receiver_type(function)?;
    let package = lookup.package(file);
    let files: Vec<&GoFile> = if package.is_empty() {
        vec![file]
    } else {
        package.iter().map(|f| &**f).collect()
    };
    if !files.iter().any(|f| declares_type(f, type_name)) {
        return None;
    }
    let methods: Vec<Method> = files
        .iter()
        .flat_map(|f| methods_of(f, type_name, field))
        .collect();
    let package_name = file.package_name();
    let closer = methods
        .iter()
        .filter(|m| m.calls)
        .min_by_key(|m| (!STOP_METHODS.contains(&m.name.as_str()), m.name.clone()));
    if let Some(m) = closer {
        // The function with the `go` statement makes the values: a call of it that keeps
        // one and never calls the method is the one to fix.
        let unclosed = maker.map(names::local_name).and_then(|maker| {
            let maker = maker.rsplit('.').next().unwrap_or(maker);
            files
                .iter()
                .flat_map(|f| calls_of(f, maker, 0))
                .find(|c| c.kept.is_some() && !c.caller_does(&format!("{{}}.{}", m.name)))
        });
        let culprit = match unclosed {
            Some(call) => format!(
                " `{}` ({}:{}) makes one and never calls `{}.{}()`.",
                call.code,
                call.path.rsplit('/').next().unwrap_or(call.path),
                call.line,
                call.kept.unwrap_or_default(),
                m.name
            ),
            None => " Nothing called it here.".to_string(),
        };
        return Some(format!(
            "The goroutine stops when `{channel}` is closed, and `(*{type_name}).{name}` closes \
             it: call `{name}()` on every {type_name} when done with it (`defer x.{name}()` \
             after making one; in a test, `t.Cleanup(x.{name})`).{culprit}",
            name = m.name
        ));
    }
    let conventional: Vec<&str> = methods
        .iter()
        .map(|m| m.name.as_str())
        .filter(|n| STOP_METHODS.contains(n))
        .collect();
    if let Some(name) = conventional.first() {
        return Some(format!(
            "The goroutine stops when `{channel}` is closed, but nothing in package \
             {package_name} closes it, not even `(*{type_name}).{name}`: the code offers no way \
             to stop it. Make `{name}` close `{field}`, or make one {type_name} for the whole \
             program instead of one per use."
        ));
    }
    Some(format!(
        "The goroutine stops when `{channel}` is closed, but nothing in package {package_name} \
         closes it and {type_name} has no Close or Stop method: the code offers no way to stop \
         it. Make one {type_name} for the whole program instead of one per use; if the code is \
         yours, add a `Close` method that closes `{field}`."
    ))
}

/// `("p", "ticker")` out of `for range p.ticker.C`: a loop over the channel of a ticker held
/// in a field.
fn ticker_field(code: &str) -> Option<(&str, &str)> {
    let ranged = code
        .split_once("range ")?
        .1
        .trim()
        .trim_end_matches('{')
        .trim();
    let holder = ranged.strip_suffix(".C")?;
    let (receiver, field) = holder.rsplit_once('.')?;
    let simple = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
    (simple(receiver) && simple(field)).then_some((receiver, field))
}

/// The fix for `for range p.ticker.C` where `ticker` is a `*time.Ticker` field of the
/// receiver's type: no Stop ends it, as Ticker.Stop never closes the channel.
fn by_ticker_field(
    file: &GoFile,
    function: &str,
    receiver: &str,
    field: &str,
    lookup: &dyn SourceLookup,
) -> Option<String> {
    let type_name = receiver_type(function)?;
    let package = lookup.package(file);
    let files: Vec<&GoFile> = if package.is_empty() {
        vec![file]
    } else {
        package.iter().map(|f| &**f).collect()
    };
    if !files.iter().any(|f| holds_ticker(f, type_name, field)) {
        return None;
    }
    let stoppers: Vec<String> = files
        .iter()
        .flat_map(|f| methods_of(f, type_name, &format!("{field}.Stop()")))
        .filter(|m| m.calls)
        .map(|m| m.name)
        .collect();
    let holder = format!("{receiver}.{field}");
    let fix = format!(
        "Give {type_name} a done channel its owner closes, loop on `select {{ case <-{holder}.C: …; case <-{receiver}.done: return }}`, and stop the ticker when the loop returns."
    );
    Some(match stoppers.first() {
        Some(stop) => format!(
            "`(*{type_name}).{stop}` stops `{holder}`, but Ticker.Stop never closes the ticker's channel, so `for range {holder}.C` outlives it: the code offers no way to end this goroutine. {fix}"
        ),
        None => format!(
            "`{holder}` is a ticker, and a ticker's channel is never closed (not even by Stop), so `for range {holder}.C` never ends: the code offers no way to end this goroutine. {fix}"
        ),
    })
}

/// Whether `file` declares `type T struct` with a field `field` of type `*time.Ticker`.
fn holds_ticker(file: &GoFile, type_name: &str, field: &str) -> bool {
    let mut found = false;
    for decl in children(file.root()).filter(|d| d.kind() == "type_declaration") {
        visit(decl, &mut |n| {
            if n.kind() == "type_spec"
                && n.child_by_field_name("name")
                    .is_some_and(|name| file.text(name) == type_name)
            {
                found = file.text(n).lines().any(|line| {
                    let mut words = line.split_whitespace();
                    words.next() == Some(field) && words.next() == Some("*time.Ticker")
                });
            }
            !found
        });
    }
    found
}

/// `T` of `pkg.(*T).method`, `pkg.(*T).method.func1`, `pkg.T.method`, `pkg.(*T[...]).m`.
fn receiver_type(function: &str) -> Option<&str> {
    let local = names::local_name(function);
    if let Some(rest) = local.strip_prefix("(*") {
        let end = rest.find(')')?;
        return Some(rest[..end].split('[').next().unwrap_or(&rest[..end]));
    }
    let (first, rest) = local.split_once('.')?;
    let is_method = !rest.starts_with("func") && first.chars().next()?.is_alphabetic();
    is_method.then(|| first.split('[').next().unwrap_or(first))
}

/// Whether `file` declares `type T`.
fn declares_type(file: &GoFile, type_name: &str) -> bool {
    let mut found = false;
    for decl in children(file.root()).filter(|d| d.kind() == "type_declaration") {
        visit(decl, &mut |n| {
            if n.kind() == "type_spec"
                && n.child_by_field_name("name")
                    .is_some_and(|name| file.text(name) == type_name)
            {
                found = true;
            }
            !found
        });
    }
    found
}

struct Method {
    name: String,
    /// Its body does `what` to the receiver.
    calls: bool,
}

/// The methods of `T` declared in `file`, and whether each body has `close(r.what)` or,
/// for a call, `r.what` (`r` its receiver's name).
fn methods_of(file: &GoFile, type_name: &str, what: &str) -> Vec<Method> {
    children(file.root())
        .filter(|d| d.kind() == "method_declaration")
        .filter_map(|d| {
            let receiver = file.text(d.child_by_field_name("receiver")?);
            let inner = receiver.trim_matches(|c| c == '(' || c == ')').trim();
            let (name, typ) = match inner.split_once(char::is_whitespace) {
                Some((n, t)) => (Some(n), t.trim()),
                None => (None, inner),
            };
            let typ = typ.trim_start_matches('*');
            if typ.split('[').next() != Some(type_name) {
                return None;
            }
            let method = file.text(d.child_by_field_name("name")?).to_string();
            let body = d.child_by_field_name("body").map_or("", |b| file.text(b));
            let wanted = |recv: &str| {
                if what.ends_with(')') {
                    format!("{recv}.{what}")
                } else {
                    format!("close({recv}.{what})")
                }
            };
            let calls = name.is_some_and(|recv| body.replace(' ', "").contains(&wanted(recv)));
            Some(Method {
                name: method,
                calls,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_waited_for_and_whose_method_it_is() {
        assert_eq!(received_from("<-s.quit"), Some("s.quit"));
        assert_eq!(received_from("case <-c.stop:"), Some("c.stop"));
        assert_eq!(received_from("case <-ctx.Done():"), Some("ctx"));
        assert_eq!(received_from("case v := <-work:"), Some("work"));
        assert_eq!(received_from("case <-f(x):"), None);
        assert_eq!(
            receiver_type("example.com/cache.(*Cache).janitor"),
            Some("Cache")
        );
        assert_eq!(
            receiver_type("example.com/cache.(*Cache[...]).run.func1"),
            Some("Cache")
        );
        assert_eq!(receiver_type("main.server.loop"), Some("server"));
        assert_eq!(receiver_type("main.startX.func1"), None);
        assert_eq!(receiver_type("main.watch"), None);
        assert_eq!(ticker_field("for range p.ticker.C"), Some(("p", "ticker")));
        assert_eq!(
            ticker_field("for t := range s.tick.C {"),
            Some(("s", "tick"))
        );
        assert_eq!(ticker_field("for range ticker.C"), None);
        assert_eq!(ranged_over("for ev := range s.feed {"), "s.feed");
        assert_eq!(ranged_over("s.feed"), "s.feed");
        assert_eq!(ticker_field("for line := range lines"), None);
    }
}
