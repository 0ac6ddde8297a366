//! Checklist 2: the security groups (80/443 in, egress rules, attached).

use super::*;

pub async fn check(aws: &Aws, d: &Deployed) {
    let web_sg = d.web_sg.clone();
    let lambda_sg = d.lambda_sg.clone();
    let name = d.name.clone();
    let groups = aws
        .ec2
        .describe_security_groups()
        .group_ids(&web_sg)
        .group_ids(&lambda_sg)
        .send()
        .await
        .expect("DescribeSecurityGroups")
        .security_groups()
        .to_vec();
    assert_eq!(groups.len(), 2);
    for group in &groups {
        let id = group.group_id().unwrap();
        assert_tagged(&format!("SG {id}"), &name, ec2_tags(group.tags()));
        assert!(
            !group.ip_permissions_egress().is_empty(),
            "SG {id} has egress rules"
        );
        if id == web_sg {
            let mut ports = BTreeSet::new();
            for rule in group.ip_permissions() {
                assert_eq!(rule.ip_protocol(), Some("tcp"), "web SG inbound {rule:?}");
                assert_eq!(rule.from_port(), rule.to_port(), "web SG inbound {rule:?}");
                ports.insert(rule.from_port().unwrap_or_default());
            }
            assert_eq!(ports, BTreeSet::from([80, 443]), "web SG inbound ports");
        } else {
            assert!(
                group.ip_permissions().is_empty(),
                "lambda SG has no inbound rule: {:?}",
                group.ip_permissions()
            );
        }
    }
}
