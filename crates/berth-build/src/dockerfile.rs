//! Dockerfile parsing: parser directives, comments, line continuations, heredocs, flags, exec vs
//! shell form, and the variable substitution the builder applies at dispatch time.
//!
//! Parsing keeps argument words raw (quotes included) because their expansion depends on ARG and
//! ENV values only known while building; [`expand`] does Docker's word processing (quote removal,
//! escapes, `$V`, `${V}`, `${V:-d}`, `${V-d}`, `${V:+a}`, `${V+a}`, `${V:?m}`).

use std::fmt;

/// A parse failure with the file and line it happened on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// File name shown in the message (`Dockerfile`).
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

impl berth_core::Classify for ParseError {
    fn kind(&self) -> berth_core::ErrorKind {
        berth_core::ErrorKind::InvalidArgument
    }
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dockerfile {
    /// The escape character (`\` unless `# escape=` says otherwise).
    pub escape: char,
    /// `# syntax=` directive, if any.
    pub syntax: Option<String>,
    /// Instructions in file order.
    pub steps: Vec<Step>,
}

/// One instruction with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// 1-based line of the instruction keyword.
    pub line: usize,
    /// The instruction as Docker prints it in `Step n/m : ...` (continuations joined).
    pub original: String,
    /// Parsed instruction.
    pub instruction: Instruction,
}

/// `--name=value` flags given before an instruction's arguments.
pub type Flags = Vec<(String, String)>;

/// Shell form (`RUN echo hi`) or exec form (`RUN ["echo", "hi"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run through the SHELL (`/bin/sh -c`).
    Shell(String),
    /// Run as given.
    Exec(Vec<String>),
}

/// A here-document attached to RUN/COPY/ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The terminator word (`EOF`).
    pub name: String,
    /// The body, each line ending with `\n`.
    pub content: String,
    /// Whether variables in the body are expanded (terminator was unquoted).
    pub expand: bool,
}

/// Sources and destination of COPY/ADD.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopySpec {
    /// `--name=value` flags (`from`, `chown`, `chmod`, `link`, ...).
    pub flags: Flags,
    /// Source words (raw; a heredoc source is `<<NAME`).
    pub sources: Vec<String>,
    /// Destination word (raw).
    pub dest: String,
    /// Heredocs used as sources.
    pub heredocs: Vec<Heredoc>,
}

impl CopySpec {
    /// Value of flag `name` (last one wins).
    pub fn flag(&self, name: &str) -> Option<&str> {
        flag(&self.flags, name)
    }
}

/// `HEALTHCHECK` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`.
    None,
    /// `HEALTHCHECK [flags] CMD ...`.
    Cmd {
        /// `--interval`, `--timeout`, `--start-period`, `--start-interval`, `--retries`.
        flags: Flags,
        /// The check command.
        command: Command,
    },
}

/// Every instruction of the Dockerfile reference.
#[derive(Debug, Clone, PartialEq)]
pub enum Instruction {
    /// `FROM [--platform=p] image [AS name]`.
    From {
        /// Flags (`platform`).
        flags: Flags,
        /// Image word (raw, may hold `$ARG`).
        image: String,
        /// Stage name.
        name: Option<String>,
    },
    /// `RUN`.
    Run {
        /// Flags (`mount`, `network`, `security`).
        flags: Flags,
        /// Command.
        command: Command,
        /// Heredocs (their text is part of a shell-form command's script).
        heredocs: Vec<Heredoc>,
    },
    /// `CMD`.
    Cmd(Command),
    /// `ENTRYPOINT`.
    Entrypoint(Command),
    /// `SHELL ["exe", "arg"]`.
    Shell(Vec<String>),
    /// `ENV k=v ...` or `ENV k v` (values raw).
    Env(Vec<(String, String)>),
    /// `ARG name[=default] ...` (defaults raw).
    Arg(Vec<(String, Option<String>)>),
    /// `LABEL k=v ...` (raw).
    Label(Vec<(String, String)>),
    /// `MAINTAINER name`.
    Maintainer(String),
    /// `EXPOSE port[/proto] ...` (raw).
    Expose(Vec<String>),
    /// `USER user[:group]` (raw).
    User(String),
    /// `WORKDIR path` (raw).
    Workdir(String),
    /// `VOLUME path ...` or JSON form (raw).
    Volume(Vec<String>),
    /// `STOPSIGNAL sig` (raw).
    Stopsignal(String),
    /// `COPY`.
    Copy(CopySpec),
    /// `ADD`.
    Add(CopySpec),
    /// `ONBUILD <instruction>`: the trigger text, validated by parsing it.
    Onbuild(String),
    /// `HEALTHCHECK`.
    Healthcheck(Healthcheck),
}

impl Instruction {
    /// Upper-case keyword.
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::From { .. } => "FROM",
            Instruction::Run { .. } => "RUN",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Shell(_) => "SHELL",
            Instruction::Env(_) => "ENV",
            Instruction::Arg(_) => "ARG",
            Instruction::Label(_) => "LABEL",
            Instruction::Maintainer(_) => "MAINTAINER",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::User(_) => "USER",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::Volume(_) => "VOLUME",
            Instruction::Stopsignal(_) => "STOPSIGNAL",
            Instruction::Copy(_) => "COPY",
            Instruction::Add(_) => "ADD",
            Instruction::Onbuild(_) => "ONBUILD",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
        }
    }
}

