//! Platforms: parsing `os/arch[/variant]`, the host's, and picking an index child the way
//! containerd does (exact variant first, then the older variants the platform can still run).

use std::fmt;

use super::LoadError;

/// An OCI platform; `variant` is empty when there is none.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: String,
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: &str) -> Self {
        let (architecture, default_variant) = normalize_arch(architecture);
        let variant = if variant.is_empty() { default_variant } else { variant };
        Self { os: os.to_ascii_lowercase(), architecture: architecture.to_owned(), variant: variant.to_owned() }
    }

    /// `os/arch[/variant]`.
    pub fn parse(text: &str) -> Result<Self, LoadError> {
        let parts: Vec<&str> = text.split('/').collect();
        match parts[..] {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Self::new(os, arch, "")),
            [os, arch, variant] if !os.is_empty() && !arch.is_empty() => Ok(Self::new(os, arch, variant)),
            _ => Err(LoadError::Usage(format!(
                "--platform {text:?} is not os/arch[/variant] (e.g. linux/amd64, linux/arm64/v8) or `all`"
            ))),
        }
    }

    /// The platform this binary runs on.
    pub fn host() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "x86" => "386",
            "aarch64" => "arm64",
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            "loongarch64" => "loong64",
            other => other,
        };
        // 32-bit arm: the build target says which variant the host can run at least.
        let variant = if arch == "arm" {
            if cfg!(target_feature = "v7") {
                "v7"
            } else {
                "v6"
            }
        } else {
            ""
        };
        Self::new(std::env::consts::OS, arch, variant)
    }

    /// How well an image for `candidate` runs here: 0 is an exact match, higher is a fallback,
    /// `None` cannot run.
    pub fn rank(&self, candidate: &Platform) -> Option<usize> {
        if self.os != candidate.os || self.architecture != candidate.architecture {
            return None;
        }
        compatible_variants(&self.architecture, &self.variant).iter().position(|v| *v == candidate.variant)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

/// Architecture aliases, and the variant an architecture implies when none is given (containerd
/// treats arm64 as arm64/v8 and arm as arm/v7).
fn normalize_arch(arch: &str) -> (&str, &'static str) {
    match arch.to_ascii_lowercase().as_str() {
        "x86_64" | "x86-64" | "amd64" => ("amd64", ""),
        "aarch64" | "arm64" => ("arm64", "v8"),
        "armhf" | "arm" => ("arm", "v7"),
        "armel" => ("arm", "v6"),
        "i386" | "386" => ("386", ""),
        // Unknown architectures keep their spelling.
        _ => (arch, ""),
    }
}

/// The variants an image may have and still run on `arch`/`variant`, best first.
fn compatible_variants(arch: &str, variant: &str) -> Vec<String> {
    let mut out = vec![variant.to_owned()];
    let number = |prefix: &str| variant.strip_prefix(prefix).and_then(|n| n.parse::<u32>().ok());
    match arch {
        "amd64" => {
            // v4 runs v3, v2, v1 and plain amd64.
            if let Some(n) = number("v") {
                out.extend((1..n).rev().map(|k| format!("v{k}")));
            }
            out.push(String::new());
            if variant.is_empty() {
                out.push("v1".to_owned());
            }
        }
        "arm" => {
            if let Some(n) = number("v") {
                out.extend((5..n).rev().map(|k| format!("v{k}")));
            }
        }
        "arm64" => {
            // v8.2 runs v8.1, v8; v9.x runs v9.(x-1).., v9, then the v8 line.
            if let Some((major, minor)) = variant.strip_prefix('v').and_then(|v| v.split_once('.')) {
                if let (Ok(major), Ok(minor)) = (major.parse::<u32>(), minor.parse::<u32>()) {
                    out.extend((1..minor).rev().map(|k| format!("v{major}.{k}")));
                    out.push(format!("v{major}"));
                    if major == 9 {
                        out.push("v8".to_owned());
                    }
                }
            } else if variant == "v9" {
                out.push("v8".to_owned());
            }
        }
        _ => {}
    }
    // An image without a variant runs wherever the architecture matches.
    if !out.iter().any(String::is_empty) {
        out.push(String::new());
    }
    out.dedup();
    out
}

/// Which children of an index to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformChoice {
    /// The one closest to the host (or the only one).
    Host,
    /// The best match for each of these.
    Listed(Vec<Platform>),
    /// Every child.
    All,
}

