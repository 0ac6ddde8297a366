//! The EC2 networking providers against LocalStack with the real SDK: create, read,
//! in-place update, replacement, delete, drift made out of band, crash recovery by tags
//! and NAT gateway idempotency.

mod common;

use common::conformance::Case;

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_sdk_ec2::types::{AttributeBooleanValue, Filter, Tag};
use nova::model::{Address, Inputs, Outputs, Value};
use nova::provider::aws::{ec2_network, AwsClients};
use nova::provider::Recorded;
use nova::provider::{Created, Observed, OpContext, ReadRequest, ResourceProvider, SilentProgress};

/// One test's world: clients, the providers and a stack name of its own.
struct World {
    clients: AwsClients,
    providers: Vec<Arc<dyn ResourceProvider>>,
    stack: String,
}

impl World {
    async fn new(prefix: &str) -> World {
        let clients = AwsClients::from_config(common::sdk_config().await);
        World {
            providers: ec2_network::providers(&clients),
            clients,
            stack: common::unique_stack(prefix),
        }
    }

    fn ec2(&self) -> &aws_sdk_ec2::Client {
        &self.clients.ec2
    }

    fn provider(&self, kind: &str) -> Arc<dyn ResourceProvider> {
        self.providers
            .iter()
            .find(|p| p.schema().kind == kind)
            .cloned()
            .unwrap_or_else(|| panic!("no provider for {kind}"))
    }

    fn ctx(&self, address: &str) -> OpContext {
        let address: Address = address.parse().expect("valid address");
        OpContext {
            stack: self.stack.clone(),
            client_token: format!("{}-{}", self.stack, address)
                .chars()
                .take(64)
                .collect(),
            address,
            known_ids: Vec::new(),
            progress: Arc::new(SilentProgress),
        }
    }

    /// The ownership tags for `address`, plus `extra`.
    fn tags(&self, address: &str, extra: &[(&str, &str)]) -> Value {
        let mut map = Inputs::new();
        map.insert("nova:stack".into(), s(&self.stack));
        map.insert("nova:address".into(), s(address));
        map.insert("ManagedBy".into(), s("nova"));
        for (k, v) in extra {
            map.insert(k.to_string(), s(v));
        }
        Value::Map(map)
    }

    async fn create(&self, address: &str, inputs: &Inputs) -> Created {
        let kind = address.split('.').next().expect("kind");
        self.provider(kind)
            .create(&self.ctx(address), inputs)
            .await
            .unwrap_or_else(|e| panic!("create {address}: {e}"))
    }

    async fn read(&self, address: &str, id: &str, applied: &Inputs) -> Observed {
        let kind = address.split('.').next().expect("kind");
        self.provider(kind)
            .read(&self.ctx(address), id, applied)
            .await
            .unwrap_or_else(|e| panic!("read {address}: {e}"))
    }

    /// The live inputs and outputs; panics when the resource is gone.
    async fn present(&self, address: &str, id: &str, applied: &Inputs) -> (Inputs, Outputs) {
        match self.read(address, id, applied).await {
            Observed::Present { inputs, outputs } => (inputs, outputs),
            Observed::Gone => panic!("{address} ({id}) is gone"),
        }
    }

    async fn delete(&self, address: &str, created: &Created, inputs: &Inputs) {
        let kind = address.split('.').next().expect("kind");
        self.provider(kind)
            .delete(
                &self.ctx(address),
                Recorded {
                    id: &created.id,
                    inputs,
                    outputs: &created.outputs,
                },
            )
            .await
            .unwrap_or_else(|e| panic!("delete {address}: {e}"))
    }

    /// Deletes, then checks that read says Gone and that deleting again succeeds.
    async fn delete_and_check_gone(&self, address: &str, created: &Created, inputs: &Inputs) {
        self.delete(address, created, inputs).await;
        assert_eq!(
            self.read(address, &created.id, inputs).await,
            Observed::Gone,
            "{address} still there after delete"
        );
        self.delete(address, created, inputs).await;
    }

    /// The conformance table of one resource at `address` (the other address is
    /// `<kind>.other`).
    fn case(&self, address: &str, desired: &Inputs, changes: Vec<Inputs>) -> Case {
        let kind = address.split('.').next().expect("kind");
        Case {
            provider: self.provider(kind),
            ctx: self.ctx(address),
            other: Some(self.ctx(&format!("{kind}.other"))),
            desired: desired.clone(),
            changes,
        }
    }

