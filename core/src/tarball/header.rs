//! Encoding of one tar header: a USTAR block, preceded by a PAX extended header when a value does
//! not fit USTAR (long or non-ASCII names, sizes of 8 GiB and more, large ids, negative or
//! sub-second times, or explicit PAX records).

use std::collections::BTreeMap;

use super::{Entry, Kind, Mtime};

pub const BLOCK: usize = 512;

const NAME_LEN: usize = 100;
const OWNER_NAME_LEN: usize = 32;
/// Largest value of an 11-digit octal field (size, mtime): 8 GiB - 1.
const MAX_OCTAL_11: u64 = 0o777_7777_7777;
/// Largest value of a 7-digit octal field (uid, gid, device numbers).
const MAX_OCTAL_7: u64 = 0o777_7777;

/// Appends the header blocks of `entry` to `out`.
pub fn encode(entry: &Entry, out: &mut Vec<u8>) {
    let name = entry.tar_name();
    let mut pax = entry.attrs.pax_records.clone();
    let fits = |value: &str, len: usize| value.len() <= len && value.is_ascii();

    if !fits(&name, NAME_LEN) {
        pax.insert("path".into(), name.clone());
    }
    let link = entry.kind.link_target().unwrap_or("");
    if !fits(link, NAME_LEN) {
        pax.insert("linkpath".into(), link.to_owned());
    }
    let size = entry.kind.size();
    if size > MAX_OCTAL_11 {
        pax.insert("size".into(), size.to_string());
    }
    let attrs = &entry.attrs;
    if attrs.uid > MAX_OCTAL_7 {
        pax.entry("uid".into()).or_insert_with(|| attrs.uid.to_string());
    }
    if attrs.gid > MAX_OCTAL_7 {
        pax.entry("gid".into()).or_insert_with(|| attrs.gid.to_string());
    }
    if !fits(&attrs.uname, OWNER_NAME_LEN) {
        pax.entry("uname".into()).or_insert_with(|| attrs.uname.clone());
    }
    if !fits(&attrs.gname, OWNER_NAME_LEN) {
        pax.entry("gname".into()).or_insert_with(|| attrs.gname.clone());
    }
    let Mtime { secs, nanos } = attrs.mtime;
    if secs < 0 || secs as u64 > MAX_OCTAL_11 || nanos != 0 {
        pax.entry("mtime".into()).or_insert_with(|| format_pax_time(attrs.mtime));
    }

    if !pax.is_empty() {
        let records = pax_records(&pax);
        let mut block = ustar_block();
        put_str(&mut block[0..NAME_LEN], &pax_header_name(&name));
        put_octal(&mut block[100..108], 0o644);
        put_octal(&mut block[108..116], 0);
        put_octal(&mut block[116..124], 0);
        put_octal(&mut block[124..136], records.len() as u64);
        put_octal(&mut block[136..148], 0);
        block[156] = b'x';
        finish_block(&mut block);
        out.extend_from_slice(&block);
        out.extend_from_slice(&records);
        pad(out);
    }

    let mut block = ustar_block();
    put_str(&mut block[0..NAME_LEN], &ascii_prefix(&name, NAME_LEN));
    put_octal(&mut block[100..108], u64::from(attrs.mode & 0o7777));
    put_octal(&mut block[108..116], attrs.uid.min(MAX_OCTAL_7));
    put_octal(&mut block[116..124], attrs.gid.min(MAX_OCTAL_7));
    put_octal(&mut block[124..136], size.min(MAX_OCTAL_11));
    put_octal(&mut block[136..148], secs.clamp(0, MAX_OCTAL_11 as i64) as u64);
    block[156] = entry.kind.typeflag();
    put_str(&mut block[157..257], &ascii_prefix(link, NAME_LEN));
    put_str(&mut block[265..297], &ascii_prefix(&attrs.uname, OWNER_NAME_LEN));
    put_str(&mut block[297..329], &ascii_prefix(&attrs.gname, OWNER_NAME_LEN));
    if let Kind::CharDevice { major, minor } | Kind::BlockDevice { major, minor } = entry.kind {
        put_octal(&mut block[329..337], u64::from(major).min(MAX_OCTAL_7));
        put_octal(&mut block[337..345], u64::from(minor).min(MAX_OCTAL_7));
    }
    finish_block(&mut block);
    out.extend_from_slice(&block);
}

/// Zero bytes that pad `out` to a whole block.
pub fn pad(out: &mut Vec<u8>) {
    let rest = out.len() % BLOCK;
    if rest != 0 {
        out.resize(out.len() + BLOCK - rest, 0);
    }
}

