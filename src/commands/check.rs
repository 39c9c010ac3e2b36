//! `kiln check`: validate the stack file and print the build plan.

use crate::config::Config;
use crate::exit;
use crate::format::render_plan;
use crate::sanitize::sanitize;

pub(crate) fn run(config: &Config) -> i32 {
    // Names, tags and paths come from the stack file: sanitised.
    for line in render_plan(config).lines() {
        println!("{}", sanitize(line));
    }
    exit::SUCCESS
}