    fn vpc_inputs(&self, name: &str, cidr: &str) -> Inputs {
        fields(vec![
            ("cidr_block", s(cidr)),
            ("enable_dns_support", Value::Bool(true)),
            ("enable_dns_hostnames", Value::Bool(true)),
            (
                "tags",
                self.tags(&format!("aws_vpc.{name}"), &[("Name", name)]),
            ),
        ])
    }

    async fn vpc(&self, name: &str, cidr: &str) -> (Created, Inputs) {
        let inputs = self.vpc_inputs(name, cidr);
        (
            self.create(&format!("aws_vpc.{name}"), &inputs).await,
            inputs,
        )
    }

    async fn subnet(&self, name: &str, vpc_id: &str, cidr: &str) -> (Created, Inputs) {
        let address = format!("aws_subnet.{name}");
        let inputs = fields(vec![
            ("vpc_id", s(vpc_id)),
            ("cidr_block", s(cidr)),
            ("availability_zone", s("us-east-1a")),
            ("map_public_ip_on_launch", Value::Bool(false)),
            ("tags", self.tags(&address, &[])),
        ]);
        (self.create(&address, &inputs).await, inputs)
    }

    fn igw_inputs(&self, name: &str, vpc_id: &str) -> Inputs {
        let address = format!("aws_internet_gateway.{name}");
        fields(vec![
            ("vpc_id", s(vpc_id)),
            ("tags", self.tags(&address, &[])),
        ])
    }

    async fn igw(&self, name: &str, vpc_id: &str) -> (Created, Inputs) {
        let inputs = self.igw_inputs(name, vpc_id);
        let address = format!("aws_internet_gateway.{name}");
        (self.create(&address, &inputs).await, inputs)
    }

    async fn eip(&self, name: &str) -> (Created, Inputs) {
        let address = format!("aws_eip.{name}");
        let inputs = fields(vec![("tags", self.tags(&address, &[]))]);
        (self.create(&address, &inputs).await, inputs)
    }

    fn nat_inputs(&self, name: &str, subnet_id: &str, allocation_id: &str) -> Inputs {
        fields(vec![
            ("subnet_id", s(subnet_id)),
            ("allocation_id", s(allocation_id)),
            ("tags", self.tags(&format!("aws_nat_gateway.{name}"), &[])),
        ])
    }
}

fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

fn fields(pairs: Vec<(&str, Value)>) -> Inputs {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn with(inputs: &Inputs, field: &str, value: Value) -> Inputs {
    let mut out = inputs.clone();
    out.insert(field.to_string(), value);
    out
}

fn out_str<'a>(outputs: &'a Outputs, field: &str) -> &'a str {
    outputs
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("output {field} missing in {outputs:?}"))
}

/// `aws_vpc`: created with DNS support and hostnames and a Name tag; changed in place to
/// DNS hostnames off and other tags; drift = a Name tag set by someone else.
#[tokio::test]
async fn vpc_conformance_and_replacement() {
    let w = World::new("vpc").await;
    let inputs = w.vpc_inputs("main", "10.10.0.0/16");
    // In place: tags and DNS hostnames (the Name tag removed, DNS hostnames off).
    let new = with(
        &with(&inputs, "enable_dns_hostnames", Value::Bool(false)),
        "tags",
        w.tags("aws_vpc.main", &[("Environment", "Production")]),
    );
    let case = w.case("aws_vpc.main", &inputs, vec![new.clone()]);
    let vpc = case.create().await;
    assert!(vpc.id.starts_with("vpc-"), "{}", vpc.id);
    assert_eq!(out_str(&vpc.outputs, "id"), vpc.id);
    assert_eq!(out_str(&vpc.outputs, "cidr_block"), "10.10.0.0/16");
    assert!(out_str(&vpc.outputs, "arn").ends_with(&format!(":vpc/{}", vpc.id)));
    let current = case.update_each(&vpc).await;

    // A tag changed by someone else shows as drift, and an update puts it back.
    case.drift_and_restore(&vpc, &current, async |vpc| {
        w.ec2()
            .create_tags()
            .resources(&vpc.id)
            .tags(Tag::builder().key("Name").value("hacked").build())
            .send()
            .await
            .expect("raw CreateTags");
        let (live, _) = w.present("aws_vpc.main", &vpc.id, &current).await;
        let tags = live["tags"].as_map().expect("tags map");
        assert_eq!(tags.get("Name"), Some(&s("hacked")));
        assert_ne!(live["tags"], current["tags"]);
    })
    .await;

    // Forcing change (CBD): new VPC with the new CIDR, then the old one deleted.
    let replaced = with(&new, "cidr_block", s("10.11.0.0/16"));
    let vpc2 = w.create("aws_vpc.main", &replaced).await;
    assert_ne!(vpc2.id, vpc.id);
    case.delete(&vpc, &new).await;
    let (live, _) = w.present("aws_vpc.main", &vpc2.id, &replaced).await;
    assert_eq!(live["cidr_block"], s("10.11.0.0/16"));

    w.delete_and_check_gone("aws_vpc.main", &vpc2, &replaced)
        .await;
}

