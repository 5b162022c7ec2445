//! Layered configuration shared by both binaries: the struct's defaults, then an optional TOML
//! file (`TP_CAPITAL_CONFIG`), then `TP_CAPITAL_*` environment variables, where every
//! `TP_CAPITAL_X_FILE` reads the value of `x` from a file (secrets mounted by the orchestrator).
//!
//! Each binary declares its own flat, typed struct (`#[serde(default)]` + `Default` for the
//! defaults) and implements [`ServiceConfig::validate`]; [`load_or_exit`] refuses to start with
//! a clear message and exit code 1. Secrets are [`Secret`] / [`SecretList`], which never print.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// Prefix of every environment variable the services read.
pub const ENV_PREFIX: &str = "TP_CAPITAL_";
/// The variable holding the optional TOML file path.
pub const CONFIG_FILE_VAR: &str = "TP_CAPITAL_CONFIG";
/// Suffix turning `TP_CAPITAL_X_FILE=/run/secrets/x` into `x = <file content>`.
pub const FILE_SUFFIX: &str = "_FILE";

/// A binary's typed configuration.
pub trait ServiceConfig: DeserializeOwned {
    /// Every problem with the loaded values, as sentences naming the variable; empty when the
    /// configuration is usable.
    fn validate(&self) -> Vec<String>;
}

/// Why the configuration cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `TP_CAPITAL_X_FILE` names a file that cannot be read.
    #[error("{var}: cannot read {path}: {reason}")]
    SecretFile {
        /// The variable.
        var: String,
        /// The file it names.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// Both `TP_CAPITAL_X` and `TP_CAPITAL_X_FILE` are set.
    #[error("both {var} and {var}{FILE_SUFFIX} are set: keep one")]
    Ambiguous {
        /// The variable without the suffix.
        var: String,
    },
    /// A value has the wrong type or the file is malformed.
    #[error("{0}")]
    Malformed(String),
    /// Values are well-formed but unusable.
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

/// Loads `T` from the process environment (and the file it names).
pub fn load<T: ServiceConfig>() -> Result<T, ConfigError> {
    let vars = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    load_from(vars)
}

/// Loads `T` from the given variables instead of the process environment (for tests).
pub fn load_from<T: ServiceConfig>(
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    let mut file = None;
    let mut plain = BTreeMap::new();
    let mut from_files = BTreeMap::new();
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        if name == CONFIG_FILE_VAR {
            file = Some(PathBuf::from(value));
        } else if let Some(base) = rest.strip_suffix(FILE_SUFFIX) {
            from_files.insert(
                base.to_ascii_lowercase(),
                (name.clone(), PathBuf::from(value)),
            );
        } else {
            plain.insert(rest.to_ascii_lowercase(), value);
        }
    }
    for (key, (var, path)) in from_files {
        if plain.contains_key(&key) {
            return Err(ConfigError::Ambiguous {
                var: format!("{ENV_PREFIX}{}", key.to_ascii_uppercase()),
            });
        }
        let content = std::fs::read_to_string(&path).map_err(|e| ConfigError::SecretFile {
            var,
            path: path.clone(),
            reason: e.to_string(),
        })?;
        plain.insert(key, content.trim_end_matches(['\r', '\n']).to_owned());
    }

    let mut figment = Figment::new();
    if let Some(path) = &file {
        if !path.is_file() {
            return Err(ConfigError::Malformed(format!(
                "{CONFIG_FILE_VAR}: {} is not a readable file",
                path.display()
            )));
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    let figment = figment.merge(Serialized::globals(plain));
    let config: T = figment.extract_lossy().map_err(describe)?;
    let problems = config.validate();
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

/// Loads `T` or prints why not on stderr; the caller exits with the returned code.
pub fn load_or_exit<T: ServiceConfig>(program: &str) -> Result<T, ExitCode> {
    load().map_err(|e| {
        eprintln!("{program}: configuration error: {e}");
        ExitCode::FAILURE
    })
}

fn describe(error: figment::Error) -> ConfigError {
    let messages: Vec<String> = error
        .into_iter()
        .map(|e| {
            let var = if e.path.is_empty() {
                String::from("configuration")
            } else {
                format!("{ENV_PREFIX}{}", e.path.join("__").to_ascii_uppercase())
            };
            let origin = e
                .metadata
                .as_ref()
                .and_then(|m| m.source.as_ref())
                .map(|s| format!(" (from {s})"))
                .unwrap_or_default();
            format!("{var}: {}{origin}", e.kind)
        })
        .collect();
    ConfigError::Malformed(messages.join("; "))
}

/// Names the variable in a problem sentence, e.g. `"TP_CAPITAL_API_KEY is required"`.
pub fn var(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_ascii_uppercase())
}

/// Checks that `value` is a URL with one of `schemes`; a problem sentence otherwise.
pub fn check_url(key: &str, value: &str, schemes: &[&str]) -> Option<String> {
    let ok = schemes.iter().any(|s| {
        value
            .strip_prefix(s)
            .is_some_and(|r| r.starts_with("://") && r.len() > 3)
    });
    (!ok).then(|| {
        format!(
            "{} must be a {} URL",
            var(key),
            schemes
                .iter()
                .map(|s| format!("{s}://"))
                .collect::<Vec<_>>()
                .join(" or ")
        )
    })
}

/// Checks the backing services both binaries share, under their common variables
/// (`TP_CAPITAL_DATABASE_URL`, `TP_CAPITAL_REDIS_URL`, `TP_CAPITAL_REDIS_REPLICA_URL`): the first
/// two are required when `required`, and every one given must be a URL of its kind.
pub fn check_backends(
    database_url: &Secret,
    redis_url: &Secret,
    redis_replica_url: &Secret,
    required: bool,
) -> Vec<String> {
    const POSTGRES: &[&str] = &["postgres", "postgresql"];
    const REDIS: &[&str] = &["redis", "rediss"];
    [
        ("database_url", database_url, POSTGRES, required),
        ("redis_url", redis_url, REDIS, required),
        ("redis_replica_url", redis_replica_url, REDIS, false),
    ]
    .into_iter()
    .filter_map(|(key, value, schemes, required)| {
        if value.is_empty() {
            required.then(|| format!("{} is required", var(key)))
        } else {
            check_url(key, value.expose(), schemes)
        }
    })
    .collect()
}

/// Checks that `value` is a `host:port` socket address.
pub fn check_bind(key: &str, value: &str) -> Option<String> {
    value.parse::<std::net::SocketAddr>().is_err().then(|| {
        format!(
            "{} must be host:port (e.g. 127.0.0.1:4006), got '{value}'",
            var(key)
        )
    })
}

/// How logs are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (production).
    #[default]
    Json,
    /// Human-readable, coloured when on a terminal (development).
    Pretty,
}

/// A secret string (token, password, URL with credentials). Its `Debug` never shows the value;
/// read it with [`Secret::expose`] where it is used, nowhere else.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether no value was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Constant-time comparison with a presented credential.
    pub fn matches(&self, presented: &[u8]) -> bool {
        !self.0.is_empty() && crate::security::constant_time_eq(self.0.as_bytes(), presented)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("Secret(<unset>)")
        } else {
            f.write_str("Secret(<redacted>)")
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor).map(Secret)
    }
}

