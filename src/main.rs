use std::process::ExitCode;

fn main() -> ExitCode {
    stratum::cli::main()
}