impl PlatformChoice {
    /// `all`, or a comma-separated list of `os/arch[/variant]`.
    pub fn parse(text: &str) -> Result<Self, LoadError> {
        if text == "all" {
            return Ok(Self::All);
        }
        Ok(Self::Listed(text.split(',').map(|p| Platform::parse(p.trim())).collect::<Result<_, _>>()?))
    }

    /// Indexes into `children` (platforms of an index's children, in order), in index order.
    pub fn select(&self, children: &[Platform]) -> Result<Vec<usize>, LoadError> {
        let available = || children.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        let best = |wanted: &Platform| {
            children.iter().enumerate().filter_map(|(i, c)| wanted.rank(c).map(|r| (r, i))).min().map(|(_, i)| i)
        };
        let mut chosen = match self {
            Self::All => (0..children.len()).collect(),
            Self::Host => match best(&Platform::host()) {
                Some(i) => vec![i],
                None if children.len() == 1 => vec![0],
                None => {
                    return Err(LoadError::PlatformNotFound {
                        wanted: format!("{} (this host)", Platform::host()),
                        available: available(),
                    })
                }
            },
            Self::Listed(wanted) => {
                let mut chosen = Vec::new();
                for platform in wanted {
                    let i = best(platform).ok_or_else(|| LoadError::PlatformNotFound {
                        wanted: platform.to_string(),
                        available: available(),
                    })?;
                    chosen.push(i);
                }
                chosen
            }
        };
        chosen.sort_unstable();
        chosen.dedup();
        Ok(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Platform {
        Platform::parse(text).unwrap()
    }

    #[test]
    fn aliases_and_implied_variants_normalize() {
        assert_eq!(p("linux/x86_64"), p("linux/amd64"));
        assert_eq!(p("linux/aarch64"), p("linux/arm64/v8"));
        assert_eq!(p("linux/arm").variant, "v7");
        assert_eq!(p("linux/arm64").to_string(), "linux/arm64/v8");
    }

    #[test]
    fn malformed_platform_is_a_usage_error() {
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d"] {
            assert!(matches!(Platform::parse(bad), Err(LoadError::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn exact_variant_beats_fallback() {
        let children = [p("linux/arm/v6"), p("linux/arm/v7"), p("linux/amd64")];
        let choice = PlatformChoice::parse("linux/arm/v7").unwrap();
        assert_eq!(choice.select(&children).unwrap(), [1]);
        let choice = PlatformChoice::parse("linux/arm/v8").unwrap();
        assert_eq!(choice.select(&children).unwrap(), [1]);
    }

    #[test]
    fn arm64_falls_back_along_the_v8_line() {
        assert_eq!(p("linux/arm64/v8.2").rank(&p("linux/arm64/v8")), Some(2));
        assert_eq!(p("linux/arm64/v9.1").rank(&p("linux/arm64/v8")), Some(2));
        assert_eq!(p("linux/arm64/v8").rank(&p("linux/arm64/v9")), None);
    }

    #[test]
    fn amd64_levels_run_older_levels() {
        assert_eq!(p("linux/amd64/v3").rank(&p("linux/amd64")), Some(3));
        assert_eq!(p("linux/amd64/v3").rank(&p("linux/amd64/v2")), Some(1));
        assert_eq!(p("linux/amd64").rank(&p("linux/amd64/v2")), None);
    }

    #[test]
    fn platform_not_in_index_lists_what_it_has() {
        let children = [p("linux/amd64"), p("linux/arm64")];
        let err = PlatformChoice::parse("linux/s390x").unwrap().select(&children).unwrap_err().to_string();
        assert!(err.contains("linux/s390x") && err.contains("linux/amd64, linux/arm64/v8"), "{err}");
    }

    #[test]
    fn all_and_lists_keep_index_order_without_duplicates() {
        let children = [p("linux/amd64"), p("linux/arm64")];
        assert_eq!(PlatformChoice::All.select(&children).unwrap(), [0, 1]);
        let choice = PlatformChoice::parse("linux/arm64,linux/amd64,linux/x86_64").unwrap();
        assert_eq!(choice.select(&children).unwrap(), [0, 1]);
    }

    #[test]
    fn single_child_is_taken_for_any_host() {
        let children = [p("plan9/mips")];
        assert_eq!(PlatformChoice::Host.select(&children).unwrap(), [0]);
    }
}
