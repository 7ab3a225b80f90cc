//! Following values: where a channel is made and who can still close it or send on it,
//! where a context comes from and who can cancel it, who calls `Done` on a `WaitGroup`,
//! who holds a lock.
//!
//! A variable of a function can only be used by that function's activation and the
//! literals it starts or passes on; when the dump shows no goroutine in any of them, what
//! they would do cannot happen any more. A package variable or a field can be used from
//! anywhere in the package, so there only "nothing in the package does it" is certain.

use tree_sitter::Node;

use super::analysis::{Cx, Place, top_declaration};
use super::duration;
use super::names;
use super::scope::{Binding, declared_type, resolve};
use super::syntax::{
    GoFile, arguments, children, enclosing_function, expressions, line_of, method_call,
    qualified_call, unparen, visit, within,
};
use super::{ExitKind, Peer, PeerRole, Possibility};

/// How far calls are followed from one place to another.
const DEPTH: u32 = 6;

/// Whether something can happen, and why.
#[derive(Clone, Debug)]
pub struct Traced {
    pub can: Possibility,
    pub why: String,
    /// It happens by itself after this many seconds.
    pub deadline: Option<f64>,
    /// The channel is registered with `signal.Notify`: the runtime sends on it for each
    /// signal, for as long as the program runs.
    pub os_signal: bool,
    /// The places in the code that can end the wait.
    pub peers: Vec<Peer>,
}

impl Traced {
    pub fn yes(why: &str) -> Traced {
        Traced {
            can: Possibility::Yes,
            why: why.to_string(),
            deadline: None,
            os_signal: false,
            peers: Vec::new(),
        }
    }

    pub fn no(why: &str) -> Traced {
        Traced {
            can: Possibility::No,
            why: why.to_string(),
            deadline: None,
            os_signal: false,
            peers: Vec::new(),
        }
    }

    pub fn unknown() -> Traced {
        Traced::unknown_because("the source does not say")
    }

    pub fn unknown_because(why: &str) -> Traced {
        Traced {
            can: Possibility::Unknown,
            why: why.to_string(),
            deadline: None,
            os_signal: false,
            peers: Vec::new(),
        }
    }

    pub fn with_deadline(mut self, secs: f64) -> Traced {
        self.deadline = Some(secs);
        self
    }

    /// The event ends the wait and its case leaves the loop.
    pub fn then_leaves(mut self, how: &str) -> Traced {
        self.why = format!("{}, and {how}", self.why);
        self
    }

    /// The event ends the wait, then the goroutine waits again: not a way out.
    pub fn goes_back(mut self, then: &str) -> Traced {
        self.why = format!("{}, {then}", self.why);
        self.can = Possibility::No;
        self.deadline = None;
        self
    }

    /// A way out that is reached only when something else happens first.
    pub fn and_reached(mut self, reach: Possibility, why: &str) -> Traced {
        self.can = self.can.and(reach);
        if reach == Possibility::No && !why.is_empty() {
            self.why = format!("{}, but {why}", self.why);
            self.deadline = None;
        }
        self
    }
}

/// What waits for a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// A receive: a send or a close ends it.
    Receive,
    /// A send: a receive ends it.
    Send,
    /// `for range`: only a close ends it.
    Close,
}

/// How a variable is used.
#[derive(Clone, Debug, PartialEq, Eq)]
enum How {
    Close,
    Send,
    Receive,
    Range,
    /// `x.m(…)`.
    Method(String),
    /// `signal.Notify(x, …)`: the runtime sends on `x`.
    Notify,
    /// `x = …`, `x++`: a new value.
    Assign,
    /// `atomic.StoreInt32(&x, …)`: a function of `sync/atomic` given `&x`.
    Atomic(String),
}

/// One use of a variable somewhere.
struct Use<'c> {
    how: How,
    node: Node<'c>,
    place: Place<'c>,
    deferred: bool,
}

/// Every use of a value: where it is made, what it is called, and what may use it beyond
/// what the source shows.
struct Uses<'c> {
    list: Vec<Use<'c>>,
    /// Ways the value leaves what the analysis can see: passed to another package,
    /// stored in a field.
    escapes: Vec<String>,
    /// Uses anywhere in a package (a package variable, a field): any function may run
    /// them later.
    package_wide: Option<String>,
    /// `made in main.f (main.go:12)`.
    made: Option<String>,
    /// Where it is made, whether as a channel without a buffer (`make(chan T)`).
    unbuffered: Option<bool>,
    /// The name as the code writes it.
    name: String,
    /// The functions (name → still run by a goroutine) owning the value, for the message.
    owners: Vec<String>,
}

impl<'c> Uses<'c> {
    fn new(name: String) -> Uses<'c> {
        Uses {
            list: Vec::new(),
            escapes: Vec::new(),
            package_wide: None,
            made: None,
            unbuffered: None,
            name,
            owners: Vec::new(),
        }
    }

    fn merge(&mut self, other: Uses<'c>) {
        self.list.extend(other.list);
        self.escapes.extend(other.escapes);
        if self.package_wide.is_none() {
            self.package_wide = other.package_wide;
        }
        if other.made.is_some() {
            self.made = other.made;
            self.unbuffered = other.unbuffered;
        }
        self.owners.extend(other.owners);
    }
}

/// Whether the goroutine could still run the code at `place` (its function, or one it
/// was called from, started by or passed from, up to `owner`).
fn can_run<'c>(cx: &'c Cx<'_>, place: &Place<'c>, owner: Option<Node<'_>>) -> Possibility {
    let mut f = Some(place.function);
    while let Some(function) = f {
        if cx.active(place, function) {
            return Possibility::Unknown;
        }
        if function.kind() == "func_literal" && escapes_as_value(place.file, function) {
            return Possibility::Unknown;
        }
        if owner.is_some_and(|o| o.id() == function.id()) || owner.is_none() {
            break;
        }
        f = enclosing_function(function);
    }
    if owner.is_none() {
        // A function of the package: anything may call it again.
        return Possibility::Unknown;
    }
    Possibility::No
}

/// Whether a function literal is a value someone may call later (a callback, a stored
/// function), rather than called, started or deferred where it is written.
fn escapes_as_value(file: &GoFile, literal: Node<'_>) -> bool {
    let Some(parent) = literal.parent() else {
        return true;
    };
    if parent.kind() == "call_expression"
        && parent
            .child_by_field_name("function")
            .is_some_and(|f| f.id() == literal.id())
    {
        return false;
    }
    // `pprof.Do(ctx, labels, func(ctx) { … })`, `once.Do(func() { … })`: run before the
    // call returns.
    let run_by_do = parent
        .parent()
        .and_then(|call| call.child_by_field_name("function"))
        .and_then(|f| f.child_by_field_name("field"))
        .is_some_and(|f| file.text(f) == "Do");
    parent.kind() != "argument_list" || !run_by_do
}

fn uses_of<'c>(cx: &'c Cx<'_>, place: &Place<'c>, expr: Node<'c>, depth: u32) -> Uses<'c> {
    let file = place.file;
    let expr = unparen(expr);
    let name = file.quote(expr);
    let mut uses = Uses::new(name.clone());
    if depth > DEPTH {
        uses.escapes
            .push(format!("`{name}` is passed further than goleash follows"));
        return uses;
    }
    match expr.kind() {
        "unary_expression"
            if expr
                .child_by_field_name("operator")
                .is_some_and(|o| file.text(o) == "&") =>
        {
            match expr.child_by_field_name("operand") {
                Some(inner) => uses_of(cx, place, inner, depth),
                None => uses,
            }
        }
        "identifier" => {
            match resolve(file, expr) {
                Some(binding @ Binding::Local { owner, value, .. }) => {
                    let owner_place = place.with_function(owner);
                    uses.unbuffered = value.map(|v| makes_unbuffered_channel(file, v));
                    uses.made = Some(match value {
                        Some(v) => format!(
                            "`{name}` is `{}` in {} ({})",
                            file.quote(v),
                            place.name_of(owner),
                            place.at(v)
                        ),
                        None => format!("`{name}` is declared in {}", place.name_of(owner)),
                    });
                    uses.owners.push(place.name_of(owner));
                    variable_uses(cx, &owner_place, binding.decl(), &name, &mut uses, depth);
                }
                Some(
                    binding @ Binding::Param {
                        function, index, ..
                    },
                ) => {
                    let here = place.with_function(function);
                    variable_uses(cx, &here, binding.decl(), &name, &mut uses, depth);
                    match index.and_then(|i| argument_from_caller(cx, place, function, i)) {
                        Some((caller, arg)) => {
                            let more = uses_of(cx, &caller, arg, depth + 1);
                            uses.merge(more);
                        }
                        None => uses.escapes.push(format!(
                            "`{name}` is a parameter of {}, from callers goleash cannot follow",
                            place.name_of(function)
                        )),
                    }
                }
                Some(Binding::Global { .. }) | None => {
                    if !package_variable(cx, place, &name, &mut uses) {
                        uses.escapes
                            .push(format!("`{name}` is not declared in its package"));
                    }
                }
                Some(Binding::Bound { .. }) => uses.escapes.push(format!(
                    "`{name}` is bound by a range or a case, to values goleash does not follow"
                )),
            }
            uses
        }
        "selector_expression" => {
            let operand = expr.child_by_field_name("operand");
            let field = expr.child_by_field_name("field").map(|f| file.text(f));
            if let (Some(operand), Some(field)) = (operand, field) {
                if operand.kind() == "identifier"
                    && resolve(file, operand).is_none()
                    && file_imports(file, file.text(operand))
                {
                    uses.escapes.push(format!(
                        "`{name}` belongs to package {}",
                        file.text(operand)
                    ));
                } else {
                    let owner_type = receiver_type_of(file, operand);
                    field_uses(cx, place, field, owner_type, &mut uses);
                }
            }
            uses
        }
        _ => {
            uses.escapes
                .push(format!("`{name}` is made by code goleash does not follow"));
            uses
        }
    }
}

