//! Images through both CLIs: import with changes, tag, images filters/formats, rmi (in-use
//! refusal), save/load round trip, history, image prune.

// Test code: a failed unwrap is a failed assertion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{BOTH, Cli, Daemon};

fn setup() -> Daemon {
    common::prerequisites().unwrap_or_else(|e| panic!("{e}"));
    let d = Daemon::start();
    d.make_busybox("busybox");
    d
}

#[test]
fn import_with_changes_tag_images_history() {
    let d = setup();
    let tar = common::busybox_rootfs_tar(d.dir.path());
    for cli in BOTH {
        let img = match cli {
            Cli::Docker => "imp-d:1",
            Cli::Berth => "imp-b:1",
        };
        let o = d
            .cli(
                cli,
                &[
                    "import",
                    "-m",
                    "imported",
                    "-c",
                    "ENV GREETING=hi",
                    "-c",
                    "WORKDIR /tmp",
                    "-c",
                    "USER 65534",
                    "-c",
                    "LABEL team=core",
                    "-c",
                    "EXPOSE 8080",
                    "-c",
                    "ENTRYPOINT [\"sh\", \"-c\"]",
                    "-c",
                    "CMD [\"echo $GREETING $(pwd) $(id -u)\"]",
                    tar.to_str().unwrap(),
                    img,
                ],
            )
            .ok();
        assert!(o.out().starts_with("sha256:"), "{cli:?} {}", o.out());
        let o = d.cli(cli, &["run", "--rm", img]).ok();
        assert_eq!(o.out(), "hi /tmp 65534", "{cli:?}");
        // CMD is replaced by arguments, ENTRYPOINT kept.
        let o = d.cli(cli, &["run", "--rm", img, "echo override"]).ok();
        assert_eq!(o.out(), "override", "{cli:?}");
        assert_eq!(
            d.inspect(
                "{{index .Config.Labels \"team\"}} {{json .Config.ExposedPorts}} {{.Comment}}",
                img
            ),
            "core {\"8080/tcp\":{}} imported"
        );
        // Import from stdin.
        let data = std::fs::read(&tar).unwrap();
        let o = d
            .cli_stdin(
                cli,
                &[
                    "import",
                    "-",
                    &format!("{}-stdin:1", img.split(':').next().unwrap()),
                ],
                Some(&data),
            )
            .ok();
        assert!(o.out().starts_with("sha256:"), "{cli:?}");
        // tag and the listing.
        let tagged = format!("{}:tagged", img.split(':').next().unwrap());
        d.cli(cli, &["tag", img, &tagged]).ok();
        let id1 = d.inspect("{{.Id}}", img);
        assert_eq!(d.inspect("{{.Id}}", &tagged), id1);
        let o = d
            .cli(
                cli,
                &[
                    "images",
                    "--filter",
                    &format!("reference={}", img.split(':').next().unwrap()),
                    "--format",
                    "{{.Repository}}:{{.Tag}} {{.ID}}",
                ],
            )
            .ok();
        let mut lines: Vec<&str> = o.stdout.lines().collect();
        lines.sort();
        let short = &id1["sha256:".len().."sha256:".len() + 12];
        let repo = img.split(':').next().unwrap();
        assert_eq!(
            lines,
            [
                format!("{repo}:1 {short}"),
                format!("{repo}:tagged {short}")
            ],
            "{cli:?}"
        );
        let o = d.cli(cli, &["images", "-q", "--no-trunc", &tagged]).ok();
        assert_eq!(o.out(), id1, "{cli:?}");
        let o = d.cli(cli, &["images"]).ok();
        assert!(o.stdout.starts_with("REPOSITORY"), "{cli:?} {}", o.stdout);
        let o = d
            .cli(
                cli,
                &["history", "--format", "{{.CreatedBy}}|{{.Comment}}", img],
            )
            .ok();
        assert!(o.out().contains("|imported"), "{cli:?} {}", o.out());
        let o = d
            .cli(
                cli,
                &[
                    "image",
                    "inspect",
                    "--format",
                    "{{.Os}} {{.Architecture}} {{len .RootFS.Layers}}",
                    img,
                ],
            )
            .ok();
        assert_eq!(
            o.out(),
            format!(
                "linux {} 1",
                std::env::consts::ARCH
                    .replace("x86_64", "amd64")
                    .replace("aarch64", "arm64")
            ),
            "{cli:?}"
        );
        let o = d.cli(cli, &["image", "inspect", "nosuch:img"]);
        assert_eq!(o.code, 1, "{cli:?}");
        assert!(
            o.stderr.contains("No such image: nosuch:img"),
            "{cli:?} {}",
            o.stderr
        );
    }
}

