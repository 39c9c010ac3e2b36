//! fsutil's wire messages (fsutil/types/stat.proto and wire.proto), as
//! the DiffCopy stream carries them.
//!
//! They are declared here rather than taken from `bollard-buildkit-proto`:
//! its `Stat.path` is a protobuf `string`, which cannot carry a file name
//! that is not UTF-8. `bytes` has the same wire encoding, and the daemon
//! (Go) does not check UTF-8.

use std::collections::BTreeMap;

use bytes::Bytes;

/// fsutil's `Stat` (fsutil/types/stat.proto), with byte strings for paths.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Stat {
    #[prost(bytes = "vec", tag = "1")]
    pub path: Vec<u8>,
    #[prost(uint32, tag = "2")]
    pub mode: u32,
    #[prost(uint32, tag = "3")]
    pub uid: u32,
    #[prost(uint32, tag = "4")]
    pub gid: u32,
    #[prost(int64, tag = "5")]
    pub size: i64,
    #[prost(int64, tag = "6")]
    pub mod_time: i64,
    #[prost(bytes = "vec", tag = "7")]
    pub linkname: Vec<u8>,
    #[prost(int64, tag = "8")]
    pub devmajor: i64,
    #[prost(int64, tag = "9")]
    pub devminor: i64,
    #[prost(btree_map = "string, bytes", tag = "10")]
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

/// fsutil's `Packet` (fsutil/types/wire.proto).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Packet {
    #[prost(int32, tag = "1")]
    pub kind: i32,
    #[prost(message, optional, tag = "2")]
    pub stat: Option<Stat>,
    #[prost(uint32, tag = "3")]
    pub id: u32,
    #[prost(bytes = "bytes", tag = "4")]
    pub data: Bytes,
}

/// `Packet.type` values.
pub(crate) mod kind {
    pub const STAT: i32 = 0;
    pub const REQ: i32 = 1;
    pub const DATA: i32 = 2;
    pub const FIN: i32 = 3;
    pub const ERR: i32 = 4;
}

impl Packet {
    pub(crate) fn stat(stat: Option<Stat>) -> Packet {
        Packet {
            kind: kind::STAT,
            stat,
            ..Packet::default()
        }
    }

    pub(crate) fn data(id: u32, data: Bytes) -> Packet {
        Packet {
            kind: kind::DATA,
            id,
            data,
            ..Packet::default()
        }
    }

    pub(crate) fn error(message: &str) -> Packet {
        Packet {
            kind: kind::ERR,
            data: Bytes::copy_from_slice(message.as_bytes()),
            ..Packet::default()
        }
    }
}
