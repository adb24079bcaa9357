//! deliver Lambda. Not built yet: exits with an error rather than pretending to work.

fn main() {
    eprintln!("the deliver function is not implemented yet");
    std::process::exit(1);
}
