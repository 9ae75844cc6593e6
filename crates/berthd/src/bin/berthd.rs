fn main() -> std::process::ExitCode {
    berthd::main()
}
