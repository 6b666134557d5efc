//! The `rtprelay` binary (work in progress: see the README).

fn main() {
    eprintln!("rtprelay: the server is not built yet");
    std::process::exit(1);
}
