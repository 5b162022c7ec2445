//! The backup taken before anything is written: every legacy row the import reads, as
//! gzip-compressed `COPY` text per table, the DDL to recreate the tables, a manifest with SHA-256
//! checksums (`sha256sum -c SHA256SUMS`) and a restore script. `telegram_channels` is saved
//! without its credentials: only the columns that are not secrets.

use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use futures_util::TryStreamExt;
use sea_orm::sqlx::{PgConnection, Row};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::error::{LegacyError, SqlContext};
use super::shape::{CHANNELS_TABLE, LegacyShape, ident};

/// The columns of `telegram_channels` that may leave the legacy database.
const CHANNEL_COLUMNS: [&str; 4] = ["channel_id", "label", "channel_type", "status"];

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";

/// One backed-up table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupFile {
    /// File name in the backup directory.
    pub file: String,
    /// The legacy table.
    pub table: String,
    /// The columns, in file order.
    pub columns: Vec<String>,
    /// Rows written.
    pub rows: u64,
    /// Size of the compressed file.
    pub bytes: u64,
    /// SHA-256 of the compressed file.
    pub sha256: String,
    /// SHA-256 of the uncompressed `COPY` text.
    pub content_sha256: String,
}

/// What a backup holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupManifest {
    /// The import it was taken for.
    pub import_id: Uuid,
    /// When.
    pub created_at: DateTime<Utc>,
    /// The legacy database, password hidden.
    pub source: String,
    /// The legacy schema.
    pub schema: String,
    /// The directory.
    pub dir: PathBuf,
    /// One entry per table.
    pub files: Vec<BackupFile>,
    /// The command that restores it.
    pub restore_command: String,
}

fn io_err(what: &str, path: &Path) -> impl Fn(std::io::Error) -> LegacyError {
    let msg = format!("{what} {}", path.display());
    move |e| LegacyError::Backup(format!("{msg}: {e}"))
}

/// Free bytes on the file system that would hold `dir` (its nearest existing ancestor).
pub fn free_bytes(dir: &Path) -> Result<(PathBuf, u64), LegacyError> {
    let mut probe = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(io_err("resolving", dir))?
            .join(dir)
    };
    while !probe.exists() {
        if !probe.pop() {
            return Err(LegacyError::Backup(format!(
                "no existing ancestor of {}",
                dir.display()
            )));
        }
    }
    let st = rustix::fs::statvfs(&probe)
        .map_err(|e| LegacyError::Backup(format!("statvfs {}: {e}", probe.display())))?;
    Ok((probe, st.f_bavail.saturating_mul(st.f_frsize)))
}

/// Whether the directory (or the ancestor that would hold it) is writable.
pub fn writable(existing: &Path) -> bool {
    rustix::fs::access(existing, rustix::fs::Access::WRITE_OK).is_ok()
}

/// The tables and columns a backup saves.
fn plan(shape: &LegacyShape) -> Vec<(String, Vec<String>)> {
    shape
        .all_columns
        .iter()
        .map(|(table, cols)| {
            let names = cols
                .iter()
                .map(|c| c.name.clone())
                .filter(|n| table != CHANNELS_TABLE || CHANNEL_COLUMNS.contains(&n.as_str()))
                .collect();
            (table.clone(), names)
        })
        .collect()
}

/// A writer that hashes what goes through it.
struct Hashing<W: Write> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes the backup of everything the import reads into `dir` (created), inside the caller's
/// snapshot, and returns its manifest. The manifest is written last: a directory without one is
/// an incomplete backup.
pub async fn write(
    source: &mut PgConnection,
    shape: &LegacyShape,
    dir: &Path,
    import_id: Uuid,
    source_redacted: &str,
) -> Result<BackupManifest, LegacyError> {
    fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
    let mut files = Vec::new();
    for (table, columns) in plan(shape) {
        let file = format!("{table}.copy.gz");
        let path = dir.join(&file);
        let tmp = dir.join(format!("{file}.partial"));
        let out = File::create(&tmp).map_err(io_err("creating", &tmp))?;
        let mut gz = GzEncoder::new(
            Hashing {
                inner: BufWriter::with_capacity(1 << 20, out),
                hash: Sha256::new(),
                bytes: 0,
            },
            Compression::new(3),
        );
        let mut content = Sha256::new();
        let mut rows = 0u64;
        let cols = columns
            .iter()
            .map(|c| ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        let copy = format!(
            "COPY (SELECT {cols} FROM {}) TO STDOUT",
            shape.table(&table)
        );
        {
            let mut stream = source
                .copy_out_raw(&copy)
                .await
                .ctx(&format!("backing up {table}"))?;
            while let Some(chunk) = stream
                .try_next()
                .await
                .ctx(&format!("backing up {table}"))?
            {
                rows += chunk.iter().filter(|b| **b == b'\n').count() as u64;
                content.update(&chunk);
                gz.write_all(&chunk).map_err(io_err("writing", &tmp))?;
            }
        }
        let mut hashing = gz.finish().map_err(io_err("compressing", &tmp))?;
        hashing.flush().map_err(io_err("writing", &tmp))?;
        let inner = hashing.inner.into_inner().map_err(|e| {
            LegacyError::Backup(format!("writing {}: {}", tmp.display(), e.error()))
        })?;
        inner.sync_all().map_err(io_err("syncing", &tmp))?;
        fs::rename(&tmp, &path).map_err(io_err("renaming", &tmp))?;
        files.push(BackupFile {
            file,
            table,
            columns,
            rows,
            bytes: hashing.bytes,
            sha256: format!("{:x}", hashing.hash.finalize()),
            content_sha256: format!("{:x}", content.finalize()),
        });
    }
    let ddl = schema_sql(source, shape).await?;
    write_file(&dir.join("schema.sql"), ddl.as_bytes())?;
    let restore = restore_script(shape, &files);
    write_file(&dir.join("restore.sh"), restore.as_bytes())?;
    let mut sums = String::new();
    for f in &files {
        sums.push_str(&format!("{}  {}\n", f.sha256, f.file));
    }
    for extra in ["schema.sql", "restore.sh"] {
        let bytes = fs::read(dir.join(extra)).map_err(io_err("reading", &dir.join(extra)))?;
        sums.push_str(&format!("{:x}  {extra}\n", Sha256::digest(&bytes)));
    }
    write_file(&dir.join("SHA256SUMS"), sums.as_bytes())?;
    let manifest = BackupManifest {
        import_id,
        created_at: Utc::now(),
        source: source_redacted.to_owned(),
        schema: shape.schema.clone(),
        dir: dir.to_path_buf(),
        files,
        restore_command: format!(
            "cd {} && sha256sum -c SHA256SUMS && LEGACY_URL='postgres://…' sh restore.sh",
            dir.display()
        ),
    };
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| LegacyError::Backup(format!("manifest: {e}")))?;
    let tmp = dir.join(format!("{MANIFEST}.partial"));
    write_file(&tmp, &json)?;
    fs::rename(&tmp, dir.join(MANIFEST)).map_err(io_err("renaming", &tmp))?;
    Ok(manifest)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), LegacyError> {
    let mut f = File::create(path).map_err(io_err("creating", path))?;
    f.write_all(bytes).map_err(io_err("writing", path))?;
    f.sync_all().map_err(io_err("syncing", path))
}