#[tokio::test]
async fn vpc_deleted_out_of_band_is_gone() {
    let w = World::new("vpcdrift").await;
    let (vpc, inputs) = w.vpc("main", "10.12.0.0/16").await;
    // Deleted out of band: read says Gone, delete succeeds.
    w.ec2()
        .delete_vpc()
        .vpc_id(&vpc.id)
        .send()
        .await
        .expect("raw DeleteVpc");
    assert_eq!(
        w.read("aws_vpc.main", &vpc.id, &inputs).await,
        Observed::Gone
    );
    w.delete("aws_vpc.main", &vpc, &inputs).await;
}

#[tokio::test]
async fn subnet_conformance_and_replacement() {
    let w = World::new("subnet").await;
    let (vpc, vpc_inputs) = w.vpc("main", "10.20.0.0/16").await;
    let address = "aws_subnet.public[0]";
    let inputs = fields(vec![
        ("vpc_id", s(&vpc.id)),
        ("cidr_block", s("10.20.1.0/24")),
        ("availability_zone", s("us-east-1a")),
        ("map_public_ip_on_launch", Value::Bool(true)),
        ("tags", w.tags(address, &[("Name", "public-1")])),
    ]);
    let new = with(
        &with(&inputs, "map_public_ip_on_launch", Value::Bool(false)),
        "tags",
        w.tags(address, &[("Name", "public-1b")]),
    );
    let case = w.case(address, &inputs, vec![new.clone()]);
    let subnet = case.create().await;
    assert!(subnet.id.starts_with("subnet-"));
    assert_eq!(out_str(&subnet.outputs, "availability_zone"), "us-east-1a");
    assert!(out_str(&subnet.outputs, "arn").contains(&subnet.id));
    let current = case.update_each(&subnet).await;
    // Public IPs switched back on by hand: drift, and the update turns them off again.
    case.drift_and_restore(&subnet, &current, async |subnet| {
        w.ec2()
            .modify_subnet_attribute()
            .subnet_id(&subnet.id)
            .map_public_ip_on_launch(AttributeBooleanValue::builder().value(true).build())
            .send()
            .await
            .expect("raw ModifySubnetAttribute");
    })
    .await;

    // Forcing change (not CBD): delete the old one, then create the new one.
    let replaced = with(&new, "cidr_block", s("10.20.2.0/24"));
    case.delete(&subnet, &new).await;
    let subnet2 = w.create(address, &replaced).await;
    assert_ne!(subnet2.id, subnet.id);

    // Deleted out of band.
    w.ec2()
        .delete_subnet()
        .subnet_id(&subnet2.id)
        .send()
        .await
        .expect("raw DeleteSubnet");
    assert_eq!(
        w.read(address, &subnet2.id, &replaced).await,
        Observed::Gone
    );
    w.delete(address, &subnet2, &replaced).await;

    w.delete_and_check_gone("aws_vpc.main", &vpc, &vpc_inputs)
        .await;
}

