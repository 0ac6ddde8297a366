//! IPv4 CIDR blocks: parsing, containment and overlap, for validating network settings.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 network such as `10.0.0.0/16`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cidr {
    base: u32,
    prefix: u8,
}

impl Cidr {
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    fn last(&self) -> u32 {
        self.base | !self.mask()
    }

    /// True when `other` lies entirely inside this network.
    pub fn contains(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && other.base & self.mask() == self.base
    }

    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.base <= other.last() && other.base <= self.last()
    }

    /// Which subnet of this network `other` is, counting subnets of `other`'s size from 0:
    /// the inverse of [`Cidr::subnet`].
    pub fn position_of(&self, other: &Cidr) -> Option<u32> {
        if !self.contains(other) || other.prefix == 0 {
            return None;
        }
        let size = 1u64 << (32 - u32::from(other.prefix));
        u32::try_from(u64::from(other.base - self.base) / size).ok()
    }

    /// The `index`-th subnet of `new_prefix` inside this network, if it fits.
    pub fn subnet(&self, new_prefix: u8, index: u32) -> Option<Cidr> {
        if new_prefix < self.prefix || new_prefix > 32 {
            return None;
        }
        let bits = u32::from(new_prefix - self.prefix);
        if bits < 32 && index >= (1u32 << bits) {
            return None;
        }
        let size = if new_prefix == 0 {
            0
        } else {
            1u32 << (32 - u32::from(new_prefix))
        };
        Some(Cidr {
            base: self.base + index * size,
            prefix: new_prefix,
        })
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ip, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not a CIDR block (expected e.g. 10.0.0.0/16)"))?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| format!("`{ip}` is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("`/{prefix}` is not a prefix length between 0 and 32"))?;
        let cidr = Cidr {
            base: u32::from(ip),
            prefix,
        };
        if cidr.base & cidr.mask() != cidr.base {
            return Err(format!(
                "`{s}` has host bits set; the network is {}",
                Cidr {
                    base: cidr.base & cidr.mask(),
                    prefix
                }
            ));
        }
        Ok(cidr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_checks() {
        assert_eq!(c("10.0.0.0/16").to_string(), "10.0.0.0/16");
        assert!("10.0.0.1/16"
            .parse::<Cidr>()
            .unwrap_err()
            .contains("host bits"));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("10.0.0.0".parse::<Cidr>().is_err());
        assert!("300.0.0.0/8".parse::<Cidr>().is_err());
        assert!(c("10.0.0.0/16").contains(&c("10.0.3.0/24")));
        assert!(!c("10.0.0.0/16").contains(&c("10.1.0.0/24")));
        assert!(c("10.0.0.0/16").overlaps(&c("10.0.255.0/24")));
        assert!(!c("10.0.0.0/24").overlaps(&c("10.0.1.0/24")));
        assert_eq!(c("10.0.0.0/16").subnet(24, 3), Some(c("10.0.3.0/24")));
        assert_eq!(c("10.0.0.0/16").subnet(24, 256), None);
        assert_eq!(c("0.0.0.0/0").subnet(0, 0), Some(c("0.0.0.0/0")));
        assert_eq!(c("10.0.0.0/16").position_of(&c("10.0.3.0/24")), Some(3));
        assert_eq!(c("10.0.0.0/16").position_of(&c("10.0.128.0/24")), Some(128));
        assert_eq!(c("10.0.0.0/16").position_of(&c("10.1.3.0/24")), None);
    }
}
