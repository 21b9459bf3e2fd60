//! Picking the image of one platform among those a layout offers.

use std::fmt;

/// `os/architecture[/variant]`, with an empty variant meaning none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformSpec {
    pub os: String,
    pub architecture: String,
    pub variant: String,
}

impl PlatformSpec {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        Self { os: os.to_owned(), architecture: architecture.to_owned(), variant: variant.unwrap_or("").to_owned() }
    }

    /// Whether an image for `self` serves a request for `wanted`: os and architecture agree, and
    /// the variants agree unless `wanted` names none (then any variant will do).
    pub fn satisfies(&self, wanted: &PlatformSpec) -> bool {
        self.os == wanted.os
            && self.architecture == wanted.architecture
            && (wanted.variant.is_empty() || self.same_variant(wanted))
    }

    /// Whether the variants are the same once defaults are filled in (arm64 without a variant is v8,
    /// as containerd normalizes it).
    pub fn same_variant(&self, other: &PlatformSpec) -> bool {
        normalized_variant(&self.architecture, &self.variant) == normalized_variant(&other.architecture, &other.variant)
    }
}

fn normalized_variant<'a>(architecture: &str, variant: &'a str) -> &'a str {
    match (architecture, variant) {
        ("arm64", "" | "8" | "v8") => "v8",
        (_, variant) => variant,
    }
}

impl fmt::Display for PlatformSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

/// Why no single image was picked.
#[derive(Debug, PartialEq, Eq)]
pub enum NoSelection {
    /// No image is for the platform.
    None,
    /// These images (indexes into the candidates) all are.
    Ambiguous(Vec<usize>),
}

/// The index of the candidate for `wanted`. Among several that satisfy it, the one whose variant
/// is exactly the wanted one (after defaults) wins: a request for plain `linux/amd64` takes the
/// plain amd64 image over `amd64/v3`, one for `linux/arm64` takes `arm64/v8`.
pub fn select(candidates: &[PlatformSpec], wanted: &PlatformSpec) -> Result<usize, NoSelection> {
    let matching: Vec<usize> = (0..candidates.len()).filter(|&i| candidates[i].satisfies(wanted)).collect();
    match matching.as_slice() {
        [] => Err(NoSelection::None),
        [only] => Ok(*only),
        several => match several.iter().filter(|&&i| candidates[i].same_variant(wanted)).collect::<Vec<_>>()[..] {
            [exact] => Ok(*exact),
            _ => Err(NoSelection::Ambiguous(matching)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> PlatformSpec {
        let parts: Vec<&str> = text.split('/').collect();
        PlatformSpec::new(parts[0], parts[1], parts.get(2).copied())
    }

    fn pick(candidates: &[&str], wanted: &str) -> Result<usize, NoSelection> {
        select(&candidates.iter().map(|c| spec(c)).collect::<Vec<_>>(), &spec(wanted))
    }

    #[test]
    fn arm64_without_variant_is_v8_both_ways() {
        assert_eq!(pick(&["linux/amd64", "linux/arm64/v8"], "linux/arm64"), Ok(1));
        assert_eq!(pick(&["linux/amd64", "linux/arm64"], "linux/arm64/v8"), Ok(1));
        assert_eq!(pick(&["linux/arm64/v8", "linux/arm64/v9"], "linux/arm64"), Ok(0));
    }

    #[test]
    fn an_empty_requested_variant_matches_any_but_prefers_none() {
        assert_eq!(pick(&["linux/arm/v7"], "linux/arm"), Ok(0));
        assert_eq!(pick(&["linux/amd64/v3", "linux/amd64"], "linux/amd64"), Ok(1));
        assert_eq!(pick(&["linux/arm/v6", "linux/arm/v7"], "linux/arm"), Err(NoSelection::Ambiguous(vec![0, 1])));
    }

    #[test]
    fn a_named_variant_must_match() {
        assert_eq!(pick(&["linux/arm/v6", "linux/arm/v7"], "linux/arm/v7"), Ok(1));
        assert_eq!(pick(&["linux/arm/v6"], "linux/arm/v7"), Err(NoSelection::None));
        assert_eq!(pick(&["linux/amd64"], "windows/amd64"), Err(NoSelection::None));
    }
}