/// A refresh reads all subnets in one DescribeSubnets: the same as reading each alone.
/// EC2 refuses a call naming an id it does not know, so once one is deleted behind nova's
/// back the batch is asked again one id at a time, and that one is gone.
#[tokio::test]
async fn subnets_read_in_one_batch_as_each_alone() {
    let w = World::new("subnetbatch").await;
    let (vpc, vpc_inputs) = w.vpc("main", "10.21.0.0/16").await;
    let mut made = Vec::new();
    for (i, cidr) in ["10.21.1.0/24", "10.21.2.0/24", "10.21.3.0/24"]
        .into_iter()
        .enumerate()
    {
        made.push(w.subnet(&format!("s{i}"), &vpc.id, cidr).await);
    }
    let batch: Vec<ReadRequest> = made
        .iter()
        .enumerate()
        .map(|(i, (created, inputs))| ReadRequest {
            ctx: w.ctx(&format!("aws_subnet.s{i}")),
            id: created.id.clone(),
            applied: inputs.clone(),
        })
        .collect();
    let subnets = w.provider("aws_subnet");
    assert!(subnets.reads_in_batches());
    let mut alone = Vec::new();
    for read in &batch {
        alone.push(
            w.read(&read.ctx.address.to_string(), &read.id, &read.applied)
                .await,
        );
    }
    assert!(alone.iter().all(|o| matches!(o, Observed::Present { .. })));
    let calls = w.clients.calls.count();
    assert_eq!(subnets.read_batch(&batch).await.expect("batch read"), alone);
    assert_eq!(w.clients.calls.count() - calls, 1, "one DescribeSubnets");

    w.ec2()
        .delete_subnet()
        .subnet_id(&made[1].0.id)
        .send()
        .await
        .expect("raw DeleteSubnet");
    let calls = w.clients.calls.count();
    let after = subnets.read_batch(&batch).await.expect("batch read");
    assert_eq!(after, [alone[0].clone(), Observed::Gone, alone[2].clone()]);
    assert_eq!(
        w.clients.calls.count() - calls,
        4,
        "the refused batch, then one call per subnet"
    );
    for (i, (created, inputs)) in made.iter().enumerate() {
        w.delete(&format!("aws_subnet.s{i}"), created, inputs).await;
    }
    w.delete_and_check_gone("aws_vpc.main", &vpc, &vpc_inputs)
        .await;
}

#[tokio::test]
async fn internet_gateway_attach_reattach_delete() {
    let w = World::new("igw").await;
    let (vpc1, vpc1_inputs) = w.vpc("one", "10.30.0.0/16").await;
    let (vpc2, vpc2_inputs) = w.vpc("two", "10.31.0.0/16").await;
    let address = "aws_internet_gateway.main";
    let inputs = w.igw_inputs("main", &vpc1.id);
    // Re-attach to another VPC, with a tag change.
    let new = with(
        &with(&inputs, "vpc_id", s(&vpc2.id)),
        "tags",
        w.tags(address, &[("Name", "igw")]),
    );
    let case = w.case(address, &inputs, vec![new.clone()]);
    let igw = case.create().await;
    assert!(igw.id.starts_with("igw-"));
    case.update_each(&igw).await;
    let raw = w
        .ec2()
        .describe_internet_gateways()
        .internet_gateway_ids(&igw.id)
        .send()
        .await
        .expect("raw DescribeInternetGateways");
    let attached: Vec<_> = raw.internet_gateways()[0]
        .attachments()
        .iter()
        .filter_map(|a| a.vpc_id())
        .collect();
    assert_eq!(attached, [vpc2.id.as_str()], "detached from the first VPC");

    // A tag removed by hand is drift; the update puts it back.
    case.drift_and_restore(&igw, &new, async |igw| {
        w.ec2()
            .delete_tags()
            .resources(&igw.id)
            .tags(Tag::builder().key("Name").build())
            .send()
            .await
            .expect("raw DeleteTags");
    })
    .await;
    case.assert_found(&igw).await;

    // Delete detaches first: both VPCs can be deleted afterwards.
    case.delete(&igw, &new).await;
    w.delete_and_check_gone("aws_vpc.one", &vpc1, &vpc1_inputs)
        .await;
    w.delete_and_check_gone("aws_vpc.two", &vpc2, &vpc2_inputs)
        .await;
}