/// Several secrets of the same role (API keys: `TP_CAPITAL_API_KEY=key1,key2` or a TOML array),
/// so keys can be rotated without downtime.
#[derive(Clone, Default)]
pub struct SecretList(Vec<Secret>);

impl SecretList {
    /// Wraps values; empty ones are dropped.
    pub fn new<S: Into<String>>(values: impl IntoIterator<Item = S>) -> Self {
        Self(
            values
                .into_iter()
                .map(|v| Secret::new(v.into().trim().to_owned()))
                .filter(|s| !s.is_empty())
                .collect(),
        )
    }

    /// Whether no secret was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many secrets there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether `presented` equals one of the secrets. Every secret is compared in constant time
    /// and all of them are always compared, so timing does not tell which one matched.
    pub fn matches_any(&self, presented: &[u8]) -> bool {
        self.0
            .iter()
            .fold(false, |found, s| s.matches(presented) | found)
    }
}

impl fmt::Debug for SecretList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretList(<{} redacted>)", self.0.len())
    }
}

impl<'de> Deserialize<'de> for SecretList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(#[serde(deserialize_with = "scalar")] String),
            Many(Vec<Secret>),
        }
        Ok(match Raw::deserialize(d)? {
            Raw::One(s) => SecretList::new(s.split(',')),
            Raw::Many(list) => SecretList::new(list.into_iter().map(|s| s.0)),
        })
    }
}

fn scalar<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(ScalarVisitor)
}

/// Accepts any scalar as a string: a numeric token in a TOML file is still a token.
struct ScalarVisitor;

