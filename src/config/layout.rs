//! Where each zone's subnets sit in the VPC when `public_subnet_cidrs` /
//! `private_subnet_cidrs` are not given. The zone-block layout makes each subnet's CIDR a
//! function of its zone's position alone (public blocks from the bottom of the VPC, private
//! ones from the middle), so raising or lowering `az_count` only adds or removes the last
//! zones' subnets. Stacks deployed with nova's earlier, packed layout keep it (recognised
//! from the deployed subnets), so an upgrade never renumbers them.

use super::{Cidr, REGION_AZS};

/// How the subnets of each zone are placed in the VPC: blocks of a fixed size
/// ([`subnet_prefix`]) counted from the VPC's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubnetLayout {
    /// Zone `i`: public block `i`, private block `half + i` (`half` = the first block of
    /// the VPC's upper half: 10.0.0.0/24 and 10.0.128.0/24 for zone 0 of 10.0.0.0/16).
    Zones,
    /// The layout of stacks deployed before the zone blocks, with `zones` = their
    /// `az_count` then: zone `i < zones` has public block `i` and private block
    /// `zones + i`; a zone added later (`i >= zones`) takes blocks `2i` (public) and
    /// `2i + 1` (private), past the old ones.
    Packed { zones: u32 },
}

/// The prefix of derived subnets: 8 bits longer than the VPC's, at most /28.
pub fn subnet_prefix(vpc: Cidr) -> u8 {
    (vpc.prefix() + 8).min(28)
}

impl SubnetLayout {
    /// The block index of zone `zone`'s public or private subnet.
    fn block(&self, vpc: Cidr, zone: u32, public: bool) -> u32 {
        match *self {
            SubnetLayout::Zones => {
                let half = 1u32 << (subnet_prefix(vpc) - vpc.prefix() - 1);
                if public {
                    zone
                } else {
                    half + zone
                }
            }
            SubnetLayout::Packed { zones } if zone < zones => {
                if public {
                    zone
                } else {
                    zones + zone
                }
            }
            SubnetLayout::Packed { .. } => 2 * zone + u32::from(!public),
        }
    }

    /// Zone `zone`'s public or private subnet. Every VPC nova accepts (/16 to /24) has at
    /// least 16 blocks, more than either layout uses for the zones of the region.
    pub fn subnet(&self, vpc: Cidr, zone: u32, public: bool) -> Cidr {
        vpc.subnet(subnet_prefix(vpc), self.block(vpc, zone, public))
            .expect("a VPC of /16 to /24 has a block for every zone of the region")
    }

    /// The layout the deployed private subnets (zone index, CIDR) were placed by: packed
    /// when the first of them sits where the packed layout of 2 to 6 zones put it, the
    /// zone blocks otherwise (nothing deployed, explicit CIDRs, another VPC).
    pub fn recognise(vpc: Cidr, deployed_private: &[(u32, Cidr)]) -> SubnetLayout {
        let Some((zone, cidr)) = deployed_private.iter().min_by_key(|(zone, _)| *zone) else {
            return SubnetLayout::Zones;
        };
        if cidr.prefix() != subnet_prefix(vpc) {
            return SubnetLayout::Zones;
        }
        let packed_zones = vpc
            .position_of(cidr)
            .and_then(|block| block.checked_sub(*zone))
            .filter(|n| (2..=REGION_AZS.len() as u32).contains(n) && *n > *zone);
        match packed_zones {
            Some(zones) => SubnetLayout::Packed { zones },
            None => SubnetLayout::Zones,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    fn cidrs(layout: SubnetLayout, vpc: &str, zones: u32, public: bool) -> Vec<String> {
        (0..zones)
            .map(|z| layout.subnet(c(vpc), z, public).to_string())
            .collect()
    }

    #[test]
    fn zone_blocks_depend_on_the_zone_alone() {
        let zones = SubnetLayout::Zones;
        assert_eq!(
            cidrs(zones, "10.0.0.0/16", 3, true),
            ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]
        );
        assert_eq!(
            cidrs(zones, "10.0.0.0/16", 3, false),
            ["10.0.128.0/24", "10.0.129.0/24", "10.0.130.0/24"]
        );
        // Two zones are the first two of three, whatever the count.
        assert_eq!(
            cidrs(zones, "10.0.0.0/16", 2, false),
            cidrs(zones, "10.0.0.0/16", 3, false)[..2]
        );
        assert_eq!(
            cidrs(zones, "10.0.0.0/24", 6, false),
            [
                "10.0.0.128/28",
                "10.0.0.144/28",
                "10.0.0.160/28",
                "10.0.0.176/28",
                "10.0.0.192/28",
                "10.0.0.208/28"
            ]
        );
    }

    #[test]
    fn packed_stacks_keep_their_blocks_and_grow_past_them() {
        let packed = SubnetLayout::Packed { zones: 2 };
        assert_eq!(
            cidrs(packed, "10.0.0.0/16", 3, true),
            ["10.0.0.0/24", "10.0.1.0/24", "10.0.4.0/24"]
        );
        assert_eq!(
            cidrs(packed, "10.0.0.0/16", 3, false),
            ["10.0.2.0/24", "10.0.3.0/24", "10.0.5.0/24"]
        );
        // Every zone of the region, every packed size: no two subnets overlap.
        for n in 2..=6 {
            let layout = SubnetLayout::Packed { zones: n };
            let mut all: Vec<Cidr> = (0..6)
                .flat_map(|z| [true, false].map(|p| layout.subnet(c("10.0.0.0/24"), z, p)))
                .collect();
            all.sort();
            all.dedup();
            assert_eq!(all.len(), 12, "packed {n}");
        }
    }

    #[test]
    fn the_deployed_layout_is_recognised() {
        let vpc = c("10.0.0.0/16");
        assert_eq!(SubnetLayout::recognise(vpc, &[]), SubnetLayout::Zones);
        let old = [(0, c("10.0.2.0/24")), (1, c("10.0.3.0/24"))];
        assert_eq!(
            SubnetLayout::recognise(vpc, &old),
            SubnetLayout::Packed { zones: 2 }
        );
        // After growing to 3 and back, the first private subnet still says 2.
        assert_eq!(
            SubnetLayout::recognise(vpc, &[(2, c("10.0.5.0/24")), (0, c("10.0.2.0/24"))]),
            SubnetLayout::Packed { zones: 2 }
        );
        let zones = [(0, c("10.0.128.0/24"))];
        assert_eq!(SubnetLayout::recognise(vpc, &zones), SubnetLayout::Zones);
        // Another VPC, another size, or explicit CIDRs elsewhere: zone blocks.
        assert_eq!(
            SubnetLayout::recognise(c("10.1.0.0/16"), &old),
            SubnetLayout::Zones
        );
        assert_eq!(
            SubnetLayout::recognise(vpc, &[(0, c("10.0.2.0/25"))]),
            SubnetLayout::Zones
        );
        assert_eq!(
            SubnetLayout::recognise(vpc, &[(0, c("10.0.40.0/24"))]),
            SubnetLayout::Zones
        );
    }
}
