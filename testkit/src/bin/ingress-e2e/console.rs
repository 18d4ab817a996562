//! What the stage prints while it runs: a line per step, and indented lines under it.

pub fn step(what: &str) {
    println!("--> {what}");
}

pub fn say(line: &str) {
    println!("    {line}");
}
