//! In-band authentication messages (DH-HMAC-CHAP, carried by Authentication Send in the capsule and by
//! Authentication Receive in C2HData): every message and its fields by name, through nvme-proto's
//! [`AuthMessage`] parser. Nothing secret crosses the wire (keys never do; challenges, responses and DH values are
//! public), so everything is shown.

use nvme_proto::auth::{AuthMessage, AuthMsgId, AuthProtocolId, DhGroupId, FailureExplanation, FailureReason, HashId};

use super::fields::hex_bytes;
use crate::json::{J, Obj};

/// Most bytes of an Authentication Receive collected for decoding: the largest message (a Challenge with an
/// ffdhe8192 value, 1104 bytes) fits; Linux asks for 4096, the rest is padding.
pub const AUTH_DECODE_MAX: usize = 4096;

fn hash(o: &mut Obj, key: &str, h: HashId) {
    o.put(key, h.0).put(&format!("{key}_name"), h.name());
}

fn group(o: &mut Obj, key: &str, g: DhGroupId) {
    o.put(key, g.0).put(&format!("{key}_name"), g.name());
}

fn failure(o: &mut Obj, rc: FailureReason, rce: FailureExplanation) {
    let rc_name = (rc == FailureReason::AUTHENTICATION_FAILURE).then_some("Authentication Failure");
    o.put("rc", rc.0).put("rc_name", rc_name).put("rce", rce.0).put("rce_name", rce.name());
}

/// One authentication message: `message` (its name), `t_id` and its fields; or `error` naming why it does not
/// parse, with the AUTH_Type and AUTH_ID bytes when there are any.
pub fn message(data: &[u8]) -> Obj {
    let mut o = Obj::new();
    let m = match AuthMessage::parse(data) {
        Ok(m) => m,
        Err(e) => {
            if let [t, i, ..] = data {
                o.put("auth_type", *t).put("auth_id", *i).put("message", AuthMsgId(*i).name());
            }
            o.put("error", format!("authentication message: {e}"));
            return o;
        }
    };
    match m {
        AuthMessage::Negotiate(n) => {
            o.put("message", AuthMsgId::NEGOTIATE.name()).put("t_id", n.t_id).put("sc_c", n.sc_c.0);
            o.put("napd", n.descriptors.len());
            let descriptors = n.descriptors.iter().map(|d| {
                let mut x = Obj::new();
                let dh_hmac_chap = AuthProtocolId(d.auth_id) == AuthProtocolId::DH_HMAC_CHAP;
                x.put("authid", d.auth_id).put("protocol", dh_hmac_chap.then_some("DH-HMAC-CHAP"));
                let hashes = d
                    .hash_ids()
                    .iter()
                    .map(|h| J::from(h.name().map_or_else(|| format!("{:#04x}", h.0), String::from)));
                let groups = d
                    .dh_groups()
                    .iter()
                    .map(|g| J::from(g.name().map_or_else(|| format!("{:#04x}", g.0), String::from)));
                x.put("hash_ids", J::A(hashes.collect())).put("dh_groups", J::A(groups.collect()));
                J::O(x)
            });
            o.put("descriptors", J::A(descriptors.collect()));
        }
        AuthMessage::Challenge(c) => {
            o.put("message", AuthMsgId::CHALLENGE.name()).put("t_id", c.t_id).put("hl", c.challenge.len());
            hash(&mut o, "hash_id", c.hash_id);
            group(&mut o, "dh_group", c.dh_group);
            o.put("dhvlen", c.dh_value.len()).put("seqnum", c.seqnum).put("c1", hex_bytes(c.challenge));
            o.put("dh_value", hex_bytes(c.dh_value));
        }
        AuthMessage::Reply(r) => {
            o.put("message", AuthMsgId::REPLY.name()).put("t_id", r.t_id).put("hl", r.response.len());
            o.put("cvalid", r.challenge.is_some()).put("dhvlen", r.dh_value.len()).put("seqnum", r.seqnum);
            o.put("r1", hex_bytes(r.response)).put("c2", r.challenge.map(hex_bytes));
            o.put("dh_value", hex_bytes(r.dh_value));
        }
        AuthMessage::Success1(s) => {
            o.put("message", AuthMsgId::SUCCESS1.name()).put("t_id", s.t_id).put("hl", s.hl);
            o.put("rvalid", s.response.is_some()).put("r2", s.response.map(hex_bytes));
        }
        AuthMessage::Success2(s) => {
            o.put("message", AuthMsgId::SUCCESS2.name()).put("t_id", s.t_id);
        }
        AuthMessage::Failure1(f) => {
            o.put("message", AuthMsgId::FAILURE1.name()).put("t_id", f.t_id);
            failure(&mut o, f.reason, f.explanation);
        }
        AuthMessage::Failure2(f) => {
            o.put("message", AuthMsgId::FAILURE2.name()).put("t_id", f.t_id);
            failure(&mut o, f.reason, f.explanation);
        }
    }
    o
}
