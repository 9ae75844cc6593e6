//! Command-line shape: runc's global flags and subcommands (argument structs from liboci-cli,
//! except `kill`, whose signal is optional in runc).

use clap::{Args, Parser, Subcommand};
use liboci_cli::GlobalOpts;

/// `berth-runc [global flags] <command> ...`
#[derive(Parser, Debug)]
#[command(
    name = "berth-runc",
    version,
    about = "runc-compatible OCI runtime built on youki's libcontainer"
)]
pub struct Cli {
    /// Flags shared by every command.
    #[command(flatten)]
    pub global: GlobalOpts,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// `kill ID [SIGNAL] [--all]`; the signal defaults to SIGTERM as in runc.
#[derive(Args, Debug)]
pub struct Kill {
    /// Send the signal to every process in the container.
    #[arg(short, long)]
    pub all: bool,
    /// Container id.
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new(), required = true)]
    pub container_id: String,
    /// Signal name or number.
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

/// Every supported subcommand.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container; its process waits for `start`.
    Create(liboci_cli::Create),
    /// Start a created container.
    Start(liboci_cli::Start),
    /// Print the container state as JSON.
    State(liboci_cli::State),
    /// Send a signal to the container's init (or all) processes.
    Kill(Kill),
    /// Delete a container.
    Delete(liboci_cli::Delete),
    /// Run a new process inside a running container.
    Exec(liboci_cli::Exec),
    /// Freeze all processes of the container.
    Pause(liboci_cli::Pause),
    /// Thaw a paused container.
    Resume(liboci_cli::Resume),
    /// List the container's processes.
    Ps(liboci_cli::Ps),
    /// Print the runtime's features as JSON.
    Features(liboci_cli::Features),
    /// Create and start a container.
    Run(liboci_cli::Run),
    /// List containers under the state root.
    List(liboci_cli::List),
    /// Write a default config.json into a bundle.
    Spec(liboci_cli::Spec),
}
