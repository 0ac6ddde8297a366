//! `aws_route_table`: a route table with its IPv4 routes and subnet associations, both
//! updated in place by difference (create/replace/delete only the routes that changed,
//! associate/disassociate only the subnets that changed).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, ResourceType, Route, RouteTable, RouteTableAssociationStateCode};

use super::{fields, is_dependency_violation, s, unless_gone, CREATE_WAIT, PROPAGATION_WAIT};
use crate::model::{Inputs, Outputs, Value};
use crate::provider::aws::ec2_kind::{returned_id, Ec2Kind};
use crate::provider::aws::ec2_objects::{describe_one, describe_where, Ec2Object};
use crate::provider::aws::ec2_tags::{tag_specifications, tags_to_value, update_tags};
use crate::provider::aws::kinds;
use crate::provider::aws::{
    aws_error, has_code, required_str, retry_while, string_list, wait_until, AwsClients,
};
use crate::provider::schema::fields as f;
use crate::provider::{Created, Observed, OpContext, ProviderError, Schema};
use crate::provider::{Recorded, Update};

const NOT_FOUND: &[&str] = <RouteTable as Ec2Object>::NOT_FOUND;

/// Ids that may not be visible yet right after their resource was created.
const NOT_YET_VISIBLE: &[&str] = &[
    "InvalidRouteTableID.NotFound",
    "InvalidGatewayID.NotFound",
    "InvalidNatGatewayID.NotFound",
    "InvalidSubnetID.NotFound",
];

/// Where a route sends its traffic: the field of the route map and the target id.
/// `gateway_id` and `nat_gateway_id` are what nova sets; other targets found on a live
/// table are reported under their own field name so they show as drift.
type Target = (&'static str, String);

/// Routes by destination CIDR block.
type Routes = BTreeMap<String, Target>;

/// `aws_route_table`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static ROUTE_TABLE_SCHEMA: Schema = Schema::declare(
    kinds::ROUTE_TABLE,
    &[
        f::string("vpc_id").required().force_new(),
        f::map_list("routes"),
        f::string_list("subnet_ids"),
        f::TAGS,
    ],
    &["id", "association_ids"],
    false,
);

pub struct RouteTableProvider {
    pub(super) clients: AwsClients,
}

/// The `routes` input as routes by destination.
fn desired_routes(inputs: &Inputs) -> Result<Routes, ProviderError> {
    let mut routes = Routes::new();
    let items = inputs.get("routes").and_then(Value::as_list).unwrap_or(&[]);
    for item in items {
        let map = item
            .as_map()
            .ok_or_else(|| ProviderError::invalid("routes", "each route must be a map"))?;
        let dest = map
            .get("destination_cidr_block")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ProviderError::invalid("routes", "a route has no destination_cidr_block")
            })?;
        let targets: Vec<Target> = ["gateway_id", "nat_gateway_id"]
            .into_iter()
            .filter_map(|k| {
                map.get(k)
                    .and_then(Value::as_str)
                    .map(|v| (k, v.to_string()))
            })
            .collect();
        let [target] = <[Target; 1]>::try_from(targets).map_err(|_| {
            ProviderError::invalid(
                "routes",
                format!("route {dest} needs exactly one of gateway_id, nat_gateway_id"),
            )
        })?;
        if routes.insert(dest.to_string(), target).is_some() {
            return Err(ProviderError::invalid(
                "routes",
                format!("destination {dest} appears twice"),
            ));
        }
    }
    Ok(routes)
}

