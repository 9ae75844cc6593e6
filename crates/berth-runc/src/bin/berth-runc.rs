fn main() -> std::process::ExitCode {
    berth_runc::main()
}
