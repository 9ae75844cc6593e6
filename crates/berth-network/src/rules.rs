//! iptables rule generation (pure: produces `iptables-restore --noflush` text) and application.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use crate::ipam::Subnet;

/// Names of the chains owned by one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chains {
    /// nat chain holding DNAT rules, e.g. `BERTH`.
    pub nat: String,
    /// nat chain holding MASQUERADE rules.
    pub post: String,
    /// filter chain jumped from FORWARD.
    pub fwd: String,
}

impl Chains {
    /// Chain names for an instance ("berth" → BERTH, BERTH-POST, BERTH-FWD).
    pub fn for_instance(instance: &str) -> Self {
        let base: String = instance
            .to_ascii_uppercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .take(20)
            .collect();
        Self {
            post: format!("{base}-POST"),
            fwd: format!("{base}-FWD"),
            nat: base,
        }
    }

    /// The jump rules from built-in chains, as (table, chain, rule-spec after `-A <chain>`).
    pub fn jumps(&self) -> Vec<(&'static str, &'static str, String)> {
        vec![
            (
                "nat",
                "PREROUTING",
                format!("-m addrtype --dst-type LOCAL -j {}", self.nat),
            ),
            (
                "nat",
                "OUTPUT",
                format!(
                    "! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j {}",
                    self.nat
                ),
            ),
            ("nat", "POSTROUTING", format!("-j {}", self.post)),
            ("filter", "FORWARD", format!("-j {}", self.fwd)),
        ]
    }
}

/// One bridge network as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeRules {
    /// Bridge interface name.
    pub bridge: String,
    /// Its subnet.
    pub subnet: Subnet,
    /// `--internal`: no traffic in or out of the bridge.
    pub internal: bool,
    /// Masquerade outgoing traffic.
    pub masquerade: bool,
}

/// One published port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRule {
    /// Bridge the container sits on.
    pub bridge: String,
    /// "tcp" / "udp" / "sctp".
    pub proto: String,
    /// Host address (0.0.0.0 = any).
    pub host_ip: Ipv4Addr,
    /// Host port.
    pub host_port: u16,
    /// Container address.
    pub container_ip: Ipv4Addr,
    /// Container port.
    pub container_port: u16,
}

/// Renders the complete contents of our chains. With `--noflush`, declaring a chain flushes it, so
/// each apply replaces our rules atomically per table without touching anyone else's.
/// `add_jumps` lists the jumps from built-in chains that are still missing.
pub fn render(
    chains: &Chains,
    bridges: &[BridgeRules],
    ports: &[PortRule],
    add_jumps: &[(&str, &str, String)],
) -> String {
    let mut nat = String::new();
    nat.push_str("*nat\n");
    nat.push_str(&format!(
        ":{} - [0:0]\n:{} - [0:0]\n",
        chains.nat, chains.post
    ));
    for (t, c, spec) in add_jumps {
        if *t == "nat" {
            nat.push_str(&format!("-I {c} 1 {spec}\n"));
        }
    }
    for b in bridges {
        nat.push_str(&format!("-A {} -i {} -j RETURN\n", chains.nat, b.bridge));
    }
    for p in ports {
        let dst = if p.host_ip.is_unspecified() {
            String::new()
        } else {
            format!("-d {}/32 ", p.host_ip)
        };
        nat.push_str(&format!(
            "-A {} {dst}! -i {} -p {} -m {} --dport {} -j DNAT --to-destination {}:{}\n",
            chains.nat, p.bridge, p.proto, p.proto, p.host_port, p.container_ip, p.container_port
        ));
    }
    for b in bridges {
        if b.masquerade && !b.internal {
            nat.push_str(&format!(
                "-A {} -s {} ! -o {} -j MASQUERADE\n",
                chains.post, b.subnet, b.bridge
            ));
        }
    }
    nat.push_str("COMMIT\n");

    let mut f = String::new();
    f.push_str("*filter\n");
    f.push_str(&format!(":{} - [0:0]\n", chains.fwd));
    for (t, c, spec) in add_jumps {
        if *t == "filter" {
            f.push_str(&format!("-I {c} 1 {spec}\n"));
        }
    }
    let c = &chains.fwd;
    // Isolation between our own bridges comes first so nothing below can accept it.
    for a in bridges {
        for b in bridges {
            if a.bridge != b.bridge {
                f.push_str(&format!("-A {c} -i {} -o {} -j DROP\n", a.bridge, b.bridge));
            }
        }
    }
    for b in bridges {
        let br = &b.bridge;
        if b.internal {
            f.push_str(&format!("-A {c} -i {br} ! -o {br} -j DROP\n"));
            f.push_str(&format!("-A {c} ! -i {br} -o {br} -j DROP\n"));
            f.push_str(&format!("-A {c} -i {br} -o {br} -j ACCEPT\n"));
            continue;
        }
        f.push_str(&format!(
            "-A {c} -o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
        ));
        f.push_str(&format!("-A {c} -i {br} -j ACCEPT\n"));
    }
    for p in ports {
        f.push_str(&format!(
            "-A {c} -d {}/32 ! -i {br} -o {br} -p {proto} -m {proto} --dport {} -j ACCEPT\n",
            p.container_ip,
            p.container_port,
            br = p.bridge,
            proto = p.proto
        ));
    }
    f.push_str("COMMIT\n");
    nat + &f
}

