//! Checks a veltrix configuration file without starting anything.
//!
//! ```text
//! cargo run --features toml,json --example check_config -- examples/treasure_hunt.toml
//! ```
//!
//! Valid: prints the effective configuration (every default filled in, in
//! the file's format) on stdout, any warnings on stderr, and exits 0.
//! Invalid: prints every error and warning with its path (and line, for
//! TOML) on stderr and exits 2. Exit 1: the file could not be read.

use std::path::Path;
use std::process::ExitCode;

use veltrix::config::{Config, ConfigError, Diagnostic};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(file), None) = (args.next(), args.next()) else {
        eprintln!("usage: check_config FILE.toml|FILE.json");
        return ExitCode::from(1);
    };
    let path = Path::new(&file);
    match Config::from_path(path) {
        Ok(config) => {
            let is_json = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json"));
            let printed = if is_json {
                config.to_json_string()
            } else {
                config.to_toml_string()
            };
            match printed {
                Ok(text) => println!("{text}"),
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(1);
                }
            }
            let warnings = config.validate().warnings;
            for warning in &warnings {
                eprintln!("warning: {warning}");
            }
            eprintln!("{file}: valid, {} warning(s)", warnings.len());
            ExitCode::SUCCESS
        }
        Err(ConfigError::Invalid(found)) => {
            let show = |kind: &str, d: &Diagnostic| eprintln!("{file}: {kind}: {d}");
            found.errors.iter().for_each(|d| show("error", d));
            if found.omitted_errors() > 0 {
                eprintln!("{file}: ... and {} more errors", found.omitted_errors());
            }
            found.warnings.iter().for_each(|d| show("warning", d));
            if found.omitted_warnings() > 0 {
                eprintln!("{file}: ... and {} more warnings", found.omitted_warnings());
            }
            eprintln!(
                "{file}: invalid, {} error(s), {} warning(s)",
                found.errors.len() + found.omitted_errors(),
                found.warnings.len() + found.omitted_warnings()
            );
            ExitCode::from(2)
        }
        Err(e @ ConfigError::Syntax { .. }) => {
            eprintln!("{file}: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}
