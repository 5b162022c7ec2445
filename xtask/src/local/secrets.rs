//! The stack's generated secrets: 48 hex characters from the kernel's CSPRNG, one file each under
//! `secrets/` (mode 600, folder 700), created once and atomically (two first runs agree on one).

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::config::StackConfig;

/// Marker that proves a folder is a stack state folder (`destroy` refuses to delete anything else).
pub const STATE_MARKER: &str = ".tp-capital-stack";

/// The secrets of one stack.
#[derive(Debug, Clone)]
pub struct Secrets {
    /// Password of the application's role.
    pub db_password: String,
    /// Password of the `postgres` superuser (TCP).
    pub pg_superuser_password: String,
    /// The gateway's bearer token for the ingest.
    pub gateway_token: String,
    /// The api's key.
    pub api_key: String,
    /// The api → ingest `/gateway/sync` token.
    pub sync_token: String,
    /// Redis' password (empty = none).
    pub redis_password: String,
}

impl Secrets {
    /// Reads the secrets of `config`'s stack, creating the state folder and the missing ones.
    pub fn load(config: &StackConfig) -> Result<Self, String> {
        prepare_state_dir(&config.dir)?;
        let dir = config.secrets_dir();
        let file = |name: &str| secret_file(&dir.join(name));
        let secrets = Self {
            db_password: file("db_password")?,
            pg_superuser_password: file("pg_superuser_password")?,
            gateway_token: file("gateway_token")?,
            api_key: file("api_key")?,
            redis_password: redis_password(config)?,
            sync_token: file("sync_token")?,
        };
        for s in [
            &secrets.db_password,
            &secrets.pg_superuser_password,
            &secrets.gateway_token,
            &secrets.api_key,
            &secrets.sync_token,
        ] {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!(
                    "a secret in {} is not alphanumeric; delete it to regenerate",
                    dir.display()
                ));
            }
        }
        Ok(secrets)
    }
}

/// Redis has a password unless `TP_REDIS_PASSWORD` is set (empty = none); a stack whose Redis was
/// first configured without one keeps none, so a running server and its clients still agree.
fn redis_password(config: &StackConfig) -> Result<String, String> {
    if let Some(p) = &config.redis_password_override {
        return Ok(p.clone());
    }
    let file = config.secrets_dir().join("redis_password");
    let has_one = std::fs::metadata(&file).is_ok_and(|m| m.len() > 0);
    if has_one || !config.dir.join("redis-master/redis.conf").exists() {
        secret_file(&file)
    } else {
        Ok(String::new())
    }
}

/// Creates a stack state folder with its marker and `run/`, `logs/`, `secrets/` (700).
pub fn prepare_state_dir(dir: &Path) -> Result<(), String> {
    let err = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    for sub in ["run", "logs", "secrets"] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path).map_err(|e| err(&path, e))?;
    }
    set_mode(dir, 0o755)?;
    set_mode(&dir.join("secrets"), 0o700)?;
    let marker = dir.join(STATE_MARKER);
    if !marker.exists() {
        std::fs::write(
            &marker,
            "TP-Capital local stack state; managed by deploy/local/stack.sh\n",
        )
        .map_err(|e| err(&marker, e))?;
    }
    Ok(())
}

/// The secret stored in `path` (newlines dropped), created with a fresh random value on first use.
pub fn secret_file(path: &Path) -> Result<String, String> {
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    if !std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
        let dir = path.parent().ok_or("a secret needs a folder")?;
        std::fs::create_dir_all(dir).map_err(err)?;
        set_mode(dir, 0o700)?;
        // Create-if-absent atomically (hard link of a complete file), so concurrent first runs agree.
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        std::fs::write(&tmp, random_secret()?).map_err(err)?;
        set_mode(&tmp, 0o600)?;
        let _ = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
    }
    set_mode(path, 0o600)?;
    let text = std::fs::read_to_string(path).map_err(err)?;
    Ok(text.replace('\n', ""))
}

/// 48 hex characters (24 bytes) from /dev/urandom.
pub fn random_secret() -> Result<String, String> {
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// chmod.
pub fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {mode:o} {}: {e}", path.display()))
}
