//! Output formatting as the docker CLI does it: go-units sizes and durations, Go-tabwriter
//! tables, and `--format` Go templates (with Docker's template functions and `table` prefix).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Arc;

use gotmpl::{Template, TemplateError, Value as TValue};
use serde_json::Value;

use crate::error::{CliError, Result};

const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
const BINARY_UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// Go's `%.<prec>g` for a non-negative finite float.
pub fn go_g(x: f64, prec: usize) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let prec = prec.max(1);
    let sci = format!("{:.*e}", prec - 1, x);
    let (mant, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= prec as i32 {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mant}e{sign}{:02}", exp.abs());
    }
    let decimals = (prec as i32 - 1 - exp).max(0) as usize;
    trim_zeros(&format!("{x:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

fn custom_size(size: f64, prec: usize, base: f64, units: &[&str]) -> String {
    let mut size = size;
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    format!("{}{}", go_g(size, prec), units[i])
}

/// go-units `HumanSizeWithPrecision` (decimal units): `1.98MB` with precision 3.
pub fn human_size_prec(size: f64, prec: usize) -> String {
    custom_size(size, prec, 1000.0, &DECIMAL_UNITS)
}

/// go-units `HumanSize`: precision 4, decimal units (`1.984MB`).
pub fn human_size(size: f64) -> String {
    human_size_prec(size, 4)
}

/// go-units `BytesSize`: precision 4, binary units (`23.54GiB`).
pub fn bytes_size(size: f64) -> String {
    custom_size(size, 4, 1024.0, &BINARY_UNITS)
}

/// go-units `HumanDuration` of a number of seconds (shared with the daemon).
pub use berth_core::time::human_duration;

/// Parses go-units `RAMInBytes` (`512m`, `1g`, `1.5GB`, plain bytes) into bytes.
pub fn parse_ram(s: &str) -> Result<i64> {
    let t = s.trim();
    let idx = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(idx);
    let n: f64 = num
        .parse()
        .map_err(|_| CliError::invalid(format!("invalid size: '{s}'")))?;
    let mult: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024f64.powi(4),
        "p" | "pb" | "pib" => 1024f64.powi(5),
        _ => return Err(CliError::invalid(format!("invalid size: '{s}'"))),
    };
    Ok((n * mult) as i64)
}

/// Parses a Go duration (`30s`, `1m30s`, `500ms`, `1h`) into nanoseconds.
pub fn parse_go_duration(s: &str) -> Result<i64> {
    let bad = || CliError::invalid(format!("time: invalid duration \"{s}\""));
    let t = s.trim();
    if t == "0" {
        return Ok(0);
    }
    let (neg, mut rest) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let ni = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if ni == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..ni].parse().map_err(|_| bad())?;
        rest = &rest[ni..];
        let ui = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..ui] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += n * unit;
        rest = &rest[ui..];
    }
    let v = total as i64;
    Ok(if neg { -v } else { v })
}

/// Docker's `CreatedAt` rendering of a unix time: `2026-11-24 16:33:15 +0000 UTC`.
pub fn go_time_string(unix: i64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_opt(unix, 0).single() {
        Some(t) if t.offset().local_minus_utc() != 0 => {
            t.format("%Y-%m-%d %H:%M:%S %z %z").to_string()
        }
        Some(t) => t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string(),
        None => String::new(),
    }
}

/// Seconds since `unix`.
pub fn since(unix: i64) -> i64 {
    chrono::Utc::now().timestamp() - unix
}

/// Parses an RFC 3339 timestamp into unix seconds (None for Docker's zero time).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    let secs = t.timestamp();
    if secs <= 0 { None } else { Some(secs) }
}

// Key order of JSON objects turned into template maps, keyed by the map's address, so that the
// `json` template function prints objects in the daemon's order (gotmpl maps are sorted).
thread_local! {
    static KEY_ORDER: RefCell<HashMap<usize, Vec<Arc<str>>>> = RefCell::new(HashMap::new());
}

