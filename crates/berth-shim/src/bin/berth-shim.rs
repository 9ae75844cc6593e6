fn main() -> std::process::ExitCode {
    berth_shim::main()
}
