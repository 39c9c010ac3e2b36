//! `kiln completions SHELL`: the shell's completion script, generated from
//! the command line's definition by clap_complete (so it cannot drift from
//! `--help`). For bash, zsh and fish, IMAGE arguments (`build`, `watch`,
//! `push`, `logs`) complete to the stack's image names: the script asks
//! `kiln ls --names` when the user presses Tab, passing on the `-f/--file`
//! options typed on the line. That costs kiln's start-up nothing: nothing
//! runs until Tab is pressed, and then it is one quick `kiln ls --names`
//! (reading the stack, not the daemon or the history). Elvish and
//! PowerShell get clap_complete's script as it is.

use clap::{Command, CommandFactory};
use clap_complete::Shell;

use crate::cli::args::Cli;
use crate::output;

pub(crate) fn run(shell: Shell) -> i32 {
    super::printed(output::stdout(&script(shell)))
}

/// The whole script for `shell`.
pub fn script(shell: Shell) -> String {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "kiln", &mut buf);
    let generated = String::from_utf8_lossy(&buf).into_owned();
    cmd.build();
    let words = Words::of(&cmd);
    match shell {
        Shell::Bash => format!("{generated}\n{}", bash_images(&words)),
        Shell::Zsh => zsh_images(&generated),
        Shell::Fish => format!("{generated}\n{}", fish_images(&words)),
        _ => generated,
    }
}

/// What the image hooks need to know of the command line.
struct Words {
    /// Subcommands that take image names (`images...` or `image`).
    image_commands: Vec<String>,
    /// Every option that takes a value (`-f`, `--file`, ...), anywhere.
    value_options: Vec<String>,
}

impl Words {
    fn of(cmd: &Command) -> Words {
        let image_commands = cmd
            .get_subcommands()
            .filter(|s| s.get_positionals().any(is_image_arg))
            .map(|s| s.get_name().to_string())
            .collect();
        let mut value_options: Vec<String> = Vec::new();
        for c in std::iter::once(cmd).chain(cmd.get_subcommands()) {
            for arg in c.get_opts() {
                let forms = arg
                    .get_short_and_visible_aliases()
                    .into_iter()
                    .flatten()
                    .map(|s| format!("-{s}"))
                    .chain(
                        arg.get_long_and_visible_aliases()
                            .into_iter()
                            .flatten()
                            .map(|l| format!("--{l}")),
                    );
                for form in forms {
                    if !value_options.contains(&form) {
                        value_options.push(form);
                    }
                }
            }
        }
        Words {
            image_commands,
            value_options,
        }
    }
}

fn is_image_arg(arg: &clap::Arg) -> bool {
    matches!(arg.get_id().as_str(), "images" | "image")
}

/// Wraps clap's `_kiln`: after it, a word that is not an option, for a
/// command that takes images, completes to the stack's image names.
fn bash_images(words: &Words) -> String {
    let value_options = words.value_options.join("|");
    let image_commands = words.image_commands.join("|");
    format!(
        r#"# kiln: IMAGE arguments complete to the stack's image names (`kiln ls --names`,
# with the -f/--file options on the line).
_kiln_image_names() {{
    local i files=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
            -f|--file)
                [[ ${{COMP_WORDS[i+1]}} == = ]] && ((i++))
                files+=(--file "${{COMP_WORDS[i+1]}}")
                ;;
        esac
    done
    "${{COMP_WORDS[0]}}" "${{files[@]}}" ls --names 2>/dev/null
}}

_kiln_with_images() {{
    _kiln "$@"
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}" i command=""
    [[ $cur == -* || $prev == = ]] && return 0
    case "$prev" in
        {value_options}) return 0 ;;
    esac
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
            {value_options}) ((i++)); [[ ${{COMP_WORDS[i]}} == = ]] && ((i++)) ;;
            -*) ;;
            {image_commands}) command="${{COMP_WORDS[i]}}"; break ;;
            *) return 0 ;;
        esac
    done
    [[ -n $command ]] || return 0
    COMPREPLY=($(compgen -W "$(_kiln_image_names)" -- "$cur"))
}}

if [[ "${{BASH_VERSINFO[0]}}" -eq 4 && "${{BASH_VERSINFO[1]}}" -ge 4 || "${{BASH_VERSINFO[0]}}" -gt 4 ]]; then
    complete -F _kiln_with_images -o nosort -o bashdefault -o default kiln
else
    complete -F _kiln_with_images -o bashdefault -o default kiln
fi
"#
    )
}

/// zsh's script completes an IMAGE argument with `_default`: make it
/// `_kiln_images`, defined before the script's last lines run `_kiln`.
fn zsh_images(generated: &str) -> String {
    const FUNCTION: &str = r#"# kiln: IMAGE arguments complete to the stack's image names (`kiln ls --names`,
# with the -f/--file options on the line).
(( $+functions[_kiln_images] )) ||
_kiln_images() {
    local -a line_words files names
    local i
    line_words=(${(z)BUFFER})
    for (( i = 2; i <= $#line_words; i++ )); do
        case $line_words[i] in
            -f|--file) files+=(--file "${(Q)line_words[i+1]}") ;;
            --file=*) files+=("${(Q)line_words[i]}") ;;
        esac
    done
    names=(${(f)"$(${(Q)line_words[1]} $files ls --names 2>/dev/null)"})
    compadd -a names
}

"#;
    let mut out = String::with_capacity(generated.len() + FUNCTION.len());
    let mut defined = false;
    for line in generated.lines() {
        if !defined && line.starts_with("if [ \"$funcstack[1]\" = \"_kiln\" ]") {
            out.push_str(FUNCTION);
            defined = true;
        }
        let image_arg = line.starts_with("'*::images -- ") || line.starts_with("':image -- ");
        match line.strip_suffix(":_default' \\") {
            Some(head) if image_arg => {
                out.push_str(head);
                out.push_str(":_kiln_images' \\");
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    if !defined {
        out.push_str(FUNCTION);
    }
    out
}

/// fish: a completion of image names, without files, for each command that
/// takes them.
fn fish_images(words: &Words) -> String {
    let mut s = String::from(
        r#"# kiln: IMAGE arguments complete to the stack's image names (`kiln ls --names`,
# with the -f/--file options on the line).
function __kiln_image_names
    set -l words (commandline -opc)
    set -l files
    set -l i 2
    while test $i -le (count $words)
        switch $words[$i]
            case -f --file
                set i (math $i + 1)
                test $i -le (count $words); and set -a files --file $words[$i]
            case '--file=*'
                set -a files $words[$i]
        end
        set i (math $i + 1)
    end
    $words[1] $files ls --names 2>/dev/null
end
"#,
    );
    for command in &words.image_commands {
        s.push_str(&format!(
            "complete -c kiln -n \"__fish_kiln_using_subcommand {command}\" -f -a \"(__kiln_image_names)\"\n"
        ));
    }
    s
}