/// Converts JSON into a template value.
pub fn to_tmpl(v: &Value) -> TValue {
    match v {
        Value::Null => TValue::Nil,
        Value::Bool(b) => TValue::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                TValue::Int(i)
            } else if let Some(u) = n.as_u64() {
                TValue::Uint(u)
            } else {
                TValue::Float(n.as_f64().unwrap_or(0.0))
            }
        }
        Value::String(s) => TValue::String(s.as_str().into()),
        Value::Array(a) => TValue::List(a.iter().map(to_tmpl).collect::<Vec<_>>().into()),
        Value::Object(o) => {
            let mut m = BTreeMap::new();
            let mut order = Vec::with_capacity(o.len());
            for (k, v) in o {
                let key: Arc<str> = k.as_str().into();
                order.push(key.clone());
                m.insert(key, to_tmpl(v));
            }
            let arc = Arc::new(m);
            let addr = Arc::as_ptr(&arc) as usize;
            KEY_ORDER.with(|ko| ko.borrow_mut().insert(addr, order));
            TValue::Map(arc)
        }
    }
}

/// Converts a template value back to JSON, restoring object key order when known.
pub fn from_tmpl(v: &TValue) -> Value {
    match v {
        TValue::Nil => Value::Null,
        TValue::Bool(b) => Value::Bool(*b),
        TValue::Int(i) => Value::from(*i),
        TValue::Uint(u) => Value::from(*u),
        TValue::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        TValue::String(s) => Value::String(s.to_string()),
        TValue::List(l) => Value::Array(l.iter().map(from_tmpl).collect()),
        TValue::Map(m) => {
            let addr = Arc::as_ptr(m) as usize;
            let order = KEY_ORDER.with(|ko| ko.borrow().get(&addr).cloned());
            let mut out = serde_json::Map::new();
            match order {
                // A stale entry (freed map, reused address) is detected by a differing key set.
                Some(keys) if keys.len() == m.len() && keys.iter().all(|k| m.contains_key(k)) => {
                    for k in keys {
                        if let Some(v) = m.get(&k) {
                            out.insert(k.to_string(), from_tmpl(v));
                        }
                    }
                }
                _ => {
                    for (k, v) in m.iter() {
                        out.insert(k.to_string(), from_tmpl(v));
                    }
                }
            }
            Value::Object(out)
        }
        _ => Value::Null,
    }
}

/// Go's `json.Marshal` of a JSON value (HTML-escaping `<`, `>`, `&` as Go does).
pub fn go_json(v: &Value) -> String {
    let s = v.to_string();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

fn arg_str(args: &[TValue], i: usize) -> String {
    match args.get(i) {
        Some(TValue::String(s)) => s.to_string(),
        Some(TValue::Nil) | None => String::new(),
        Some(v) => v.to_string(),
    }
}

fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    out
}

fn with_docker_funcs(t: Template) -> Template {
    t.func("json", |args| {
        Ok(TValue::String(
            go_json(&from_tmpl(args.first().unwrap_or(&TValue::Nil))).into(),
        ))
    })
    .func("join", |args| {
        let sep = arg_str(args, 1);
        let parts: Vec<String> = match args.first() {
            Some(TValue::List(l)) => l
                .iter()
                .map(|v| match v {
                    TValue::String(s) => s.to_string(),
                    v => v.to_string(),
                })
                .collect(),
            _ => vec![],
        };
        Ok(TValue::String(parts.join(&sep).into()))
    })
    .func("split", |args| {
        let s = arg_str(args, 0);
        let sep = arg_str(args, 1);
        let parts: Vec<TValue> = s.split(sep.as_str()).map(TValue::from).collect();
        Ok(TValue::List(parts.into()))
    })
    .func("title", |args| {
        Ok(TValue::String(title_case(&arg_str(args, 0)).into()))
    })
    .func("lower", |args| {
        Ok(TValue::String(arg_str(args, 0).to_lowercase().into()))
    })
    .func("upper", |args| {
        Ok(TValue::String(arg_str(args, 0).to_uppercase().into()))
    })
    .func("pad", |args| {
        let s = arg_str(args, 0);
        let l = args.get(1).and_then(TValue::as_int).unwrap_or(0).max(0) as usize;
        let r = args.get(2).and_then(TValue::as_int).unwrap_or(0).max(0) as usize;
        Ok(TValue::String(
            format!("{}{s}{}", " ".repeat(l), " ".repeat(r)).into(),
        ))
    })
    .func("truncate", |args| {
        let s = arg_str(args, 0);
        let n = args.get(1).and_then(TValue::as_int).unwrap_or(0).max(0) as usize;
        Ok(TValue::String(s.chars().take(n).collect::<String>().into()))
    })
}

