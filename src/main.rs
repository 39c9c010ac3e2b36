//! `kiln`: see `kiln --help` and README.md.

fn main() {
    std::process::exit(kiln::cli::main());
}