#[tokio::test]
async fn eip_and_nat_gateway_lifecycle() {
    let w = World::new("nat").await;
    let (vpc, vpc_inputs) = w.vpc("main", "10.40.0.0/16").await;
    let (igw, igw_inputs) = w.igw("main", &vpc.id).await;
    let (subnet, subnet_inputs) = w.subnet("public", &vpc.id, "10.40.1.0/24").await;
    let eip_inputs = fields(vec![("tags", w.tags("aws_eip.nat0", &[]))]);
    // EIP tags update in place.
    let eip_new = with(
        &eip_inputs,
        "tags",
        w.tags("aws_eip.nat0", &[("Name", "nat")]),
    );
    let eip_case = w.case("aws_eip.nat0", &eip_inputs, vec![eip_new.clone()]);
    let eip = eip_case.create().await;
    assert!(eip.id.starts_with("eipalloc-"));
    assert_eq!(out_str(&eip.outputs, "allocation_id"), eip.id);
    assert!(!out_str(&eip.outputs, "public_ip").is_empty());
    eip_case.update_each(&eip).await;
    // A tag changed by hand is drift; the update puts it back.
    eip_case
        .drift_and_restore(&eip, &eip_new, async |eip| {
            w.ec2()
                .create_tags()
                .resources(&eip.id)
                .tags(Tag::builder().key("Name").value("hacked").build())
                .send()
                .await
                .expect("raw CreateTags");
        })
        .await;

    // NAT gateway: create twice with the same client token gives one gateway.
    let address = "aws_nat_gateway.main";
    let nat_inputs = w.nat_inputs("main", &subnet.id, &eip.id);
    // Tags in place.
    let nat_new = with(&nat_inputs, "tags", w.tags(address, &[("Name", "nat")]));
    let nat_case = w.case(address, &nat_inputs, vec![nat_new.clone()]);
    let nat = nat_case.create().await;
    assert!(nat.id.starts_with("nat-"));
    assert_eq!(
        out_str(&nat.outputs, "public_ip"),
        out_str(&eip.outputs, "public_ip")
    );
    let again = w.create(address, &nat_inputs).await;
    assert_eq!(again.id, nat.id, "same client token, same NAT gateway");
    nat_case.update_each(&nat).await;

    // Forcing change (allocation_id, not CBD): delete, then create with a new address.
    let (eip2, eip2_inputs) = w.eip("nat1").await;
    nat_case.delete(&nat, &nat_new).await;
    let mut replaced = with(&nat_new, "allocation_id", s(&eip2.id));
    let ctx2 = OpContext {
        client_token: format!("{}-replacement", w.stack),
        ..w.ctx(address)
    };
    let nat2 = w
        .provider("aws_nat_gateway")
        .create(&ctx2, &replaced)
        .await
        .expect("create the replacement NAT gateway");
    assert_ne!(nat2.id, nat.id);
    let (live, _) = w.present(address, &nat2.id, &replaced).await;
    assert_eq!(live["allocation_id"], s(&eip2.id));

    // The first address is free again once the old gateway is deleted.
    eip_case.delete(&eip, &eip_new).await;

    replaced.insert("tags".into(), w.tags(address, &[]));
    w.delete_and_check_gone(address, &nat2, &replaced).await;
    w.delete_and_check_gone("aws_eip.nat1", &eip2, &eip2_inputs)
        .await;
    w.delete_and_check_gone("aws_subnet.public", &subnet, &subnet_inputs)
        .await;
    w.delete_and_check_gone("aws_internet_gateway.main", &igw, &igw_inputs)
        .await;
    w.delete_and_check_gone("aws_vpc.main", &vpc, &vpc_inputs)
        .await;
}

#[tokio::test]
async fn eip_deleted_out_of_band_is_gone() {
    let w = World::new("eipgone").await;
    let (eip, inputs) = w.eip("x").await;
    w.ec2()
        .release_address()
        .allocation_id(&eip.id)
        .send()
        .await
        .expect("raw ReleaseAddress");
    assert_eq!(w.read("aws_eip.x", &eip.id, &inputs).await, Observed::Gone);
    w.delete("aws_eip.x", &eip, &inputs).await;
}

