//! Constant durations: `2 * time.Hour`, `time.Second`, `timeout` when it is a constant,
//! and how a span is said in a sentence.

use tree_sitter::Node;

use super::scope::{Binding, resolve};
use super::syntax::{GoFile, children, unparen};

/// The value of a constant `time.Duration` expression, in nanoseconds.
pub fn evaluate(file: &GoFile, expr: Node<'_>) -> Option<i128> {
    evaluate_in(file, expr, 0)
}

fn evaluate_in(file: &GoFile, expr: Node<'_>, depth: u32) -> Option<i128> {
    if depth > 8 {
        return None;
    }
    let expr = unparen(expr);
    match expr.kind() {
        "int_literal" => parse_int(file.text(expr)),
        "float_literal" => file
            .text(expr)
            .replace('_', "")
            .parse::<f64>()
            .ok()
            .map(|f| f as i128),
        "selector_expression" => {
            let operand = expr.child_by_field_name("operand")?;
            let field = file.text(expr.child_by_field_name("field")?);
            let time = file.import_name("time");
            (operand.kind() == "identifier" && Some(file.text(operand)) == time.as_deref())
                .then(|| unit(field))
                .flatten()
        }
        "binary_expression" => {
            let left = evaluate_in(file, expr.child_by_field_name("left")?, depth + 1)?;
            let right = evaluate_in(file, expr.child_by_field_name("right")?, depth + 1)?;
            match file.text(expr.child_by_field_name("operator")?) {
                "*" => left.checked_mul(right),
                "+" => left.checked_add(right),
                "-" => left.checked_sub(right),
                "/" if right != 0 => Some(left / right),
                _ => None,
            }
        }
        // `time.Duration(5) * time.Second`.
        "call_expression" | "type_conversion_expression" => {
            let function = expr
                .child_by_field_name("function")
                .or_else(|| expr.child_by_field_name("type"))?;
            let args = super::syntax::arguments(expr);
            let arg = match args.as_slice() {
                [one] => *one,
                _ => expr.child_by_field_name("operand")?,
            };
            file.text(function)
                .ends_with("Duration")
                .then(|| evaluate_in(file, arg, depth + 1))
                .flatten()
        }
        "identifier" => {
            let name = file.text(expr);
            match resolve(file, expr) {
                Some(Binding::Local { value, decl, .. }) if is_const(decl) => {
                    evaluate_in(file, value?, depth + 1)
                }
                Some(_) => None,
                None => constant(file, name).and_then(|v| evaluate_in(file, v, depth + 1)),
            }
        }
        _ => None,
    }
}

fn is_const(decl: Node<'_>) -> bool {
    decl.kind() == "const_spec"
}

/// A package-level constant of this file called `name`: its value expression.
fn constant<'t>(file: &'t GoFile, name: &str) -> Option<Node<'t>> {
    let mut found = None;
    super::syntax::visit(file.root(), &mut |n| {
        if found.is_some() || super::syntax::is_function(n) {
            return false;
        }
        if n.kind() == "const_spec" {
            let mut cursor = n.walk();
            let names: Vec<_> = n.children_by_field_name("name", &mut cursor).collect();
            if let Some(i) = names.iter().position(|x| file.text(*x) == name) {
                found = n
                    .child_by_field_name("value")
                    .and_then(|v| super::syntax::expressions(v).get(i).copied());
            }
            return false;
        }
        true
    });
    found.filter(|v| children(*v).count() < 16)
}

fn parse_int(text: &str) -> Option<i128> {
    let text = text.replace('_', "");
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return i128::from_str_radix(hex, 16).ok();
    }
    text.parse().ok()
}

fn unit(name: &str) -> Option<i128> {
    Some(match name {
        "Nanosecond" => 1,
        "Microsecond" => 1_000,
        "Millisecond" => 1_000_000,
        "Second" => 1_000_000_000,
        "Minute" => 60_000_000_000,
        "Hour" => 3_600_000_000_000,
        _ => return None,
    })
}

/// A span in words: `2 h`, `1 h 58 min`, `30 s`, `250 ms`.
pub fn say(seconds: f64) -> String {
    if seconds < 1.0 {
        return format!("{} ms", (seconds * 1000.0).round() as u64);
    }
    let total = seconds.round() as u64;
    let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, 0, _) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exits::syntax::visit;

    fn value_of_call_arg(src: &str) -> Option<i128> {
        let file = GoFile::parse("d.go", src.as_bytes().to_vec()).unwrap();
        let mut arg = None;
        visit(file.root(), &mut |n| {
            if n.kind() == "call_expression"
                && file.text(n).starts_with("time.After(")
                && arg.is_none()
            {
                arg = super::super::syntax::arguments(n).first().copied();
            }
            true
        });
        evaluate(&file, arg?)
    }

    #[test]
    fn constant_durations() {
        let prog = |e: &str| {
            format!(
                "package p\n\nimport \"time\"\n\nconst timeout = 90 * time.Second\n\nfunc f() {{ <-time.After({e}) }}\n"
            )
        };
        let hour = 3_600_000_000_000;
        assert_eq!(value_of_call_arg(&prog("2 * time.Hour")), Some(2 * hour));
        assert_eq!(
            value_of_call_arg(&prog("time.Hour*2 + 30*time.Minute")),
            Some(5 * hour / 2)
        );
        assert_eq!(value_of_call_arg(&prog("timeout")), Some(90_000_000_000));
        assert_eq!(
            value_of_call_arg(&prog("time.Duration(3) * time.Millisecond")),
            Some(3_000_000)
        );
        assert_eq!(value_of_call_arg(&prog("d")), None);
        assert_eq!(say(7200.0), "2 h");
        assert_eq!(say(7080.0), "1 h 58 min");
        assert_eq!(say(0.25), "250 ms");
        assert_eq!(say(90.0), "1 min 30 s");
    }
}