/// The target of a live route, `None` for the VPC's `local` route.
fn live_target(route: &Route) -> Option<Target> {
    let candidates: [(&'static str, Option<&str>); 7] = [
        ("gateway_id", route.gateway_id()),
        ("nat_gateway_id", route.nat_gateway_id()),
        ("network_interface_id", route.network_interface_id()),
        ("instance_id", route.instance_id()),
        ("transit_gateway_id", route.transit_gateway_id()),
        (
            "vpc_peering_connection_id",
            route.vpc_peering_connection_id(),
        ),
        (
            "egress_only_internet_gateway_id",
            route.egress_only_internet_gateway_id(),
        ),
    ];
    let (field, id) = candidates
        .into_iter()
        .find_map(|(k, v)| v.map(|v| (k, v)))?;
    (id != "local").then(|| (field, id.to_string()))
}

/// The live IPv4 routes of the table, without the `local` route.
fn live_routes(table: &RouteTable) -> Routes {
    table
        .routes()
        .iter()
        .filter_map(|r| Some((r.destination_cidr_block()?.to_string(), live_target(r)?)))
        .collect()
}

/// The live subnet associations: subnet id to association id.
fn live_associations(table: &RouteTable) -> BTreeMap<String, String> {
    table
        .associations()
        .iter()
        .filter(|a| !a.main().unwrap_or(false))
        .filter(|a| {
            a.association_state()
                .and_then(|s| s.state())
                .is_none_or(|s| {
                    matches!(
                        s,
                        RouteTableAssociationStateCode::Associated
                            | RouteTableAssociationStateCode::Associating
                    )
                })
        })
        .filter_map(|a| {
            Some((
                a.subnet_id()?.to_string(),
                a.route_table_association_id()?.to_string(),
            ))
        })
        .collect()
}

fn routes_value(routes: &Routes) -> Value {
    Value::List(
        routes
            .iter()
            .map(|(dest, (field, id))| {
                Value::Map(fields([
                    ("destination_cidr_block", s(dest)),
                    (field, s(id)),
                ]))
            })
            .collect(),
    )
}

fn outputs(id: &str, table: &RouteTable) -> Outputs {
    let associations = live_associations(table)
        .into_iter()
        .map(|(subnet, assoc)| (subnet, Value::String(assoc)))
        .collect();
    fields([("id", s(id)), ("association_ids", Value::Map(associations))])
}

impl RouteTableProvider {
    async fn describe_present(&self, id: &str) -> Result<RouteTable, ProviderError> {
        describe_one::<RouteTable>(&self.clients.ec2, id)
            .await?
            .ok_or_else(|| ProviderError::Other(format!("route table {id} does not exist")))
    }

    /// Makes the table's routes `wanted`, changing only the routes that differ.
    async fn apply_routes(
        &self,
        ctx: &OpContext,
        id: &str,
        live: &Routes,
        wanted: &Routes,
    ) -> Result<(), ProviderError> {
        for (dest, target) in wanted {
            match live.get(dest) {
                Some(current) if current == target => {}
                Some(_) => self.put_route(ctx, id, dest, target, true).await?,
                None => self.put_route(ctx, id, dest, target, false).await?,
            }
        }
        for dest in live.keys().filter(|d| !wanted.contains_key(*d)) {
            let result = self
                .clients
                .ec2
                .delete_route()
                .route_table_id(id)
                .destination_cidr_block(dest)
                .send()
                .await
                .map_err(|e| aws_error("DeleteRoute", e));
            unless_gone(result, &["InvalidRoute.NotFound"])?;
        }
        Ok(())
    }

    /// CreateRoute, or ReplaceRoute when `replace`. A CreateRoute answered
    /// `RouteAlreadyExists` (the SDK's retry of one whose answer was lost, or a route made
    /// behind nova's back) is made to point at the target with ReplaceRoute.
    async fn put_route(
        &self,
        ctx: &OpContext,
        id: &str,
        dest: &str,
        target: &Target,
        replace: bool,
    ) -> Result<(), ProviderError> {
        match self.send_route(ctx, id, dest, target, replace).await {
            Err(err) if !replace && has_code(&err, &["RouteAlreadyExists"]) => {
                ctx.note(&format!(
                    "{dest} is routed already; pointing it at {}",
                    target.1
                ));
                self.send_route(ctx, id, dest, target, true).await
            }
            other => other,
        }
    }

    async fn send_route(
        &self,
        ctx: &OpContext,
        id: &str,
        dest: &str,
        (field, target): &Target,
        replace: bool,
    ) -> Result<(), ProviderError> {
        let gateway = (*field == "gateway_id").then(|| target.clone());
        let nat = (*field == "nat_gateway_id").then(|| target.clone());
        retry_while(
            ctx,
            &format!("routing {dest} to {target}"),
            PROPAGATION_WAIT,
            |e| has_code(e, NOT_YET_VISIBLE),
            || {
                let ec2 = self.clients.ec2.clone();
                let (gateway, nat) = (gateway.clone(), nat.clone());
                async move {
                    if replace {
                        ec2.replace_route()
                            .route_table_id(id)
                            .destination_cidr_block(dest)
                            .set_gateway_id(gateway)
                            .set_nat_gateway_id(nat)
                            .send()
                            .await
                            .map(|_| ())
                            .map_err(|e| aws_error("ReplaceRoute", e))
                    } else {
                        ec2.create_route()
                            .route_table_id(id)
                            .destination_cidr_block(dest)
                            .set_gateway_id(gateway)
                            .set_nat_gateway_id(nat)
                            .send()
                            .await
                            .map(|_| ())
                            .map_err(|e| aws_error("CreateRoute", e))
                    }
                }
            },
        )
        .await
    }

    /// Makes the table's associations `wanted`, changing only the subnets that differ.
    async fn apply_associations(
        &self,
        ctx: &OpContext,
        id: &str,
        live: &BTreeMap<String, String>,
        wanted: &BTreeSet<String>,
    ) -> Result<(), ProviderError> {
        for (subnet, association) in live.iter().filter(|(s, _)| !wanted.contains(*s)) {
            ctx.note(&format!("disassociating {subnet}"));
            self.disassociate(association).await?;
        }
        for subnet in wanted.iter().filter(|s| !live.contains_key(*s)) {
            self.associate(ctx, id, subnet).await?;
        }
        Ok(())
    }

    async fn disassociate(&self, association: &str) -> Result<(), ProviderError> {
        let result = self
            .clients
            .ec2
            .disassociate_route_table()
            .association_id(association)
            .send()
            .await
            .map_err(|e| aws_error("DisassociateRouteTable", e));
        unless_gone(result, &["InvalidAssociationID.NotFound"]).map(|_| ())
    }

    /// Associates `subnet` with the table; a subnet still associated with another table
    /// (e.g. the one this table replaces) is moved with ReplaceRouteTableAssociation.
    async fn associate(
        &self,
        ctx: &OpContext,
        id: &str,
        subnet: &str,
    ) -> Result<(), ProviderError> {
        let result = retry_while(
            ctx,
            &format!("associating {subnet}"),
            PROPAGATION_WAIT,
            |e| has_code(e, NOT_YET_VISIBLE),
            || async {
                self.clients
                    .ec2
                    .associate_route_table()
                    .route_table_id(id)
                    .subnet_id(subnet)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_error("AssociateRouteTable", e))
            },
        )
        .await;
        match result {
            Err(err) if has_code(&err, &["Resource.AlreadyAssociated"]) => {
                self.move_association(ctx, id, subnet).await
            }
            other => other,
        }
    }

    async fn move_association(
        &self,
        ctx: &OpContext,
        id: &str,
        subnet: &str,
    ) -> Result<(), ProviderError> {
        let associated = Filter::builder()
            .name("association.subnet-id")
            .values(subnet)
            .build();
        let tables = describe_where::<RouteTable>(&self.clients.ec2, vec![associated]).await?;
        let found = tables
            .iter()
            .flat_map(RouteTable::associations)
            .find(|a| a.subnet_id() == Some(subnet))
            .ok_or_else(|| {
                ProviderError::Other(format!(
                    "subnet {subnet} is said to be associated, but no association was found"
                ))
            })?;
        if found.route_table_id() == Some(id) {
            // Already ours: the SDK's retry of an association whose answer was lost.
            return Ok(());
        }
        let association = found.route_table_association_id().unwrap_or_default();
        ctx.note(&format!("moving {subnet} from {association} to {id}"));
        self.clients
            .ec2
            .replace_route_table_association()
            .association_id(association)
            .route_table_id(id)
            .send()
            .await
            .map_err(|e| aws_error("ReplaceRouteTableAssociation", e))?;
        Ok(())
    }

    /// Applies routes and associations from the live table to `inputs`; returns outputs.
    async fn converge(
        &self,
        ctx: &OpContext,
        id: &str,
        inputs: &Inputs,
    ) -> Result<Outputs, ProviderError> {
        let wanted_routes = desired_routes(inputs)?;
        let wanted_subnets: BTreeSet<String> =
            string_list(inputs, "subnet_ids").into_iter().collect();
        let table = self.describe_present(id).await?;
        self.apply_routes(ctx, id, &live_routes(&table), &wanted_routes)
            .await?;
        self.apply_associations(ctx, id, &live_associations(&table), &wanted_subnets)
            .await?;
        let table = self.describe_present(id).await?;
        Ok(outputs(id, &table))
    }
}