/// Text removing our jumps and chains entirely (only the jumps that `present` says exist).
pub fn render_teardown(chains: &Chains, present_jumps: &[(&str, &str, String)]) -> String {
    let mut nat = String::from("*nat\n");
    let mut f = String::from("*filter\n");
    for (t, c, spec) in present_jumps {
        let line = format!("-D {c} {spec}\n");
        if *t == "nat" {
            nat.push_str(&line)
        } else {
            f.push_str(&line)
        }
    }
    nat.push_str(&format!(
        ":{} - [0:0]\n:{} - [0:0]\n",
        chains.nat, chains.post
    ));
    nat.push_str(&format!("-X {}\n-X {}\nCOMMIT\n", chains.nat, chains.post));
    f.push_str(&format!(
        ":{} - [0:0]\n-X {}\nCOMMIT\n",
        chains.fwd, chains.fwd
    ));
    nat + &f
}

/// Which of `jumps` already appear in `iptables-save` output.
pub fn present_jumps<'a>(
    save_nat: &str,
    save_filter: &str,
    jumps: &'a [(&'static str, &'static str, String)],
) -> Vec<&'a (&'static str, &'static str, String)> {
    jumps
        .iter()
        .filter(|(t, c, spec)| {
            let text = if *t == "nat" { save_nat } else { save_filter };
            let want = format!("-A {c} {spec}");
            text.lines().any(|l| l.trim() == want)
        })
        .collect()
}

/// Runs `iptables-save -t <table>`.
pub fn save(table: &str) -> std::io::Result<String> {
    let out = Command::new("iptables-save")
        .args(["-t", table])
        .stderr(Stdio::null())
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Feeds `text` to one `iptables-restore --noflush -w` call.
pub fn restore(text: &str) -> std::io::Result<()> {
    let mut child = Command::new("iptables-restore")
        .args(["--noflush", "-w"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "iptables-restore failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn br(name: &str, sub: &str, internal: bool) -> BridgeRules {
        BridgeRules {
            bridge: name.into(),
            subnet: sub.parse().unwrap_or_else(|_| panic!("bad")),
            internal,
            masquerade: true,
        }
    }

    #[test]
    fn chain_names() {
        let c = Chains::for_instance("berth-1a2b3c4d");
        assert_eq!(c.nat, "BERTH-1A2B3C4D");
        assert_eq!(c.post, "BERTH-1A2B3C4D-POST");
        assert_eq!(c.fwd, "BERTH-1A2B3C4D-FWD");
    }

    #[test]
    fn render_rules() {
        let c = Chains::for_instance("berth");
        let bridges = [
            br("berth0", "172.17.0.0/16", false),
            br("bt-abc", "10.77.0.0/24", true),
        ];
        let ports = [PortRule {
            bridge: "berth0".into(),
            proto: "tcp".into(),
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_port: 8080,
            container_ip: Ipv4Addr::new(172, 17, 0, 2),
            container_port: 80,
        }];
        let jumps = c.jumps();
        let text = render(&c, &bridges, &ports, &jumps);
        let want = [
            "*nat",
            ":BERTH - [0:0]",
            "-I PREROUTING 1 -m addrtype --dst-type LOCAL -j BERTH",
            "-I OUTPUT 1 ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j BERTH",
            "-I POSTROUTING 1 -j BERTH-POST",
            "-A BERTH -i berth0 -j RETURN",
            "-A BERTH ! -i berth0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80",
            "-A BERTH-POST -s 172.17.0.0/16 ! -o berth0 -j MASQUERADE",
            "-I FORWARD 1 -j BERTH-FWD",
            "-A BERTH-FWD -i berth0 -o bt-abc -j DROP",
            "-A BERTH-FWD -i bt-abc -o berth0 -j DROP",
            "-A BERTH-FWD -i bt-abc ! -o bt-abc -j DROP",
            "-A BERTH-FWD -i berth0 -j ACCEPT",
            "-A BERTH-FWD -d 172.17.0.2/32 ! -i berth0 -o berth0 -p tcp -m tcp --dport 80 -j ACCEPT",
        ];
        for w in want {
            assert!(text.lines().any(|l| l == w), "missing {w:?} in\n{text}");
        }
        assert!(
            !text.contains("-s 10.77.0.0/24"),
            "internal network must not masquerade"
        );
        assert_eq!(text.matches("COMMIT").count(), 2);
        let none = render(&c, &bridges, &[], &[]);
        assert!(!none.contains("-I "));
    }

    #[test]
    fn jumps_detection_and_teardown() {
        let c = Chains::for_instance("berth");
        let jumps = c.jumps();
        let nat = "*nat\n-A PREROUTING -m addrtype --dst-type LOCAL -j BERTH\n-A POSTROUTING -j BERTH-POST\n";
        let p = present_jumps(nat, "", &jumps);
        assert_eq!(p.len(), 2);
        let owned: Vec<_> = p.into_iter().cloned().collect();
        let t = render_teardown(&c, &owned);
        assert!(t.contains("-D PREROUTING -m addrtype --dst-type LOCAL -j BERTH\n"));
        assert!(t.contains("-X BERTH-FWD\n"));
    }
}