fn file_imports(file: &GoFile, name: &str) -> bool {
    let mut found = false;
    visit(file.root(), &mut |n| {
        if n.kind() == "import_spec" {
            let path = n
                .child_by_field_name("path")
                .map(|p| file.text(p).trim_matches(['"', '`']).to_string())
                .unwrap_or_default();
            let alias = n.child_by_field_name("name").map(|a| file.text(a));
            if alias == Some(name) || (alias.is_none() && path.rsplit('/').next() == Some(name)) {
                found = true;
            }
            return false;
        }
        !super::syntax::is_function(n)
    });
    found
}

/// Every use of the variable declared by `decl` under `owner`.
fn variable_uses<'c>(
    cx: &'c Cx<'_>,
    owner: &Place<'c>,
    decl: Node<'c>,
    name: &str,
    uses: &mut Uses<'c>,
    depth: u32,
) {
    let file = owner.file;
    visit(owner.function, &mut |n| {
        if n.kind() == "identifier"
            && file.text(n) == name
            && resolve(file, n).is_some_and(|b| b.decl().id() == decl.id())
        {
            let function = enclosing_function(n).unwrap_or(owner.function);
            use_of(cx, &owner.with_function(function), n, uses, depth);
        }
        true
    });
}

/// Records what the code does with one occurrence `occ` of a value.
fn use_of<'c>(cx: &'c Cx<'_>, place: &Place<'c>, occ: Node<'c>, uses: &mut Uses<'c>, depth: u32) {
    let file = place.file;
    let mut node = occ;
    let mut parent = node.parent();
    while let Some(p) = parent {
        let address = p.kind() == "unary_expression"
            && p.child_by_field_name("operator")
                .is_some_and(|o| file.text(o) == "&");
        if p.kind() != "parenthesized_expression" && !address {
            break;
        }
        node = p;
        parent = p.parent();
    }
    let Some(parent) = parent else {
        return;
    };
    let deferred = {
        let mut up = Some(parent);
        let mut found = false;
        while let Some(n) = up {
            if n.kind() == "defer_statement" {
                found = true;
                break;
            }
            if super::syntax::is_function(n)
                || n.kind().ends_with("_statement") && n.kind() != "expression_statement"
            {
                break;
            }
            up = n.parent();
        }
        found
    };
    let record = |how: How, uses: &mut Uses<'c>| {
        uses.list.push(Use {
            how,
            node,
            place: *place,
            deferred,
        });
    };
    let is = |field: &str| {
        parent
            .child_by_field_name(field)
            .is_some_and(|c| c.id() == node.id())
    };
    match parent.kind() {
        "send_statement" if is("channel") => record(How::Send, uses),
        "send_statement" => uses.escapes.push(format!(
            "`{}` is sent on a channel ({})",
            uses.name,
            place.at(parent)
        )),
        "unary_expression" => record(How::Receive, uses),
        "range_clause" if is("right") => record(How::Range, uses),
        "inc_statement" | "dec_statement" => record(How::Assign, uses),
        "selector_expression" if is("operand") => {
            if let Some(call) = parent.parent()
                && call.kind() == "call_expression"
                && let Some((_, method, _)) = method_call(file, call)
            {
                let method = method.to_string();
                uses.list.push(Use {
                    how: How::Method(method),
                    node: call,
                    place: *place,
                    deferred,
                });
            }
        }
        "argument_list" => {
            let Some(call) = parent.parent() else {
                return;
            };
            let callee = call.child_by_field_name("function").map(unparen);
            let first = arguments(call).first().is_some_and(|a| a.id() == node.id());
            if first && is_signal_notify(file, call) {
                record(How::Notify, uses);
                return;
            }
            if first
                && let Some(("atomic", function)) = qualified_call(file, call)
                && file_imports(file, "atomic")
            {
                record(How::Atomic(function.to_string()), uses);
                return;
            }
            match callee.map(|c| (c.kind(), file.text(c))) {
                Some(("identifier", "close")) => record(How::Close, uses),
                Some(("identifier", "len" | "cap" | "print" | "println")) => {}
                _ => {
                    let index = arguments(call).iter().position(|a| a.id() == node.id());
                    if let (Some(callee), Some(index)) = (callee, index) {
                        passed(cx, place, call, callee, index, uses, depth);
                    }
                }
            }
        }
        "expression_list" | "literal_element" | "keyed_element" | "return_statement" => {
            let stored = parent.parent().map(|p| p.kind());
            // On the left of an assignment it is assigned to, not passed on.
            let assigned_to = matches!(
                stored,
                Some("assignment_statement" | "short_var_declaration")
            ) && parent
                .parent()
                .and_then(|p| p.child_by_field_name("left"))
                .is_some_and(|l| l.id() == parent.id());
            if assigned_to {
                // A declaration gives the first value, before any loop could read it.
                if stored == Some("assignment_statement") {
                    record(How::Assign, uses);
                }
            } else {
                uses.escapes.push(format!(
                    "`{}` is stored or returned ({})",
                    uses.name,
                    place.at(parent)
                ));
            }
        }
        _ => {}
    }
}

/// `signal.Notify(…)`, with `os/signal` imported under whatever name.
fn is_signal_notify(file: &GoFile, call: Node<'_>) -> bool {
    qualified_call(file, call).is_some_and(|(pkg, function)| {
        function == "Notify" && file.import_name("os/signal").as_deref() == Some(pkg)
    })
}

/// When the use runs in a function literal handed to `time.AfterFunc(d, …)` whose timer
/// nobody keeps (so nobody can stop it), with a `d` the source spells: the use happens by
/// itself after `d` seconds.
fn scheduled_by_timer(u: &Use<'_>) -> Option<f64> {
    let file = u.place.file;
    let time = file.import_name("time")?;
    let mut function = enclosing_function(u.node);
    while let Some(f) = function {
        if f.kind() == "func_literal"
            && let Some(list) = f.parent()
            && list.kind() == "argument_list"
            && let Some(call) = list.parent()
            && qualified_call(file, call) == Some((time.as_str(), "AfterFunc"))
            && arguments(call).get(1).is_some_and(|a| a.id() == f.id())
        {
            let kept = call
                .parent()
                .is_some_and(|p| p.kind() != "expression_statement");
            if kept {
                return None;
            }
            return arguments(call)
                .first()
                .and_then(|d| duration::evaluate(file, *d))
                .map(|ns| ns as f64 / 1e9);
        }
        function = enclosing_function(f);
    }
    None
}

