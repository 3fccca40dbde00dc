//! SNMP values, as printwatch sees them: the SMIv2 application types plus the
//! three exception values of RFC 3416 §3.

use crate::Oid;

/// One SNMP value.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Value {
    Integer(i32),
    OctetString(Vec<u8>),
    Null,
    ObjectId(Oid),
    IpAddress([u8; 4]),
    Counter32(u32),
    /// Gauge32 and Unsigned32 share one BER tag (RFC 2578 §7.1.7).
    Gauge32(u32),
    TimeTicks(u32),
    Opaque(Vec<u8>),
    Counter64(u64),
    NoSuchObject,
    NoSuchInstance,
    EndOfMibView,
}

impl Value {
    /// The snmprec tag number of this value's type (the BER tag in decimal).
    pub fn tag(&self) -> u8 {
        match self {
            Value::Integer(_) => 2,
            Value::OctetString(_) => 4,
            Value::Null => 5,
            Value::ObjectId(_) => 6,
            Value::IpAddress(_) => 64,
            Value::Counter32(_) => 65,
            Value::Gauge32(_) => 66,
            Value::TimeTicks(_) => 67,
            Value::Opaque(_) => 68,
            Value::Counter64(_) => 70,
            Value::NoSuchObject => 128,
            Value::NoSuchInstance => 129,
            Value::EndOfMibView => 130,
        }
    }

    /// True for noSuchObject, noSuchInstance and endOfMibView.
    pub fn is_exception(&self) -> bool {
        matches!(
            self,
            Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView
        )
    }

    /// The value as a signed number, for every integer-like type.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Integer(v) => Some(i64::from(v)),
            Value::Counter32(v) | Value::Gauge32(v) | Value::TimeTicks(v) => Some(i64::from(v)),
            Value::Counter64(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The raw bytes of an OCTET STRING or Opaque.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::OctetString(b) | Value::Opaque(b) => Some(b),
            _ => None,
        }
    }

    /// An OCTET STRING as text, when it is valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }
}

/// Why a value from the network cannot be represented, or ours cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("value cannot be converted: {0}")]
pub struct ValueConversionError(pub String);

impl TryFrom<&async_snmp::Value> for Value {
    type Error = ValueConversionError;

    fn try_from(value: &async_snmp::Value) -> Result<Self, Self::Error> {
        use async_snmp::Value as V;
        Ok(match value {
            V::Integer(v) => Value::Integer(*v),
            V::OctetString(b) => Value::OctetString(b.to_vec()),
            V::Null => Value::Null,
            V::ObjectIdentifier(oid) => Value::ObjectId(Oid::from(oid.arcs())),
            V::IpAddress(a) => Value::IpAddress(*a),
            V::Counter32(v) => Value::Counter32(*v),
            V::Gauge32(v) | V::UInteger32(v) => Value::Gauge32(*v),
            V::TimeTicks(v) => Value::TimeTicks(*v),
            V::Opaque(b) => Value::Opaque(b.to_vec()),
            V::Counter64(v) => Value::Counter64(*v),
            V::NoSuchObject => Value::NoSuchObject,
            V::NoSuchInstance => Value::NoSuchInstance,
            V::EndOfMibView => Value::EndOfMibView,
            other => {
                return Err(ValueConversionError(format!(
                    "unsupported type {}",
                    other.kind()
                )));
            }
        })
    }
}

impl TryFrom<&Value> for async_snmp::Value {
    type Error = ValueConversionError;

    fn try_from(value: &Value) -> Result<Self, Self::Error> {
        use async_snmp::Value as V;
        Ok(match value {
            Value::Integer(v) => V::Integer(*v),
            Value::OctetString(b) => V::OctetString(b.clone().into()),
            Value::Null => V::Null,
            Value::ObjectId(oid) => {
                if !oid.is_encodable() {
                    return Err(ValueConversionError(format!(
                        "OID value {oid:?} cannot be encoded (X.690 needs two arcs, the first 0-2)"
                    )));
                }
                V::ObjectIdentifier(async_snmp::Oid::from_slice(oid.arcs()))
            }
            Value::IpAddress(a) => V::IpAddress(*a),
            Value::Counter32(v) => V::Counter32(*v),
            Value::Gauge32(v) => V::Gauge32(*v),
            Value::TimeTicks(v) => V::TimeTicks(*v),
            Value::Opaque(b) => V::Opaque(b.clone().into()),
            Value::Counter64(v) => V::Counter64(*v),
            Value::NoSuchObject => V::NoSuchObject,
            Value::NoSuchInstance => V::NoSuchInstance,
            Value::EndOfMibView => V::EndOfMibView,
        })
    }
}

/// An OID and its value.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VarBind {
    pub oid: Oid,
    pub value: Value,
}

impl VarBind {
    pub fn new(oid: Oid, value: Value) -> Self {
        VarBind { oid, value }
    }
}

impl From<&Oid> for async_snmp::Oid {
    fn from(oid: &Oid) -> Self {
        async_snmp::Oid::from_slice(oid.arcs())
    }
}