/// Value of flag `name` in `flags` (last one wins).
pub fn flag<'a>(flags: &'a Flags, name: &str) -> Option<&'a str> {
    flags
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Parses a Dockerfile named `Dockerfile` in error messages.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    parse_named(text, "Dockerfile")
}

/// Parses a Dockerfile; errors name `file`.
pub fn parse_named(text: &str, file: &str) -> Result<Dockerfile, ParseError> {
    let lines: Vec<&str> = text.lines().collect();
    let err = |line: usize, message: String| ParseError {
        file: file.to_string(),
        line,
        message,
    };
    let mut df = Dockerfile {
        escape: '\\',
        syntax: None,
        steps: Vec::new(),
    };
    let mut i = 0;
    // Parser directives: only at the very top, before any blank line, comment or instruction.
    let mut seen = Vec::new();
    while i < lines.len() {
        let Some((k, v)) = directive(lines[i]) else {
            break;
        };
        let k = k.to_ascii_lowercase();
        if seen.contains(&k) {
            return Err(err(
                i + 1,
                format!("only one {k} parser directive can be used"),
            ));
        }
        match k.as_str() {
            "escape" => {
                df.escape = match v.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(err(
                            i + 1,
                            format!("invalid escape token '{v}' does not match ` or \\"),
                        ));
                    }
                }
            }
            "syntax" => df.syntax = Some(v),
            // `check` and unknown directives are accepted and ignored, as Docker does.
            _ => {}
        }
        seen.push(k);
        i += 1;
    }
    let esc = df.escape;
    while i < lines.len() {
        let raw = lines[i];
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i + 1;
        // Join continuation lines; comment and blank lines inside a continuation are dropped.
        let mut logical = String::new();
        let mut cur = trimmed.to_string();
        i += 1;
        loop {
            match strip_continuation(&cur, esc) {
                Some(head) => {
                    logical.push_str(head);
                    let mut next = None;
                    while i < lines.len() {
                        let l = lines[i];
                        i += 1;
                        let t = l.trim_start();
                        if t.starts_with('#') || t.is_empty() {
                            continue;
                        }
                        next = Some(l.to_string());
                        break;
                    }
                    match next {
                        Some(n) => cur = n,
                        None => break,
                    }
                }
                None => {
                    logical.push_str(&cur);
                    break;
                }
            }
        }
        let logical = logical.trim().to_string();
        let (kw, rest) = split_keyword(&logical);
        let kw_up = kw.to_ascii_uppercase();
        // Heredocs follow the instruction's logical line.
        let mut heredocs = Vec::new();
        if matches!(kw_up.as_str(), "RUN" | "COPY" | "ADD") {
            for (name, strip_tabs, expand_vars) in heredoc_markers(rest) {
                let mut content = String::new();
                let mut closed = false;
                while i < lines.len() {
                    let l = lines[i];
                    i += 1;
                    let body = if strip_tabs {
                        l.trim_start_matches('\t')
                    } else {
                        l
                    };
                    if body == name {
                        closed = true;
                        break;
                    }
                    content.push_str(body);
                    content.push('\n');
                }
                if !closed {
                    return Err(err(start, format!("unterminated heredoc {name}")));
                }
                heredocs.push(Heredoc {
                    name,
                    content,
                    expand: expand_vars,
                });
            }
        }
        let instruction =
            parse_instruction(&kw_up, kw, rest, heredocs, esc).map_err(|m| err(start, m))?;
        df.steps.push(Step {
            line: start,
            original: logical.clone(),
            instruction,
        });
    }
    Ok(df)
}

/// `# key=value` at the top of the file.
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix('#')?;
    let (k, v) = rest.split_once('=')?;
    let k = k.trim();
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((k.to_string(), v.trim().to_string()))
}

/// The line without its trailing escape character, when it continues on the next line.
fn strip_continuation(line: &str, esc: char) -> Option<&str> {
    let t = line.trim_end();
    let head = t.strip_suffix(esc)?;
    Some(head)
}

fn split_keyword(line: &str) -> (&str, &str) {
    match line.find(char::is_whitespace) {
        Some(p) => (&line[..p], line[p..].trim_start()),
        None => (line, ""),
    }
}

