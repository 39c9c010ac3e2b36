//! `kiln check`: validate the stack file and print the build plan.

use crate::config::Config;
use crate::exit;
use crate::format::render_plan;

pub(crate) fn run(config: &Config) -> i32 {
    print!("{}", render_plan(config));
    exit::SUCCESS
}