/// Number of zero bytes after a payload of `size` bytes.
pub fn padding(size: u64) -> usize {
    ((BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64) as usize
}

fn ustar_block() -> [u8; BLOCK] {
    let mut block = [0u8; BLOCK];
    block[257..263].copy_from_slice(b"ustar\0");
    block[263..265].copy_from_slice(b"00");
    block
}

fn finish_block(block: &mut [u8; BLOCK]) {
    block[148..156].fill(b' ');
    let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
    // Six octal digits, NUL, space: the classic layout every reader accepts.
    let digits = format!("{sum:06o}\0 ");
    block[148..156].copy_from_slice(digits.as_bytes());
}

fn put_str(field: &mut [u8], value: &str) {
    let bytes = value.as_bytes();
    let len = bytes.len().min(field.len());
    field[..len].copy_from_slice(&bytes[..len]);
}

/// Zero-padded octal with a terminating NUL, filling the field.
fn put_octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&text.as_bytes()[text.len() - digits..]);
    field[digits] = 0;
}

/// What fits of `value` in a USTAR field: non-ASCII bytes become `_`, then it is cut to `len`
/// (the real value is in a PAX record whenever this differs from it).
fn ascii_prefix(value: &str, len: usize) -> String {
    value.bytes().take(len).map(|b| if b.is_ascii() && b != 0 { b as char } else { '_' }).collect()
}

/// Name of the PAX header entry: `PaxHeaders/<base name>`, as GNU tar does (readers ignore it).
fn pax_header_name(name: &str) -> String {
    let base = name.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    ascii_prefix(&format!("PaxHeaders/{base}"), NAME_LEN)
}

/// `<length> <key>=<value>\n` records, keys in byte order so the header is deterministic.
fn pax_records(records: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in records {
        let base = key.len() + value.len() + 3;
        let mut len = base + base.to_string().len();
        if len.to_string().len() > base.to_string().len() {
            len += 1;
        }
        out.extend_from_slice(format!("{len} {key}={value}\n").as_bytes());
    }
    out
}

/// PAX time: seconds, with a fraction only when there is one.
pub fn format_pax_time(Mtime { secs, nanos }: Mtime) -> String {
    if nanos == 0 {
        return secs.to_string();
    }
    let fraction = format!("{nanos:09}");
    format!("{secs}.{}", fraction.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tarball::Attributes;

    fn file(path: &str, size: u64) -> Entry {
        Entry { path: path.into(), kind: Kind::Regular { size }, attrs: Attributes::file(false) }
    }

    #[test]
    fn pax_record_lengths_count_themselves() {
        let mut records = BTreeMap::new();
        records.insert("path".to_string(), "a".repeat(91));
        // 98 bytes without the length; "100 " would not fit the count, so it becomes "101 ".
        let bytes = pax_records(&records);
        assert_eq!(bytes.len(), 101);
        assert!(bytes.starts_with(b"101 path="));
        records.insert("path".to_string(), "b".into());
        assert_eq!(pax_records(&records), b"9 path=b\n");
    }

    #[test]
    fn short_ascii_entry_is_one_ustar_block_with_a_valid_checksum() {
        let mut out = Vec::new();
        encode(&file("etc/hosts", 12), &mut out);
        assert_eq!(out.len(), BLOCK);
        let header = tar::Header::from_byte_slice(&out);
        assert_eq!(header.path_bytes().as_ref(), b"etc/hosts");
        assert_eq!(header.size().unwrap(), 12);
        assert_eq!(header.mode().unwrap(), 0o644);
        assert_eq!(header.cksum().unwrap(), {
            let mut copy = out.clone();
            copy[148..156].fill(b' ');
            copy.iter().map(|&b| u32::from(b)).sum::<u32>()
        });
    }

    #[test]
    fn long_non_ascii_names_and_huge_sizes_use_pax() {
        let mut out = Vec::new();
        let name = format!("{}/ünïcode", "d".repeat(120));
        encode(&file(&name, 9 << 30), &mut out);
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains(&format!("path={name}\n")));
        assert!(text.contains(&format!("size={}\n", 9u64 << 30)));
        assert_eq!(out[156], b'x');
        assert_eq!(out.len(), 3 * BLOCK);
    }

    #[test]
    fn fractional_times_are_trimmed() {
        assert_eq!(format_pax_time(Mtime { secs: 5, nanos: 500_000_000 }), "5.5");
        assert_eq!(format_pax_time(Mtime { secs: -1, nanos: 0 }), "-1");
    }
}
