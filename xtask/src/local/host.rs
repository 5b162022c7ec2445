//! Facts about the host the native stack reads: the Debian mirror apt already uses (for building the
//! root filesystem), the processes chrooted into a folder, the mounts below a folder.

use std::path::Path;

/// The first mirror of apt's sources (deb822 `URIs:` first, then a one-line `deb` entry that is not
/// the security archive), else Debian's.
pub fn debian_mirror(deb822: Option<&str>, sources_list: Option<&str>) -> String {
    let from_deb822 = deb822.and_then(|text| {
        text.lines()
            .find_map(|line| line.strip_prefix("URIs:"))
            .and_then(|uris| uris.split_whitespace().next())
    });
    let from_list = || {
        sources_list.and_then(|text| {
            text.lines().find_map(|line| {
                let mut words = line.split_whitespace();
                (words.next() == Some("deb"))
                    .then(|| words.next())
                    .flatten()
                    .filter(|uri| !uri.contains("security"))
            })
        })
    };
    from_deb822
        .or_else(from_list)
        .unwrap_or("http://deb.debian.org/debian")
        .to_owned()
}

/// Mount points at or below `dir` in a `/proc/self/mountinfo` text, deepest first (unmount order).
pub fn mounts_under(mountinfo: &str, dir: &str) -> Vec<String> {
    let dir = dir.trim_end_matches('/');
    let mut mounts: Vec<String> = mountinfo
        .lines()
        .filter_map(|line| line.split_whitespace().nth(4))
        .map(unescape_octal)
        .filter(|m| m == dir || m.strip_prefix(dir).is_some_and(|r| r.starts_with('/')))
        .collect();
    mounts.sort();
    mounts.dedup();
    mounts.reverse();
    mounts
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_octal(field: &str) -> String {
    let mut out = String::new();
    let mut rest = field;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest
            .get(i + 1..i + 4)
            .and_then(|o| u8::from_str_radix(o, 8).ok());
        match code {
            Some(c) => {
                out.push(char::from(c));
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Processes whose root directory is `dir` (chrooted there), by /proc.
pub fn pids_rooted_in(dir: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/root")).is_ok_and(|r| r == dir))
        .collect();
    pids.sort_unstable();
    pids
}
