//! The registry's files. Content lives once, by digest, under `blobs/sha256/<hex>`; each
//! repository holds links: `_blobs/<hex>` (the repository has the blob), `_manifests/<hex>`
//! (a manifest, the file holds its media type), `_tags/<tag>` (the file holds the digest) and
//! `_referrers/<subject hex>/<hex>` (the descriptor of a manifest whose subject it is).
//! Repository names never have a component starting with `_`, so links and names cannot clash.
//! Everything is written to `tmp/` first and renamed into place.

use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::io::AsyncWriteExt;

pub struct Storage {
    root: PathBuf,
}

impl Storage {
    /// Opens (and creates) the storage under `root`.
    pub fn open(root: &Path) -> io::Result<Self> {
        for dir in ["blobs/sha256", "repositories", "uploads", "tmp"] {
            std::fs::create_dir_all(root.join(dir))?;
        }
        Ok(Self { root: root.to_owned() })
    }

    pub fn blob_path(&self, hex: &str) -> PathBuf {
        self.root.join("blobs/sha256").join(hex)
    }

    pub fn upload_path(&self, id: &str) -> PathBuf {
        self.root.join("uploads").join(id)
    }

    /// A fresh temporary path on the same filesystem as everything else.
    pub fn temp_path(&self) -> PathBuf {
        self.root.join("tmp").join(uuid::Uuid::new_v4().to_string())
    }

    fn repository(&self, name: &str) -> PathBuf {
        self.root.join("repositories").join(name)
    }

    fn link(&self, name: &str, kind: &str, key: &str) -> PathBuf {
        self.repository(name).join(kind).join(key)
    }

    /// Writes `content` to `path` atomically.
    pub async fn write_atomic(&self, path: &Path, content: &[u8]) -> io::Result<()> {
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        let temp = self.temp_path();
        let mut file = tokio::fs::File::create(&temp).await?;
        file.write_all(content).await?;
        file.sync_data().await?;
        drop(file);
        tokio::fs::rename(&temp, path).await.inspect_err(|_| {
            let _ = std::fs::remove_file(&temp);
        })
    }

    /// Moves a verified file into the content store (a copy already there wins: same bytes).
    pub async fn commit_blob(&self, file: &Path, hex: &str) -> io::Result<()> {
        let target = self.blob_path(hex);
        if tokio::fs::try_exists(&target).await? {
            return tokio::fs::remove_file(file).await;
        }
        tokio::fs::rename(file, &target).await
    }

    pub async fn store_blob_bytes(&self, hex: &str, content: &Bytes) -> io::Result<()> {
        let target = self.blob_path(hex);
        if tokio::fs::try_exists(&target).await? {
            return Ok(());
        }
        self.write_atomic(&target, content).await
    }

    /// Whether the repository has the blob (linked, and the content is there).
    pub async fn has_blob(&self, name: &str, hex: &str) -> bool {
        exists(&self.link(name, "_blobs", hex)).await && exists(&self.blob_path(hex)).await
    }

    pub async fn link_blob(&self, name: &str, hex: &str) -> io::Result<()> {
        self.write_atomic(&self.link(name, "_blobs", hex), b"").await
    }

    pub async fn unlink_blob(&self, name: &str, hex: &str) -> io::Result<bool> {
        remove(&self.link(name, "_blobs", hex)).await
    }

    /// The media type of a manifest of the repository, if it has it.
    pub async fn manifest_type(&self, name: &str, hex: &str) -> Option<String> {
        let media_type = tokio::fs::read_to_string(self.link(name, "_manifests", hex)).await.ok()?;
        exists(&self.blob_path(hex)).await.then_some(media_type)
    }

    pub async fn link_manifest(&self, name: &str, hex: &str, media_type: &str) -> io::Result<()> {
        self.link_blob(name, hex).await?;
        self.write_atomic(&self.link(name, "_manifests", hex), media_type.as_bytes()).await
    }

    pub async fn unlink_manifest(&self, name: &str, hex: &str) -> io::Result<bool> {
        self.unlink_blob(name, hex).await?;
        remove(&self.link(name, "_manifests", hex)).await
    }

    /// The digest a tag points at.
    pub async fn tag(&self, name: &str, tag: &str) -> Option<String> {
        tokio::fs::read_to_string(self.link(name, "_tags", tag)).await.ok()
    }

    pub async fn set_tag(&self, name: &str, tag: &str, digest: &str) -> io::Result<()> {
        self.write_atomic(&self.link(name, "_tags", tag), digest.as_bytes()).await
    }

    pub async fn remove_tag(&self, name: &str, tag: &str) -> io::Result<bool> {
        remove(&self.link(name, "_tags", tag)).await
    }

    /// Every tag of the repository, sorted; `None` if the repository does not exist.
    pub async fn tags(&self, name: &str) -> Option<Vec<String>> {
        if !exists(&self.repository(name)).await {
            return None;
        }
        let mut tags = list_dir(&self.repository(name).join("_tags")).await;
        tags.sort();
        Some(tags)
    }

    pub async fn add_referrer(&self, name: &str, subject_hex: &str, hex: &str, descriptor: &[u8]) -> io::Result<()> {
        self.write_atomic(&self.link(name, "_referrers", &format!("{subject_hex}/{hex}")), descriptor).await
    }

    pub async fn remove_referrer(&self, name: &str, subject_hex: &str, hex: &str) -> io::Result<bool> {
        remove(&self.link(name, "_referrers", &format!("{subject_hex}/{hex}"))).await
    }

    /// The descriptors of the manifests whose subject is `subject_hex`, in digest order.
    pub async fn referrers(&self, name: &str, subject_hex: &str) -> Vec<Vec<u8>> {
        let dir = self.link(name, "_referrers", subject_hex);
        let mut entries = list_dir(&dir).await;
        entries.sort();
        let mut descriptors = Vec::new();
        for entry in entries {
            if let Ok(bytes) = tokio::fs::read(dir.join(&entry)).await {
                descriptors.push(bytes);
            }
        }
        descriptors
    }

    /// Every repository name (directories with manifests or blobs), sorted.
    pub async fn repositories(&self) -> Vec<String> {
        let root = self.root.join("repositories");
        tokio::task::spawn_blocking(move || {
            let mut names: Vec<String> = walkdir::WalkDir::new(&root)
                .min_depth(1)
                .into_iter()
                .filter_entry(|entry| !entry.file_name().to_string_lossy().starts_with('_'))
                .filter_map(Result::ok)
                .filter(|entry| entry.file_type().is_dir() && entry.path().join("_blobs").is_dir())
                .filter_map(|entry| entry.path().strip_prefix(&root).ok().map(|p| p.to_string_lossy().into_owned()))
                .collect();
            names.sort();
            names
        })
        .await
        .unwrap_or_default()
    }
}

async fn exists(path: &Path) -> bool {
    tokio::fs::try_exists(path).await.unwrap_or(false)
}

async fn remove(path: &Path) -> io::Result<bool> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(err),
    }
}

async fn list_dir(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(mut entries) = tokio::fs::read_dir(dir).await {
        while let Ok(Some(entry)) = entries.next_entry().await {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names
}