/// Re-reads a backup and checks every file against its manifest (what a resumed run relies on).
pub fn verify(dir: &Path) -> Result<BackupManifest, LegacyError> {
    let path = dir.join(MANIFEST);
    let bytes = fs::read(&path).map_err(io_err("reading", &path))?;
    let manifest: BackupManifest = serde_json::from_slice(&bytes)
        .map_err(|e| LegacyError::Backup(format!("{}: {e}", path.display())))?;
    for f in &manifest.files {
        let p = dir.join(&f.file);
        let mut file = File::open(&p).map_err(io_err("opening", &p))?;
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).map_err(io_err("reading", &p))?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
        }
        let got = format!("{:x}", hash.finalize());
        if got != f.sha256 {
            return Err(LegacyError::Backup(format!(
                "{} has sha256 {got}, the manifest says {}",
                p.display(),
                f.sha256
            )));
        }
    }
    Ok(manifest)
}

/// `CREATE SCHEMA/TABLE` statements for the backed-up columns, with primary and unique keys.
async fn schema_sql(source: &mut PgConnection, shape: &LegacyShape) -> Result<String, LegacyError> {
    let mut out = "-- Legacy tables as backed up by tp-capital-migrate import-legacy.\n".to_owned();
    let mut schemas: Vec<&str> = shape.relations.iter().map(|r| r.schema.as_str()).collect();
    schemas.push(&shape.schema);
    schemas.dedup();
    for schema in schemas {
        out.push_str(&format!("CREATE SCHEMA IF NOT EXISTS {};\n", ident(schema)));
    }
    for (table, columns) in plan(shape) {
        let cols = shape.columns_of(&table).unwrap_or(&[]);
        let mut defs: Vec<String> = columns
            .iter()
            .filter_map(|name| cols.iter().find(|c| &c.name == name))
            .map(|c| format!("  {} {}", ident(&c.name), c.sql_type))
            .collect();
        let keys = sea_orm::sqlx::query(
            "SELECT pg_catalog.pg_get_constraintdef(c.oid) AS def, \
                    ARRAY(SELECT a.attname::text FROM pg_catalog.unnest(c.conkey) k \
                          JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k) AS cols \
             FROM pg_catalog.pg_constraint c \
             WHERE c.conrelid = pg_catalog.to_regclass($1) AND c.contype IN ('p', 'u') \
             ORDER BY c.contype, c.conname",
        )
        .bind(shape.table(&table))
        .fetch_all(&mut *source)
        .await
        .ctx("reading legacy keys")?;
        for k in keys {
            let def: String = k.try_get("def").ctx("reading legacy keys")?;
            let key_cols: Vec<String> = k.try_get("cols").ctx("reading legacy keys")?;
            if key_cols.iter().all(|c| columns.contains(c)) {
                defs.push(format!("  {def}"));
            }
        }
        out.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {} (\n{}\n);\n",
            shape.table(&table),
            defs.join(",\n")
        ));
    }
    Ok(out)
}

fn restore_script(shape: &LegacyShape, files: &[BackupFile]) -> String {
    let mut s = String::from(
        "#!/bin/sh\n\
         # Restores the legacy tables saved in this directory into LEGACY_URL (tables must be absent\n\
         # or empty). Usage: LEGACY_URL=postgres://user:pw@host:5432/db sh restore.sh\n\
         set -eu\n\
         cd \"$(dirname \"$0\")\"\n\
         : \"${LEGACY_URL:?set LEGACY_URL to the database to restore into}\"\n\
         sha256sum -c SHA256SUMS\n\
         psql \"$LEGACY_URL\" -v ON_ERROR_STOP=1 -q -f schema.sql\n",
    );
    for f in files {
        let cols = f
            .columns
            .iter()
            .map(|c| ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        let copy = format!("\\copy {} ({cols}) FROM STDIN", shape.table(&f.table));
        s.push_str(&format!(
            "gunzip -c {} | psql \"$LEGACY_URL\" -v ON_ERROR_STOP=1 -c {}\n",
            f.file,
            sh_quote(&copy)
        ));
    }
    s.push_str("echo \"restored: $(ls *.copy.gz | tr '\\n' ' ')\"\n");
    s
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
