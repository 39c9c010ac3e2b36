//! `kiln ls`: each image's last result, duration, age and image id; with
//! `--names`, only the names (what the completion scripts offer).

use super::runs::RunJson;
use crate::config::Config;
use crate::exit;
use crate::format::render_ls;
use crate::output;

pub(crate) fn run(config: &Config, names_only: bool, json: bool) -> i32 {
    if names_only {
        let names: Vec<&str> = config.images.iter().map(|i| i.name.as_str()).collect();
        return super::printed(output::stdout(&names.join("\n")));
    }
    let history = match super::open_history(config) {
        Ok(h) => h,
        Err(code) => return code,
    };
    let latest = match history.latest_runs() {
        Ok(l) => l,
        Err(e) => {
            output::error(format_args!("cannot read the build history: {e}"));
            return exit::FAILED;
        }
    };
    if json {
        return super::runs::print_json(config.images.iter().map(
            |img| match latest.get(&img.name) {
                Some(run) => RunJson::of(run),
                None => RunJson::never(&img.name),
            },
        ));
    }
    let table = render_ls(config, &latest, chrono::Utc::now().timestamp_millis());
    super::printed(output::stdout(&table))
}