#[async_trait]
impl Ec2Kind for RouteTableProvider {
    type Object = RouteTable;

    const SCHEMA: &'static Schema = &ROUTE_TABLE_SCHEMA;

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        desired_routes(inputs)?;
        let out = self
            .clients
            .once
            .ec2
            .create_route_table()
            .client_token(&ctx.client_token)
            .vpc_id(required_str(inputs, "vpc_id")?)
            .set_tag_specifications(tag_specifications(ResourceType::RouteTable, inputs))
            .send()
            .await
            .map_err(|e| aws_error("CreateRouteTable", e))?;
        let id = returned_id(
            "CreateRouteTable",
            out.route_table().and_then(RouteTable::route_table_id),
        )?;
        ctx.note(&format!("created {id}"));
        // Wait until the new table is visible to DescribeRouteTables.
        wait_until(ctx, &format!("route table {id}"), CREATE_WAIT, || async {
            describe_one::<RouteTable>(&self.clients.ec2, &id)
                .await
                .map(|t| t.map(|_| ()))
        })
        .await?;
        let outputs = self.converge(ctx, &id, inputs).await?;
        Ok(Created { id, outputs })
    }

    async fn observe(
        &self,
        table: &RouteTable,
        applied: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let routes = live_routes(table);
        let subnets: BTreeSet<String> = live_associations(table).into_keys().collect();
        // Same sets as applied: report the applied lists as they were written, so a
        // different order in the blueprint never shows as drift.
        let routes_value = match (desired_routes(applied), applied.get("routes")) {
            (Ok(applied_routes), Some(value)) if applied_routes == routes => value.clone(),
            _ => routes_value(&routes),
        };
        let applied_subnets: BTreeSet<String> =
            string_list(applied, "subnet_ids").into_iter().collect();
        let subnets_value = match applied.get("subnet_ids") {
            Some(value) if applied_subnets == subnets => value.clone(),
            _ => Value::list_of_strings(subnets),
        };
        Ok(Observed::Present {
            inputs: fields([
                ("vpc_id", s(table.vpc_id().unwrap_or_default())),
                ("routes", routes_value),
                ("subnet_ids", subnets_value),
                ("tags", tags_to_value(table.tags())),
            ]),
            outputs: outputs(table.route_table_id().unwrap_or_default(), table),
        })
    }

    async fn adopt(&self, _ctx: &OpContext, table: &RouteTable) -> Result<Created, ProviderError> {
        let id = table.route_table_id().unwrap_or_default();
        Ok(Created {
            id: id.to_string(),
            outputs: outputs(id, table),
        })
    }

    async fn update(&self, ctx: &OpContext, change: Update<'_>) -> Result<Outputs, ProviderError> {
        let Update { id, old, new, .. } = change;
        let outputs = self.converge(ctx, id, new).await?;
        update_tags(&self.clients.ec2, id, old, new).await?;
        Ok(outputs)
    }

    async fn delete(
        &self,
        _ec2: &aws_sdk_ec2::Client,
        ctx: &OpContext,
        object: Recorded<'_>,
    ) -> Result<(), ProviderError> {
        let Recorded { id, .. } = object;
        let Some(table) = describe_one::<RouteTable>(&self.clients.ec2, id).await? else {
            return Ok(());
        };
        for association in live_associations(&table).values() {
            self.disassociate(association).await?;
        }
        let result = retry_while(
            ctx,
            &format!("deleting route table {id}"),
            PROPAGATION_WAIT,
            is_dependency_violation,
            || RouteTable::delete(&self.clients.ec2, id),
        )
        .await;
        unless_gone(result, NOT_FOUND).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(dest: &str, field: &str, target: &str) -> Value {
        Value::Map(fields([
            ("destination_cidr_block", s(dest)),
            (field, s(target)),
        ]))
    }

    #[test]
    fn routes_parse_by_destination() {
        let inputs = fields([(
            "routes",
            Value::List(vec![
                route("10.1.0.0/16", "nat_gateway_id", "nat-1"),
                route("0.0.0.0/0", "gateway_id", "igw-1"),
            ]),
        )]);
        let routes = desired_routes(&inputs).expect("valid routes");
        assert_eq!(
            routes.get("0.0.0.0/0"),
            Some(&("gateway_id", "igw-1".to_string()))
        );
        assert_eq!(routes.len(), 2);
    }

    #[test]
    fn a_route_needs_exactly_one_target() {
        let both = Value::Map(fields([
            ("destination_cidr_block", s("0.0.0.0/0")),
            ("gateway_id", s("igw-1")),
            ("nat_gateway_id", s("nat-1")),
        ]));
        let inputs = fields([("routes", Value::List(vec![both]))]);
        assert!(desired_routes(&inputs).is_err());
        let none = Value::Map(fields([("destination_cidr_block", s("0.0.0.0/0"))]));
        let inputs = fields([("routes", Value::List(vec![none]))]);
        assert!(desired_routes(&inputs).is_err());
    }

    #[test]
    fn local_route_is_not_reported() {
        let table = RouteTable::builder()
            .routes(
                Route::builder()
                    .destination_cidr_block("10.0.0.0/16")
                    .gateway_id("local")
                    .build(),
            )
            .routes(
                Route::builder()
                    .destination_cidr_block("0.0.0.0/0")
                    .gateway_id("igw-1")
                    .build(),
            )
            .build();
        let routes = live_routes(&table);
        assert_eq!(routes.len(), 1);
        assert!(routes.contains_key("0.0.0.0/0"));
    }
}