/// Addresses with an index (`aws_eip.nat[0]`, as the blueprint makes one per AZ) are found
/// again: ownership is compared exactly on nova's side. (A server-side EC2 tag filter on
/// `nova:address` is a glob on LocalStack, where `[0]` is a character class that never
/// matches the literal `[0]`.)
#[tokio::test]
async fn find_existing_matches_indexed_addresses_exactly() {
    let w = World::new("findidx").await;
    let (first, inputs0) = w.eip("nat[0]").await;
    let (second, inputs1) = w.eip("nat[1]").await;
    for (address, created, inputs) in [
        ("aws_eip.nat[0]", &first, &inputs0),
        ("aws_eip.nat[1]", &second, &inputs1),
    ] {
        let found = w
            .provider("aws_eip")
            .find_existing(&w.ctx(address), inputs)
            .await
            .expect("find_existing");
        assert_eq!(
            found.as_ref().map(|c| c.id.as_str()),
            Some(created.id.as_str())
        );
    }
    let none = w
        .provider("aws_eip")
        .find_existing(&w.ctx("aws_eip.nat0"), &inputs0)
        .await
        .expect("find_existing");
    assert_eq!(none, None, "`nat0` is not `nat[0]`");
    let (vpc, vpc_inputs) = w.vpc("main[0]", "10.42.0.0/16").await;
    let found = w
        .provider("aws_vpc")
        .find_existing(&w.ctx("aws_vpc.main[0]"), &vpc_inputs)
        .await
        .expect("find_existing");
    assert_eq!(found.map(|c| c.id), Some(vpc.id.clone()));
    w.delete_and_check_gone("aws_vpc.main[0]", &vpc, &vpc_inputs)
        .await;
    w.delete("aws_eip.nat[0]", &first, &inputs0).await;
    w.delete("aws_eip.nat[1]", &second, &inputs1).await;
}

fn route(dest: &str, field: &str, target: &str) -> Value {
    Value::Map(fields(vec![
        ("destination_cidr_block", s(dest)),
        (field, s(target)),
    ]))
}

/// The routes of a table as (destination, target), without the local route.
async fn raw_routes(w: &World, id: &str) -> BTreeSet<(String, String)> {
    let out = w
        .ec2()
        .describe_route_tables()
        .route_table_ids(id)
        .send()
        .await
        .expect("raw DescribeRouteTables");
    out.route_tables()[0]
        .routes()
        .iter()
        .filter_map(|r| {
            let target = r.nat_gateway_id().or(r.gateway_id())?;
            (target != "local").then(|| {
                (
                    r.destination_cidr_block().unwrap_or_default().to_string(),
                    target.to_string(),
                )
            })
        })
        .collect()
}

