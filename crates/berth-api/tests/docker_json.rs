//! Round trips against JSON captured from a real Docker 20.10 (DOCKER-BEHAVIOUR.md): parsing
//! Docker's output and printing it again must give back the same bytes, key order included.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use berth_api::*;
use serde_json::{Value, json};

const CONTAINER_INSPECT: &str = include_str!("data/container_inspect.json");
const IMAGE_INSPECT: &str = include_str!("data/image_inspect.json");
const STATE_EXITED: &str = include_str!("data/state_exited.json");
const INFO_KEYS: &str = include_str!("data/info_keys.txt");

fn keys(v: &Value) -> String {
    v.as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reserializes Docker's JSON through `T` and compares text, so key order and null-vs-empty
/// both count.
fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(docker: &str) -> T {
    let parsed: T = serde_json::from_str(docker).unwrap();
    let ours = serde_json::to_string_pretty(&serde_json::to_value(&parsed).unwrap()).unwrap();
    let theirs =
        serde_json::to_string_pretty(&serde_json::from_str::<Value>(docker).unwrap()).unwrap();
    assert_eq!(ours, theirs);
    parsed
}

#[test]
fn container_inspect_round_trips() {
    let c: ContainerInspect = round_trip(CONTAINER_INSPECT);
    assert_eq!(c.state.pid, 8933);
    assert_eq!(c.host_config.runtime.as_deref(), Some("runc"));
    assert_eq!(c.config.labels, Some(BTreeMap::new()));
    assert_eq!(
        c.network_settings.networks["bridge"].ip_address,
        "172.17.0.2"
    );
}

#[test]
fn image_inspect_round_trips() {
    let i: ImageInspect = round_trip(IMAGE_INSPECT);
    assert_eq!(i.config.unwrap().cmd, Some(vec!["sh".to_string()]));
    assert_eq!(i.root_fs.layers.len(), 1);
}

#[test]
fn exited_state_round_trips() {
    let s: ContainerState = serde_json::from_str(STATE_EXITED).unwrap();
    assert_eq!(serde_json::to_string(&s).unwrap(), STATE_EXITED.trim());
    assert_eq!(s.exit_code, 3);
}

#[test]
fn docker_default_host_config_is_what_docker_run_shows() {
    let docker: Value = serde_json::from_str(CONTAINER_INSPECT).unwrap();
    let mut want = docker["HostConfig"].clone();
    // anchor-web was run with `-p 127.0.0.1:18080:80`; a plain run has no bindings.
    want["PortBindings"] = json!({});
    let ours = serde_json::to_value(HostConfig::docker_default()).unwrap();
    assert_eq!(
        serde_json::to_string(&ours).unwrap(),
        serde_json::to_string(&want).unwrap()
    );
}

#[test]
fn fill_defaults_respects_privileged_and_cgroup_v2() {
    let mut h = HostConfig {
        privileged: Some(true),
        ..HostConfig::default()
    };
    h.fill_defaults(true);
    let v = serde_json::to_value(&h).unwrap();
    assert_eq!(v["MaskedPaths"], Value::Null);
    assert_eq!(v["ReadonlyPaths"], Value::Null);
    assert_eq!(v["CgroupnsMode"], "private");
    assert_eq!(
        v["RestartPolicy"],
        json!({"Name": "no", "MaximumRetryCount": 0})
    );
    assert_eq!(v["LogConfig"], json!({"Type": "", "Config": {}}));
    assert!(
        v.get("Runtime").is_none(),
        "Runtime is omitempty in dockerd"
    );
}

#[test]
fn image_config_without_labels_prints_null_and_omits_omitempty_fields() {
    let c = ContainerConfig {
        cmd: Some(vec!["sh".into()]),
        args_escaped: Some(false),
        stop_signal: Some(String::new()),
        shell: Some(vec![]),
        exposed_ports: Some(BTreeMap::new()),
        ..Default::default()
    };
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(
        keys(&v),
        "Hostname Domainname User AttachStdin AttachStdout AttachStderr Tty OpenStdin StdinOnce Env Cmd Image Volumes WorkingDir Entrypoint OnBuild Labels"
    );
    assert_eq!(v["Labels"], Value::Null);
    let full = ContainerConfig {
        healthcheck: Some(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        }),
        args_escaped: Some(true),
        network_disabled: Some(true),
        mac_address: Some("02:42:ac:11:00:02".into()),
        stop_signal: Some("SIGINT".into()),
        stop_timeout: Some(3),
        shell: Some(vec!["/bin/sh".into(), "-c".into()]),
        ..c
    };
    let v = serde_json::to_value(&full).unwrap();
    assert_eq!(
        keys(&v),
        "Hostname Domainname User AttachStdin AttachStdout AttachStderr Tty OpenStdin StdinOnce Env Cmd Healthcheck ArgsEscaped Image Volumes WorkingDir Entrypoint NetworkDisabled MacAddress OnBuild Labels StopSignal StopTimeout Shell"
    );
    assert_eq!(v["Healthcheck"], json!({"Test": ["NONE"]}));
}