/// `f(…, x, …)`: what `f` does with its parameter, when `f` is in the package.
fn passed<'c>(
    cx: &'c Cx<'_>,
    place: &Place<'c>,
    call: Node<'c>,
    callee: Node<'c>,
    index: usize,
    uses: &mut Uses<'c>,
    depth: u32,
) {
    let file = place.file;
    let target: Option<(Place<'c>, Node<'c>)> = match callee.kind() {
        "func_literal" => Some((place.with_function(callee), callee)),
        "identifier" => package_function(cx, place, file.text(callee), None),
        "selector_expression" => {
            let operand = callee.child_by_field_name("operand");
            let method = callee.child_by_field_name("field").map(|f| file.text(f));
            match (operand, method) {
                (Some(o), Some(m))
                    if !(o.kind() == "identifier"
                        && resolve(file, o).is_none()
                        && file_imports(file, file.text(o))) =>
                {
                    package_function(cx, place, m, Some(()))
                }
                _ => None,
            }
        }
        _ => None,
    };
    let Some((callee_place, function)) = target else {
        uses.escapes.push(format!(
            "`{}` is passed to {} ({})",
            uses.name,
            file.quote(callee),
            place.at(call)
        ));
        return;
    };
    let Some((decl, name)) = parameter_at(callee_place.file, function, index) else {
        uses.escapes.push(format!(
            "`{}` is passed to {} ({})",
            uses.name,
            file.quote(callee),
            place.at(call)
        ));
        return;
    };
    if depth + 1 > DEPTH {
        uses.escapes.push(format!(
            "`{}` is passed further than goleash follows",
            uses.name
        ));
        return;
    }
    variable_uses(cx, &callee_place, decl, &name, uses, depth + 1);
}

/// The declaration of parameter `index` of `function`, and its name.
fn parameter_at<'t>(
    file: &'t GoFile,
    function: Node<'t>,
    index: usize,
) -> Option<(Node<'t>, String)> {
    let params = function.child_by_field_name("parameters")?;
    let mut i = 0;
    for decl in children(params) {
        if !matches!(
            decl.kind(),
            "parameter_declaration" | "variadic_parameter_declaration"
        ) {
            continue;
        }
        let mut cursor = decl.walk();
        let names: Vec<Node<'t>> = decl.children_by_field_name("name", &mut cursor).collect();
        if names.is_empty() {
            if i == index {
                return None;
            }
            i += 1;
            continue;
        }
        for n in names {
            if i == index {
                return Some((decl, file.text(n).to_string()));
            }
            i += 1;
        }
    }
    None
}

/// The function (or, with `method`, a method of any type) called `name` in the package of
/// `place`: its place and declaration, when there is exactly one.
fn package_function<'c>(
    cx: &'c Cx<'_>,
    place: &Place<'c>,
    name: &str,
    method: Option<()>,
) -> Option<(Place<'c>, Node<'c>)> {
    let kind = if method.is_some() {
        "method_declaration"
    } else {
        "function_declaration"
    };
    let mut found = Vec::new();
    for file in files_of_package(cx, place) {
        for decl in children(file.root()) {
            if decl.kind() == kind
                && decl
                    .child_by_field_name("name")
                    .is_some_and(|n| file.text(n) == name)
            {
                found.push(Place {
                    file,
                    function: decl,
                    frame: None,
                    dump_file: place.dump_file,
                    package: place.package,
                });
            }
        }
    }
    match found.as_slice() {
        [one] => Some((*one, one.function)),
        _ => None,
    }
}

/// The files of the package of `place`, its own first.
fn files_of_package<'c>(cx: &'c Cx<'_>, place: &Place<'c>) -> Vec<&'c GoFile> {
    let mut out = vec![place.file];
    for file in cx.lookup.package(place.file).iter() {
        if std::ptr::eq(&**file, place.file) || file.path == place.file.path {
            continue;
        }
        if let Some(held) = cx.hold(file.clone()) {
            out.push(held);
        }
    }
    out
}

/// Uses of a package-level variable `name` anywhere in the package; false when the
/// package has no such variable.
fn package_variable<'c>(
    cx: &'c Cx<'_>,
    place: &Place<'c>,
    name: &str,
    uses: &mut Uses<'c>,
) -> bool {
    let files = files_of_package(cx, place);
    let declared = files
        .iter()
        .find_map(|f| super::scope::global(f, f.root(), name).map(|b| (*f, b)));
    let Some((decl_file, binding)) = declared else {
        return false;
    };
    let package = place.file.package_name().to_string();
    uses.package_wide = Some(package.clone());
    if let Binding::Global { value: Some(v), .. } = binding {
        uses.made = Some(format!(
            "`{name}` is a variable of package {package}, `{}` ({}:{})",
            decl_file.quote(v),
            short(decl_file),
            line_of(v)
        ));
    }
    for file in files {
        visit(file.root(), &mut |n| {
            if n.kind() == "identifier" && file.text(n) == name {
                let global = match resolve(file, n) {
                    Some(Binding::Global { .. }) => true,
                    Some(_) => false,
                    None => !std::ptr::eq(file, decl_file),
                };
                if global && let Some(function) = enclosing_function(n) {
                    let here = Place {
                        file,
                        function,
                        frame: None,
                        dump_file: place.dump_file,
                        package: place.package,
                    };
                    use_of(cx, &here, n, uses, DEPTH);
                }
            }
            true
        });
    }
    true
}

/// Uses of field `name` (`x.name` on any `x`) anywhere in the package.
/// The type of `operand` when it is the receiver of the method it is in (`l` in
/// `func (l *limiter) refill()`: `limiter`).
fn receiver_type_of<'t>(file: &'t GoFile, operand: Node<'t>) -> Option<&'t str> {
    if operand.kind() != "identifier" {
        return None;
    }
    let method = top_declaration(operand).filter(|d| d.kind() == "method_declaration")?;
    let (name, ty) = names::receiver(file, method)?;
    (name == file.text(operand)).then_some(ty)
}

/// Every `x.name` of the package. A field is known by its name alone, except that when
/// both the waited-on field and a use are reached through a method's receiver
/// (`owner_type`), a receiver of another type holds another field: `c.done` in a method of
/// `cache` is not `l.done` of `limiter`.
fn field_uses<'c>(
    cx: &'c Cx<'_>,
    place: &Place<'c>,
    name: &str,
    owner_type: Option<&str>,
    uses: &mut Uses<'c>,
) {
    uses.package_wide = Some(place.file.package_name().to_string());
    for file in files_of_package(cx, place) {
        visit(file.root(), &mut |n| {
            let other_type = || {
                let operand = n.child_by_field_name("operand")?;
                let theirs = receiver_type_of(file, operand)?;
                owner_type.filter(|ours| *ours != theirs)
            };
            if n.kind() == "selector_expression"
                && n.child_by_field_name("field")
                    .is_some_and(|f| file.text(f) == name)
                && other_type().is_none()
                && let Some(function) = enclosing_function(n)
            {
                let here = Place {
                    file,
                    function,
                    frame: None,
                    dump_file: place.dump_file,
                    package: place.package,
                };
                use_of(cx, &here, n, uses, DEPTH);
            }
            true
        });
    }
}

fn short(file: &GoFile) -> &str {
    file.path.rsplit('/').next().unwrap_or(&file.path)
}

/// Where a use is: `main.f (main.go:12)`.
fn where_is(u: &Use<'_>) -> String {
    format!(
        "{} ({})",
        u.place.name_of(u.place.function),
        u.place.at(u.node)
    )
}

