//! `ps` output: the JSON pid list, or `ps(1)` output filtered to the container's pids.

/// runc's `ps --format json`: a JSON array of host pids.
pub fn json(pids: &[i32]) -> String {
    let list: Vec<String> = pids.iter().map(i32::to_string).collect();
    format!("[{}]", list.join(","))
}

/// Why `ps(1)` output could not be filtered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PsTableError {
    /// `ps` printed nothing.
    #[error("no ps output")]
    Empty,
    /// The header has no PID column.
    #[error("couldn't find PID field in ps output")]
    NoPidColumn,
}

/// Keeps the header and the lines of `ps(1)` output whose PID column is one of `pids`.
pub fn filter_table(ps_output: &str, pids: &[i32]) -> Result<String, PsTableError> {
    let mut lines = ps_output.lines();
    let header = lines.next().ok_or(PsTableError::Empty)?;
    let column = header
        .split_whitespace()
        .position(|f| f == "PID")
        .ok_or(PsTableError::NoPidColumn)?;
    let mut out = String::from(header);
    out.push('\n');
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(column)
            .and_then(|f| f.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_list() {
        assert_eq!(json(&[1, 22]), "[1,22]");
        assert_eq!(json(&[]), "[]");
    }

    #[test]
    fn table_filter() {
        let ps = "UID PID PPID CMD\nroot 1 0 init\nroot 7 1 sleep 10\nroot 8 1 other\n";
        assert_eq!(
            filter_table(ps, &[7]),
            Ok("UID PID PPID CMD\nroot 7 1 sleep 10\n".to_string())
        );
        assert_eq!(filter_table("A B\n", &[1]), Err(PsTableError::NoPidColumn));
        assert_eq!(filter_table("", &[1]), Err(PsTableError::Empty));
    }
}
