//! The credentials and policy of one side of a transaction: [`HostAuth`] and [`ControllerAuth`] are one type,
//! [`AuthConfig`], since both sides hold the same keys and lists. They differ in their defaults (their `new`, in
//! `host.rs` and `controller.rs`) and in what the lists mean: the host offers its hashes and groups in the order
//! given, the controller picks the first of its own that the host offers.

use core::fmt::Debug;
use core::hash::Hash;
use core::marker::PhantomData;
use core::time::Duration;

use nvme_proto::auth::{DhGroupId, DhchapSecret, HashId};

use super::dh::PeerCheck;
use super::hash::Digest;
use super::key::transform_key;
use super::{AuthConfigError, DEFAULT_STEP_TIMEOUT, IdList, Nqn, group_list, hash_list};

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::HostSide {}
    impl Sealed for super::ControllerSide {}
}

/// Which side an [`AuthConfig`] is for: [`HostSide`] or [`ControllerSide`] (no other).
pub trait Side: sealed::Sealed + Clone + Copy + Debug + PartialEq + Eq + Hash {}

/// The host's side ([`HostAuth`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HostSide;

/// The controller's side ([`ControllerAuth`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ControllerSide;

impl Side for HostSide {}
impl Side for ControllerSide {}

/// One side's credentials and policy for one peer: the host's key and, for bidirectional authentication, the
/// controller's (both transformed once, here), the NQNs of the Connect, and the hashes and Diffie-Hellman groups in
/// order of preference. Cloned into each exchange.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AuthConfig<S: Side> {
    pub(super) host_nqn: Nqn,
    pub(super) subsys_nqn: Nqn,
    pub(super) host_key: Digest,
    pub(super) ctrl_key: Option<Digest>,
    pub(super) hashes: IdList<HashId>,
    pub(super) dh_groups: IdList<DhGroupId>,
    /// How long each step may take ([`DEFAULT_STEP_TIMEOUT`] unless changed).
    pub step_timeout: Duration,
    /// How the peer's DH value is checked ([`PeerCheck::Range`] unless changed).
    pub peer_check: PeerCheck,
    side: PhantomData<S>,
}

/// A host's credentials and policy for one controller ([`HostAuth::new`]); cloned into each
/// [`HostExchange`](super::HostExchange).
pub type HostAuth = AuthConfig<HostSide>;

/// A controller's credentials and policy for one host ([`ControllerAuth::new`]); cloned into each
/// [`ControllerExchange`](super::ControllerExchange).
pub type ControllerAuth = AuthConfig<ControllerSide>;

impl<S: Side> AuthConfig<S> {
    /// The keys transformed for their NQNs, the given lists, the default step timeout and peer check.
    pub(super) fn build(
        host_nqn: &str,
        subsys_nqn: &str,
        host_secret: &DhchapSecret,
        ctrl_secret: Option<&DhchapSecret>,
        hashes: &[HashId],
        dh_groups: &[DhGroupId],
    ) -> Result<Self, AuthConfigError> {
        Ok(Self {
            host_nqn: Nqn::new(host_nqn)?,
            subsys_nqn: Nqn::new(subsys_nqn)?,
            host_key: transform_key(host_secret, host_nqn),
            ctrl_key: ctrl_secret.map(|s| transform_key(s, subsys_nqn)),
            hashes: hash_list(hashes)?,
            dh_groups: group_list(dh_groups)?,
            step_timeout: DEFAULT_STEP_TIMEOUT,
            peer_check: PeerCheck::Range,
            side: PhantomData,
        })
    }

    /// Gives each step `timeout` instead of [`DEFAULT_STEP_TIMEOUT`].
    pub fn with_step_timeout(mut self, timeout: Duration) -> Self {
        self.step_timeout = timeout;
        self
    }

    /// Checks the peer's DH value with `check` instead of [`PeerCheck::Range`].
    pub fn with_peer_check(mut self, check: PeerCheck) -> Self {
        self.peer_check = check;
        self
    }

    /// Uses `hashes` instead (1 to 30 implemented hashes): a host offers them in this order, a controller picks the
    /// first of them that the host offers.
    pub fn with_hashes(mut self, hashes: &[HashId]) -> Result<Self, AuthConfigError> {
        self.hashes = hash_list(hashes)?;
        Ok(self)
    }

    /// Uses `groups` instead (1 to 30 of NULL and the implemented groups), offered or picked from as
    /// [`with_hashes`](Self::with_hashes) says.
    pub fn with_dh_groups(mut self, groups: &[DhGroupId]) -> Result<Self, AuthConfigError> {
        self.dh_groups = group_list(groups)?;
        Ok(self)
    }

    /// Whether a controller secret was given: a host then asks the controller to authenticate itself, and a
    /// controller can answer a host that asks.
    pub const fn has_ctrl_key(&self) -> bool {
        self.ctrl_key.is_some()
    }
}