/// Judges a list of uses that would end the wait.
fn judge(
    cx: &Cx<'_>,
    uses: &Uses<'_>,
    wanted: &[&Use<'_>],
    doing: (&str, &str),
    owner: Option<Node<'_>>,
) -> Traced {
    let name = &uses.name;
    let scope = match &uses.package_wide {
        Some(package) => format!("in package {package}"),
        None => match uses.owners.first() {
            Some(owner) => format!("in {owner} or what it starts"),
            None => "here".to_string(),
        },
    };
    let made = uses
        .made
        .as_ref()
        .map(|m| format!(" ({m})"))
        .unwrap_or_default();
    if let Some(escape) = uses.escapes.first() {
        return Traced::unknown_because(&format!(
            "{escape}: something there may {} `{name}`{made}",
            doing.0
        ));
    }
    if wanted.is_empty() {
        return Traced::no(&format!("nothing {scope} {} `{name}`{made}", doing.1));
    }
    let judged: Vec<(Possibility, String)> = wanted
        .iter()
        .map(|u| {
            let p = if uses.package_wide.is_some() {
                Possibility::Unknown
            } else {
                can_run(cx, &u.place, owner_of_use(u, owner))
            };
            (p, where_is(u))
        })
        .collect();
    let can = judged.iter().fold(Possibility::No, |p, (q, _)| p.or(*q));
    let listed: Vec<&str> = judged.iter().take(3).map(|(_, w)| w.as_str()).collect();
    let more = if judged.len() > 3 {
        format!(" and {} more places", judged.len() - 3)
    } else {
        String::new()
    };
    // A use reached along two ways (the value handed to two calls) is one place.
    let mut peers: Vec<Peer> = Vec::new();
    for u in wanted {
        let role = match &u.how {
            How::Send => PeerRole::Sends,
            How::Close => PeerRole::Closes,
            How::Receive | How::Range => PeerRole::Receives,
            How::Method(m) if m == "Done" => PeerRole::Done,
            _ => continue,
        };
        let p = peer(u, role, None);
        if !peers.contains(&p) {
            peers.push(p);
        }
    }
    let traced = match can {
        Possibility::No => Traced::no(&format!(
            "only {}{more} {} `{name}`, and no goroutine is there any more{made}",
            listed.join(", "),
            doing.1
        )),
        _ => Traced::unknown_because(&format!(
            "{}{more} {} `{name}`{made}",
            listed.join(", "),
            doing.1
        )),
    };
    Traced { peers, ..traced }
}

/// A use as a place a goroutine would have to be to end the wait.
fn peer(u: &Use<'_>, role: PeerRole, until: Option<u32>) -> Peer {
    Peer {
        role,
        function: u.place.name_of(u.place.function),
        file: u.place.short_file().to_string(),
        line: line_of(u.node),
        until,
        code: u.place.file.quote(simple_statement(u.node)),
    }
}

/// The simple statement a use is in (`replies <- n * 2`, `n := <-requests`, `defer
/// close(done)`), or the use itself when it sits in a compound one's header (an `if`'s
/// condition, a `for` loop's `range`).
fn simple_statement(node: Node<'_>) -> Node<'_> {
    let mut at = Some(node);
    while let Some(n) = at {
        match n.kind() {
            "short_var_declaration" | "range_clause" => return n,
            "for_statement"
            | "if_statement"
            | "select_statement"
            | "expression_switch_statement"
            | "type_switch_statement"
            | "block"
            | "func_literal" => return node,
            kind if kind.ends_with("_statement") => return n,
            _ => at = n.parent(),
        }
    }
    node
}

fn owner_of_use<'c>(u: &Use<'c>, owner: Option<Node<'c>>) -> Option<Node<'c>> {
    // A use inside the owner: the chain of functions up to it decides. A use in a function
    // the value was passed to is owned by that function.
    match owner {
        Some(o) if within(u.node, o) => Some(o),
        _ => top_declaration(u.place.function),
    }
}

/// What ends a wait on `channel`, judged from who uses it.
pub fn channel_wait<'c>(
    cx: &'c Cx<'_>,
    place: &Place<'c>,
    channel: Node<'_>,
    wait: Wait,
) -> Traced {
    let uses = uses_of(cx, place, channel, 0);
    let blocked = channel;
    let wanted: Vec<&Use<'_>> = uses
        .list
        .iter()
        .filter(|u| !within(u.node, blocked) && !within(blocked, u.node))
        .filter(|u| match wait {
            Wait::Receive => matches!(u.how, How::Send | How::Close),
            Wait::Send => matches!(u.how, How::Receive | How::Range),
            Wait::Close => u.how == How::Close,
        })
        .collect();
    let doing = match wait {
        Wait::Receive => ("close or send on", "closes or sends on"),
        Wait::Send => ("receive from", "receives from"),
        Wait::Close => ("close", "closes"),
    };
    if let Some(notify) = uses.list.iter().find(|u| u.how == How::Notify) {
        let mut traced = Traced::yes(&format!(
            "`{}` is registered with signal.Notify in {}: the runtime sends on it for each signal, for as long as the program runs",
            uses.name,
            where_is(notify)
        ));
        traced.os_signal = true;
        return traced;
    }
    if let Some((u, secs)) = wanted
        .iter()
        .find_map(|u| Some((u, scheduled_by_timer(u)?)))
    {
        let mut code = u.node;
        while let Some(up) = code.parent()
            && !matches!(code.kind(), "call_expression" | "send_statement")
        {
            code = up;
        }
        let why = format!(
            "`{}` in {} is scheduled by time.AfterFunc and runs after {}, whether or not a goroutine is left to do it",
            u.place.file.quote(code),
            where_is(u),
            duration::say(secs)
        );
        return Traced::yes(&why).with_deadline(secs);
    }
    let owner = local_owner(place, channel);
    let mut traced = judge(cx, &uses, &wanted, doing, owner);
    traced.why = match wait {
        Wait::Receive => format!(
            "ends when something sends on `{}` or closes it: {}",
            uses.name, traced.why
        ),
        Wait::Send => format!(
            "ends when something receives from `{}`: {}",
            uses.name, traced.why
        ),
        Wait::Close => format!("ends when `{}` is closed: {}", uses.name, traced.why),
    };
    traced
}

/// `make(chan T)` or `make(chan T, 0)`.
fn makes_unbuffered_channel(file: &GoFile, value: Node<'_>) -> bool {
    let value = unparen(value);
    if value.kind() != "call_expression"
        || value
            .child_by_field_name("function")
            .is_none_or(|f| file.text(f) != "make")
    {
        return false;
    }
    // tree-sitter-go puts the type among the arguments.
    let args = arguments(value);
    let channel_type = args.first().is_some_and(|t| t.kind() == "channel_type");
    channel_type
        && match args.get(1) {
            None => true,
            Some(capacity) => file.text(*capacity).trim() == "0",
        }
}

/// Whether `channel` is a local made without a buffer (`make(chan T)`): only then is an
/// operation the goroutine has not reached yet as sure to block as one already waiting,
/// since a buffer may still have room for the send, or a value for the receive.
pub fn made_unbuffered<'c>(cx: &'c Cx<'_>, place: &Place<'c>, channel: Node<'c>) -> bool {
    uses_of(cx, place, channel, 0).unbuffered == Some(true)
}

/// The function that owns a local variable named by `expr`, when it is one.
fn local_owner<'c>(place: &Place<'c>, expr: Node<'c>) -> Option<Node<'c>> {
    let expr = unparen(expr);
    if expr.kind() != "identifier" {
        return None;
    }
    match resolve(place.file, expr)? {
        Binding::Local { owner, .. } => Some(owner),
        Binding::Param { function, .. } => Some(function),
        _ => None,
    }
}

/// What a receive from `channel` waits for: a context's cancellation, a timer, a ticker,
/// a channel closed to say stop, or another goroutine's send. `bound`: the value received
/// is used (`v := <-ch`).
pub fn receive<'c>(
    cx: &'c Cx<'_>,
    place: &Place<'c>,
    channel: Node<'_>,
    bound: bool,
) -> (ExitKind, Traced) {
    let file = place.file;
    let channel = unparen(channel);
    let time = file.import_name("time");
    let is_time = |pkg: &str| Some(pkg) == time.as_deref();
    if channel.kind() == "call_expression" {
        if let Some((target, "Done", _)) = method_call(file, channel) {
            let traced = context(cx, place, target, 0);
            let name = file.quote(target);
            return (
                ExitKind::Cancel,
                Traced {
                    why: format!("ends when `{name}` is cancelled: {}", traced.why),
                    ..traced
                },
            );
        }
        match qualified_call(file, channel) {
            Some((pkg, "After")) if is_time(pkg) => return (ExitKind::Timer, timer(file, channel)),
            Some((pkg, "Tick")) if is_time(pkg) => {
                return (ExitKind::Ticker, Traced::yes(&ticks(file, channel)));
            }
            _ => {}
        }
    }
    if channel.kind() == "selector_expression"
        && channel
            .child_by_field_name("field")
            .is_some_and(|f| file.text(f) == "C")
        && let Some(owner) = channel.child_by_field_name("operand")
        && let Some((kind, traced)) = timer_or_ticker(place, owner)
    {
        return (kind, traced);
    }
    let traced = channel_wait(cx, place, channel, Wait::Receive);
    let stop = !bound && (is_struct_chan(place, channel) || stop_word(file.text(channel)));
    (
        if traced.os_signal {
            ExitKind::OsSignal
        } else if stop {
            ExitKind::DoneChannel
        } else {
            ExitKind::Channel
        },
        traced,
    )
}

/// `time.After(d)`: fires once, after `d`.
fn timer(file: &GoFile, call: Node<'_>) -> Traced {
    let secs = arguments(call)
        .first()
        .and_then(|a| duration::evaluate(file, *a))
        .map(|ns| ns as f64 / 1e9);
    match secs {
        Some(s) => {
            Traced::yes(&format!("the timer fires after {}", duration::say(s))).with_deadline(s)
        }
        None => Traced::yes("the timer fires"),
    }
}