#[test]
fn rmi_refuses_images_in_use_and_prune() {
    let d = setup();
    let id = d.inspect("{{.Id}}", "busybox");
    let short = &id[7..19];
    let cid = d
        .docker(&["create", "busybox", "true"])
        .ok()
        .out()
        .to_string();
    for cli in BOTH {
        let o = d.cli(cli, &["rmi", "busybox"]);
        assert_eq!(o.code, 1, "{cli:?}");
        let want = format!(
            "Error response from daemon: conflict: unable to remove repository reference \"busybox\" (must force) - container {} is using its referenced image {short}",
            &cid[..12]
        );
        assert!(o.stderr.contains(&want), "{cli:?} {}", o.stderr);
        let o = d.cli(cli, &["rmi", "nosuch:img"]);
        assert_eq!(o.code, 1, "{cli:?}");
        assert!(
            o.stderr.contains("No such image: nosuch:img"),
            "{cli:?} {}",
            o.stderr
        );
    }
    // A second tag can go; the untag is reported.
    d.docker(&["tag", "busybox", "extra:tag"]).ok();
    let o = d.berth(&["rmi", "extra:tag"]).ok();
    assert_eq!(o.out(), "Untagged: extra:tag", "{}", o.out());
    d.docker(&["rm", &cid]).ok();
    // Prune: a dangling image goes with `image prune`, a tagged unused one only with -a.
    d.docker(&["tag", "busybox", "keep:1"]).ok();
    let tmp = d.docker(&["create", "busybox", "true"]).ok();
    d.docker(&["commit", tmp.out()]).ok();
    let o = d
        .docker(&["images", "-q", "--filter", "dangling=true"])
        .ok();
    assert_eq!(o.out().lines().count(), 1, "{}", o.out());
    d.docker(&["container", "prune", "-f"]).ok();
    let o = d.berth(&["image", "prune", "-f"]).ok();
    assert!(o.stdout.contains("Total reclaimed space:"), "{}", o.stdout);
    let o = d
        .docker(&["images", "-q", "--filter", "dangling=true"])
        .ok();
    assert_eq!(o.out(), "");
    let o = d.docker(&["images", "--format", "{{.Repository}}"]).ok();
    assert!(o.stdout.contains("keep"), "{}", o.stdout);
    let o = d.docker(&["image", "prune", "-a", "-f"]).ok();
    assert!(o.stdout.contains("untagged: keep:1"), "{}", o.stdout);
    let o = d.docker(&["images", "-q"]).ok();
    assert_eq!(o.out(), "");
}

#[test]
fn save_load_round_trip() {
    let d = setup();
    d.docker(&["tag", "busybox", "second:v2"]).ok();
    let id = d.inspect("{{.Id}}", "busybox");
    for cli in BOTH {
        let tar = d.dir.path().join(format!("saved-{cli:?}.tar"));
        d.cli(
            cli,
            &["save", "-o", tar.to_str().unwrap(), "busybox", "second:v2"],
        )
        .ok();
        // Docker's archive layout: manifest.json with both tags.
        let mut ar = tar::Archive::new(std::fs::File::open(&tar).unwrap());
        let mut manifest = String::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path().unwrap().to_string_lossy() == "manifest.json" {
                use std::io::Read;
                e.read_to_string(&mut manifest).unwrap();
            }
        }
        let m: serde_json::Value = serde_json::from_str(&manifest).expect("manifest.json");
        let tags: Vec<String> = m
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|x| x["RepoTags"].as_array().cloned().unwrap_or_default())
            .filter_map(|t| t.as_str().map(String::from))
            .collect();
        assert!(
            tags.contains(&"busybox:latest".to_string()) && tags.contains(&"second:v2".to_string()),
            "{cli:?} {tags:?}"
        );
        // Remove, then load back from the file and from stdin.
        d.docker(&["rmi", "busybox", "second:v2"]).ok();
        assert_eq!(d.docker(&["images", "-q"]).ok().out(), "");
        let o = d.cli(cli, &["load", "-i", tar.to_str().unwrap()]).ok();
        assert!(
            o.stdout.contains("Loaded image: busybox:latest"),
            "{cli:?} {}",
            o.stdout
        );
        assert!(
            o.stdout.contains("Loaded image: second:v2"),
            "{cli:?} {}",
            o.stdout
        );
        assert_eq!(d.inspect("{{.Id}}", "busybox"), id, "{cli:?}");
        let o = d
            .cli(cli, &["run", "--rm", "second:v2", "echo", "loaded"])
            .ok();
        assert_eq!(o.out(), "loaded", "{cli:?}");
        d.docker(&["rmi", "second:v2"]).ok();
        let data = std::fs::read(&tar).unwrap();
        let o = d.cli_stdin(cli, &["load"], Some(&data)).ok();
        assert!(
            o.stdout.contains("Loaded image: second:v2"),
            "{cli:?} {}",
            o.stdout
        );
        // save to stdout.
        let o = d.cli(cli, &["save", "busybox"]).ok();
        assert!(
            o.stdout.len() > 1_000_000,
            "{cli:?}: save to stdout gave {} bytes",
            o.stdout.len()
        );
    }
}