/// The body docker CLI 20.10 sends for `docker run -d -p 127.0.0.1:18080:80 --name x bb httpd -f -p 80`.
const CLI_CREATE_BODY: &str = r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,
"AttachStderr":false,"ExposedPorts":{"80/tcp":{}},"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":[],
"Cmd":["httpd","-f","-p","80"],"Image":"bb","Volumes":{},"WorkingDir":"","Entrypoint":null,"OnBuild":null,
"Labels":{},"HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},
"NetworkMode":"default","PortBindings":{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"18080"}]},
"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,
"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,
"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,
"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,
"ConsoleSize":[0,0],"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,
"BlkioWeightDevice":[],"BlkioDeviceReadBps":null,"BlkioDeviceWriteBps":null,"BlkioDeviceReadIOps":null,
"BlkioDeviceWriteIOps":null,"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,
"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"KernelMemory":0,
"KernelMemoryTCP":0,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":false,
"PidsLimit":null,"Ulimits":null,"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,
"MaskedPaths":null,"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{}},"Platform":null}"#;

#[test]
fn create_request_reads_the_cli_body() {
    let r: ContainerCreateRequest = serde_json::from_str(CLI_CREATE_BODY).unwrap();
    assert_eq!(r.config.image.as_deref(), Some("bb"));
    assert_eq!(r.config.cmd.as_ref().map(Vec::len), Some(4));
    let mut h = r.host_config.unwrap();
    assert_eq!(
        h.port_bindings.as_ref().unwrap()["80/tcp"]
            .as_ref()
            .unwrap()[0]
            .host_port
            .as_deref(),
        Some("18080")
    );
    assert_eq!(
        r.networking_config.unwrap().endpoints_config,
        Some(BTreeMap::new())
    );
    // After the daemon's defaults and runtime/log choices, inspect shows what Docker shows.
    h.fill_defaults(false);
    h.runtime = Some("runc".into());
    h.log_config = Some(LogConfig {
        r#type: Some("json-file".into()),
        config: Some(BTreeMap::new()),
    });
    let docker: Value = serde_json::from_str(CONTAINER_INSPECT).unwrap();
    assert_eq!(serde_json::to_value(&h).unwrap(), docker["HostConfig"]);
    assert_eq!(
        keys(&serde_json::to_value(&h).unwrap()),
        keys(&docker["HostConfig"])
    );
}

