//! The README's configuration table lists exactly the variables `pulse` reads.

use clap::CommandFactory;
use std::collections::BTreeSet;

#[test]
fn the_readme_lists_every_pulse_variable_and_no_other() {
    let readme = include_str!("../../../README.md");
    let section = readme.split("## Configuration").nth(1).expect("a Configuration section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let documented: BTreeSet<String> = section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .filter(|name| name.starts_with("PULSE_"))
        .map(str::to_owned)
        .collect();
    let known = pulse_variables();
    assert_eq!(documented, known, "README Configuration table vs the variables clap reads");
}

/// Every `PULSE_*` variable of every subcommand.
fn pulse_variables() -> BTreeSet<String> {
    fn walk(command: &clap::Command, into: &mut BTreeSet<String>) {
        for arg in command.get_arguments() {
            if let Some(env) = arg.get_env() {
                into.insert(env.to_string_lossy().into_owned());
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, into);
        }
    }
    let mut names = BTreeSet::new();
    walk(&pulse::Cli::command(), &mut names);
    names
}