fn ticks(file: &GoFile, call: Node<'_>) -> String {
    match arguments(call)
        .first()
        .and_then(|a| duration::evaluate(file, *a))
    {
        Some(ns) => format!("the ticker fires every {}", duration::say(ns as f64 / 1e9)),
        None => "the ticker fires".to_string(),
    }
}

/// `t.C` where `t` is a `time.Timer` or a `time.Ticker` the source shows being made.
fn timer_or_ticker(place: &Place<'_>, owner: Node<'_>) -> Option<(ExitKind, Traced)> {
    let file = place.file;
    let time = file.import_name("time")?;
    let made = |call: Node<'_>| match qualified_call(file, call) {
        Some((pkg, "NewTimer")) if pkg == time => Some((ExitKind::Timer, timer(file, call))),
        Some((pkg, "NewTicker")) if pkg == time => {
            Some((ExitKind::Ticker, Traced::yes(&ticks(file, call))))
        }
        _ => None,
    };
    let owner = unparen(owner);
    if owner.kind() == "call_expression" {
        return made(owner);
    }
    if owner.kind() != "identifier" {
        return None;
    }
    let binding = resolve(file, owner)?;
    if let Binding::Local { value: Some(v), .. } | Binding::Global { value: Some(v), .. } = binding
        && let Some(found) = made(unparen(v))
    {
        return Some(found);
    }
    let ty = declared_type(&binding)?;
    let ty = file.text(ty);
    if ty.ends_with(".Ticker") {
        Some((ExitKind::Ticker, Traced::yes("the ticker fires")))
    } else if ty.ends_with(".Timer") {
        Some((ExitKind::Timer, Traced::yes("the timer fires")))
    } else {
        None
    }
}

/// Whether the channel's element type is `struct{}`, by how it is declared or made.
fn is_struct_chan(place: &Place<'_>, channel: Node<'_>) -> bool {
    let file = place.file;
    let channel = unparen(channel);
    if channel.kind() != "identifier" {
        return false;
    }
    let Some(binding) = resolve(file, channel) else {
        return false;
    };
    let written = declared_type(&binding)
        .map(|t| file.text(t).to_string())
        .or_else(|| match binding {
            Binding::Local { value: Some(v), .. } | Binding::Global { value: Some(v), .. } => {
                Some(file.text(v).to_string())
            }
            _ => None,
        })
        .unwrap_or_default();
    written.replace(' ', "").contains("chanstruct{}")
}

/// Names that say a channel means stop; only for telling the kind of way out.
fn stop_word(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        "done", "quit", "stop", "exit", "closing", "shutdown", "cancel",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

/// What ends `for range x` (other than the loop body): the channel closed, or the last
/// element of a collection.
pub fn range_end<'c>(cx: &'c Cx<'_>, place: &Place<'c>, range: Node<'_>) -> (ExitKind, Traced) {
    let file = place.file;
    let range = unparen(range);
    let time = file.import_name("time");
    if let Some((pkg, "Tick")) = qualified_call(file, range)
        && Some(pkg) == time.as_deref()
    {
        return (
            ExitKind::Ticker,
            Traced::no("a ticker's channel is never closed"),
        );
    }
    if range.kind() == "selector_expression"
        && range
            .child_by_field_name("field")
            .is_some_and(|f| file.text(f) == "C")
        && let Some(owner) = range.child_by_field_name("operand")
        && let Some((kind, _)) = timer_or_ticker(place, owner)
    {
        let why = match kind {
            ExitKind::Ticker => format!(
                "`for range {}` ends when the channel is closed, and a ticker's channel never is, not even by Stop",
                file.quote(range)
            ),
            _ => format!(
                "`for range {}` ends when the channel is closed, and a timer's channel never is",
                file.quote(range)
            ),
        };
        return (kind, Traced::no(&why));
    }
    if is_collection(place, range) {
        return (
            ExitKind::LoopCondition,
            Traced::yes(&format!(
                "`range {}` ends after its last element",
                file.quote(range)
            )),
        );
    }
    let mut traced = channel_wait(cx, place, range, Wait::Close);
    if traced.os_signal {
        return (ExitKind::OsSignal, traced);
    }
    traced.why = format!("`for range {}` {}", file.quote(range), traced.why);
    (ExitKind::Close, traced)
}

/// Whether a range expression is a number, a slice, a map or a string the source shows.
fn is_collection(place: &Place<'_>, range: Node<'_>) -> bool {
    let file = place.file;
    let looks = |text: &str| {
        let t = text.replace(' ', "");
        t.starts_with("[]")
            || t.starts_with("map[")
            || t.starts_with("make([]")
            || t.starts_with("make(map[")
            || t.starts_with('[')
    };
    match range.kind() {
        "int_literal"
        | "composite_literal"
        | "interpreted_string_literal"
        | "raw_string_literal" => true,
        "identifier" => match resolve(file, range) {
            Some(binding) => declared_type(&binding)
                .map(|t| looks(file.text(t)) || matches!(file.text(t), "int" | "string"))
                .or_else(|| match binding {
                    Binding::Local { value: Some(v), .. }
                    | Binding::Global { value: Some(v), .. } => {
                        Some(looks(file.text(v)) || v.kind() == "int_literal")
                    }
                    _ => None,
                })
                .unwrap_or(false),
            None => false,
        },
        _ => false,
    }
}

/// A loop condition that checks a context: `ctx.Err() == nil`.
pub fn context_check<'c>(cx: &'c Cx<'_>, place: &Place<'c>, condition: Node<'_>) -> Option<Traced> {
    let target = context_in(place.file, condition)?;
    let traced = context(cx, place, target, 0);
    Some(Traced {
        why: format!(
            "the loop ends when `{}` is cancelled: {}",
            place.file.quote(target),
            traced.why
        ),
        ..traced
    })
}

/// A loop that polls a flag (`for !s.stopped.Load()`, `for running`, `for
/// atomic.LoadInt32(&s.state) == 0`): ends only when something sets the flag, so when
/// nothing in the source ever does, the loop goes round for ever. None when the condition
/// is not a flag (a call, a comparison of two variables) or the flag leaves what the
/// analysis follows.
pub fn loop_flag<'c>(cx: &'c Cx<'_>, place: &Place<'c>, condition: Node<'c>) -> Option<Traced> {
    let file = place.file;
    let flag = flag_in(file, condition)?;
    let uses = uses_of(cx, place, flag, 0);
    let writes: Vec<&Use<'_>> = uses
        .list
        .iter()
        .filter(|u| match &u.how {
            How::Assign => true,
            How::Method(m) | How::Atomic(m) => !m.starts_with("Load"),
            _ => false,
        })
        .collect();
    if !uses.escapes.is_empty() || !writes.is_empty() {
        return None;
    }
    let mut traced = judge(cx, &uses, &writes, ("set", "sets"), None);
    traced.why = format!(
        "the loop ends when `{}` is false, and {}",
        file.quote(condition),
        traced.why
    );
    Some(traced)
}

/// The variable or field a loop condition reads, through `!`, parentheses, a comparison
/// with a literal, a `Load` method or `atomic.LoadX(&v)`.
fn flag_in<'t>(file: &'t GoFile, condition: Node<'t>) -> Option<Node<'t>> {
    let expr = unparen(condition);
    match expr.kind() {
        "identifier" | "selector_expression" => Some(expr),
        "unary_expression"
            if expr
                .child_by_field_name("operator")
                .is_some_and(|o| file.text(o) == "!") =>
        {
            flag_in(file, expr.child_by_field_name("operand")?)
        }
        "binary_expression" => {
            let operator = file.text(expr.child_by_field_name("operator")?);
            if operator != "==" && operator != "!=" {
                return None;
            }
            let left = unparen(expr.child_by_field_name("left")?);
            let right = unparen(expr.child_by_field_name("right")?);
            let literal = |n: Node<'_>| {
                n.kind().ends_with("_literal")
                    || matches!(n.kind(), "true" | "false" | "nil" | "iota")
            };
            match (literal(left), literal(right)) {
                (false, true) => flag_in(file, left),
                (true, false) => flag_in(file, right),
                _ => None,
            }
        }
        "call_expression" if arguments(expr).is_empty() => {
            let (operand, method, _) = method_call(file, expr)?;
            (method == "Load").then_some(operand)
        }
        "call_expression" => {
            let ("atomic", function) = qualified_call(file, expr)? else {
                return None;
            };
            if !function.starts_with("Load") || !file_imports(file, "atomic") {
                return None;
            }
            let pointer = unparen(*arguments(expr).first()?);
            let is_address = pointer.kind() == "unary_expression"
                && pointer
                    .child_by_field_name("operator")
                    .is_some_and(|o| file.text(o) == "&");
            is_address.then(|| pointer.child_by_field_name("operand"))?
        }
        _ => None,
    }
}

