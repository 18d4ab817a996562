//! A hyper service served beside the poem app on the same listener, under a path of its own.
//!
//! It is handed hyper's request as it came, connection upgrade included: poem's request takes
//! the upgrade out of hyper's, so a service that upgrades by itself (Socket.IO's engine) cannot
//! sit behind poem's router.

use std::{convert::Infallible, future::Future, pin::Pin, sync::Arc};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};

use super::ResponseBody;

type Call = dyn Fn(hyper::Request<Incoming>) -> Pin<Box<dyn Future<Output = hyper::Response<ResponseBody>> + Send>>
    + Send
    + Sync;

#[derive(Clone)]
pub struct Mount {
    prefix: &'static str,
    call: Arc<Call>,
}

impl Mount {
    /// Serves `prefix` and every path below it (`/socket.io` and `/socket.io/…`, not
    /// `/socket.iox`).
    pub fn new<S, B>(prefix: &'static str, service: S) -> Self
    where
        S: hyper::service::Service<hyper::Request<Incoming>, Response = hyper::Response<B>, Error = Infallible>
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        B: Body<Data = Bytes> + Send + Sync + 'static,
        B::Error: std::fmt::Display,
    {
        let service = Arc::new(service);
        let call = move |req| {
            let service = service.clone();
            let answer: Pin<Box<dyn Future<Output = _> + Send>> = Box::pin(async move {
                let Ok(response) = service.call(req).await;
                response.map(|body| body.map_err(|e| std::io::Error::other(e.to_string())).boxed())
            });
            answer
        };
        Self { prefix, call: Arc::new(call) }
    }

    pub(super) fn serves(&self, path: &str) -> bool {
        path.strip_prefix(self.prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }

    pub(super) async fn call(&self, req: hyper::Request<Incoming>) -> hyper::Response<ResponseBody> {
        (self.call)(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mount_serves_its_prefix_and_below_only() {
        let service = hyper::service::service_fn(|_req| async {
            Ok::<_, Infallible>(hyper::Response::new(http_body_util::Empty::<Bytes>::new()))
        });
        let mount = Mount::new("/socket.io", service);
        assert!(mount.serves("/socket.io"));
        assert!(mount.serves("/socket.io/"));
        assert!(mount.serves("/socket.io/x"));
        assert!(!mount.serves("/socket.iox"));
        assert!(!mount.serves("/chat"));
        assert!(!mount.serves("/"));
    }
}
