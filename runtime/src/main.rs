//! The `rtprelay` binary: see [`rtprelay::cli`].

fn main() {
    std::process::exit(rtprelay::cli::main());
}
