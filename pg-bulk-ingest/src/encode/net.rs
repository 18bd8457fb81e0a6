//! `std::net` addresses as `inet`.
//!
//! The binary `inet` (PostgreSQL's `inet_send`) is the family (`2` for IPv4,
//! `3` for IPv6: PostgreSQL's own `PGSQL_AF_INET`/`PGSQL_AF_INET6`, not the
//! platform's `AF_*`), the netmask bits (32 or 128: a host address), the
//! `is_cidr` flag (0), the address length (4 or 16) and the address bytes in
//! network order. An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) stays IPv6,
//! as PostgreSQL keeps it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Encode, EncodeError};
use crate::types::{SqlType, TypeKind};

const PGSQL_AF_INET: u8 = 2;
const PGSQL_AF_INET6: u8 = 3;

impl Encode for Ipv4Addr {
    const SQL_TYPE: SqlType = SqlType::new(TypeKind::Inet);
    const ACCEPTS: &'static [TypeKind] = &[TypeKind::Inet];

    #[inline]
    fn encode(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&[PGSQL_AF_INET, 32, 0, 4]);
        out.extend_from_slice(&self.octets());
        Ok(())
    }
}

impl Encode for Ipv6Addr {
    const SQL_TYPE: SqlType = SqlType::new(TypeKind::Inet);
    const ACCEPTS: &'static [TypeKind] = &[TypeKind::Inet];

    #[inline]
    fn encode(&self, _: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&[PGSQL_AF_INET6, 128, 0, 16]);
        out.extend_from_slice(&self.octets());
        Ok(())
    }
}

impl Encode for IpAddr {
    const SQL_TYPE: SqlType = SqlType::new(TypeKind::Inet);
    const ACCEPTS: &'static [TypeKind] = &[TypeKind::Inet];

    #[inline]
    fn encode(&self, ty: &SqlType, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            IpAddr::V4(a) => a.encode(ty, out),
            IpAddr::V6(a) => a.encode(ty, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let mut out = Vec::new();
        let v4: IpAddr = "192.168.0.1".parse().unwrap();
        v4.encode(&IpAddr::SQL_TYPE, &mut out).unwrap();
        assert_eq!(out, [2, 32, 0, 4, 192, 168, 0, 1]);
        out.clear();
        Ipv6Addr::LOCALHOST
            .encode(&IpAddr::SQL_TYPE, &mut out)
            .unwrap();
        assert_eq!(out[..4], [3, 128, 0, 16]);
        assert_eq!(out[4..], Ipv6Addr::LOCALHOST.octets());
    }
}
