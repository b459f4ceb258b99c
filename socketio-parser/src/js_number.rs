//! Numbers written the way JavaScript's `Number.prototype.toString` (and so
//! `JSON.stringify`) writes them, so our text packets match the reference byte for byte:
//! `1` not `1.0`, `1e+21` not `1e21`, `0.000001` not `1e-6`, `-0` as `0`.

use std::fmt::Write as _;
use std::io;

/// A fixed stack buffer for formatting one float without allocating.
struct StackBuf {
    data: [u8; 48],
    len: usize,
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.data.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Writes `value` as JavaScript would. Non-finite values are written as `null`
/// (`JSON.stringify(NaN)`), which is also what a JSON payload can carry.
pub(crate) fn write_js_number<W: ?Sized + io::Write>(out: &mut W, value: f64) -> io::Result<()> {
    if !value.is_finite() {
        return out.write_all(b"null");
    }
    if value == 0.0 {
        // Both 0 and -0.
        return out.write_all(b"0");
    }
    // Rust's `{:e}` prints the shortest digits that round-trip, like JavaScript does;
    // only the layout differs.
    let mut buf = StackBuf {
        data: [0; 48],
        len: 0,
    };
    if write!(buf, "{:e}", value.abs()).is_err() {
        return out.write_all(b"null");
    }
    let text = buf.data.get(..buf.len).unwrap_or_default();
    let Some(e_pos) = text.iter().position(|&c| c == b'e') else {
        return out.write_all(text);
    };
    let (mantissa, exp) = (&text[..e_pos], &text[e_pos + 1..]);
    let exp: i32 = std::str::from_utf8(exp)
        .ok()
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    let mut digits = [0u8; 24];
    let mut k = 0usize;
    for &c in mantissa {
        if c.is_ascii_digit() && k < digits.len() {
            digits[k] = c;
            k += 1;
        }
    }
    let digits = &digits[..k];
    // value = 0.d1d2..dk * 10^n (ECMAScript Number::toString, step 5).
    let n = exp + 1;
    let k = k as i32;
    if value < 0.0 {
        out.write_all(b"-")?;
    }
    if k <= n && n <= 21 {
        out.write_all(digits)?;
        for _ in 0..(n - k) {
            out.write_all(b"0")?;
        }
    } else if 0 < n && n <= 21 {
        let split = n as usize;
        out.write_all(&digits[..split])?;
        out.write_all(b".")?;
        out.write_all(&digits[split..])?;
    } else if -6 < n && n <= 0 {
        out.write_all(b"0.")?;
        for _ in 0..(-n) {
            out.write_all(b"0")?;
        }
        out.write_all(digits)?;
    } else {
        out.write_all(&digits[..1])?;
        if k > 1 {
            out.write_all(b".")?;
            out.write_all(&digits[1..])?;
        }
        let e = n - 1;
        write!(out, "e{}{}", if e >= 0 { '+' } else { '-' }, e.abs())?;
    }
    Ok(())
}

/// A `serde_json` formatter that writes floats as JavaScript does.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct JsFormatter;

impl serde_json::ser::Formatter for JsFormatter {
    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        write_js_number(writer, value)
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        write_js_number(writer, f64::from(value))
    }
}

#[cfg(test)]
mod tests {
    use super::write_js_number;

    fn js(v: f64) -> String {
        let mut out = Vec::new();
        write_js_number(&mut out, v).ok();
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn matches_javascript_number_to_string() {
        // Expected strings are what Node.js prints for `String(x)`.
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (-1.0, "-1"),
            (1.5, "1.5"),
            (-0.0, "0"),
            (0.1, "0.1"),
            (0.000001, "0.000001"),
            (0.0000001, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (123456789.125, "123456789.125"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1.2345e25, "1.2345e+25"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (5e-324, "5e-324"),
            (std::f64::consts::PI, "3.141592653589793"),
            (f64::NAN, "null"),
            (f64::INFINITY, "null"),
            (9007199254740993.0, "9007199254740992"),
        ];
        for (v, want) in cases {
            assert_eq!(js(*v), *want, "{v:e}");
        }
    }
}
