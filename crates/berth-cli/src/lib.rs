//! The `berth` command-line client: a drop-in for the docker CLI speaking the Docker Engine API.

pub mod build;
pub mod client;
pub mod container;
pub mod error;
pub mod extra;
pub mod format;
pub mod image;
pub mod network;
pub mod opts;
pub mod registry;
pub mod stream;
pub mod system;
pub mod volume;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::build as b;
use crate::client::{Client, DEFAULT_HOST};
use crate::container as c;
use crate::error::{CliError, Result};
use crate::extra as x;
use crate::image as i;
use crate::network as n;
use crate::registry as r;
use crate::system as s;
use crate::volume as v;

/// Top-level flags and the command.
#[derive(Debug, Parser)]
#[command(
    name = "docker",
    about = "A self-sufficient runtime for containers",
    disable_version_flag = true,
    subcommand_required = true
)]
pub struct Cli {
    /// Daemon socket to connect to
    #[arg(short = 'H', long = "host")]
    pub host: Option<String>,
    /// Name of the context to use to connect to the daemon
    #[arg(short = 'c', long)]
    pub context: Option<String>,
    /// Location of client config files
    #[arg(long)]
    pub config: Option<String>,
    /// Enable debug mode
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Set the logging level
    #[arg(short = 'l', long = "log-level")]
    pub log_level: Option<String>,
    /// Print version information and quit
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    /// The command.
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
}