/// Header-rendering functions: pass their first argument through (Docker's HeaderFunctions).
fn with_header_funcs(t: Template) -> Template {
    let mut t = t;
    for name in [
        "json", "join", "split", "title", "lower", "upper", "pad", "truncate",
    ] {
        t = t.func(name, |args| {
            Ok(args.first().cloned().unwrap_or(TValue::Nil))
        });
    }
    t
}

fn tmpl_err(e: TemplateError) -> CliError {
    CliError::invalid(format!("template: {e}"))
}

/// A parsed `--format` template.
pub struct Tmpl {
    tmpl: Template,
    src: String,
}

impl Tmpl {
    /// Parses Docker template text (`\t` and `\n` escapes are expanded as Docker does).
    pub fn parse(src: &str) -> Result<Tmpl> {
        let src = src.replace("\\t", "\t").replace("\\n", "\n");
        let tmpl = with_docker_funcs(Template::new(""))
            .parse(&src)
            .map_err(tmpl_err)?;
        Ok(Tmpl { tmpl, src })
    }

    /// Renders with template data.
    pub fn render(&self, data: &TValue) -> Result<String> {
        self.tmpl.execute_to_string(data).map_err(tmpl_err)
    }

    /// Renders with JSON data.
    pub fn render_json(&self, data: &Value) -> Result<String> {
        self.render(&to_tmpl(data))
    }

    /// Renders the header line: each field evaluates to its column title.
    pub fn render_header(&self, headers: &[(&str, &str)]) -> Result<String> {
        let t = with_header_funcs(Template::new(""))
            .parse(&self.src)
            .map_err(tmpl_err)?;
        let mut m = BTreeMap::new();
        for (k, h) in headers {
            m.insert(Arc::<str>::from(*k), TValue::from(*h));
        }
        t.execute_to_string(&TValue::Map(Arc::new(m)))
            .map_err(tmpl_err)
    }
}

/// A list formatter: Docker's `table ...` / raw template / `json` handling for list commands.
pub struct ListFormat {
    tmpl: Tmpl,
    table: bool,
}

impl ListFormat {
    /// `format` is the user's `--format` (or the command's default table format).
    pub fn new(format: &str) -> Result<ListFormat> {
        let (table, body) = match format.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start().to_string()),
            None if format == "json" => (false, "{{json .}}".to_string()),
            None => (false, format.to_string()),
        };
        let body = if table && body.is_empty() {
            return Err(CliError::invalid("table format requires a template"));
        } else {
            body
        };
        Ok(ListFormat {
            tmpl: Tmpl::parse(body.trim_matches(' '))?,
            table,
        })
    }

    /// Renders all rows (with a header when `table`) into `out`.
    pub fn write(
        &self,
        out: &mut dyn Write,
        headers: &[(&str, &str)],
        rows: &[BTreeMap<String, String>],
    ) -> Result<()> {
        let mut body = String::new();
        for row in rows {
            let mut m = BTreeMap::new();
            for (k, v) in row {
                m.insert(Arc::<str>::from(k.as_str()), TValue::from(v.as_str()));
            }
            body.push_str(&self.tmpl.render(&TValue::Map(Arc::new(m)))?);
            body.push('\n');
        }
        if self.table {
            let mut tw = tabwriter::TabWriter::new(Vec::new()).minwidth(7).padding(3);
            let header = self.tmpl.render_header(headers)?;
            if !header.is_empty() {
                tw.write_all(header.as_bytes())?;
                tw.write_all(b"\n")?;
            }
            tw.write_all(body.as_bytes())?;
            tw.flush()?;
            let bytes = tw
                .into_inner()
                .map_err(|e| CliError::Io(std::io::Error::other(e.to_string())))?;
            out.write_all(&bytes)?;
        } else {
            out.write_all(body.as_bytes())?;
        }
        Ok(())
    }
}