#[tokio::test]
async fn route_table_routes_and_associations_by_difference() {
    let w = World::new("rt").await;
    let (vpc, vpc_inputs) = w.vpc("main", "10.50.0.0/16").await;
    let (vpc2, vpc2_inputs) = w.vpc("other", "10.51.0.0/16").await;
    let (igw, igw_inputs) = w.igw("main", &vpc.id).await;
    let (sub_a, sub_a_inputs) = w.subnet("a", &vpc.id, "10.50.1.0/24").await;
    let (sub_b, sub_b_inputs) = w.subnet("b", &vpc.id, "10.50.2.0/24").await;
    let (eip, eip_inputs) = w.eip("nat").await;
    let nat_inputs = w.nat_inputs("main", &sub_a.id, &eip.id);
    let nat = w.create("aws_nat_gateway.main", &nat_inputs).await;

    let address = "aws_route_table.private";
    let inputs = fields(vec![
        ("vpc_id", s(&vpc.id)),
        (
            "routes",
            Value::List(vec![
                route("0.0.0.0/0", "gateway_id", &igw.id),
                route("192.168.0.0/16", "gateway_id", &igw.id),
            ]),
        ),
        ("subnet_ids", Value::list_of_strings([sub_a.id.as_str()])),
        ("tags", w.tags(address, &[])),
    ]);
    let case = w.case(address, &inputs, vec![]);
    let rt = case.create().await;
    assert!(rt.id.starts_with("rtb-"));
    let assoc = rt.outputs["association_ids"].as_map().expect("map");
    assert_eq!(assoc.keys().collect::<Vec<_>>(), [&sub_a.id]);

    // Change one route's target, drop one route, add one; move the association a -> b.
    let new = fields(vec![
        ("vpc_id", s(&vpc.id)),
        (
            "routes",
            Value::List(vec![
                route("0.0.0.0/0", "nat_gateway_id", &nat.id),
                route("172.16.0.0/12", "gateway_id", &igw.id),
            ]),
        ),
        ("subnet_ids", Value::list_of_strings([sub_b.id.as_str()])),
        ("tags", w.tags(address, &[("Name", "private")])),
    ]);
    let outputs = case.update(&rt, &inputs, &new).await;
    let assoc = outputs["association_ids"].as_map().expect("map");
    assert_eq!(assoc.keys().collect::<Vec<_>>(), [&sub_b.id]);
    let (_, live_outputs) = w.present(address, &rt.id, &new).await;
    assert_eq!(live_outputs, outputs);
    let expected: BTreeSet<_> = [
        ("0.0.0.0/0".to_string(), nat.id.clone()),
        ("172.16.0.0/12".to_string(), igw.id.clone()),
    ]
    .into();
    assert_eq!(raw_routes(&w, &rt.id).await, expected);

    // A route deleted out of band shows as drift; the update adds it back.
    case.drift_and_restore(&rt, &new, async |rt| {
        w.ec2()
            .delete_route()
            .route_table_id(&rt.id)
            .destination_cidr_block("172.16.0.0/12")
            .send()
            .await
            .expect("raw DeleteRoute");
        let (live, _) = w.present(address, &rt.id, &new).await;
        assert_eq!(
            live["routes"],
            Value::List(vec![route("0.0.0.0/0", "nat_gateway_id", &nat.id)])
        );
    })
    .await;
    assert_eq!(raw_routes(&w, &rt.id).await, expected);

    // Forcing change (vpc_id, not CBD): delete, then create in the other VPC.
    case.delete(&rt, &new).await;
    let replaced = fields(vec![
        ("vpc_id", s(&vpc2.id)),
        ("routes", Value::List(vec![])),
        ("subnet_ids", Value::List(vec![])),
        ("tags", w.tags(address, &[])),
    ]);
    let rt2 = w.create(address, &replaced).await;
    assert_ne!(rt2.id, rt.id);
    let (live, _) = w.present(address, &rt2.id, &replaced).await;
    assert_eq!(live, replaced);
    w.delete_and_check_gone(address, &rt2, &replaced).await;

    w.delete_and_check_gone("aws_nat_gateway.main", &nat, &nat_inputs)
        .await;
    w.delete_and_check_gone("aws_eip.nat", &eip, &eip_inputs)
        .await;
    w.delete_and_check_gone("aws_subnet.a", &sub_a, &sub_a_inputs)
        .await;
    w.delete_and_check_gone("aws_subnet.b", &sub_b, &sub_b_inputs)
        .await;
    w.delete_and_check_gone("aws_internet_gateway.main", &igw, &igw_inputs)
        .await;
    w.delete_and_check_gone("aws_vpc.main", &vpc, &vpc_inputs)
        .await;
    w.delete_and_check_gone("aws_vpc.other", &vpc2, &vpc2_inputs)
        .await;
}

fn rule(port: i64, cidrs: &[&str]) -> Value {
    Value::Map(fields(vec![
        ("protocol", s("tcp")),
        ("from_port", Value::Int(port)),
        ("to_port", Value::Int(port)),
        ("cidr_blocks", Value::list_of_strings(cidrs.iter().copied())),
    ]))
}

/// The group's ingress rules by (port, cidr) with their AWS rule ids.
async fn raw_ingress(w: &World, group_id: &str) -> Vec<(i32, String, String)> {
    let out = w
        .ec2()
        .describe_security_group_rules()
        .filters(Filter::builder().name("group-id").values(group_id).build())
        .send()
        .await
        .expect("raw DescribeSecurityGroupRules");
    let mut rules: Vec<_> = out
        .security_group_rules()
        .iter()
        .filter(|r| r.is_egress() == Some(false))
        .map(|r| {
            (
                r.from_port().unwrap_or(-1),
                r.cidr_ipv4().unwrap_or_default().to_string(),
                r.security_group_rule_id().unwrap_or_default().to_string(),
            )
        })
        .collect();
    rules.sort();
    rules
}

async fn raw_egress_cidrs(w: &World, group_id: &str) -> Vec<(String, String)> {
    let out = w
        .ec2()
        .describe_security_groups()
        .group_ids(group_id)
        .send()
        .await
        .expect("raw DescribeSecurityGroups");
    let mut rules: Vec<_> = out.security_groups()[0]
        .ip_permissions_egress()
        .iter()
        .flat_map(|p| {
            p.ip_ranges().iter().map(|r| {
                (
                    p.ip_protocol().unwrap_or_default().to_string(),
                    r.cidr_ip().unwrap_or_default().to_string(),
                )
            })
        })
        .collect();
    rules.sort();
    rules
}