/// Every command, including the management-command groups.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Create and run a new container from an image
    #[command(disable_help_flag = true)]
    Run(c::RunArgs),
    /// Create a new container
    #[command(disable_help_flag = true)]
    Create(c::CreateArgs),
    /// Start one or more stopped containers
    Start(c::StartArgs),
    /// List containers
    Ps(c::PsArgs),
    /// Fetch the logs of a container
    Logs(c::LogsArgs),
    /// Remove one or more containers
    Rm(c::RmArgs),
    /// Stop one or more running containers
    Stop(c::StopArgs),
    /// Restart one or more containers
    Restart(c::StopArgs),
    /// Kill one or more running containers
    Kill(c::KillArgs),
    /// Return low-level information on Docker objects
    Inspect(c::InspectArgs),
    /// Execute a command in a running container
    Exec(c::ExecArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(c::ContainersArgs),
    /// Pause all processes within one or more containers
    Pause(c::ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(c::ContainersArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(x::AttachArgs),
    /// Display the running processes of a container
    Top(x::TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(x::StatsArgs),
    /// Update configuration of one or more containers
    Update(x::UpdateArgs),
    /// Rename a container
    Rename(x::RenameArgs),
    /// List port mappings or a specific mapping for the container
    Port(x::PortArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(x::CpArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(x::DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(x::ExportArgs),
    /// Create a new image from a container's changes
    Commit(x::CommitArgs),
    /// List images
    Images(i::ImagesArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(i::ImportArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(i::TagArgs),
    /// Remove one or more images
    Rmi(i::RmiArgs),
    /// Show the history of an image
    History(i::HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(i::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(i::LoadArgs),
    /// Download an image from a registry
    Pull(x::PullArgs),
    /// Upload an image to a registry
    Push(r::PushArgs),
    /// Authenticate to a registry
    Login(r::LoginArgs),
    /// Log out from a registry
    Logout(r::LogoutArgs),
    /// Search Docker Hub for images
    Search(r::SearchArgs),
    /// Run the berth-registry server (serve, garbage-collect, htpasswd)
    Registry {
        /// Subcommand.
        #[command(subcommand)]
        cmd: r::RegistryCmd,
    },
    /// Build an image from a Dockerfile
    Build(Box<b::BuildArgs>),
    /// Manage builds
    Builder {
        /// Subcommand.
        #[command(subcommand)]
        cmd: BuilderCmd,
    },
    /// Show the Docker version information
    Version(s::VersionArgs),
    /// Display system-wide information
    Info(s::InfoArgs),
    /// Get real time events from the server
    Events(s::EventsArgs),
    /// Manage containers
    Container {
        /// Subcommand.
        #[command(subcommand)]
        cmd: ContainerCmd,
    },
    /// Manage images
    Image {
        /// Subcommand.
        #[command(subcommand)]
        cmd: ImageCmd,
    },
    /// Manage Docker
    System {
        /// Subcommand.
        #[command(subcommand)]
        cmd: SystemCmd,
    },
    /// Manage volumes
    Volume {
        /// Subcommand.
        #[command(subcommand)]
        cmd: VolumeCmd,
    },
    /// Manage networks
    Network {
        /// Subcommand.
        #[command(subcommand)]
        cmd: NetworkCmd,
    },
}

/// `docker volume ...`.
#[derive(Debug, Subcommand)]
pub enum VolumeCmd {
    /// Create a volume
    Create(v::VolumeCreateArgs),
    /// Display detailed information on one or more volumes
    Inspect(v::VolumeInspectArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(v::VolumeLsArgs),
    /// Remove unused local volumes
    Prune(v::VolumePruneArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(v::VolumeRmArgs),
}

/// `docker network ...`.
#[derive(Debug, Subcommand)]
pub enum NetworkCmd {
    /// Connect a container to a network
    Connect(n::NetworkConnectArgs),
    /// Create a network
    Create(n::NetworkCreateArgs),
    /// Disconnect a container from a network
    Disconnect(n::NetworkDisconnectArgs),
    /// Display detailed information on one or more networks
    Inspect(n::NetworkInspectArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(n::NetworkLsArgs),
    /// Remove all unused networks
    Prune(n::NetworkPruneArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(n::NetworkRmArgs),
}

/// `docker container ...`.
#[derive(Debug, Subcommand)]
pub enum ContainerCmd {
    /// Create and run a new container from an image
    #[command(disable_help_flag = true)]
    Run(c::RunArgs),
    /// Create a new container
    #[command(disable_help_flag = true)]
    Create(c::CreateArgs),
    /// Start one or more stopped containers
    Start(c::StartArgs),
    /// List containers
    #[command(visible_aliases = ["ps", "list"])]
    Ls(c::PsArgs),
    /// Fetch the logs of a container
    Logs(c::LogsArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(c::RmArgs),
    /// Stop one or more running containers
    Stop(c::StopArgs),
    /// Restart one or more containers
    Restart(c::StopArgs),
    /// Kill one or more running containers
    Kill(c::KillArgs),
    /// Display detailed information on one or more containers
    Inspect(i::ImageInspectArgs),
    /// Execute a command in a running container
    Exec(c::ExecArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(c::ContainersArgs),
    /// Pause all processes within one or more containers
    Pause(c::ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(c::ContainersArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(x::AttachArgs),
    /// Display the running processes of a container
    Top(x::TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(x::StatsArgs),
    /// Update configuration of one or more containers
    Update(x::UpdateArgs),
    /// Rename a container
    Rename(x::RenameArgs),
    /// List port mappings or a specific mapping for the container
    Port(x::PortArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(x::CpArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(x::DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(x::ExportArgs),
    /// Create a new image from a container's changes
    Commit(x::CommitArgs),
    /// Remove all stopped containers
    Prune(i::PruneArgs),
}

/// `docker image ...`.
#[derive(Debug, Subcommand)]
pub enum ImageCmd {
    /// List images
    #[command(visible_aliases = ["images", "list"])]
    Ls(i::ImagesArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(i::ImportArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(i::TagArgs),
    /// Remove one or more images
    #[command(visible_aliases = ["rmi", "remove"])]
    Rm(i::RmiArgs),
    /// Display detailed information on one or more images
    Inspect(i::ImageInspectArgs),
    /// Show the history of an image
    History(i::HistoryArgs),
    /// Remove unused images
    Prune(i::PruneArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(i::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(i::LoadArgs),
    /// Download an image from a registry
    Pull(x::PullArgs),
    /// Upload an image to a registry
    Push(r::PushArgs),
    /// Build an image from a Dockerfile
    Build(Box<b::BuildArgs>),
}

/// `docker builder ...`.
#[derive(Debug, Subcommand)]
pub enum BuilderCmd {
    /// Build an image from a Dockerfile
    Build(Box<b::BuildArgs>),
    /// Remove build cache
    Prune(b::BuilderPruneArgs),
}

/// `docker system ...`.
#[derive(Debug, Subcommand)]
pub enum SystemCmd {
    /// Show docker disk usage
    Df(s::DfArgs),
    /// Remove unused data
    Prune(s::SystemPruneArgs),
    /// Get real time events from the server
    Events(s::EventsArgs),
    /// Display system-wide information
    Info(s::InfoArgs),
}

/// Picks the daemon address: `-H`, then `$BERTH_HOST`, then `$DOCKER_HOST`, then the default.
pub fn resolve_host(flag: Option<&str>) -> String {
    if let Some(h) = flag.filter(|h| !h.is_empty()) {
        return h.to_string();
    }
    for var in ["BERTH_HOST", "DOCKER_HOST"] {
        if let Ok(v) = std::env::var(var)
            && !v.is_empty()
        {
            return v;
        }
    }
    DEFAULT_HOST.to_string()
}

/// Runs one parsed command; returns the process exit code.
pub async fn dispatch(client: &mut Client, cmd: Cmd) -> Result<u8> {
    use ContainerCmd as CC;
    use ImageCmd as IC;
    use SystemCmd as SC;
    if let Cmd::Version(a) = cmd {
        return s::version(client, a).await;
    }
    // The registry server needs no daemon: become berth-registry.
    if let Cmd::Registry { cmd } = &cmd {
        return Err(r::exec_registry(cmd));
    }
    // logout only edits the local credentials file; it works without a daemon.
    if let Cmd::Logout(a) = cmd {
        return r::logout(a);
    }
    // login's flag, stdin and TTY errors come before any daemon contact.
    if let Cmd::Login(a) = cmd {
        let creds = r::login_credentials(&a)?;
        client.negotiate().await?;
        return r::login(client, creds).await;
    }
    // Argument errors come before any daemon contact, as in Docker.
    match &cmd {
        Cmd::Push(a) | Cmd::Image { cmd: IC::Push(a) } => a.check()?,
        Cmd::Search(a) => a.check()?,
        Cmd::Build(a)
        | Cmd::Image { cmd: IC::Build(a) }
        | Cmd::Builder {
            cmd: BuilderCmd::Build(a),
        } => a.check()?,
        _ => {}
    }
    client.negotiate().await?;
    let cl = &*client;
    match cmd {
        Cmd::Run(a) | Cmd::Container { cmd: CC::Run(a) } => c::run(cl, a).await,
        Cmd::Create(a) | Cmd::Container { cmd: CC::Create(a) } => c::create(cl, a).await,
        Cmd::Start(a) | Cmd::Container { cmd: CC::Start(a) } => c::start(cl, a).await,
        Cmd::Ps(a) | Cmd::Container { cmd: CC::Ls(a) } => c::ps(cl, a).await,
        Cmd::Logs(a) | Cmd::Container { cmd: CC::Logs(a) } => c::logs(cl, a).await,
        Cmd::Rm(a) | Cmd::Container { cmd: CC::Rm(a) } => c::rm(cl, a).await,
        Cmd::Stop(a) | Cmd::Container { cmd: CC::Stop(a) } => c::stop(cl, a).await,
        Cmd::Restart(a)
        | Cmd::Container {
            cmd: CC::Restart(a),
        } => c::restart(cl, a).await,
        Cmd::Kill(a) | Cmd::Container { cmd: CC::Kill(a) } => c::kill(cl, a).await,
        Cmd::Inspect(a) => c::inspect(cl, a).await,
        Cmd::Container {
            cmd: CC::Inspect(a),
        } => {
            c::inspect(
                cl,
                c::InspectArgs {
                    format: a.format,
                    size: false,
                    typ: Some("container".into()),
                    names: a.images,
                },
            )
            .await
        }
        Cmd::Exec(a) | Cmd::Container { cmd: CC::Exec(a) } => c::exec(cl, a).await,
        Cmd::Wait(a) | Cmd::Container { cmd: CC::Wait(a) } => c::wait(cl, a).await,
        Cmd::Pause(a) | Cmd::Container { cmd: CC::Pause(a) } => {
            c::simple_post(cl, &a.containers, "pause").await
        }
        Cmd::Unpause(a)
        | Cmd::Container {
            cmd: CC::Unpause(a),
        } => c::simple_post(cl, &a.containers, "unpause").await,
        Cmd::Attach(a) | Cmd::Container { cmd: CC::Attach(a) } => x::attach(cl, a).await,
        Cmd::Top(a) | Cmd::Container { cmd: CC::Top(a) } => x::top(cl, a).await,
        Cmd::Stats(a) | Cmd::Container { cmd: CC::Stats(a) } => x::stats(cl, a).await,
        Cmd::Update(a) | Cmd::Container { cmd: CC::Update(a) } => x::update(cl, a).await,
        Cmd::Rename(a) | Cmd::Container { cmd: CC::Rename(a) } => x::rename(cl, a).await,
        Cmd::Port(a) | Cmd::Container { cmd: CC::Port(a) } => x::port(cl, a).await,
        Cmd::Cp(a) | Cmd::Container { cmd: CC::Cp(a) } => x::cp(cl, a).await,
        Cmd::Diff(a) | Cmd::Container { cmd: CC::Diff(a) } => x::diff(cl, a).await,
        Cmd::Export(a) | Cmd::Container { cmd: CC::Export(a) } => x::export(cl, a).await,
        Cmd::Commit(a) | Cmd::Container { cmd: CC::Commit(a) } => x::commit(cl, a).await,
        Cmd::Container { cmd: CC::Prune(a) } => i::container_prune(cl, a).await,
        Cmd::Images(a) | Cmd::Image { cmd: IC::Ls(a) } => i::images(cl, a).await,
        Cmd::Import(a) | Cmd::Image { cmd: IC::Import(a) } => i::import(cl, a).await,
        Cmd::Tag(a) | Cmd::Image { cmd: IC::Tag(a) } => i::tag(cl, a).await,
        Cmd::Rmi(a) | Cmd::Image { cmd: IC::Rm(a) } => i::rmi(cl, a).await,
        Cmd::Image {
            cmd: IC::Inspect(a),
        } => i::image_inspect(cl, a).await,
        Cmd::History(a)
        | Cmd::Image {
            cmd: IC::History(a),
        } => i::history(cl, a).await,
        Cmd::Image { cmd: IC::Prune(a) } => i::image_prune(cl, a).await,
        Cmd::Save(a) | Cmd::Image { cmd: IC::Save(a) } => i::save(cl, a).await,
        Cmd::Load(a) | Cmd::Image { cmd: IC::Load(a) } => i::load(cl, a).await,
        Cmd::Pull(a) | Cmd::Image { cmd: IC::Pull(a) } => x::pull(cl, a).await,
        Cmd::Push(a) | Cmd::Image { cmd: IC::Push(a) } => r::push(cl, a).await,
        Cmd::Login(_) => Ok(0),
        Cmd::Logout(_) => Ok(0),
        Cmd::Registry { .. } => Ok(0),
        Cmd::Build(a)
        | Cmd::Image { cmd: IC::Build(a) }
        | Cmd::Builder {
            cmd: BuilderCmd::Build(a),
        } => b::build(cl, *a).await,
        Cmd::Builder {
            cmd: BuilderCmd::Prune(a),
        } => b::builder_prune(cl, a).await,
        Cmd::Search(a) => r::search(cl, a).await,
        Cmd::Info(a) | Cmd::System { cmd: SC::Info(a) } => s::info(cl, a).await,
        Cmd::Events(a) | Cmd::System { cmd: SC::Events(a) } => s::events(cl, a).await,
        Cmd::System { cmd: SC::Df(a) } => s::df(cl, a).await,
        Cmd::System { cmd: SC::Prune(a) } => s::system_prune(cl, a).await,
        Cmd::Volume { cmd } => match cmd {
            VolumeCmd::Create(a) => v::volume_create(cl, a).await,
            VolumeCmd::Inspect(a) => v::volume_inspect(cl, a).await,
            VolumeCmd::Ls(a) => v::volume_ls(cl, a).await,
            VolumeCmd::Prune(a) => v::volume_prune(cl, a).await,
            VolumeCmd::Rm(a) => v::volume_rm(cl, a).await,
        },
        Cmd::Network { cmd } => match cmd {
            NetworkCmd::Connect(a) => n::network_connect(cl, a).await,
            NetworkCmd::Create(a) => n::network_create(cl, a).await,
            NetworkCmd::Disconnect(a) => n::network_disconnect(cl, a).await,
            NetworkCmd::Inspect(a) => n::network_inspect(cl, a).await,
            NetworkCmd::Ls(a) => n::network_ls(cl, a).await,
            NetworkCmd::Prune(a) => n::network_prune(cl, a).await,
            NetworkCmd::Rm(a) => n::network_rm(cl, a).await,
        },
        Cmd::Version(_) => Ok(0),
    }
}

/// Prints an error the way the docker CLI does and returns its exit code.
pub fn report(e: &CliError) -> u8 {
    let msg = e.to_string();
    if !msg.is_empty() {
        eprintln!("{msg}");
    }
    e.exit_code()
}

fn usage_line(args: &[String]) -> Option<String> {
    // First non-flag word after the program name: the command, for the usage hint.
    let cmd = args.iter().skip(1).find(|a| !a.starts_with('-'))?;
    Some(cmd.clone())
}

/// Entry point of the `berth` binary.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind as K;
            match e.kind() {
                K::DisplayHelp
                | K::DisplayVersion
                | K::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = e.print();
                    return ExitCode::SUCCESS;
                }
                _ => {
                    let rendered = e.render().to_string();
                    let first = rendered
                        .lines()
                        .next()
                        .unwrap_or("")
                        .trim_start_matches("error: ")
                        .to_string();
                    let cmd = usage_line(&args).unwrap_or_default();
                    eprintln!("{first}\n\nRun 'docker {cmd} --help' for more information");
                    return ExitCode::from(125);
                }
            }
        }
    };
    if cli.version {
        println!(
            "Docker version 28.2.2, build berth-{}",
            env!("CARGO_PKG_VERSION")
        );
        return ExitCode::SUCCESS;
    }
    let Some(cmd) = cli.cmd else {
        eprintln!(
            "docker: 'docker' requires a subcommand.\n\nRun 'docker --help' for more information"
        );
        return ExitCode::from(1);
    };
    // Exec before any runtime threads exist.
    if let Cmd::Registry { cmd } = &cmd {
        return ExitCode::from(report(&r::exec_registry(cmd)));
    }
    let host = resolve_host(cli.host.as_deref());
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let code = rt.block_on(async {
        let mut client = match Client::new(&host) {
            Ok(c) => c,
            Err(e) => return report(&e),
        };
        match dispatch(&mut client, cmd).await {
            Ok(code) => code,
            Err(e) => report(&e),
        }
    });
    // The stdin reader thread may still be blocked in read(2); do not wait for it.
    rt.shutdown_background();
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Option<Cmd> {
        let mut v = vec!["docker"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).ok().and_then(|c| c.cmd)
    }

    #[test]
    fn run_flags_stop_at_image() {
        let Some(Cmd::Run(r)) = parse(&[
            "run", "-d", "--rm", "-it", "-e", "A=1", "--name", "x", "busybox", "ls", "-l", "--rm",
        ]) else {
            panic!("run did not parse");
        };
        assert!(r.detach && r.opts.rm && r.opts.interactive && r.opts.tty);
        assert_eq!(r.opts.name.as_deref(), Some("x"));
        assert_eq!(r.opts.image_and_args, vec!["busybox", "ls", "-l", "--rm"]);
        let Some(Cmd::Run(r)) = parse(&["run", "-h", "myhost", "busybox", "-v"]) else {
            panic!("run -h did not parse");
        };
        assert_eq!(r.opts.hostname.as_deref(), Some("myhost"));
        assert_eq!(r.opts.image_and_args, vec!["busybox", "-v"]);
    }

    #[test]
    fn management_aliases() {
        assert!(matches!(
            parse(&["container", "ls", "-a"]),
            Some(Cmd::Container {
                cmd: ContainerCmd::Ls(_)
            })
        ));
        assert!(matches!(
            parse(&["container", "ps"]),
            Some(Cmd::Container {
                cmd: ContainerCmd::Ls(_)
            })
        ));
        assert!(matches!(
            parse(&["image", "ls"]),
            Some(Cmd::Image {
                cmd: ImageCmd::Ls(_)
            })
        ));
        assert!(matches!(
            parse(&["image", "rm", "x"]),
            Some(Cmd::Image {
                cmd: ImageCmd::Rm(_)
            })
        ));
        assert!(matches!(
            parse(&["system", "df"]),
            Some(Cmd::System {
                cmd: SystemCmd::Df(_)
            })
        ));
        let Some(Cmd::Exec(e)) = parse(&["exec", "-it", "c1", "sh", "-c", "echo hi"]) else {
            panic!("exec did not parse");
        };
        assert_eq!(e.container_and_cmd, vec!["c1", "sh", "-c", "echo hi"]);
        let Some(Cmd::History(h)) = parse(&["history", "--human=false", "img"]) else {
            panic!("history did not parse");
        };
        assert!(!h.human);
        assert!(parse(&["run", "--badflag", "x"]).is_none());
    }

    #[test]
    fn volume_and_network_commands_parse() {
        assert!(matches!(
            parse(&["volume", "list", "-q"]),
            Some(Cmd::Volume {
                cmd: VolumeCmd::Ls(_)
            })
        ));
        assert!(matches!(
            parse(&["volume", "remove", "-f", "a"]),
            Some(Cmd::Volume {
                cmd: VolumeCmd::Rm(_)
            })
        ));
        assert!(matches!(
            parse(&["network", "list"]),
            Some(Cmd::Network {
                cmd: NetworkCmd::Ls(_)
            })
        ));
        let Some(Cmd::Network {
            cmd: NetworkCmd::Create(c),
        }) = parse(&[
            "network",
            "create",
            "-d",
            "bridge",
            "--subnet",
            "10.1.0.0/16,10.2.0.0/16",
            "n",
        ])
        else {
            panic!("network create did not parse");
        };
        assert_eq!(c.subnet, vec!["10.1.0.0/16", "10.2.0.0/16"]);
        assert_eq!(c.name, vec!["n"]);
        let Some(Cmd::Volume {
            cmd: VolumeCmd::Prune(p),
        }) = parse(&["volume", "prune", "-af", "--filter", "label=a"])
        else {
            panic!("volume prune did not parse");
        };
        assert!(p.all && p.force);
        assert!(parse(&["network", "ls", "--bogus"]).is_none());
    }

    #[test]
    fn registry_and_build_commands_parse() {
        let Some(Cmd::Push(p)) = parse(&["push", "-a", "-q", "localhost:5000/app"]) else {
            panic!("push did not parse");
        };
        assert!(p.all_tags && p.quiet);
        assert_eq!(p.image(), "localhost:5000/app");
        assert!(matches!(
            parse(&["image", "push", "--all-tags", "x"]),
            Some(Cmd::Image {
                cmd: ImageCmd::Push(_)
            })
        ));
        let Some(Cmd::Login(l)) = parse(&["login", "-u", "a", "--password-stdin", "srv"]) else {
            panic!("login did not parse");
        };
        assert_eq!(l.username.as_deref(), Some("a"));
        assert!(l.password_stdin && l.password.is_none());
        assert_eq!(l.args, vec!["srv"]);
        let Some(Cmd::Search(s)) = parse(&[
            "search",
            "--limit",
            "3",
            "-f",
            "stars=3",
            "--no-trunc",
            "--format",
            "{{.Name}}",
            "bb",
        ]) else {
            panic!("search did not parse");
        };
        assert_eq!(s.limit, Some(3));
        assert!(s.no_trunc);
        assert_eq!(s.term(), "bb");
        let Some(Cmd::Build(b)) = parse(&[
            "build",
            "-t",
            "a:1",
            "--tag",
            "b",
            "-f",
            "-",
            "--build-arg",
            "X=1",
            "--target",
            "s",
            "--no-cache",
            "--pull",
            "-q",
            "--label",
            "l=v",
            "--network",
            "host",
            "--iidfile",
            "/tmp/iid",
            "--progress",
            "plain",
            "--rm=false",
            ".",
        ]) else {
            panic!("build did not parse");
        };
        assert_eq!(b.tag, vec!["a:1", "b"]);
        assert_eq!(b.file.as_deref(), Some("-"));
        assert!(b.no_cache && b.pull && b.quiet);
        assert_eq!(b.rm, Some(false));
        assert_eq!(b.context(), ".");
        let Some(Cmd::Build(b)) = parse(&["build", "-"]) else {
            panic!("build - did not parse");
        };
        assert_eq!(b.context(), "-");
        assert!(matches!(
            parse(&["image", "build", "."]),
            Some(Cmd::Image {
                cmd: ImageCmd::Build(_)
            })
        ));
        let Some(Cmd::Builder {
            cmd: BuilderCmd::Prune(p),
        }) = parse(&["builder", "prune", "-af"])
        else {
            panic!("builder prune did not parse");
        };
        assert!(p.all && p.force);
        assert!(parse(&["logout"]).is_some());
    }

    #[test]
    fn host_resolution() {
        assert_eq!(
            resolve_host(Some("tcp://1.2.3.4:2375")),
            "tcp://1.2.3.4:2375"
        );
    }
}
