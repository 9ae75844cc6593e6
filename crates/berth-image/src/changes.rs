//! `docker import -c` / `docker commit -c`: Dockerfile instructions applied to an image config.

use std::collections::BTreeMap;

use berth_api::{ContainerConfig, Empty};

use crate::ImageError;

/// Splits `k=v k2="v 2"` or the legacy `k v` form of ENV/LABEL.
fn key_values(instr: &str, args: &str) -> Result<Vec<(String, String)>, ImageError> {
    let words =
        shell_words::split(args).map_err(|e| ImageError::Invalid(format!("{instr}: {e}")))?;
    if words.is_empty() {
        return Err(ImageError::Invalid(format!(
            "{instr} requires at least one argument"
        )));
    }
    if !words[0].contains('=') {
        // Legacy form: the first word is the key, the rest (verbatim) the value.
        let rest = args.trim_start()[words[0].len()..].trim().to_string();
        return Ok(vec![(words[0].clone(), rest)]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(ImageError::Invalid(format!(
                "{instr} names can not be blank"
            ))),
        })
        .collect()
}

/// Exec form (`["a","b"]`) or shell form (`a b` → `/bin/sh -c "a b"`).
fn command(args: &str) -> Vec<String> {
    let t = args.trim();
    if t.starts_with('[')
        && let Ok(v) = serde_json::from_str::<Vec<String>>(t)
    {
        return v;
    }
    vec!["/bin/sh".into(), "-c".into(), t.to_string()]
}

/// `80`, `53/udp`, `8000-8002/tcp` → `port/proto` keys.
fn expose_ports(spec: &str) -> Result<Vec<String>, ImageError> {
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(ImageError::Invalid(format!("invalid proto: {proto}")));
    }
    let bad = || ImageError::Invalid(format!("invalid containerPort: {ports}"));
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let p = ports.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(bad());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// A Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds.
fn go_duration(s: &str) -> Option<i64> {
    let mut total: f64 = 0.0;
    let mut rest = s;
    if rest == "0" {
        return Some(0);
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[unit_len..];
    }
    Some(total as i64)
}

/// `HEALTHCHECK NONE` or `HEALTHCHECK [--interval=D --timeout=D --start-period=D --retries=N] CMD ...`.
fn healthcheck(args: &str) -> Result<berth_api::HealthConfig, ImageError> {
    let mut hc = berth_api::HealthConfig::default();
    let mut rest = args.trim();
    while let Some(flag) = rest.strip_prefix("--") {
        let (word, tail) = flag.split_once(char::is_whitespace).unwrap_or((flag, ""));
        let (name, value) = word.split_once('=').unwrap_or((word, ""));
        let dur = || {
            go_duration(value)
                .ok_or_else(|| ImageError::Invalid(format!("time: invalid duration \"{value}\"")))
        };
        match name {
            "interval" => hc.interval = Some(dur()?),
            "timeout" => hc.timeout = Some(dur()?),
            "start-period" => hc.start_period = Some(dur()?),
            "retries" => {
                hc.retries = Some(
                    value
                        .parse()
                        .map_err(|_| ImageError::Invalid(format!("invalid retries: {value}")))?,
                )
            }
            other => return Err(ImageError::Invalid(format!("Unknown flag: {other}"))),
        }
        rest = tail.trim_start();
    }
    let (kind, cmd) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    match kind.to_ascii_uppercase().as_str() {
        "NONE" => hc.test = Some(vec!["NONE".into()]),
        "CMD" => {
            let cmd = cmd.trim();
            hc.test = Some(match serde_json::from_str::<Vec<String>>(cmd) {
                Ok(v) if cmd.starts_with('[') => {
                    std::iter::once("CMD".to_string()).chain(v).collect()
                }
                _ => vec!["CMD-SHELL".into(), cmd.to_string()],
            });
        }
        _ => {
            return Err(ImageError::Invalid(
                "Unknown type \"".to_string() + kind + "\" in HEALTHCHECK (try CMD)",
            ));
        }
    }
    Ok(hc)
}

