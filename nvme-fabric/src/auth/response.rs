//! The responses R1 and R2 and the augmented challenge (spec-notes/auth.md §2.2), in the exact input order Linux
//! (host and target) and SPDK use.

use nvme_proto::auth::SecureChannel;

use super::hash::{Digest, HashAlg};

/// "HostHost", the 8 bytes R1 carries between SC_C and the host NQN.
pub const HOST_LABEL: &[u8; 8] = b"HostHost";
/// "Controller", the 10 bytes R2 carries between SC_C and the subsystem NQN.
pub const CONTROLLER_LABEL: &[u8; 10] = b"Controller";

/// What both responses of one transaction share: the negotiated hash, T_ID, SC_C and the two NQNs exactly as the
/// Connect data carried them (no NUL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transaction<'a> {
    /// The hash the Challenge chose.
    pub hash: HashAlg,
    /// T_ID of the Negotiate.
    pub t_id: u16,
    /// SC_C of the Negotiate (0 without secure channel concatenation).
    pub sc_c: SecureChannel,
    /// NQNh, the host NQN.
    pub host_nqn: &'a str,
    /// NQNc, the subsystem NQN.
    pub subsys_nqn: &'a str,
}

impl Transaction<'_> {
    /// The challenge the response is computed over: C itself with the NULL group, else the augmented challenge
    /// HMAC_H(KS, C) with the session key KS = H(Z).
    pub fn augmented_challenge(&self, session_key: Option<&Digest>, challenge: &[u8]) -> Digest {
        match session_key {
            Some(ks) => self.hash.hmac(ks.as_bytes(), &[challenge]),
            None => Digest::from_slice(challenge),
        }
    }

    /// R1 = HMAC_H(Kh, Ca || le32(S1) || le16(T_ID) || SC_C || "HostHost" || NQNh || 0x00 || NQNc), with `ca` the
    /// (augmented) challenge C1, `host_key` Kh and `s1` the Challenge's sequence number.
    pub fn host_response(&self, host_key: &Digest, ca: &Digest, s1: u32) -> Digest {
        self.hash.hmac(
            host_key.as_bytes(),
            &[
                ca.as_bytes(),
                &s1.to_le_bytes(),
                &self.t_id.to_le_bytes(),
                &[self.sc_c.0],
                HOST_LABEL,
                self.host_nqn.as_bytes(),
                &[0],
                self.subsys_nqn.as_bytes(),
            ],
        )
    }

    /// R2 = HMAC_H(Kc, Cb || le32(S2) || le16(T_ID) || SC_C || "Controller" || NQNc || 0x00 || NQNh), with `cb` the
    /// (augmented) challenge C2, `ctrl_key` Kc and `s2` the Reply's sequence number.
    pub fn controller_response(&self, ctrl_key: &Digest, cb: &Digest, s2: u32) -> Digest {
        self.hash.hmac(
            ctrl_key.as_bytes(),
            &[
                cb.as_bytes(),
                &s2.to_le_bytes(),
                &self.t_id.to_le_bytes(),
                &[self.sc_c.0],
                CONTROLLER_LABEL,
                self.subsys_nqn.as_bytes(),
                &[0],
                self.host_nqn.as_bytes(),
            ],
        )
    }
}
