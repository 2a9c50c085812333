//! A JSON value whose objects keep their keys in insertion order, for the `decode` output (serde_json's own map
//! sorts keys unless a feature pulls in another crate).

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum J {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An unsigned integer.
    U(u64),
    /// A float (printed by serde_json).
    F(f64),
    /// A string.
    S(String),
    /// An array.
    A(Vec<J>),
    /// An object, keys in insertion order.
    O(Obj),
}

/// A JSON object that keeps insertion order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Obj(pub Vec<(String, J)>);

impl Obj {
    /// An empty object.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `key: value` (a later `put` of the same key replaces the value in place).
    pub fn put(&mut self, key: &str, value: impl Into<J>) -> &mut Self {
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key.to_string(), value)),
        }
        self
    }

    /// Appends every entry of `other` (replacing keys that exist).
    pub fn extend(&mut self, other: Obj) -> &mut Self {
        for (k, v) in other.0 {
            self.put(&k, v);
        }
        self
    }

    /// One line of JSON.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"cannot serialise: {e}\"}}"))
    }
}

impl From<bool> for J {
    fn from(v: bool) -> J {
        J::Bool(v)
    }
}
impl From<u8> for J {
    fn from(v: u8) -> J {
        J::U(v.into())
    }
}
impl From<u16> for J {
    fn from(v: u16) -> J {
        J::U(v.into())
    }
}
impl From<u32> for J {
    fn from(v: u32) -> J {
        J::U(v.into())
    }
}
impl From<u64> for J {
    fn from(v: u64) -> J {
        J::U(v)
    }
}
impl From<usize> for J {
    fn from(v: usize) -> J {
        J::U(v as u64)
    }
}
impl From<f64> for J {
    fn from(v: f64) -> J {
        J::F(v)
    }
}
impl From<&str> for J {
    fn from(v: &str) -> J {
        J::S(v.to_string())
    }
}
impl From<String> for J {
    fn from(v: String) -> J {
        J::S(v)
    }
}
impl From<Obj> for J {
    fn from(v: Obj) -> J {
        J::O(v)
    }
}
impl From<Vec<J>> for J {
    fn from(v: Vec<J>) -> J {
        J::A(v)
    }
}
impl<T: Into<J>> From<Option<T>> for J {
    fn from(v: Option<T>) -> J {
        v.map_or(J::Null, Into::into)
    }
}

impl Serialize for Obj {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl Serialize for J {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            J::Null => s.serialize_unit(),
            J::Bool(b) => s.serialize_bool(*b),
            J::U(v) => s.serialize_u64(*v),
            J::F(v) => s.serialize_f64(*v),
            J::S(v) => s.serialize_str(v),
            J::A(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for i in items {
                    seq.serialize_element(i)?;
                }
                seq.end()
            }
            J::O(o) => o.serialize(s),
        }
    }
}

/// `0x` and 16 hex digits: 64-bit values (CIRN) as strings, since JSON readers lose precision above 2^53.
pub fn hex64(v: u64) -> J {
    J::S(format!("{v:#018x}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_replaces() {
        let mut o = Obj::new();
        o.put("type", "CapsuleResp").put("hlen", 24u8).put("absent", None::<u8>);
        let mut inner = Obj::new();
        inner.put("b", true).put("a", vec![J::U(1), J::F(0.5)]);
        o.put("inner", inner).put("hlen", 28u32);
        assert_eq!(o.to_line(), r#"{"type":"CapsuleResp","hlen":28,"absent":null,"inner":{"b":true,"a":[1,0.5]}}"#);
        assert_eq!(serde_json::to_string(&hex64(0x1122)).unwrap(), "\"0x0000000000001122\"");
    }
}