/// Applies Dockerfile-syntax change lines to a config.
pub fn apply_changes(cfg: &mut ContainerConfig, changes: &[String]) -> Result<(), ImageError> {
    for line in changes {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (instr, args) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let args = args.trim();
        match instr.to_ascii_uppercase().as_str() {
            "CMD" => cfg.cmd = Some(command(args)),
            "ENTRYPOINT" => cfg.entrypoint = Some(command(args)),
            "ENV" => {
                let mut env = cfg.env.clone().unwrap_or_default();
                for (k, v) in key_values("ENV", args)? {
                    env.retain(|e| e.split('=').next() != Some(k.as_str()));
                    env.push(format!("{k}={v}"));
                }
                cfg.env = Some(env);
            }
            "LABEL" => {
                let mut labels: BTreeMap<String, String> = cfg.labels.clone().unwrap_or_default();
                for (k, v) in key_values("LABEL", args)? {
                    labels.insert(k, v);
                }
                cfg.labels = Some(labels);
            }
            "WORKDIR" => cfg.working_dir = Some(args.to_string()),
            "USER" => cfg.user = Some(args.to_string()),
            "STOPSIGNAL" => cfg.stop_signal = Some(args.to_string()),
            "EXPOSE" => {
                let mut ports = cfg.exposed_ports.clone().unwrap_or_default();
                for p in args.split_whitespace() {
                    for port in expose_ports(p)? {
                        ports.insert(port, Empty {});
                    }
                }
                cfg.exposed_ports = Some(ports);
            }
            "HEALTHCHECK" => cfg.healthcheck = Some(healthcheck(args)?),
            "VOLUME" => {
                let mut vols = cfg.volumes.clone().unwrap_or_default();
                let list: Vec<String> = if args.starts_with('[') {
                    serde_json::from_str(args)
                        .map_err(|e| ImageError::Invalid(format!("VOLUME: {e}")))?
                } else {
                    args.split_whitespace().map(String::from).collect()
                };
                for v in list {
                    vols.insert(v, Empty {});
                }
                cfg.volumes = Some(vols);
            }
            "ONBUILD" => {
                let mut ob = cfg.on_build.clone().unwrap_or_default();
                // Docker stores the trigger with its instruction upper-cased.
                let (trigger, rest) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
                let stored = if rest.is_empty() {
                    trigger.to_ascii_uppercase()
                } else {
                    format!("{} {}", trigger.to_ascii_uppercase(), rest.trim())
                };
                ob.push(stored);
                cfg.on_build = Some(ob);
            }
            "SHELL" => {
                cfg.shell = Some(
                    serde_json::from_str(args)
                        .map_err(|e| ImageError::Invalid(format!("SHELL: {e}")))?,
                );
            }
            other => {
                return Err(ImageError::Invalid(format!(
                    "{} is not a valid change command",
                    other.to_ascii_lowercase()
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn changes_parse_like_dockerfile_instructions() {
        let mut c = ContainerConfig::default();
        apply_changes(
            &mut c,
            &[
                r#"CMD ["sh"]"#.into(),
                "ENTRYPOINT echo hi".into(),
                "ENV A=1 B=\"two words\"".into(),
                "ENV C three four".into(),
                "WORKDIR /srv".into(),
                "EXPOSE 80 53/udp".into(),
                "USER nobody".into(),
                "LABEL a=b".into(),
            ],
        )
        .unwrap();
        assert_eq!(c.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(
            c.entrypoint,
            Some(vec!["/bin/sh".to_string(), "-c".into(), "echo hi".into()])
        );
        assert_eq!(
            c.env,
            Some(vec![
                "A=1".to_string(),
                "B=two words".into(),
                "C=three four".into()
            ])
        );
        assert_eq!(c.working_dir.as_deref(), Some("/srv"));
        assert!(c.exposed_ports.as_ref().unwrap().contains_key("80/tcp"));
        assert!(c.exposed_ports.as_ref().unwrap().contains_key("53/udp"));
        assert_eq!(c.labels.as_ref().unwrap()["a"], "b");
        apply_changes(
            &mut c,
            &[
                "HEALTHCHECK --interval=1m30s --retries=3 CMD curl -f http://localhost/".into(),
                "EXPOSE 8000-8001/udp".into(),
                "ONBUILD run echo hi".into(),
                "VOLUME [\"/data\", \"/logs\"]".into(),
                "STOPSIGNAL SIGKILL".into(),
            ],
        )
        .unwrap();
        let hc = c.healthcheck.as_ref().unwrap();
        assert_eq!(
            hc.test,
            Some(vec![
                "CMD-SHELL".to_string(),
                "curl -f http://localhost/".into()
            ])
        );
        assert_eq!(hc.interval, Some(90_000_000_000));
        assert_eq!(hc.retries, Some(3));
        assert!(c.exposed_ports.as_ref().unwrap().contains_key("8001/udp"));
        assert_eq!(c.on_build, Some(vec!["RUN echo hi".to_string()]));
        assert!(c.volumes.as_ref().unwrap().contains_key("/logs"));
        assert_eq!(c.stop_signal.as_deref(), Some("SIGKILL"));
        apply_changes(&mut c, &[r#"HEALTHCHECK CMD ["true"]"#.into()]).unwrap();
        assert_eq!(
            c.healthcheck.as_ref().unwrap().test,
            Some(vec!["CMD".to_string(), "true".into()])
        );
        assert!(apply_changes(&mut ContainerConfig::default(), &["EXPOSE 80/xyz".into()]).is_err());
        let err = apply_changes(&mut c, &["RUN true".into()]).unwrap_err();
        assert_eq!(err.to_string(), "run is not a valid change command");
    }
}