/// The context an expression checks: `ctx` in `ctx.Err() != nil`, `<-ctx.Done()`.
fn context_in<'t>(file: &'t GoFile, expr: Node<'t>) -> Option<Node<'t>> {
    let mut found = None;
    visit(expr, &mut |n| {
        if found.is_none()
            && let Some((target, "Err" | "Done", _)) = method_call(file, n)
        {
            found = Some(target);
        }
        found.is_none()
    });
    found
}

/// A `return` or `break` of the loop guarded by a context check: `if ctx.Err() != nil {
/// return }`, `case <-ctx.Done(): return` in another select.
pub fn guard_context<'c>(
    cx: &'c Cx<'_>,
    place: &Place<'c>,
    exit: Node<'_>,
    lp: Node<'_>,
) -> Option<Traced> {
    let mut up = exit.parent();
    while let Some(n) = up {
        if n.id() == lp.id() {
            return None;
        }
        let guard = match n.kind() {
            "if_statement" => n.child_by_field_name("condition"),
            "communication_case" => n.child_by_field_name("communication"),
            _ => None,
        };
        if let Some(guard) = guard {
            let target = context_in(place.file, guard)?;
            let traced = context(cx, place, target, 0);
            return Some(Traced {
                why: format!(
                    "`{}` when `{}` is cancelled: {}",
                    place.file.quote(exit),
                    place.file.quote(target),
                    traced.why
                ),
                ..traced
            });
        }
        up = n.parent();
    }
    None
}

/// Functions that derive a context with a cancel function (the second result), and
/// whether they also set a deadline (the argument that says when).
fn derives(name: &str) -> Option<Option<usize>> {
    Some(match name {
        "WithCancel" | "WithCancelCause" => None,
        "WithTimeout" | "WithDeadline" | "WithTimeoutCause" | "WithDeadlineCause" => Some(1),
        _ => return None,
    })
}

/// Whether the context `expr` can still be cancelled, along the creator chain as far as
/// the source shows it.
pub fn context<'c>(cx: &'c Cx<'_>, place: &Place<'c>, expr: Node<'_>, depth: u32) -> Traced {
    let file = place.file;
    let expr = unparen(expr);
    let quoted = file.quote(expr);
    if depth > DEPTH {
        return Traced::unknown_because(&format!(
            "`{quoted}` comes from further than goleash follows"
        ));
    }
    let context_pkg = file.import_name("context");
    let is_context = |pkg: &str| Some(pkg) == context_pkg.as_deref();
    if expr.kind() == "call_expression" {
        match qualified_call(file, expr) {
            Some((pkg, f @ ("Background" | "TODO"))) if is_context(pkg) => {
                return Traced::no(&format!(
                    "it is `context.{f}()` in {} ({}): never cancelled",
                    place.name_of(place.function),
                    place.at(expr)
                ));
            }
            Some((pkg, "WithoutCancel")) if is_context(pkg) => {
                return Traced::no(&format!(
                    "it is `context.WithoutCancel` ({}): never cancelled",
                    place.at(expr)
                ));
            }
            Some((pkg, f)) if is_context(pkg) && derives(f).is_some() => {
                // The cancel function is not kept: only the parent (or a deadline) ends it.
                return derived(cx, place, expr, f, None, depth);
            }
            _ => {}
        }
        if let Some((target, "Context", _)) = method_call(file, expr)
            && target.kind() == "identifier"
            && let Some(binding) = resolve(file, target)
            && declared_type(&binding).is_some_and(|t| file.text(t).ends_with("http.Request"))
        {
            return Traced::yes(&format!(
                "it is the request's context ({}): cancelled when the request ends",
                place.at(expr)
            ));
        }
        return Traced::unknown_because(&format!("it is `{quoted}` ({})", place.at(expr)));
    }
    if expr.kind() != "identifier" {
        return Traced::unknown_because(&format!("it is kept in `{quoted}` ({})", place.at(expr)));
    }
    match resolve(file, expr) {
        Some(Binding::Local {
            value: Some(value),
            decl,
            owner,
            index,
        }) => {
            let value = unparen(value);
            if let Some((pkg, f)) = qualified_call(file, value)
                && is_context(pkg)
                && derives(f).is_some()
                && index == 0
            {
                let cancel = (decl.kind() == "short_var_declaration"
                    || decl.kind() == "assignment_statement")
                    .then(|| decl.child_by_field_name("left"))
                    .flatten()
                    .and_then(|l| expressions(l).get(1).copied());
                return derived(cx, &place.with_function(owner), value, f, cancel, depth);
            }
            // `ctx, cancel := signal.NotifyContext(parent, …)`: cancelled by a signal too.
            if let Some((_, "NotifyContext")) = qualified_call(file, value) {
                return Traced::yes(&format!(
                    "it is `{}` ({}): cancelled by a signal",
                    file.quote(value),
                    place.at(value)
                ));
            }
            context(cx, &place.with_function(owner), value, depth + 1)
        }
        Some(Binding::Global {
            value: Some(value), ..
        }) => context(cx, place, value, depth + 1),
        Some(Binding::Param {
            function,
            index: Some(index),
            ..
        }) => {
            match argument_from_caller(cx, place, function, index) {
                Some((caller, arg)) => {
                    let traced = context(cx, &caller, arg, depth + 1);
                    // One hop per caller: `from main.run (main.go:12) ← main.main (…)`.
                    let hop = format!("{} ({})", caller.name_of(caller.function), caller.at(arg));
                    let why = match traced.why.strip_prefix("it comes from ") {
                        Some(rest) => format!("it comes from {hop} ← {rest}"),
                        None => format!("it comes from {hop}: {}", traced.why),
                    };
                    Traced { why, ..traced }
                }
                None => Traced::unknown_because(&format!(
                    "`{quoted}` is a parameter of {}, from callers goleash cannot follow",
                    place.name_of(function)
                )),
            }
        }
        _ => Traced::unknown_because(&format!(
            "`{quoted}` comes from code goleash does not follow"
        )),
    }
}

/// A context made by `context.WithCancel` (or a deadline), its cancel function `cancel`
/// (the left-hand side's second name, when it is kept): cancelled when cancel is called,
/// when the deadline passes, or when its parent is.
fn derived<'c>(
    cx: &'c Cx<'_>,
    place: &Place<'c>,
    call: Node<'_>,
    function: &str,
    cancel: Option<Node<'_>>,
    depth: u32,
) -> Traced {
    let file = place.file;
    let args = arguments(call);
    let made = format!(
        "it is made by `context.{function}` in {} ({})",
        place.name_of(place.function),
        place.at(call)
    );
    let deadline = derives(function)
        .flatten()
        .and_then(|i| args.get(i))
        .and_then(|d| {
            if function.starts_with("WithTimeout") {
                duration::evaluate(file, *d).map(|ns| ns as f64 / 1e9)
            } else {
                None
            }
        });
    let by_cancel = match cancel {
        None => Traced::no("its cancel function is not kept"),
        Some(c) if file.text(c) == "_" => Traced::no("its cancel function is dropped (`_`)"),
        Some(c) => cancel_calls(cx, place, c),
    };
    let by_parent = match args.first() {
        Some(parent) => context(cx, place, *parent, depth + 1),
        None => Traced::unknown(),
    };
    let mut can = by_cancel.can.or(by_parent.can);
    let mut why = match (by_cancel.can, by_parent.can) {
        (Possibility::Yes, _) => format!("{made}; {}", by_cancel.why),
        (_, Possibility::Yes) => format!("{made}; its parent: {}", by_parent.why),
        _ => format!("{made}; {}; its parent: {}", by_cancel.why, by_parent.why),
    };
    if derives(function).flatten().is_some() {
        can = Possibility::Yes;
        why = match deadline {
            Some(s) => format!("{made}: it times out after {}", duration::say(s)),
            None => format!("{made}: it has a deadline"),
        };
    }
    Traced {
        os_signal: false,
        peers: Vec::new(),
        can,
        why,
        deadline: deadline.or(by_parent
            .deadline
            .filter(|_| by_parent.can == Possibility::Yes)),
    }
}