#[tokio::test]
async fn security_group_rules_by_difference() {
    let w = World::new("sg").await;
    let (vpc, vpc_inputs) = w.vpc("main", "10.60.0.0/16").await;
    let address = "aws_security_group.web";
    let inputs = fields(vec![
        ("name", s(&format!("{}-web", w.stack))),
        ("description", s("web servers")),
        ("vpc_id", s(&vpc.id)),
        (
            "ingress",
            Value::List(vec![rule(80, &["0.0.0.0/0"]), rule(22, &["10.0.0.0/8"])]),
        ),
        ("egress", Value::List(vec![rule(443, &["0.0.0.0/0"])])),
        ("tags", w.tags(address, &[])),
    ]);
    // Read matches (the default allow-all egress revoked); found for its address only.
    let case = w.case(address, &inputs, vec![]);
    let sg = case.create().await;
    assert!(sg.id.starts_with("sg-"));
    assert!(out_str(&sg.outputs, "arn").ends_with(&format!(":security-group/{}", sg.id)));
    assert_eq!(
        raw_egress_cidrs(&w, &sg.id).await,
        [("tcp".to_string(), "0.0.0.0/0".to_string())]
    );

    // Add 443, remove 80: the port 22 rule must keep its rule id (not revoked + re-added).
    let before = raw_ingress(&w, &sg.id).await;
    let rule22 = before.iter().find(|r| r.0 == 22).cloned().expect("22 rule");
    let new = with(
        &inputs,
        "ingress",
        Value::List(vec![rule(443, &["0.0.0.0/0"]), rule(22, &["10.0.0.0/8"])]),
    );
    case.update(&sg, &inputs, &new).await;
    let after = raw_ingress(&w, &sg.id).await;
    let ports: Vec<_> = after.iter().map(|r| r.0).collect();
    assert_eq!(ports, [22, 443]);
    assert!(
        after.contains(&rule22),
        "22 rule untouched: {before:?} -> {after:?}"
    );

    // Rules revoked out of band show as drift, in sorted form; updating from the drifted
    // state puts the rule back.
    case.drift_and_restore(&sg, &new, async |sg| {
        w.ec2()
            .revoke_security_group_ingress()
            .group_id(&sg.id)
            .ip_permissions(
                aws_sdk_ec2::types::IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(443)
                    .to_port(443)
                    .ip_ranges(
                        aws_sdk_ec2::types::IpRange::builder()
                            .cidr_ip("0.0.0.0/0")
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("raw RevokeSecurityGroupIngress");
        let (live, _) = w.present(address, &sg.id, &new).await;
        assert_eq!(
            live["ingress"],
            Value::List(vec![rule(22, &["10.0.0.0/8"])])
        );
    })
    .await;

    // Allow-all egress kept when wanted.
    let all = Value::Map(fields(vec![
        ("protocol", s("-1")),
        ("from_port", Value::Int(0)),
        ("to_port", Value::Int(0)),
        ("cidr_blocks", Value::list_of_strings(["0.0.0.0/0"])),
    ]));
    let open = with(&new, "egress", Value::List(vec![all]));
    case.update(&sg, &new, &open).await;
    assert_eq!(
        raw_egress_cidrs(&w, &sg.id).await,
        [("-1".to_string(), "0.0.0.0/0".to_string())]
    );
    case.assert_found(&sg).await;

    // Forcing change (name, not CBD): delete, then create with the new name.
    case.delete(&sg, &open).await;
    let renamed = with(&open, "name", s(&format!("{}-web2", w.stack)));
    let sg2 = w.create(address, &renamed).await;
    assert_ne!(sg2.id, sg.id);
    let (live, _) = w.present(address, &sg2.id, &renamed).await;
    assert_eq!(live, renamed);

    // Deleted out of band.
    w.ec2()
        .delete_security_group()
        .group_id(&sg2.id)
        .send()
        .await
        .expect("raw DeleteSecurityGroup");
    assert_eq!(w.read(address, &sg2.id, &renamed).await, Observed::Gone);
    w.delete(address, &sg2, &renamed).await;

    w.delete_and_check_gone("aws_vpc.main", &vpc, &vpc_inputs)
        .await;
}