#[test]
fn requests_accept_nulls_strings_and_unknown_keys() {
    let r: ContainerCreateRequest = serde_json::from_str(
        r#"{"Image":"bb","Cmd":"true","Entrypoint":null,"HostConfig":null,"NetworkingConfig":null,"Whatever":1}"#,
    )
    .unwrap();
    assert_eq!(r.config.cmd, Some(vec!["true".to_string()]));
    assert!(r.host_config.is_none());
    let e: ExecCreateRequest =
        serde_json::from_str(r#"{"Cmd":"ls","Env":null,"ConsoleSize":null}"#).unwrap();
    assert_eq!(e.cmd, Some(vec!["ls".to_string()]));
    let u: ContainerUpdateRequest = serde_json::from_str(
        r#"{"Memory":1048576,"RestartPolicy":{"Name":"always"},"PidsLimit":null}"#,
    )
    .unwrap();
    assert_eq!(u.memory, Some(1_048_576));
    assert_eq!(u.restart_policy.unwrap().name.as_deref(), Some("always"));
    assert_eq!(
        serde_json::to_string(&ContainerUpdateRequest {
            memory: Some(5),
            ..Default::default()
        })
        .unwrap(),
        r#"{"Memory":5}"#
    );
    let n: NetworkingConfig = serde_json::from_str(
        r#"{"EndpointsConfig":{"net":{"IPAMConfig":null,"Aliases":["a"],"NetworkID":null}}}"#,
    )
    .unwrap();
    let ep = n.endpoints_config.unwrap()["net"].clone().unwrap();
    assert_eq!(ep.aliases, Some(vec!["a".to_string()]));
    assert_eq!(ep.network_id, "");
}

#[test]
fn container_summary_key_order() {
    let s = ContainerSummary {
        id: "de2d".into(),
        names: vec!["/anchor-web".into()],
        image: "bb".into(),
        image_id: "sha256:1886".into(),
        command: "httpd -f -p 80".into(),
        created: 1,
        ports: vec![Port {
            ip: "127.0.0.1".into(),
            private_port: 80,
            public_port: 18080,
            r#type: "tcp".into(),
        }],
        labels: BTreeMap::new(),
        state: "running".into(),
        status: "Up 1 second".into(),
        host_config: SummaryHostConfig {
            network_mode: "default".into(),
        },
        network_settings: Some(SummaryNetworkSettings::default()),
        ..Default::default()
    };
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(
        keys(&v),
        "Id Names Image ImageID Command Created Ports Labels State Status HostConfig NetworkSettings Mounts"
    );
    assert_eq!(
        v["Ports"],
        json!([{"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": 18080, "Type": "tcp"}])
    );
    let unpublished = Port {
        private_port: 80,
        r#type: "tcp".into(),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(unpublished).unwrap(),
        json!({"PrivatePort": 80, "Type": "tcp"})
    );
    let sized = ContainerSummary {
        size_rw: Some(0),
        size_root_fs: Some(5),
        ..s
    };
    assert_eq!(
        keys(&serde_json::to_value(&sized).unwrap()),
        "Id Names Image ImageID Command Created Ports SizeRw SizeRootFs Labels State Status HostConfig NetworkSettings Mounts"
    );
}

#[test]
fn image_summary_history_and_delete_shapes() {
    let s = ImageSummary {
        containers: -1,
        shared_size: -1,
        repo_tags: vec!["bb:latest".into()],
        ..Default::default()
    };
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(
        keys(&v),
        "Containers Created Id Labels ParentId RepoDigests RepoTags SharedSize Size VirtualSize"
    );
    assert_eq!(v["Labels"], Value::Null);
    assert_eq!(v["RepoDigests"], json!([]));
    let h = HistoryItem {
        id: "<missing>".into(),
        ..Default::default()
    };
    assert_eq!(
        keys(&serde_json::to_value(&h).unwrap()),
        "Comment Created CreatedBy Id Size Tags"
    );
    assert_eq!(
        serde_json::to_string(&DeleteItem::untagged("bb:latest")).unwrap(),
        r#"{"Untagged":"bb:latest"}"#
    );
    assert_eq!(
        serde_json::to_string(&DeleteItem::deleted("sha256:ab")).unwrap(),
        r#"{"Deleted":"sha256:ab"}"#
    );
    assert_eq!(
        serde_json::to_string(&ImagesPruneReport::default()).unwrap(),
        r#"{"ImagesDeleted":null,"SpaceReclaimed":0}"#
    );
}

#[test]
fn small_responses() {
    assert_eq!(
        serde_json::to_string(&ContainerWaitResponse::default()).unwrap(),
        r#"{"Error":null,"StatusCode":0}"#
    );
    assert_eq!(
        serde_json::to_string(&ContainerCreateResponse {
            id: "ab".into(),
            warnings: vec![]
        })
        .unwrap(),
        r#"{"Id":"ab","Warnings":[]}"#
    );
    assert_eq!(
        serde_json::to_string(&ContainerChange {
            path: "/tmp".into(),
            kind: ContainerChange::ADDED
        })
        .unwrap(),
        r#"{"Path":"/tmp","Kind":1}"#
    );
    assert_eq!(
        serde_json::to_string(&ContainerTopResponse {
            processes: vec![vec!["root".into()]],
            titles: vec!["UID".into()]
        })
        .unwrap(),
        r#"{"Processes":[["root"]],"Titles":["UID"]}"#
    );
    assert_eq!(
        serde_json::to_string(&ErrorResponse::new("No such container: x")).unwrap(),
        r#"{"message":"No such container: x"}"#
    );
    assert_eq!(
        serde_json::to_string(&ContainersPruneReport::default()).unwrap(),
        r#"{"ContainersDeleted":null,"SpaceReclaimed":0}"#
    );
    assert_eq!(
        serde_json::to_string(&ContainerUpdateResponse::default()).unwrap(),
        r#"{"Warnings":null}"#
    );
    assert_eq!(
        serde_json::to_string(&IdResponse { id: "e1".into() }).unwrap(),
        r#"{"Id":"e1"}"#
    );
}

#[test]
fn exec_inspect_shape() {
    let e = ExecInspect {
        id: "e1".into(),
        running: true,
        process_config: ExecProcessConfig {
            entrypoint: "sh".into(),
            arguments: vec!["-c".into(), "true".into()],
            privileged: Some(false),
            ..Default::default()
        },
        container_id: "c1".into(),
        pid: 42,
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_string(&e).unwrap(),
        r#"{"ID":"e1","Running":true,"ExitCode":null,"ProcessConfig":{"tty":false,"entrypoint":"sh","arguments":["-c","true"],"privileged":false},"OpenStdin":false,"OpenStderr":false,"OpenStdout":false,"CanRemove":false,"ContainerID":"c1","DetachKeys":"","Pid":42}"#
    );
}

#[test]
fn health_appears_only_when_set() {
    let mut s: ContainerState = serde_json::from_str(STATE_EXITED).unwrap();
    s.health = Some(Health {
        status: "starting".into(),
        failing_streak: 0,
        log: vec![],
    });
    let v = serde_json::to_value(&s).unwrap();
    assert!(keys(&v).ends_with("FinishedAt Health"));
    assert_eq!(
        v["Health"],
        json!({"Status": "starting", "FailingStreak": 0, "Log": []})
    );
}

#[test]
fn system_info_keys_match_docker() {
    let info = SystemInfo {
        swarm: SwarmInfo::inactive(),
        ..Default::default()
    };
    let v = serde_json::to_value(&info).unwrap();
    // ClientInfo is added by the CLI, not sent by the daemon.
    let want = INFO_KEYS.trim().trim_end_matches(" ClientInfo");
    assert_eq!(keys(&v), want);
    assert_eq!(
        v["Swarm"],
        json!({"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null})
    );
    // The CLI must be able to read what it gets back, including nulls.
    let back: SystemInfo = serde_json::from_value(v).unwrap();
    assert_eq!(back.swarm.local_node_state, "inactive");
    let lenient: SystemInfo =
        serde_json::from_str(r#"{"Labels":null,"DriverStatus":null,"NCPU":2}"#).unwrap();
    assert_eq!(lenient.ncpu, 2);
}

#[test]
fn system_version_shape() {
    let v = SystemVersion {
        platform: VersionPlatform {
            name: String::new(),
        },
        components: vec![ComponentVersion {
            name: "Engine".into(),
            version: "0.1.0".into(),
            details: Some(BTreeMap::from([(
                "ApiVersion".to_string(),
                "1.41".to_string(),
            )])),
        }],
        version: "0.1.0".into(),
        api_version: "1.41".into(),
        min_api_version: "1.12".into(),
        git_commit: "abc".into(),
        go_version: "rustc".into(),
        os: "linux".into(),
        arch: "amd64".into(),
        kernel_version: "6.1".into(),
        experimental: false,
        build_time: "2026-11-24T00:00:00.000000000+00:00".into(),
    };
    let j = serde_json::to_value(&v).unwrap();
    assert_eq!(
        keys(&j),
        "Platform Components Version ApiVersion MinAPIVersion GitCommit GoVersion Os Arch KernelVersion BuildTime"
    );
}

#[test]
fn event_message_shape() {
    let e = EventMessage {
        status: "start".into(),
        id: "c1".into(),
        from: "bb".into(),
        r#type: "container".into(),
        action: "start".into(),
        actor: EventActor {
            id: "c1".into(),
            attributes: BTreeMap::from([("image".to_string(), "bb".to_string())]),
        },
        scope: "local".into(),
        time: 1,
        time_nano: 1_000_000_000,
    };
    assert_eq!(
        serde_json::to_string(&e).unwrap(),
        r#"{"status":"start","id":"c1","from":"bb","Type":"container","Action":"start","Actor":{"ID":"c1","Attributes":{"image":"bb"}},"scope":"local","time":1,"timeNano":1000000000}"#
    );
    let net = EventMessage {
        r#type: "network".into(),
        action: "connect".into(),
        scope: "local".into(),
        ..Default::default()
    };
    assert_eq!(
        keys(&serde_json::to_value(&net).unwrap()),
        "Type Action Actor scope"
    );
}

#[test]
fn df_and_volume_shapes() {
    let vol = Volume {
        created_at: "2026-11-24T16:30:26Z".into(),
        driver: "local".into(),
        labels: Some(BTreeMap::new()),
        mountpoint: "/var/lib/berth/volumes/v/_data".into(),
        name: "v".into(),
        options: None,
        scope: "local".into(),
        ..Default::default()
    };
    assert_eq!(
        keys(&serde_json::to_value(&vol).unwrap()),
        "CreatedAt Driver Labels Mountpoint Name Options Scope"
    );
    let df = SystemDf::default();
    assert_eq!(
        serde_json::to_string(&df).unwrap(),
        r#"{"LayersSize":0,"Images":[],"Containers":[],"Volumes":[],"BuildCache":[],"BuilderSize":0}"#
    );
}

#[test]
fn image_config_from_a_registry_parses() {
    let c: ContainerConfig = serde_json::from_str(
        r#"{"ExposedPorts":{"80/tcp":{},"53/udp":null},"Volumes":{"/data":{}},"Healthcheck":{"Test":["CMD","true"],"Interval":30000000000},
            "ArgsEscaped":true,"Env":["PATH=/bin"],"Cmd":["sh"],"OnBuild":null,"Labels":null,"StopSignal":"SIGQUIT"}"#,
    )
    .unwrap();
    assert_eq!(c.exposed_ports.as_ref().map(BTreeMap::len), Some(2));
    assert_eq!(
        c.healthcheck.as_ref().and_then(|h| h.interval),
        Some(30_000_000_000)
    );
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(v["ExposedPorts"], json!({"53/udp": {}, "80/tcp": {}}));
    assert_eq!(v["ArgsEscaped"], true);
    assert_eq!(v["StopSignal"], "SIGQUIT");
}