/// Who calls the cancel function declared at `cancel`.
fn cancel_calls<'c>(cx: &'c Cx<'_>, place: &Place<'c>, cancel: Node<'_>) -> Traced {
    let file = place.file;
    let name = file.text(cancel);
    let Some(binding) = resolve_declared(cancel) else {
        return Traced::unknown();
    };
    let owner = place.function;
    let mut uses: Vec<(Node<'_>, bool, bool)> = Vec::new();
    let mut stored = None;
    visit(owner, &mut |n| {
        if n.kind() == "identifier"
            && file.text(n) == name
            && n.id() != cancel.id()
            && resolve(file, n).is_some_and(|b| b.decl().id() == binding.id())
        {
            let parent = n.parent();
            let called = parent.is_some_and(|p| {
                p.kind() == "call_expression"
                    && p.child_by_field_name("function")
                        .is_some_and(|f| f.id() == n.id())
            });
            if called {
                let deferred = parent
                    .and_then(|p| p.parent())
                    .is_some_and(|g| g.kind() == "defer_statement");
                uses.push((n, true, deferred));
            } else if stored.is_none() {
                stored = Some(n);
            }
        }
        true
    });
    if uses.is_empty() && stored.is_none() {
        return Traced::no("its cancel function is never called");
    }
    let mut can = Possibility::No;
    let mut said = Vec::new();
    for (n, _, deferred) in &uses {
        let function = enclosing_function(*n).unwrap_or(owner);
        let here = place.with_function(function);
        let running = cx.active(&here, function);
        let in_this_goroutine = place.frame.is_some_and(|(g, _)| std::ptr::eq(g, cx.group))
            && function.id() == place.function.id();
        let p = if in_this_goroutine {
            Possibility::No
        } else if running {
            if *deferred {
                Possibility::Yes
            } else {
                Possibility::Unknown
            }
        } else if function.kind() == "func_literal" && escapes_as_value(file, function) {
            Possibility::Unknown
        } else {
            Possibility::No
        };
        can = can.or(p);
        let name = here.name_of(function);
        said.push(match (*deferred, p) {
            (true, Possibility::Yes) => format!(
                "`defer {}()` cancels it when {name} returns, and a goroutine is still in it",
                file.text(*n)
            ),
            (true, _) if in_this_goroutine => format!(
                "`defer {}()` cancels it only when {name} returns, which it cannot while it waits",
                file.text(*n)
            ),
            (true, _) => format!(
                "`defer {}()` in {name}, which no goroutine is in any more",
                file.text(*n)
            ),
            (false, Possibility::No) => format!(
                "`{}()` in {name} ({}), which no goroutine is in any more",
                file.text(*n),
                here.at(*n)
            ),
            (false, _) => format!("`{}()` in {name} ({})", file.text(*n), here.at(*n)),
        });
    }
    if let Some(s) = stored
        && can != Possibility::Yes
    {
        can = can.or(Possibility::Unknown);
        said.push(format!(
            "its cancel function is passed on or stored ({})",
            place.at(s)
        ));
    }
    Traced {
        os_signal: false,
        peers: Vec::new(),
        can,
        why: said.join("; "),
        deadline: None,
    }
}

/// The declaring node of the identifier `ident` that is itself being declared.
fn resolve_declared(ident: Node<'_>) -> Option<Node<'_>> {
    let mut up = ident.parent();
    while let Some(n) = up {
        if matches!(
            n.kind(),
            "short_var_declaration" | "var_spec" | "assignment_statement"
        ) {
            return Some(n);
        }
        up = n.parent();
    }
    None
}

/// The argument a caller passes for parameter `index` of `function`: through the stack
/// of the goroutine (the frame that called it, or the `go` statement that started it), or
/// the one call site the package has.
fn argument_from_caller<'c>(
    cx: &'c Cx<'_>,
    place: &Place<'c>,
    function: Node<'c>,
    index: usize,
) -> Option<(Place<'c>, Node<'c>)> {
    // `pprof.Do(ctx, labels, func(ctx context.Context) { … })`: the literal's context is
    // derived from the one given to pprof.Do.
    if function.kind() == "func_literal"
        && let Some(args) = function.parent()
        && args.kind() == "argument_list"
        && let Some(call) = args.parent()
        && let Some((_, "Do")) = qualified_call(place.file, call)
        && index == 0
    {
        let outer = enclosing_function(call)?;
        return arguments(call)
            .first()
            .map(|a| (place.with_function(outer), *a));
    }
    let mut frame = place.frame;
    let mut at = *place;
    // The frame that runs `function`: this one, or one of its callers in the goroutine, or
    // the parent's (the function that started it, for a literal's captured parameter).
    for _ in 0..8 {
        if at.function.id() == function.id() && std::ptr::eq(at.file, place.file) {
            break;
        }
        let (g, i) = frame?;
        let caller = cx.caller(g, i)?;
        at = caller.place;
        frame = caller.place.frame;
    }
    if at.function.id() != function.id() {
        return None;
    }
    let (caller, call) = match frame.and_then(|(g, i)| cx.caller(g, i)) {
        Some(caller) => (caller.place, call_of(caller.place, caller.line, &at)?),
        None => the_call_site(cx, &at)?,
    };
    let args = arguments(call);
    args.get(index).map(|a| (caller, *a))
}

/// The call of `callee` at `line` of `caller` (inside a `go` statement there, too).
fn call_of<'c>(caller: Place<'c>, line: u32, callee: &Place<'_>) -> Option<Node<'c>> {
    let name = callee_name(callee);
    let mut found = None;
    visit(caller.function, &mut |n| {
        if found.is_some() || !super::syntax::covers(n, line) {
            return false;
        }
        if n.kind() == "call_expression"
            && let Some(f) = n.child_by_field_name("function")
        {
            let f = unparen(f);
            let matches = match f.kind() {
                "func_literal" => {
                    callee.function.kind() == "func_literal" && f.id() == callee.function.id()
                }
                "identifier" => Some(caller.file.text(f)) == name.as_deref(),
                "selector_expression" => f
                    .child_by_field_name("field")
                    .is_some_and(|x| Some(caller.file.text(x)) == name.as_deref()),
                _ => false,
            };
            if matches {
                found = Some(n);
            }
        }
        true
    });
    found
}

/// The name a call of the place's function uses: `f` for `pkg.f`, `m` for `pkg.(*T).m`.
fn callee_name(place: &Place<'_>) -> Option<String> {
    if place.function.kind() == "func_literal" {
        return None;
    }
    place
        .function
        .child_by_field_name("name")
        .map(|n| place.file.text(n).to_string())
}

/// The only call of the place's function in its package, when it has exactly one.
fn the_call_site<'c>(cx: &'c Cx<'_>, callee: &Place<'c>) -> Option<(Place<'c>, Node<'c>)> {
    let name = callee_name(callee)?;
    let mut sites = Vec::new();
    for file in files_of_package(cx, callee) {
        visit(file.root(), &mut |n| {
            if n.kind() == "call_expression"
                && let Some(f) = n.child_by_field_name("function").map(unparen)
            {
                let called = match f.kind() {
                    "identifier" => file.text(f) == name,
                    "selector_expression" => f
                        .child_by_field_name("field")
                        .is_some_and(|x| file.text(x) == name),
                    _ => false,
                };
                if called && let Some(function) = enclosing_function(n) {
                    sites.push((
                        Place {
                            file,
                            function,
                            frame: None,
                            dump_file: callee.dump_file,
                            package: callee.package,
                        },
                        n,
                    ));
                }
            }
            true
        });
    }
    match sites.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// What `x.Wait()` waits for: a `WaitGroup`'s `Done` calls, or a `Cond`'s signal.
pub fn wait<'c>(
    cx: &'c Cx<'_>,
    place: &Place<'c>,
    target: Node<'_>,
    statement: Node<'_>,
    cond: bool,
) -> (ExitKind, Traced) {
    let uses = uses_of(cx, place, target, 0);
    let name = uses.name.clone();
    let owner = local_owner(place, target);
    let others: Vec<&Use<'_>> = uses
        .list
        .iter()
        .filter(|u| !within(u.node, statement) && !within(statement, u.node))
        .collect();
    if cond {
        let wanted: Vec<&Use<'_>> = others
            .iter()
            .copied()
            .filter(|u| matches!(&u.how, How::Method(m) if m == "Signal" || m == "Broadcast"))
            .collect();
        let mut traced = judge(
            cx,
            &uses,
            &wanted,
            ("signal or broadcast", "signals or broadcasts"),
            owner,
        );
        traced.why = format!("ends when something signals `{name}`: {}", traced.why);
        return (ExitKind::Signal, traced);
    }
    let adds: Vec<&Use<'_>> = others
        .iter()
        .copied()
        .filter(|u| matches!(&u.how, How::Method(m) if m == "Add"))
        .collect();
    let dones: Vec<&Use<'_>> = others
        .iter()
        .copied()
        .filter(|u| matches!(&u.how, How::Method(m) if m == "Done" || m == "Go"))
        .collect();
    let mut traced = judge(cx, &uses, &dones, ("call Done on", "calls Done on"), owner);
    let mut notes = Vec::new();
    for d in &dones {
        if d.deferred {
            continue;
        }
        if let Some(ret) = early_return(d.place.function, d.node) {
            notes.push(format!(
                "`{}` ({}) is not deferred, and the return at {} skips it",
                d.place.file.quote(d.node),
                d.place.at(d.node),
                d.place.at(ret)
            ));
        }
    }
    let added = if adds.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = adds
            .iter()
            .take(3)
            .map(|a| {
                let in_loop = super::syntax::enclosing_function(a.node)
                    .map(|f| {
                        let mut up = a.node.parent();
                        let mut looped = false;
                        while let Some(n) = up {
                            if n.id() == f.id() {
                                break;
                            }
                            looped |= n.kind() == "for_statement";
                            up = n.parent();
                        }
                        looped
                    })
                    .unwrap_or(false);
                format!(
                    "`{}` ({}{})",
                    a.place.file.quote(a.node),
                    a.place.at(a.node),
                    if in_loop { ", in a loop" } else { "" }
                )
            })
            .collect();
        format!("every {} is matched by a Done: ", list.join(", "))
    };
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!("; {}", notes.join("; "))
    };
    traced.why = format!("ends when {added}{}{notes}", traced.why);
    if added.is_empty() {
        traced.why = format!(
            "ends when `{name}` reaches zero: {}{notes}",
            traced.why.trim_start_matches("ends when ")
        );
    }
    (ExitKind::WaitGroup, traced)
}

