//! Daemon networks for RUN steps of `build --network <name>`: the builder runs on a blocking
//! thread, so each call drives the async network manager to completion on the daemon's runtime.

use std::sync::Arc;

use berth_build::{JoinedNetwork, NetworkJoiner};
use berth_network::{EndpointRequest, NetworkManager};

/// The network manager as seen by the builder.
pub struct BuildNetworks {
    net: Arc<NetworkManager>,
    handle: tokio::runtime::Handle,
}

impl BuildNetworks {
    /// Joins build steps through `net`, on the runtime behind `handle`.
    pub fn new(net: Arc<NetworkManager>, handle: tokio::runtime::Handle) -> Self {
        BuildNetworks { net, handle }
    }
}

impl NetworkJoiner for BuildNetworks {
    fn join(&self, id: &str, network: &str) -> Result<JoinedNetwork, String> {
        let short = id.get(..12).unwrap_or(id).to_string();
        self.handle.block_on(async {
            let sandbox = self
                .net
                .create_sandbox(id)
                .await
                .map_err(|e| e.to_string())?;
            let req = EndpointRequest {
                name: short.clone(),
                hostname: short,
                ..Default::default()
            };
            if let Err(e) = self.net.connect(id, &sandbox, network, req).await {
                self.net.release_container(id).await;
                return Err(e.to_string());
            }
            Ok(JoinedNetwork {
                netns: sandbox,
                resolv_conf: self.net.resolv_conf(network, &[], &[], &[]),
            })
        })
    }

    fn leave(&self, id: &str) {
        self.handle.block_on(self.net.release_container(id));
    }
}