/// Heredoc markers `<<[-]["']NAME["']` in an instruction's arguments, in order:
/// (name, strip leading tabs, expand variables).
fn heredoc_markers(args: &str) -> Vec<(String, bool, bool)> {
    let mut out = Vec::new();
    let b = args.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == b'\'' || c == b'"' {
            quote = Some(c);
            i += 1;
            continue;
        }
        if c == b'<' && b.get(i + 1) == Some(&b'<') && b.get(i + 2) != Some(&b'<') {
            let mut j = i + 2;
            let strip = b.get(j) == Some(&b'-');
            if strip {
                j += 1;
            }
            let q = match b.get(j) {
                Some(&x) if x == b'\'' || x == b'"' => {
                    j += 1;
                    Some(x)
                }
                _ => None,
            };
            let s = j;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                j += 1;
            }
            if j > s {
                let name = args[s..j].to_string();
                if let Some(q) = q
                    && b.get(j) == Some(&q)
                {
                    j += 1;
                }
                out.push((name, strip, q.is_none()));
                i = j;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Splits leading `--name=value` flags off `args`.
fn take_flags(args: &str) -> Result<(Flags, &str), String> {
    let mut flags = Vec::new();
    let mut rest = args.trim_start();
    while let Some(f) = rest.strip_prefix("--") {
        let end = f.find(char::is_whitespace).unwrap_or(f.len());
        let word = &f[..end];
        if word.is_empty() {
            break;
        }
        let (k, v) = match word.split_once('=') {
            Some((k, v)) => (k, v),
            None => (word, "true"),
        };
        flags.push((k.to_ascii_lowercase(), v.to_string()));
        rest = f[end..].trim_start();
    }
    Ok((flags, rest))
}

fn check_flags(kw: &str, flags: &Flags, allowed: &[&str]) -> Result<(), String> {
    for (k, _) in flags {
        if !allowed.contains(&k.as_str()) {
            return Err(format!("unknown flag: --{k} for {kw}"));
        }
    }
    Ok(())
}

/// JSON array of strings, if `args` is one.
fn json_array(args: &str) -> Option<Vec<String>> {
    let t = args.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

fn command(args: &str) -> Command {
    match json_array(args) {
        Some(v) => Command::Exec(v),
        None => Command::Shell(args.to_string()),
    }
}

/// Splits on unquoted, unescaped whitespace, keeping quotes and escapes (expanded later).
pub fn split_words(s: &str, esc: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars().peekable();
    let mut in_word = false;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == esc && q == '"' {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == q {
                    quote = None;
                }
            }
            None => {
                if c.is_whitespace() {
                    if in_word {
                        out.push(std::mem::take(&mut cur));
                        in_word = false;
                    }
                    continue;
                }
                in_word = true;
                cur.push(c);
                if c == esc {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == '"' || c == '\'' {
                    quote = Some(c);
                }
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// `k=v k2="v 2"` pairs, or the legacy `k v...` form when `legacy_ok` and the first word has no
/// `=`.
fn name_values(
    kw: &str,
    args: &str,
    esc: char,
    legacy_ok: bool,
) -> Result<Vec<(String, String)>, String> {
    let words = split_words(args, esc);
    if words.is_empty() {
        return Err(format!("{kw} requires at least one argument"));
    }
    if legacy_ok && !words[0].contains('=') {
        let (k, v) = split_keyword(args.trim());
        if v.is_empty() {
            return Err(format!("{kw} must have two arguments"));
        }
        return Ok(vec![(k.to_string(), v.to_string())]);
    }
    let mut out = Vec::new();
    for w in words {
        match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => out.push((k.to_string(), v.to_string())),
            _ => return Err(format!("{kw} names can not be blank")),
        }
    }
    Ok(out)
}

fn parse_instruction(
    kw_up: &str,
    kw: &str,
    rest: &str,
    heredocs: Vec<Heredoc>,
    esc: char,
) -> Result<Instruction, String> {
    let need = |name: &str| -> Result<(), String> {
        if rest.trim().is_empty() {
            Err(format!("{name} requires at least one argument"))
        } else {
            Ok(())
        }
    };
    Ok(match kw_up {
        "FROM" => {
            let (flags, args) = take_flags(rest)?;
            check_flags("FROM", &flags, &["platform"])?;
            let words: Vec<&str> = args.split_whitespace().collect();
            match words.as_slice() {
                [img] => Instruction::From {
                    flags,
                    image: (*img).to_string(),
                    name: None,
                },
                [img, as_, name] if as_.eq_ignore_ascii_case("as") => Instruction::From {
                    flags,
                    image: (*img).to_string(),
                    name: Some(name.to_ascii_lowercase()),
                },
                [] => return Err("FROM requires either one or three arguments".into()),
                _ => return Err("FROM requires either one or three arguments".into()),
            }
        }
        "RUN" => {
            let (flags, args) = take_flags(rest)?;
            check_flags("RUN", &flags, &["mount", "network", "security"])?;
            // BuildKit validates the network mode when parsing.
            if let Some(n) = flag(&flags, "network")
                && !matches!(n, "none" | "host" | "default")
            {
                return Err(format!("unsupported network mode {n:?}"));
            }
            if args.trim().is_empty() {
                return Err("RUN requires at least one argument".into());
            }
            Instruction::Run {
                flags,
                command: command(args),
                heredocs,
            }
        }
        "CMD" => {
            need("CMD")?;
            Instruction::Cmd(command(rest))
        }
        "ENTRYPOINT" => {
            need("ENTRYPOINT")?;
            Instruction::Entrypoint(command(rest))
        }
        "SHELL" => match json_array(rest) {
            Some(v) if !v.is_empty() => Instruction::Shell(v),
            _ => return Err("SHELL requires the arguments to be in JSON form".into()),
        },
        "ENV" => Instruction::Env(name_values("ENV", rest, esc, true)?),
        "LABEL" => Instruction::Label(name_values("LABEL", rest, esc, false)?),
        "ARG" => {
            let words = split_words(rest, esc);
            if words.is_empty() {
                return Err("ARG requires at least one argument".into());
            }
            let mut out = Vec::new();
            for w in words {
                match w.split_once('=') {
                    Some((k, v)) => out.push((k.to_string(), Some(v.to_string()))),
                    None => out.push((w, None)),
                }
            }
            if out.iter().any(|(k, _)| k.is_empty()) {
                return Err("ARG names can not be blank".into());
            }
            Instruction::Arg(out)
        }
        "MAINTAINER" => {
            need("MAINTAINER")?;
            Instruction::Maintainer(rest.trim().to_string())
        }
        "EXPOSE" => {
            need("EXPOSE")?;
            Instruction::Expose(split_words(rest, esc))
        }
        "USER" => {
            need("USER")?;
            Instruction::User(rest.trim().to_string())
        }
        "WORKDIR" => {
            need("WORKDIR")?;
            Instruction::Workdir(rest.trim().to_string())
        }
        "VOLUME" => {
            need("VOLUME")?;
            match json_array(rest) {
                Some(v) => Instruction::Volume(v),
                None => Instruction::Volume(split_words(rest, esc)),
            }
        }
        "STOPSIGNAL" => {
            need("STOPSIGNAL")?;
            Instruction::Stopsignal(rest.trim().to_string())
        }
        "COPY" | "ADD" => {
            let (flags, args) = take_flags(rest)?;
            let allowed: &[&str] = if kw_up == "COPY" {
                &["from", "chown", "chmod", "link", "parents", "exclude"]
            } else {
                &[
                    "chown",
                    "chmod",
                    "link",
                    "checksum",
                    "keep-git-dir",
                    "exclude",
                ]
            };
            check_flags(kw_up, &flags, allowed)?;
            let mut words = match json_array(args) {
                Some(v) => v,
                None => split_words(args, esc),
            };
            if words.len() < 2 {
                return Err(format!("{kw_up} requires at least two arguments"));
            }
            let dest = words.pop().unwrap_or_default();
            let spec = CopySpec {
                flags,
                sources: words,
                dest,
                heredocs,
            };
            if kw_up == "COPY" {
                Instruction::Copy(spec)
            } else {
                Instruction::Add(spec)
            }
        }
        "ONBUILD" => {
            need("ONBUILD")?;
            let (sub, _) = split_keyword(rest.trim());
            let sub_up = sub.to_ascii_uppercase();
            match sub_up.as_str() {
                "ONBUILD" => {
                    return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into());
                }
                "FROM" | "MAINTAINER" => {
                    return Err(format!("{sub_up} isn't allowed as an ONBUILD trigger"));
                }
                _ => {}
            }
            let (_, subrest) = split_keyword(rest.trim());
            parse_instruction(&sub_up, sub, subrest, Vec::new(), esc)?;
            Instruction::Onbuild(rest.trim().to_string())
        }
        "HEALTHCHECK" => {
            let (flags, args) = take_flags(rest)?;
            check_flags(
                "HEALTHCHECK",
                &flags,
                &[
                    "interval",
                    "timeout",
                    "start-period",
                    "start-interval",
                    "retries",
                ],
            )?;
            let (sub, subrest) = split_keyword(args.trim());
            match sub.to_ascii_uppercase().as_str() {
                "NONE" if flags.is_empty() && subrest.is_empty() => {
                    Instruction::Healthcheck(Healthcheck::None)
                }
                "NONE" => return Err("HEALTHCHECK NONE takes no arguments".into()),
                "CMD" if !subrest.trim().is_empty() => Instruction::Healthcheck(Healthcheck::Cmd {
                    flags,
                    command: command(subrest),
                }),
                _ => return Err("Unknown type for HEALTHCHECK (try CMD)".into()),
            }
        }
        _ => return Err(format!("unknown instruction: {}", kw.to_ascii_uppercase())),
    })
}

/// Why a word could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// `${V:?msg}` with V unset or empty.
    #[error("{0}: {1}")]
    Required(String, String),
    /// Unbalanced `${` or quote.
    #[error("{0}")]
    Syntax(String),
}

impl berth_core::Classify for ExpandError {
    fn kind(&self) -> berth_core::ErrorKind {
        berth_core::ErrorKind::InvalidArgument
    }
}

/// The body of the `parse` fuzz target (`fuzz/`): parses any bytes as a Dockerfile and runs
/// word splitting and expansion over everything that comes out. Must never panic.
pub fn fuzz_parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    // Half the names are set (to themselves), so both branches of `${A:-b}`/`${A:+b}` run.
    let lookup = |k: &str| k.len().is_multiple_of(2).then(|| k.to_string());
    if let Ok(df) = parse_named(&text, "Dockerfile") {
        for step in &df.steps {
            let _ = expand(&step.original, &lookup, df.escape);
            for w in split_words(&step.original, df.escape) {
                let _ = expand(&w, &lookup, df.escape);
            }
            let _ = step.instruction.keyword();
        }
    }
    let _ = expand(&text, &|_| None, '\\');
    let _ = expand(&text, &|_| Some(String::new()), '`');
    let _ = split_words(&text, '\\');
    // `.dockerignore` rules come from the same untrusted context.
    let rules = crate::fsutil::IgnoreRules::parse(&text);
    for line in text.lines().take(4) {
        let _ = rules.excluded(line.trim());
        let _ = rules.may_reinclude_under(line.trim());
        let _ = crate::fsutil::glob_match(line, "src/a b/c.txt");
        let _ = crate::fsutil::clean_rel(line);
    }
}

/// Docker's word processing: removes quotes, applies escapes and substitutes variables from
/// `lookup` (unset variables become empty).
pub fn expand(
    word: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    esc: char,
) -> Result<String, ExpandError> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == esc {
            if let Some(&n) = chars.get(i + 1) {
                out.push(n);
                i += 2;
            } else {
                out.push(c);
                i += 1;
            }
            continue;
        }
        match c {
            '\'' => {
                let mut j = i + 1;
                while j < chars.len() && chars[j] != '\'' {
                    out.push(chars[j]);
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(ExpandError::Syntax(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    ));
                }
                i = j + 1;
            }
            '"' => {
                let mut j = i + 1;
                loop {
                    let Some(&d) = chars.get(j) else {
                        return Err(ExpandError::Syntax(
                            "unexpected end of statement while looking for matching double-quote"
                                .into(),
                        ));
                    };
                    if d == '"' {
                        j += 1;
                        break;
                    }
                    if d == esc {
                        match chars.get(j + 1) {
                            Some(&n) if n == '"' || n == '$' || n == esc => {
                                out.push(n);
                                j += 2;
                            }
                            _ => {
                                out.push(d);
                                j += 1;
                            }
                        }
                        continue;
                    }
                    if d == '$' {
                        let (s, n) = dollar(&chars, j, lookup, esc)?;
                        out.push_str(&s);
                        j = n;
                        continue;
                    }
                    out.push(d);
                    j += 1;
                }
                i = j;
            }
            '$' => {
                let (s, n) = dollar(&chars, i, lookup, esc)?;
                out.push_str(&s);
                i = n;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn is_name(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expands the `$...` at `chars[at]`; returns the text and the index after it.
fn dollar(
    chars: &[char],
    at: usize,
    lookup: &dyn Fn(&str) -> Option<String>,
    esc: char,
) -> Result<(String, usize), ExpandError> {
    let mut j = at + 1;
    match chars.get(j) {
        Some('{') => {
            j += 1;
            let s = j;
            while j < chars.len() && is_name(chars[j]) {
                j += 1;
            }
            let name: String = chars[s..j].iter().collect();
            if name.is_empty() {
                return Err(ExpandError::Syntax("bad substitution".into()));
            }
            let val = lookup(&name);
            match chars.get(j) {
                Some('}') => Ok((val.unwrap_or_default(), j + 1)),
                Some(&m) if m == ':' || m == '-' || m == '+' || m == '?' => {
                    let colon = m == ':';
                    if colon {
                        j += 1;
                    }
                    let Some(&op) = chars.get(j) else {
                        return Err(ExpandError::Syntax("bad substitution".into()));
                    };
                    if !matches!(op, '-' | '+' | '?') {
                        return Err(ExpandError::Syntax(format!(
                            "unsupported modifier ({op}) in substitution"
                        )));
                    }
                    j += 1;
                    // The word runs to the matching `}` (nesting allowed).
                    let ws = j;
                    let mut depth = 0;
                    while j < chars.len() {
                        let d = chars[j];
                        if d == esc {
                            j += 2;
                            continue;
                        }
                        if d == '{' {
                            depth += 1;
                        } else if d == '}' {
                            if depth == 0 {
                                break;
                            }
                            depth -= 1;
                        }
                        j += 1;
                    }
                    if j >= chars.len() {
                        return Err(ExpandError::Syntax("missing '}'".into()));
                    }
                    let raw: String = chars[ws..j].iter().collect();
                    let word = expand(&raw, lookup, esc)?;
                    let set = match &val {
                        Some(v) => !(colon && v.is_empty()),
                        None => false,
                    };
                    let s = match op {
                        '-' => {
                            if set {
                                val.unwrap_or_default()
                            } else {
                                word
                            }
                        }
                        '+' => {
                            if set {
                                word
                            } else {
                                String::new()
                            }
                        }
                        _ => {
                            if set {
                                val.unwrap_or_default()
                            } else {
                                let msg = if word.is_empty() {
                                    "is not allowed to be unset".to_string()
                                } else {
                                    word
                                };
                                return Err(ExpandError::Required(name, msg));
                            }
                        }
                    };
                    Ok((s, j + 1))
                }
                _ => Err(ExpandError::Syntax("missing '}'".into())),
            }
        }
        Some(&c) if is_name(c) => {
            let s = j;
            while j < chars.len() && is_name(chars[j]) {
                j += 1;
            }
            let name: String = chars[s..j].iter().collect();
            Ok((lookup(&name).unwrap_or_default(), j))
        }
        _ => Ok(("$".to_string(), at + 1)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn one(text: &str) -> Instruction {
        let df = parse(text).unwrap();
        assert_eq!(df.steps.len(), 1, "{df:?}");
        df.steps[0].instruction.clone()
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| m.get(k).cloned()
    }

    #[test]
    fn unknown_instruction_error_has_file_and_line() {
        let e = parse("FROM busybox\n\n# c\nRUN true\n\n\nRUNN x\n").unwrap_err();
        assert_eq!(e.to_string(), "Dockerfile:7: unknown instruction: RUNN");
        let e = parse_named("FROM a\nfoo bar", "x.Dockerfile").unwrap_err();
        assert_eq!(e.to_string(), "x.Dockerfile:2: unknown instruction: FOO");
    }

    #[test]
    fn comments_blank_lines_and_case() {
        let df = parse(
            "# hello\n\nfrom busybox AS Build\n  # indented comment\nrun echo hi # not a comment\n",
        )
        .unwrap();
        assert_eq!(df.steps.len(), 2);
        assert_eq!(
            df.steps[0].instruction,
            Instruction::From {
                flags: vec![],
                image: "busybox".into(),
                name: Some("build".into())
            }
        );
        assert_eq!(df.steps[0].line, 3);
        assert_eq!(df.steps[1].original, "run echo hi # not a comment");
        assert_eq!(
            df.steps[1].instruction,
            Instruction::Run {
                flags: vec![],
                command: Command::Shell("echo hi # not a comment".into()),
                heredocs: vec![]
            }
        );
    }

    #[test]
    fn continuations_join_and_skip_comments() {
        let df = parse("FROM a\nRUN echo a \\\n  # comment\n\n  && echo b\nCMD x\n").unwrap();
        assert_eq!(df.steps.len(), 3);
        assert_eq!(df.steps[1].original, "RUN echo a   && echo b");
        assert_eq!(df.steps[2].line, 6);
    }

    #[test]
    fn escape_directive_backtick() {
        let df = parse("# escape=`\nFROM a\nRUN dir c:\\ `\n  && echo x\n").unwrap();
        assert_eq!(df.escape, '`');
        assert_eq!(
            df.steps[1].instruction,
            Instruction::Run {
                flags: vec![],
                command: Command::Shell("dir c:\\   && echo x".into()),
                heredocs: vec![]
            }
        );
    }

    #[test]
    fn syntax_directive_and_directives_end_at_first_other_line() {
        let df = parse("# syntax=docker/dockerfile:1\n# escape=\\\nFROM a\n").unwrap();
        assert_eq!(df.syntax.as_deref(), Some("docker/dockerfile:1"));
        let df = parse("# comment\n# escape=`\nFROM a\nRUN a \\\n b\n").unwrap();
        assert_eq!(df.escape, '\\');
        assert_eq!(df.steps.len(), 2);
        assert!(parse("# escape=x\nFROM a").is_err());
        assert!(parse("# escape=`\n# escape=`\nFROM a").is_err());
    }

    #[test]
    fn exec_and_shell_forms() {
        assert_eq!(
            one(r#"CMD ["echo", "a b"]"#),
            Instruction::Cmd(Command::Exec(vec!["echo".into(), "a b".into()]))
        );
        assert_eq!(
            one("ENTRYPOINT echo hi"),
            Instruction::Entrypoint(Command::Shell("echo hi".into()))
        );
        // Invalid JSON falls back to shell form, as Docker does.
        assert_eq!(
            one("CMD [echo, hi]"),
            Instruction::Cmd(Command::Shell("[echo, hi]".into()))
        );
        assert_eq!(
            one(r#"SHELL ["/bin/ash", "-c"]"#),
            Instruction::Shell(vec!["/bin/ash".into(), "-c".into()])
        );
        assert!(parse("SHELL /bin/sh -c").is_err());
    }

    #[test]
    fn heredocs() {
        let df = parse("FROM a\nRUN <<EOF\necho hi\necho there\nEOF\nCMD x\n").unwrap();
        assert_eq!(df.steps.len(), 3);
        match &df.steps[1].instruction {
            Instruction::Run { heredocs, .. } => {
                assert_eq!(heredocs.len(), 1);
                assert_eq!(heredocs[0].name, "EOF");
                assert_eq!(heredocs[0].content, "echo hi\necho there\n");
                assert!(heredocs[0].expand);
            }
            o => panic!("{o:?}"),
        }
        let df = parse("COPY <<-'A' <<B /dst/\n\t\tx\n\tA\ny $V\nB\n").unwrap();
        match &df.steps[0].instruction {
            Instruction::Copy(c) => {
                assert_eq!(c.sources, vec!["<<-'A'", "<<B"]);
                assert_eq!(c.dest, "/dst/");
                assert_eq!(c.heredocs[0].content, "x\n");
                assert!(!c.heredocs[0].expand);
                assert_eq!(c.heredocs[1].content, "y $V\n");
            }
            o => panic!("{o:?}"),
        }
        assert!(parse("RUN <<EOF\necho\n").is_err());
        // `<<` inside quotes is no heredoc.
        assert!(
            matches!(one("RUN echo '<<EOF'"), Instruction::Run { heredocs, .. } if heredocs.is_empty())
        );
    }

    #[test]
    fn env_label_arg_forms() {
        assert_eq!(
            one(r#"ENV A=1 B="two words" C=three\ four"#),
            Instruction::Env(vec![
                ("A".into(), "1".into()),
                ("B".into(), "\"two words\"".into()),
                ("C".into(), "three\\ four".into())
            ])
        );
        assert_eq!(
            one("ENV NAME some value here"),
            Instruction::Env(vec![("NAME".into(), "some value here".into())])
        );
        assert!(parse("ENV A").is_err());
        assert_eq!(
            one(r#"LABEL a=b "c d"="e""#),
            Instruction::Label(vec![
                ("a".into(), "b".into()),
                ("\"c d\"".into(), "\"e\"".into())
            ])
        );
        assert!(parse("LABEL foo").is_err());
        assert_eq!(
            one("ARG A B=2"),
            Instruction::Arg(vec![("A".into(), None), ("B".into(), Some("2".into()))])
        );
    }

    #[test]
    fn every_instruction_parses() {
        let text = r#"ARG BASE=busybox
FROM --platform=linux/amd64 $BASE AS base
MAINTAINER me <me@x>
RUN --network=none echo hi
CMD ["sh"]
ENTRYPOINT ["/bin/sh", "-c"]
SHELL ["/bin/sh", "-ec"]
ENV A=1
LABEL a=b
EXPOSE 80/tcp 443
USER nobody:nogroup
WORKDIR /app
VOLUME ["/data", "/logs"]
VOLUME /x /y
STOPSIGNAL SIGTERM
COPY --from=base --chown=1:1 --chmod=644 a b /dst/
ADD --chown=1 x.tar /
ONBUILD RUN echo triggered
HEALTHCHECK --interval=5s --retries=3 CMD wget -q localhost || exit 1
HEALTHCHECK NONE
"#;
        let df = parse(text).unwrap();
        let kws: Vec<&str> = df.steps.iter().map(|s| s.instruction.keyword()).collect();
        assert_eq!(
            kws,
            [
                "ARG",
                "FROM",
                "MAINTAINER",
                "RUN",
                "CMD",
                "ENTRYPOINT",
                "SHELL",
                "ENV",
                "LABEL",
                "EXPOSE",
                "USER",
                "WORKDIR",
                "VOLUME",
                "VOLUME",
                "STOPSIGNAL",
                "COPY",
                "ADD",
                "ONBUILD",
                "HEALTHCHECK",
                "HEALTHCHECK"
            ]
        );
        match &df.steps[1].instruction {
            Instruction::From { flags, image, name } => {
                assert_eq!(flag(flags, "platform"), Some("linux/amd64"));
                assert_eq!(image, "$BASE");
                assert_eq!(name.as_deref(), Some("base"));
            }
            o => panic!("{o:?}"),
        }
        match &df.steps[15].instruction {
            Instruction::Copy(c) => {
                assert_eq!(c.flag("from"), Some("base"));
                assert_eq!(c.flag("chown"), Some("1:1"));
                assert_eq!(c.flag("chmod"), Some("644"));
                assert_eq!(c.sources, vec!["a", "b"]);
                assert_eq!(c.dest, "/dst/");
            }
            o => panic!("{o:?}"),
        }
        assert_eq!(
            df.steps[12].instruction,
            Instruction::Volume(vec!["/data".into(), "/logs".into()])
        );
        match &df.steps[18].instruction {
            Instruction::Healthcheck(Healthcheck::Cmd { flags, command }) => {
                assert_eq!(flag(flags, "interval"), Some("5s"));
                assert_eq!(
                    command,
                    &Command::Shell("wget -q localhost || exit 1".into())
                );
            }
            o => panic!("{o:?}"),
        }
        assert_eq!(
            df.steps[19].instruction,
            Instruction::Healthcheck(Healthcheck::None)
        );
    }

    #[test]
    fn argument_errors() {
        assert!(parse("FROM").is_err());
        assert!(parse("FROM a b").is_err());
        assert!(parse("COPY a").is_err());
        assert!(parse("COPY --bogus=1 a b").is_err());
        assert!(parse("ONBUILD ONBUILD RUN x").is_err());
        assert!(parse("ONBUILD FROM x").is_err());
        assert!(parse("ONBUILD RUNN x").is_err());
        assert!(parse("HEALTHCHECK foo").is_err());
        assert!(parse("WORKDIR").is_err());
        let e = parse("FROM a\nCOPY x").unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse("FROM a\nRUN --network=bridge true").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Dockerfile:2: unsupported network mode \"bridge\""
        );
        for n in ["none", "host", "default"] {
            assert!(
                parse(&format!("FROM a\nRUN --network={n} true")).is_ok(),
                "{n}"
            );
        }
    }

    #[test]
    fn expand_variables() {
        let e = env(&[("A", "x"), ("E", ""), ("P", "/usr/bin")]);
        let x = |w: &str| expand(w, &e, '\\').unwrap();
        assert_eq!(x("$A"), "x");
        assert_eq!(x("${A}y"), "xy");
        assert_eq!(x("$Ay"), "");
        assert_eq!(x("${U:-d}"), "d");
        assert_eq!(x("${E:-d}"), "d");
        assert_eq!(x("${E-d}"), "");
        assert_eq!(x("${A:-d}"), "x");
        assert_eq!(x("${A:+alt}"), "alt");
        assert_eq!(x("${U:+alt}"), "");
        assert_eq!(x("${E+alt}"), "alt");
        assert_eq!(x("${U:-$A/z}"), "x/z");
        assert_eq!(x("$P:/bin"), "/usr/bin:/bin");
        assert_eq!(x("'$A'"), "$A");
        assert_eq!(x("\"$A b\""), "x b");
        assert_eq!(x("\\$A"), "$A");
        assert_eq!(x("a\\ b"), "a b");
        assert_eq!(x("\"a\\\"b\\n\""), "a\"b\\n");
        assert_eq!(x("cost $5"), "cost ");
        assert_eq!(x("100$"), "100$");
        assert_eq!(x("$ x"), "$ x");
        assert!(
            expand("${U:?need it}", &e, '\\')
                .unwrap_err()
                .to_string()
                .contains("need it")
        );
        assert!(expand("${A", &e, '\\').is_err());
        assert!(expand("'a", &e, '\\').is_err());
        assert_eq!(expand("`$A", &e, '`').unwrap(), "$A");
    }

    #[test]
    fn split_words_keeps_quotes() {
        assert_eq!(
            split_words(r#"a "b c" d\ e 'f g'"#, '\\'),
            vec!["a", "\"b c\"", "d\\ e", "'f g'"]
        );
    }

    /// The fuzz target's seeds (`fuzz/corpus/parse/seed-*`), deterministically mutated: byte
    /// flips, truncations and inserted `\\`, `$`, `${`, `<<`, quotes and newlines. None may panic.
    #[test]
    fn fuzz_parse_never_panics_on_mutated_corpus() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/parse");
        let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("seed-"))
            .map(|e| std::fs::read(e.path()).unwrap())
            .collect();
        seeds.sort();
        assert!(seeds.len() >= 8, "seed corpus missing in {}", dir.display());
        // Every seed is a valid Dockerfile: mutations start from real syntax.
        for s in &seeds {
            let t = std::str::from_utf8(s).unwrap();
            assert!(parse(t).is_ok(), "seed does not parse: {t}");
        }
        let inserts: [&[u8]; 16] = [
            b"\\",
            b"\\\n",
            b"$",
            b"${",
            b"}",
            b"${A:-",
            b"${A:+x}",
            b"<<",
            b"<<-EOF\n",
            b"EOF\n",
            b"'",
            b"\"",
            b"\n",
            b"`",
            b"# escape=`\n",
            b"[\"",
        ];
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut runs = 0;
        for round in 0..1000 {
            for base in &seeds {
                let mut m = base.clone();
                // 1 to 4 mutations stacked on each other.
                for _ in 0..=(next() % 4) {
                    let len = m.len().max(1) as u64;
                    let at = (next() % len) as usize;
                    match next() % 4 {
                        0 if !m.is_empty() => {
                            let i = at.min(m.len() - 1);
                            m[i] ^= 1 << (next() % 8);
                        }
                        1 => m.truncate(at),
                        _ => {
                            let ins = inserts[(next() % inserts.len() as u64) as usize];
                            let at = at.min(m.len());
                            m.splice(at..at, ins.iter().copied());
                        }
                    }
                }
                fuzz_parse(&m);
                runs += 1;
            }
            if round == 0 {
                for b in &seeds {
                    fuzz_parse(b);
                }
            }
        }
        assert!(runs >= 8000, "{runs}");
    }

    /// Poor man's fuzzing (the cargo-fuzz target is in `fuzz/`): random token soups must
    /// never panic the parser or the expander.
    #[test]
    fn random_inputs_never_panic() {
        let tokens = [
            "FROM ",
            "RUN ",
            "COPY ",
            "ADD ",
            "ENV ",
            "ARG ",
            "LABEL ",
            "ONBUILD ",
            "HEALTHCHECK ",
            "CMD ",
            "SHELL ",
            "\\",
            "\\\n",
            "`",
            "\n",
            "#",
            "# escape=`\n",
            "<<",
            "<<-",
            "EOF",
            "'",
            "\"",
            "$",
            "${",
            "}",
            ":-",
            ":+",
            ":?",
            "=",
            "[",
            "]",
            "--from=",
            " ",
            "\t",
            "é",
            "x",
            "NONE",
            "CMD",
        ];
        let mut seed: u64 = 0x9e3779b97f4a7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let n = (next() % 24) as usize;
            let text: String = (0..n)
                .map(|_| tokens[(next() % tokens.len() as u64) as usize])
                .collect();
            if let Ok(df) = parse(&text) {
                for s in &df.steps {
                    let _ = expand(&s.original, &|k| Some(k.to_string()), df.escape);
                }
            }
            let _ = expand(&text, &|_| None, '\\');
            let _ = split_words(&text, '`');
        }
    }
}