/// A `return` of `function` that comes before `node` and is not inside a literal: a path
/// that leaves without reaching it.
fn early_return<'t>(function: Node<'t>, node: Node<'t>) -> Option<Node<'t>> {
    let mut found = None;
    super::syntax::own_nodes(function, &mut |n| {
        if found.is_none() && n.kind() == "return_statement" && n.end_byte() <= node.start_byte() {
            found = Some(n);
        }
    });
    found
}

/// A `return` of `function` after `node`, not inside a literal: with no unlock in the
/// function at all, a path that leaves with the lock held.
fn early_return_after<'t>(function: Node<'t>, node: Node<'t>) -> Option<Node<'t>> {
    let mut found = None;
    super::syntax::own_nodes(function, &mut |n| {
        if found.is_none() && n.kind() == "return_statement" && n.start_byte() >= node.end_byte() {
            found = Some(n);
        }
    });
    found
}

/// What a `Lock` (or `RLock`, `read`) waits for: the holder unlocking.
pub fn lock<'c>(
    cx: &'c Cx<'_>,
    place: &Place<'c>,
    target: Node<'_>,
    statement: Node<'_>,
    read: bool,
) -> Traced {
    let uses = uses_of(cx, place, target, 0);
    let name = uses.name.clone();
    let owner = local_owner(place, target);
    if let Some(escape) = uses.escapes.first() {
        return Traced::unknown_because(&format!("ends when `{name}` is unlocked: {escape}"));
    }
    let method = |u: &Use<'_>, names: &[&str]| matches!(&u.how, How::Method(m) if names.contains(&m.as_str()));
    // The blocked goroutines' own unlock, after their lock, is not a way out for them.
    let own_unlock = |u: &Use<'_>| {
        u.place.function.id() == place.function.id() && u.node.start_byte() > statement.start_byte()
    };
    let holders = if read {
        &["Lock"][..]
    } else {
        &["Lock", "RLock"][..]
    };
    let mut said = Vec::new();
    let mut peers = Vec::new();
    let mut can = Possibility::No;
    let mut holder_seen = false;
    for site in uses
        .list
        .iter()
        .filter(|u| method(u, holders) && !within(u.node, statement) && !within(statement, u.node))
    {
        holder_seen = true;
        let unlock = if method(site, &["RLock"]) {
            "RUnlock"
        } else {
            "Unlock"
        };
        let balanced = uses.list.iter().find(|u| {
            method(u, &[unlock])
                && u.place.function.id() == site.place.function.id()
                && (u.deferred || u.node.start_byte() > site.node.start_byte())
        });
        let who = where_is(site);
        let skipped = balanced
            .filter(|u| !u.deferred)
            .and_then(|u| between_return(site.place.function, site.node, u.node));
        let held = peer(
            site,
            PeerRole::Holds,
            balanced
                .filter(|u| !u.deferred && skipped.is_none())
                .map(|u| line_of(u.node)),
        );
        if !peers.contains(&held) {
            peers.push(held);
        }
        match balanced {
            Some(u) if u.deferred => {
                said.push(format!("{who} locks it and unlocks it (deferred)"));
                can = can.or(runs(cx, &uses, site, owner));
            }
            Some(u) => match between_return(site.place.function, site.node, u.node) {
                Some(ret) => said.push(format!(
                    "{who} locks it, and the return at {} skips its unlock ({})",
                    site.place.at(ret),
                    u.place.at(u.node)
                )),
                None => {
                    said.push(format!(
                        "{who} locks it and unlocks it ({})",
                        u.place.at(u.node)
                    ));
                    can = can.or(runs(cx, &uses, site, owner));
                }
            },
            None => said.push(format!("{who} locks it and returns without unlocking it")),
        }
    }
    // Unlocks somewhere else (a Release of an Acquire): whoever holds the lock may be there.
    for u in uses.list.iter().filter(|u| {
        method(u, &["Unlock", "RUnlock"])
            && !own_unlock(u)
            && !uses.list.iter().any(|l| {
                method(l, &["Lock", "RLock"]) && l.place.function.id() == u.place.function.id()
            })
    }) {
        said.push(format!("{} unlocks it", where_is(u)));
        let unlocks = peer(u, PeerRole::Unlocks, None);
        if !peers.contains(&unlocks) {
            peers.push(unlocks);
        }
        can = can.or(runs(cx, &uses, u, owner));
    }
    // The waiting statement itself may be where the holder took the lock: an earlier
    // goroutine through the same code that left by a return skipping the unlock.
    let own = uses
        .list
        .iter()
        .find(|u| method(u, &["Unlock", "RUnlock"]) && own_unlock(u));
    let skipped = match own {
        Some(u) if !u.deferred => between_return(place.function, statement, u.node)
            .map(|ret| (ret, format!(" ({})", u.place.at(u.node)))),
        Some(_) => None,
        None => early_return_after(place.function, statement).map(|ret| (ret, String::new())),
    };
    if let Some((ret, unlock)) = skipped {
        holder_seen = true;
        said.push(format!(
            "this `{}` ({}) is where the holder locked it too: the return at {} skips its unlock{unlock}, so a goroutine that left that way keeps it locked",
            place.file.quote(statement),
            place.at(statement),
            place.at(ret)
        ));
    }
    if !holder_seen && said.is_empty() {
        return Traced::unknown_because(&format!(
            "ends when `{name}` is unlocked: nothing else here locks it, so the holder is elsewhere"
        ));
    }
    let made = uses
        .made
        .as_ref()
        .map(|m| format!(" ({m})"))
        .unwrap_or_default();
    let verdict = match can {
        Possibility::No => ": nothing will unlock it",
        _ => "",
    };
    Traced {
        os_signal: false,
        peers,
        can,
        why: format!(
            "ends when `{name}` is unlocked{verdict}: {}{made}",
            said.join("; ")
        ),
        deadline: None,
    }
}

fn runs(cx: &Cx<'_>, uses: &Uses<'_>, u: &Use<'_>, owner: Option<Node<'_>>) -> Possibility {
    if uses.package_wide.is_some() {
        Possibility::Unknown
    } else {
        match can_run(cx, &u.place, owner_of_use(u, owner)) {
            Possibility::No => Possibility::No,
            _ => Possibility::Unknown,
        }
    }
}

/// A `return` between `from` and `to` in `function`.
fn between_return<'t>(function: Node<'t>, from: Node<'t>, to: Node<'t>) -> Option<Node<'t>> {
    let mut found = None;
    super::syntax::own_nodes(function, &mut |n| {
        if found.is_none()
            && n.kind() == "return_statement"
            && n.start_byte() > from.end_byte()
            && n.end_byte() <= to.start_byte()
        {
            found = Some(n);
        }
    });
    found
}