/// Writes `rows` (cells separated by tabs) through Docker's tabwriter settings.
pub fn table(out: &mut dyn Write, lines: &[String]) -> Result<()> {
    let mut tw = tabwriter::TabWriter::new(Vec::new()).minwidth(7).padding(3);
    for l in lines {
        tw.write_all(l.as_bytes())?;
        tw.write_all(b"\n")?;
    }
    tw.flush()?;
    let bytes = tw
        .into_inner()
        .map_err(|e| CliError::Io(std::io::Error::other(e.to_string())))?;
    out.write_all(&bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_size_prec(1_984_000.0, 3), "1.98MB");
        assert_eq!(human_size(1_984_123.0), "1.984MB");
        assert_eq!(human_size_prec(0.0, 3), "0B");
        assert_eq!(human_size_prec(512.0, 3), "512B");
        assert_eq!(human_size_prec(999_999.0, 3), "1e+03kB");
        assert_eq!(human_size_prec(1000.0, 3), "1kB");
        assert_eq!(human_size_prec(12_345_678.0, 3), "12.3MB");
        assert_eq!(bytes_size(23.54 * 1024.0 * 1024.0 * 1024.0), "23.54GiB");
        assert_eq!(bytes_size(1024.0), "1KiB");
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(59), "59 seconds");
        assert_eq!(human_duration(60), "About a minute");
        assert_eq!(human_duration(119), "About a minute");
        assert_eq!(human_duration(120), "2 minutes");
        assert_eq!(human_duration(3599), "59 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(5399), "About an hour");
        assert_eq!(human_duration(5400), "2 hours");
        assert_eq!(human_duration(47 * 3600), "47 hours");
        assert_eq!(human_duration(48 * 3600), "2 days");
        assert_eq!(human_duration(14 * 86400), "2 weeks");
        assert_eq!(human_duration(60 * 86400), "2 months");
        assert_eq!(human_duration(800 * 86400), "2 years");
    }

    #[test]
    fn ram_and_durations_parse() {
        assert_eq!(parse_ram("512m").ok(), Some(512 * 1024 * 1024));
        assert_eq!(parse_ram("1g").ok(), Some(1024 * 1024 * 1024));
        assert_eq!(parse_ram("100").ok(), Some(100));
        assert_eq!(parse_ram("1.5k").ok(), Some(1536));
        assert!(parse_ram("12x").is_err());
        assert_eq!(parse_go_duration("30s").ok(), Some(30_000_000_000));
        assert_eq!(parse_go_duration("1m30s").ok(), Some(90_000_000_000));
        assert_eq!(parse_go_duration("500ms").ok(), Some(500_000_000));
        assert_eq!(parse_go_duration("0").ok(), Some(0));
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("abc").is_err());
    }

    #[test]
    fn templates() {
        let v: Value = serde_json::json!({"Id": "abc", "State": {"Status": "running", "Pid": 42, "A": "<x>"}, "List": ["a", "b"]});
        let t = |s: &str| {
            Tmpl::parse(s)
                .and_then(|t| t.render_json(&v))
                .unwrap_or_default()
        };
        assert_eq!(t("{{.Id}}"), "abc");
        assert_eq!(t("{{.State.Pid}}"), "42");
        assert_eq!(
            t("{{json .State}}"),
            r#"{"Status":"running","Pid":42,"A":"\u003cx\u003e"}"#
        );
        assert_eq!(t("{{join .List \",\"}}"), "a,b");
        assert_eq!(t("{{upper .Id}}"), "ABC");
        assert_eq!(t("{{.Id}}\\t{{.State.Status}}"), "abc\trunning");
    }

    #[test]
    fn table_matches_docker_padding() {
        let f = ListFormat::new("table {{.ID}}\t{{.Image}}\t{{.Names}}").ok();
        let mut row = BTreeMap::new();
        row.insert("ID".to_string(), "de2d05bb0219".to_string());
        row.insert("Image".to_string(), "bb".to_string());
        row.insert("Names".to_string(), "web".to_string());
        let mut out = Vec::new();
        f.map(|f| {
            f.write(
                &mut out,
                &[
                    ("ID", "CONTAINER ID"),
                    ("Image", "IMAGE"),
                    ("Names", "NAMES"),
                ],
                &[row],
            )
        });
        assert_eq!(
            String::from_utf8_lossy(&out),
            "CONTAINER ID   IMAGE     NAMES\nde2d05bb0219   bb        web\n"
        );
    }
}