impl Visitor<'_> for ScalarVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_are_required_unless_told_otherwise_and_named_when_wrong() {
        let none = Secret::default();
        let pg = Secret::new("postgres://u:p@127.0.0.1:6435/db");
        let redis = Secret::new("redis://127.0.0.1:6381");
        assert_eq!(
            check_backends(&none, &none, &none, true),
            [
                "TP_CAPITAL_DATABASE_URL is required",
                "TP_CAPITAL_REDIS_URL is required"
            ]
        );
        assert!(check_backends(&none, &none, &none, false).is_empty());
        assert!(check_backends(&pg, &redis, &redis, true).is_empty());
        let wrong = check_backends(&redis, &pg, &pg, false);
        assert_eq!(wrong.len(), 3, "{wrong:?}");
        assert!(wrong[2].starts_with("TP_CAPITAL_REDIS_REPLICA_URL must be a redis://"));
    }

    #[derive(Debug, Deserialize)]
    #[serde(default)]
    struct Demo {
        database_url: Secret,
        api_key: SecretList,
        dev_mode: bool,
        bind: String,
        limit: u64,
        log_format: LogFormat,
    }

    impl Default for Demo {
        fn default() -> Self {
            Self {
                database_url: Secret::default(),
                api_key: SecretList::default(),
                dev_mode: false,
                bind: "127.0.0.1:4006".into(),
                limit: 10,
                log_format: LogFormat::Json,
            }
        }
    }

    impl ServiceConfig for Demo {
        fn validate(&self) -> Vec<String> {
            let mut problems = Vec::new();
            if !self.dev_mode && self.api_key.is_empty() {
                problems.push(format!("{} is required", var("api_key")));
            }
            problems.extend(check_bind("bind", &self.bind));
            problems
        }
    }

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn temp_file(name: &str, content: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("service-kit-{}-{name}", std::process::id()));
        std::fs::write(&path, content).expect("temp file");
        path
    }

    #[test]
    fn defaults_then_env_with_lossy_scalars() {
        let c: Demo = load_from(vars(&[
            ("TP_CAPITAL_API_KEY", "k1, k2"),
            ("TP_CAPITAL_DEV_MODE", "true"),
            ("TP_CAPITAL_LIMIT", "42"),
            ("TP_CAPITAL_LOG_FORMAT", "pretty"),
            ("OTHER", "ignored"),
        ]))
        .expect("loads");
        assert_eq!(c.limit, 42);
        assert!(c.dev_mode);
        assert_eq!(c.api_key.len(), 2);
        assert!(c.api_key.matches_any(b"k2"));
        assert!(!c.api_key.matches_any(b"k3"));
        assert_eq!(c.bind, "127.0.0.1:4006");
        assert_eq!(c.log_format, LogFormat::Pretty);
    }

    #[test]
    fn numeric_secret_stays_a_string() {
        let c: Demo = load_from(vars(&[("TP_CAPITAL_API_KEY", "12345")])).expect("loads");
        assert!(c.api_key.matches_any(b"12345"));
    }

    #[test]
    fn file_variants_and_toml_layer() {
        let secret = temp_file("secret", "s3cr3t\n");
        let toml = temp_file(
            "cfg.toml",
            "limit = 7\nbind = \"0.0.0.0:1\"\napi_key = [\"a\", \"b\"]\n",
        );
        let c: Demo = load_from(vars(&[
            ("TP_CAPITAL_CONFIG", toml.to_str().expect("utf8")),
            (
                "TP_CAPITAL_DATABASE_URL_FILE",
                secret.to_str().expect("utf8"),
            ),
            ("TP_CAPITAL_LIMIT", "8"),
        ]))
        .expect("loads");
        assert_eq!(c.database_url.expose(), "s3cr3t");
        assert_eq!(c.limit, 8, "env overrides the file");
        assert_eq!(c.bind, "0.0.0.0:1", "file overrides defaults");
        assert!(c.api_key.matches_any(b"b"));
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[test]
    fn clear_errors() {
        let e = load_from::<Demo>(vars(&[])).expect_err("no key");
        assert!(
            e.to_string().contains("TP_CAPITAL_API_KEY is required"),
            "{e}"
        );

        let e = load_from::<Demo>(vars(&[
            ("TP_CAPITAL_API_KEY", "k"),
            ("TP_CAPITAL_LIMIT", "ten"),
        ]))
        .expect_err("bad number");
        assert!(e.to_string().contains("TP_CAPITAL_LIMIT"), "{e}");

        let e = load_from::<Demo>(vars(&[
            ("TP_CAPITAL_API_KEY", "k"),
            ("TP_CAPITAL_API_KEY_FILE", "/nonexistent"),
        ]))
        .expect_err("ambiguous");
        assert!(matches!(e, ConfigError::Ambiguous { .. }), "{e}");

        let e = load_from::<Demo>(vars(&[("TP_CAPITAL_API_KEY_FILE", "/nonexistent/key")]))
            .expect_err("missing file");
        assert!(e.to_string().contains("TP_CAPITAL_API_KEY_FILE"), "{e}");

        let e = load_from::<Demo>(vars(&[
            ("TP_CAPITAL_API_KEY", "k"),
            ("TP_CAPITAL_BIND", "nope"),
        ]))
        .expect_err("bad bind");
        assert!(e.to_string().contains("TP_CAPITAL_BIND"), "{e}");
    }

    #[test]
    fn url_checks() {
        assert!(
            check_url(
                "database_url",
                "postgres://u:p@h/db",
                &["postgres", "postgresql"]
            )
            .is_none()
        );
        assert!(check_url("database_url", "mysql://h", &["postgres"]).is_some());
        assert!(check_url("redis_url", "redis://", &["redis"]).is_some());
    }
}
