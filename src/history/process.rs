//! Who a process is, so that a run recorded by one kiln can be told apart
//! from a run of a kiln that is gone: a pid alone is reused, so it is
//! paired with the process's start time (`/proc/PID/stat`, clock ticks
//! since boot) and the boot it started in (`boot_id`).

/// `BOOT_ID/STARTTIME` of a live process, or None when there is no such
/// process (or only its zombie: it has exited, its parent has not reaped
/// it yet).
pub(super) fn identity(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let (state, start) = state_and_start(&stat)?;
    if matches!(state, "Z" | "X" | "x") {
        return None;
    }
    Some(format!("{}/{start}", boot.trim()))
}

/// The state (field 3) and start time (field 22) of a `/proc/PID/stat`
/// line. The command name (field 2, in parentheses) may hold spaces and
/// parentheses itself: fields are counted after its last `)`.
fn state_and_start(stat: &str) -> Option<(&str, &str)> {
    let (_, after) = stat.rsplit_once(')')?;
    let mut fields = after.split_whitespace();
    let state = fields.next()?;
    // Fields 4 to 21 come between.
    let start = fields.nth(18)?;
    Some((state, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_an_identity_that_stays_the_same() {
        let me = identity(std::process::id()).expect("this process");
        assert_eq!(identity(std::process::id()), Some(me.clone()));
        assert!(me.contains('/'), "{me}");
    }

    #[test]
    fn stat_lines_with_odd_command_names() {
        let line = "42 (a) b (c)) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 4242 19 20\n";
        assert_eq!(state_and_start(line), Some(("S", "4242")));
        assert_eq!(state_and_start("garbage"), None);
    }

    #[test]
    fn a_reaped_process_has_none() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(identity(pid), None);
    }
}
