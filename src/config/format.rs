//! Reading and writing configuration files: TOML (feature `toml`) and JSON
//! (feature `json`).

use std::path::Path;

use super::error::ConfigError;
use super::model::Config;

/// The formats this build reads, for error messages.
const ENABLED: &str = match (cfg!(feature = "toml"), cfg!(feature = "json")) {
    (true, true) => "this build reads both",
    (true, false) => "this build reads TOML only; enable the `json` feature for JSON",
    (false, true) => "this build reads JSON only; enable the `toml` feature for TOML",
    (false, false) => "enable the `toml` or `json` feature to read files",
};

impl Config {
    /// Reads a TOML configuration. Syntax errors keep their line and
    /// column; every schema and rule violation is reported at once, each
    /// with its path and line.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Syntax`] or [`ConfigError::Invalid`].
    ///
    /// # Examples
    ///
    /// ```
    /// use veltrix::config::{Config, ConfigError};
    ///
    /// let text = "[[topics]]\nname = \"orders\"\ncapasity = 1000\n\n[[groups]]\nname = \"billing\"\ntopic = \"orders\"\n";
    /// let err = Config::from_toml_str(text).unwrap_err();
    /// let ConfigError::Invalid(found) = err else { panic!("expected Invalid") };
    /// let typo = &found.errors[0];
    /// assert_eq!(typo.path, "topics[0].capasity");
    /// assert!(typo.to_string().contains("did you mean `capacity`?"));
    /// assert_eq!(typo.location.unwrap().line, 3);
    /// ```
    #[cfg(feature = "toml")]
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        let node = super::node::toml_spans::parse(text)?;
        super::read::config(&node, Some(text)).map_err(ConfigError::Invalid)
    }

    /// Reads a JSON configuration: the same schema as TOML (`{"topics":
    /// [{"name": "orders"}], "groups": [...]}`). Syntax errors keep their
    /// line and column; findings have paths but no lines.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Syntax`] or [`ConfigError::Invalid`].
    #[cfg(feature = "json")]
    pub fn from_json_str(text: &str) -> Result<Config, ConfigError> {
        let node = super::node::parse_json(text)?;
        super::read::config(&node, None).map_err(ConfigError::Invalid)
    }

    /// Reads a file, TOML or JSON by its extension (`.toml`, `.json`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Io`], [`ConfigError::UnknownFormat`] for another
    /// extension or a format this build lacks, or what the reader reports.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let read = || {
            std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
                path: path.to_owned(),
                source,
            })
        };
        match extension.as_deref() {
            #[cfg(feature = "toml")]
            Some("toml") => Config::from_toml_str(&read()?),
            #[cfg(feature = "json")]
            Some("json") => Config::from_json_str(&read()?),
            _ => {
                let _ = read;
                Err(ConfigError::UnknownFormat {
                    path: path.to_owned(),
                    enabled: ENABLED,
                })
            }
        }
    }

    /// Writes the configuration as TOML, every setting spelled out:
    /// [`from_toml_str`](Self::from_toml_str) reads it back equal.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Serialize`] (not expected for any valid `Config`).
    #[cfg(feature = "toml")]
    pub fn to_toml_string(&self) -> Result<String, ConfigError> {
        let fail = |message: String| ConfigError::Serialize {
            format: "TOML",
            message,
        };
        let value = toml::Value::try_from(self).map_err(|e| fail(e.to_string()))?;
        let mut out = String::new();
        if let Some(engine) = value.get("engine").and_then(toml::Value::as_table) {
            write_toml_section(&mut out, "[engine]", engine);
        }
        for section in ["topics", "groups"] {
            let items = value.get(section).and_then(toml::Value::as_array);
            for item in items.into_iter().flatten() {
                let table = item
                    .as_table()
                    .ok_or_else(|| fail(format!("{section} entry is not a table")))?;
                write_toml_section(&mut out, &format!("[[{section}]]"), table);
                // The failure policy is the one table big enough to read
                // better as its own section.
                if let Some(failure) = table.get("failure").and_then(toml::Value::as_table) {
                    write_toml_section(&mut out, &format!("[{section}.failure]"), failure);
                }
            }
        }
        Ok(out)
    }

    /// Writes the configuration as pretty-printed JSON, every setting
    /// spelled out: [`from_json_str`](Self::from_json_str) reads it back
    /// equal.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Serialize`] (not expected for any valid `Config`).
    #[cfg(feature = "json")]
    pub fn to_json_string(&self) -> Result<String, ConfigError> {
        serde_json::to_string_pretty(self).map_err(|e| ConfigError::Serialize {
            format: "JSON",
            message: e.to_string(),
        })
    }
}

/// `header`, then `key = value` per entry with small tables inline (every
/// key of the schema is a bare key), except `failure`, which gets its own
/// section.
#[cfg(feature = "toml")]
fn write_toml_section(out: &mut String, header: &str, table: &toml::Table) {
    use std::fmt::Write as _;

    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(header);
    out.push('\n');
    for (key, value) in table {
        if key != "failure" || header.ends_with(".failure]") {
            // Writing to a String cannot fail.
            let _ = writeln!(out, "{key} = {value}");
        }
    }
}
