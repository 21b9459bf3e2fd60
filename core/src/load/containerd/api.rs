//! The slice of containerd's gRPC API (`containerd.services.*.v1`, stable since 1.0) that loading
//! needs: content Info/Update/Write, images Get/Create/Update, leases Create/Delete/AddResource, and for
//! unpacking snapshots Stat/Prepare/Commit/Remove and diff Apply.
//!
//! The messages are declared here with prost's derive, field numbers as in containerd's
//! `api/services/{content,images,leases,snapshots,diff}/v1/*.proto` and `api/types/{descriptor,mount}.proto`. The
//! `containerd-client` crate has them all, but generates them at build time with `protoc`, which
//! neither this machine nor CI has; a dozen messages are cheaper than a protoc build dependency.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use futures::Stream;
use hyper_util::rt::TokioIo;
use prost_types::{FieldMask, Timestamp};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;

/// The gRPC metadata key that scopes every call to a namespace.
const NAMESPACE_HEADER: &str = "containerd-namespace";
/// The gRPC metadata key that puts what a call creates under a lease.
const LEASE_HEADER: &str = "containerd-lease";

#[derive(Clone, PartialEq, prost::Message)]
pub struct Descriptor {
    #[prost(string, tag = "1")]
    pub media_type: String,
    #[prost(string, tag = "2")]
    pub digest: String,
    #[prost(int64, tag = "3")]
    pub size: i64,
    #[prost(map = "string, string", tag = "5")]
    pub annotations: HashMap<String, String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Info {
    #[prost(string, tag = "1")]
    pub digest: String,
    #[prost(int64, tag = "2")]
    pub size: i64,
    #[prost(message, optional, tag = "3")]
    pub created_at: Option<Timestamp>,
    #[prost(message, optional, tag = "4")]
    pub updated_at: Option<Timestamp>,
    #[prost(map = "string, string", tag = "5")]
    pub labels: HashMap<String, String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct InfoRequest {
    #[prost(string, tag = "1")]
    pub digest: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct InfoResponse {
    #[prost(message, optional, tag = "1")]
    pub info: Option<Info>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct UpdateRequest {
    #[prost(message, optional, tag = "1")]
    pub info: Option<Info>,
    #[prost(message, optional, tag = "2")]
    pub update_mask: Option<FieldMask>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct UpdateResponse {
    #[prost(message, optional, tag = "1")]
    pub info: Option<Info>,
}

/// `WriteAction`: STAT = 0, WRITE = 1, COMMIT = 2.
pub const WRITE_ACTION_WRITE: i32 = 1;
pub const WRITE_ACTION_COMMIT: i32 = 2;

#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteContentRequest {
    #[prost(int32, tag = "1")]
    pub action: i32,
    #[prost(string, tag = "2")]
    pub r#ref: String,
    #[prost(int64, tag = "3")]
    pub total: i64,
    #[prost(string, tag = "4")]
    pub expected: String,
    #[prost(int64, tag = "5")]
    pub offset: i64,
    #[prost(bytes = "bytes", tag = "6")]
    pub data: bytes::Bytes,
    #[prost(map = "string, string", tag = "7")]
    pub labels: HashMap<String, String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteContentResponse {
    #[prost(int32, tag = "1")]
    pub action: i32,
    #[prost(message, optional, tag = "2")]
    pub started_at: Option<Timestamp>,
    #[prost(message, optional, tag = "3")]
    pub updated_at: Option<Timestamp>,
    #[prost(int64, tag = "4")]
    pub offset: i64,
    #[prost(int64, tag = "5")]
    pub total: i64,
    #[prost(string, tag = "6")]
    pub digest: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Image {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(map = "string, string", tag = "2")]
    pub labels: HashMap<String, String>,
    #[prost(message, optional, tag = "3")]
    pub target: Option<Descriptor>,
    #[prost(message, optional, tag = "7")]
    pub created_at: Option<Timestamp>,
    #[prost(message, optional, tag = "8")]
    pub updated_at: Option<Timestamp>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetImageRequest {
    #[prost(string, tag = "1")]
    pub name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ImageResponse {
    #[prost(message, optional, tag = "1")]
    pub image: Option<Image>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CreateImageRequest {
    #[prost(message, optional, tag = "1")]
    pub image: Option<Image>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct UpdateImageRequest {
    #[prost(message, optional, tag = "1")]
    pub image: Option<Image>,
    #[prost(message, optional, tag = "2")]
    pub update_mask: Option<FieldMask>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Lease {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(message, optional, tag = "2")]
    pub created_at: Option<Timestamp>,
    #[prost(map = "string, string", tag = "3")]
    pub labels: HashMap<String, String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CreateLeaseRequest {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(map = "string, string", tag = "3")]
    pub labels: HashMap<String, String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CreateLeaseResponse {
    #[prost(message, optional, tag = "1")]
    pub lease: Option<Lease>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DeleteLeaseRequest {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(bool, tag = "2")]
    pub sync: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(string, tag = "2")]
    pub r#type: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AddResourceRequest {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(message, optional, tag = "2")]
    pub resource: Option<Resource>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Mount {
    #[prost(string, tag = "1")]
    pub r#type: String,
    #[prost(string, tag = "2")]
    pub source: String,
    #[prost(string, tag = "3")]
    pub target: String,
    #[prost(string, repeated, tag = "4")]
    pub options: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PrepareSnapshotRequest {
    #[prost(string, tag = "1")]
    pub snapshotter: String,
    #[prost(string, tag = "2")]
    pub key: String,
    #[prost(string, tag = "3")]
    pub parent: String,
    #[prost(map = "string, string", tag = "4")]
    pub labels: HashMap<String, String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PrepareSnapshotResponse {
    #[prost(message, repeated, tag = "1")]
    pub mounts: Vec<Mount>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct CommitSnapshotRequest {
    #[prost(string, tag = "1")]
    pub snapshotter: String,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(string, tag = "3")]
    pub key: String,
    #[prost(map = "string, string", tag = "4")]
    pub labels: HashMap<String, String>,
}

/// `StatSnapshotRequest` and `RemoveSnapshotRequest` have the same fields.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SnapshotKey {
    #[prost(string, tag = "1")]
    pub snapshotter: String,
    #[prost(string, tag = "2")]
    pub key: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ApplyRequest {
    #[prost(message, optional, tag = "1")]
    pub diff: Option<Descriptor>,
    #[prost(message, repeated, tag = "2")]
    pub mounts: Vec<Mount>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ApplyResponse {
    #[prost(message, optional, tag = "1")]
    pub applied: Option<Descriptor>,
}

/// `google.protobuf.Empty`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Empty {}

/// A gRPC connection to one containerd, scoped to a namespace (and, once set, a lease).
#[derive(Clone)]
pub struct Client {
    pub socket: PathBuf,
    channel: Channel,
    namespace: String,
    lease: Option<String>,
}

impl Client {
    /// Connects to the unix socket `socket` (HTTP/2 without TLS; the URI is a placeholder).
    pub async fn connect(socket: &Path, namespace: &str) -> Result<Self, tonic::transport::Error> {
        let path = socket.to_owned();
        let channel = Endpoint::from_static("http://containerd.sock")
            .connect_timeout(super::super::socket::DIAL_TIMEOUT)
            .connect_with_connector(tower::service_fn(move |_| {
                let path = path.clone();
                async move { Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(path).await?)) }
            }))
            .await?;
        Ok(Self { socket: socket.to_owned(), channel, namespace: namespace.to_owned(), lease: None })
    }

    pub fn set_lease(&mut self, lease: Option<String>) {
        self.lease = lease;
    }

    fn request<M>(&self, message: M) -> Request<M> {
        let mut request = Request::new(message);
        let metadata = request.metadata_mut();
        metadata.insert(NAMESPACE_HEADER, self.namespace.parse().expect("namespaces are ASCII"));
        if let Some(lease) = &self.lease {
            metadata.insert(LEASE_HEADER, lease.parse().expect("lease ids are ASCII"));
        }
        request
    }

    async fn unary<M1, M2>(&self, path: &'static str, message: M1) -> Result<M2, Status>
    where
        M1: prost::Message + Send + Sync + 'static,
        M2: prost::Message + Default + Send + Sync + 'static,
    {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        grpc.ready().await.map_err(|err| Status::unavailable(err.to_string()))?;
        let response: Response<M2> =
            grpc.unary(self.request(message), PathAndQuery::from_static(path), ProstCodec::default()).await?;
        Ok(response.into_inner())
    }

    /// The content's info, or `None` when the store does not have it.
    pub async fn info(&self, digest: &str) -> Result<Option<Info>, Status> {
        let request = InfoRequest { digest: digest.to_owned() };
        match self.unary::<_, InfoResponse>("/containerd.services.content.v1.Content/Info", request).await {
            Ok(response) => Ok(response.info),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(status),
        }
    }

    /// Sets `labels` on existing content (only those keys).
    pub async fn set_labels(&self, digest: &str, labels: HashMap<String, String>) -> Result<(), Status> {
        let paths = labels.keys().map(|key| format!("labels.{key}")).collect();
        let info = Info { digest: digest.to_owned(), labels, ..Default::default() };
        let request = UpdateRequest { info: Some(info), update_mask: Some(FieldMask { paths }) };
        self.unary::<_, UpdateResponse>("/containerd.services.content.v1.Content/Update", request).await.map(drop)
    }

    /// Opens a content write: requests go in through `requests`, one response comes back for each.
    pub async fn write(
        &self,
        requests: impl Stream<Item = WriteContentRequest> + Send + 'static,
    ) -> Result<Streaming<WriteContentResponse>, Status> {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        grpc.ready().await.map_err(|err| Status::unavailable(err.to_string()))?;
        let path = PathAndQuery::from_static("/containerd.services.content.v1.Content/Write");
        let response = grpc.streaming(self.request(requests), path, ProstCodec::default()).await?;
        Ok(response.into_inner())
    }

    pub async fn get_image(&self, name: &str) -> Result<Option<Image>, Status> {
        let request = GetImageRequest { name: name.to_owned() };
        match self.unary::<_, ImageResponse>("/containerd.services.images.v1.Images/Get", request).await {
            Ok(response) => Ok(response.image),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(status),
        }
    }

    pub async fn create_image(&self, image: Image) -> Result<(), Status> {
        let request = CreateImageRequest { image: Some(image) };
        self.unary::<_, ImageResponse>("/containerd.services.images.v1.Images/Create", request).await.map(drop)
    }

    /// Points an existing image at a new target, keeping its labels.
    pub async fn update_image_target(&self, image: Image) -> Result<(), Status> {
        let mask = FieldMask { paths: vec!["target".to_owned()] };
        let request = UpdateImageRequest { image: Some(image), update_mask: Some(mask) };
        self.unary::<_, ImageResponse>("/containerd.services.images.v1.Images/Update", request).await.map(drop)
    }

    pub async fn create_lease(&self, id: &str, labels: HashMap<String, String>) -> Result<(), Status> {
        let request = CreateLeaseRequest { id: id.to_owned(), labels };
        self.unary::<_, CreateLeaseResponse>("/containerd.services.leases.v1.Leases/Create", request).await.map(drop)
    }

    pub async fn delete_lease(&self, id: &str) -> Result<(), Status> {
        let request = DeleteLeaseRequest { id: id.to_owned(), sync: false };
        self.unary::<_, Empty>("/containerd.services.leases.v1.Leases/Delete", request).await.map(drop)
    }

    /// Protects existing content from garbage collection for the lease's lifetime.
    pub async fn lease_content(&self, lease: &str, digest: &str) -> Result<(), Status> {
        let resource = Resource { id: digest.to_owned(), r#type: "content".to_owned() };
        let request = AddResourceRequest { id: lease.to_owned(), resource: Some(resource) };
        self.unary::<_, Empty>("/containerd.services.leases.v1.Leases/AddResource", request).await.map(drop)
    }

    /// Whether snapshot `key` exists in `snapshotter`.
    pub async fn snapshot_exists(&self, snapshotter: &str, key: &str) -> Result<bool, Status> {
        let request = SnapshotKey { snapshotter: snapshotter.to_owned(), key: key.to_owned() };
        // The response's `Info` is not needed: prost skips the fields `Empty` does not declare.
        match self.unary::<_, Empty>("/containerd.services.snapshots.v1.Snapshots/Stat", request).await {
            Ok(_) => Ok(true),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(false),
            Err(status) => Err(status),
        }
    }

    /// An active snapshot `key` on top of `parent`; the mounts to write into it.
    pub async fn prepare_snapshot(&self, snapshotter: &str, key: &str, parent: &str) -> Result<Vec<Mount>, Status> {
        let request = PrepareSnapshotRequest {
            snapshotter: snapshotter.to_owned(),
            key: key.to_owned(),
            parent: parent.to_owned(),
            labels: HashMap::new(),
        };
        let path = "/containerd.services.snapshots.v1.Snapshots/Prepare";
        Ok(self.unary::<_, PrepareSnapshotResponse>(path, request).await?.mounts)
    }

    pub async fn commit_snapshot(&self, snapshotter: &str, name: &str, key: &str) -> Result<(), Status> {
        let request = CommitSnapshotRequest {
            snapshotter: snapshotter.to_owned(),
            name: name.to_owned(),
            key: key.to_owned(),
            labels: HashMap::new(),
        };
        self.unary::<_, Empty>("/containerd.services.snapshots.v1.Snapshots/Commit", request).await.map(drop)
    }

    pub async fn remove_snapshot(&self, snapshotter: &str, key: &str) -> Result<(), Status> {
        let request = SnapshotKey { snapshotter: snapshotter.to_owned(), key: key.to_owned() };
        self.unary::<_, Empty>("/containerd.services.snapshots.v1.Snapshots/Remove", request).await.map(drop)
    }

    /// Applies layer `diff` (from the content store) onto `mounts`; the applied (uncompressed)
    /// descriptor.
    pub async fn apply(&self, diff: Descriptor, mounts: Vec<Mount>) -> Result<Descriptor, Status> {
        let request = ApplyRequest { diff: Some(diff), mounts };
        let response = self.unary::<_, ApplyResponse>("/containerd.services.diff.v1.Diff/Apply", request).await?;
        response.applied.ok_or_else(|| Status::internal("Apply answered without the applied descriptor"))
    }
}
