//! `aws_security_group`: a VPC security group whose ingress and egress rules are managed
//! as sets: create and update authorize, revoke or re-describe only the difference between
//! the live rules and the wanted ones (so AWS's default allow-all egress is revoked unless
//! it is wanted).

use async_trait::async_trait;
use aws_sdk_ec2::types::{ResourceType, SecurityGroup};

use super::blockers::Holder;
use super::sg_rules::{live_rules, parse_rules, rules_value, to_permissions, RuleDiff, RuleSet};
use super::{ec2_arn, fields, s, unless_gone, CREATE_WAIT};
use crate::model::{Inputs, Outputs, Value};
use crate::provider::aws::ec2_kind::{returned_id, Ec2Kind};
use crate::provider::aws::ec2_objects::describe_one;
use crate::provider::aws::ec2_tags::{tag_specifications, tags_to_value, update_tags};
use crate::provider::aws::kinds;
use crate::provider::aws::{
    aws_error, has_code, optional_str, required_str, wait_until, AwsClients,
};
use crate::provider::schema::fields as f;
use crate::provider::Update;
use crate::provider::{Created, Observed, OpContext, ProviderError, Schema};

/// AWS requires a description; this one is used when none is given.
const DEFAULT_DESCRIPTION: &str = "Managed by nova";

/// A rule (or one of a batch) that exists already.
const DUPLICATE: &str = "InvalidPermission.Duplicate";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    fn field(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// `aws_security_group`: the kind's fields, outputs and replacement order (docs/resources.md).
pub static SECURITY_GROUP_SCHEMA: Schema = Schema::declare(
    kinds::SECURITY_GROUP,
    &[
        f::string("name")
            .required()
            .force_new()
            .unique_within(&["vpc_id"]),
        f::string("description").force_new(),
        f::string("vpc_id").required().force_new().blocks_delete(),
        f::map_list("ingress"),
        f::map_list("egress"),
        f::TAGS,
    ],
    &["id", "arn"],
    true,
);

pub struct SecurityGroupProvider {
    pub(super) clients: AwsClients,
}

impl SecurityGroupProvider {
    fn outputs(&self, group: &SecurityGroup) -> Outputs {
        let id = group.group_id().unwrap_or_default();
        let owner = group.owner_id().unwrap_or_default();
        fields([
            ("id", s(id)),
            (
                "arn",
                s(ec2_arn(&self.clients, owner, "security-group", id)),
            ),
        ])
    }

    fn live(group: &SecurityGroup, direction: Direction) -> RuleSet {
        match direction {
            Direction::Ingress => live_rules(group.ip_permissions()),
            Direction::Egress => live_rules(group.ip_permissions_egress()),
        }
    }

    /// Makes the group's rules in one direction `wanted`, touching only the difference.
    /// New rules are authorized before old ones are revoked, so a changed rule set never
    /// passes through "nothing allowed".
    async fn apply_rules(
        &self,
        ctx: &OpContext,
        id: &str,
        direction: Direction,
        live: &RuleSet,
        wanted: &RuleSet,
    ) -> Result<(), ProviderError> {
        let diff = RuleDiff::between(live, wanted);
        let field = direction.field();
        if !diff.authorize.is_empty() {
            ctx.note(&format!(
                "authorizing {} {field} rule(s)",
                diff.authorize.len()
            ));
            self.authorize(id, direction, &diff.authorize).await?;
        }
        if !diff.redescribe.is_empty() {
            ctx.note(&format!(
                "re-describing {} {field} rule(s)",
                diff.redescribe.len()
            ));
            self.redescribe(id, direction, &diff.redescribe).await?;
        }
        if !diff.revoke.is_empty() {
            ctx.note(&format!("revoking {} {field} rule(s)", diff.revoke.len()));
            self.revoke(id, direction, &diff.revoke).await?;
        }
        Ok(())
    }

    /// Authorizes `rules`. AWS adds all or none: when some are there already
    /// (`InvalidPermission.Duplicate`: the SDK's retry of a call whose answer was lost, or
    /// a rule added behind nova's back), each rule is authorized on its own and one that
    /// exists counts as done.
    async fn authorize(
        &self,
        id: &str,
        direction: Direction,
        rules: &RuleSet,
    ) -> Result<(), ProviderError> {
        match self.authorize_all(id, direction, rules).await {
            Err(err) if has_code(&err, &[DUPLICATE]) && rules.len() > 1 => {
                for rule in rules {
                    let one: RuleSet = std::iter::once((rule.0.clone(), rule.1.clone())).collect();
                    match self.authorize_all(id, direction, &one).await {
                        Err(err) if has_code(&err, &[DUPLICATE]) => {}
                        other => other?,
                    }
                }
                Ok(())
            }
            Err(err) if has_code(&err, &[DUPLICATE]) => Ok(()),
            other => other,
        }
    }

    async fn authorize_all(
        &self,
        id: &str,
        direction: Direction,
        rules: &RuleSet,
    ) -> Result<(), ProviderError> {
        let perms = Some(to_permissions(rules));
        let ec2 = &self.clients.ec2;
        match direction {
            Direction::Ingress => ec2
                .authorize_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(perms)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("AuthorizeSecurityGroupIngress", e)),
            Direction::Egress => ec2
                .authorize_security_group_egress()
                .group_id(id)
                .set_ip_permissions(perms)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("AuthorizeSecurityGroupEgress", e)),
        }
    }

    async fn revoke(
        &self,
        id: &str,
        direction: Direction,
        rules: &RuleSet,
    ) -> Result<(), ProviderError> {
        let perms = Some(to_permissions(rules));
        let ec2 = &self.clients.ec2;
        let result = match direction {
            Direction::Ingress => ec2
                .revoke_security_group_ingress()
                .group_id(id)
                .set_ip_permissions(perms)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("RevokeSecurityGroupIngress", e)),
            Direction::Egress => ec2
                .revoke_security_group_egress()
                .group_id(id)
                .set_ip_permissions(perms)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("RevokeSecurityGroupEgress", e)),
        };
        unless_gone(result, &["InvalidPermission.NotFound"]).map(|_| ())
    }

    async fn redescribe(
        &self,
        id: &str,
        direction: Direction,
        rules: &RuleSet,
    ) -> Result<(), ProviderError> {
        let perms = Some(to_permissions(rules));
        let ec2 = &self.clients.ec2;
        match direction {
            Direction::Ingress => ec2
                .update_security_group_rule_descriptions_ingress()
                .group_id(id)
                .set_ip_permissions(perms)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("UpdateSecurityGroupRuleDescriptionsIngress", e)),
            Direction::Egress => ec2
                .update_security_group_rule_descriptions_egress()
                .group_id(id)
                .set_ip_permissions(perms)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("UpdateSecurityGroupRuleDescriptionsEgress", e)),
        }
    }

    /// Brings both rule sets of the group from what is live to what `inputs` wants.
    async fn converge(
        &self,
        ctx: &OpContext,
        id: &str,
        inputs: &Inputs,
    ) -> Result<SecurityGroup, ProviderError> {
        let wanted_in = parse_rules("ingress", inputs.get("ingress"))?;
        let wanted_out = parse_rules("egress", inputs.get("egress"))?;
        let group = self.present(id).await?;
        for (direction, wanted) in [
            (Direction::Ingress, &wanted_in),
            (Direction::Egress, &wanted_out),
        ] {
            self.apply_rules(ctx, id, direction, &Self::live(&group, direction), wanted)
                .await?;
        }
        self.present(id).await
    }

    async fn present(&self, id: &str) -> Result<SecurityGroup, ProviderError> {
        describe_one::<SecurityGroup>(&self.clients.ec2, id)
            .await?
            .ok_or_else(|| ProviderError::Other(format!("security group {id} does not exist")))
    }

    /// The observed rule list: the applied value itself when it has the same rules (so
    /// ordering in the blueprint never shows as drift), else the live rules, sorted.
    fn observed_rules(applied: &Inputs, field: &str, live: &RuleSet) -> Value {
        match (parse_rules(field, applied.get(field)), applied.get(field)) {
            (Ok(set), Some(value)) if &set == live => value.clone(),
            _ => rules_value(live),
        }
    }
}

#[async_trait]
impl Ec2Kind for SecurityGroupProvider {
    type Object = SecurityGroup;

    const SCHEMA: &'static Schema = &SECURITY_GROUP_SCHEMA;

    async fn create(&self, ctx: &OpContext, inputs: &Inputs) -> Result<Created, ProviderError> {
        parse_rules("ingress", inputs.get("ingress"))?;
        parse_rules("egress", inputs.get("egress"))?;
        let out = self
            .clients
            .once
            .ec2
            .create_security_group()
            .group_name(required_str(inputs, "name")?)
            .description(optional_str(inputs, "description").unwrap_or(DEFAULT_DESCRIPTION))
            .vpc_id(required_str(inputs, "vpc_id")?)
            .set_tag_specifications(tag_specifications(ResourceType::SecurityGroup, inputs))
            .send()
            .await
            .map_err(|e| aws_error("CreateSecurityGroup", e))?;
        let id = returned_id("CreateSecurityGroup", out.group_id())?;
        ctx.note(&format!("created {id}"));
        wait_until(
            ctx,
            &format!("security group {id}"),
            CREATE_WAIT,
            || async {
                describe_one::<SecurityGroup>(&self.clients.ec2, &id)
                    .await
                    .map(|g| g.map(|_| ()))
            },
        )
        .await?;
        let group = self.converge(ctx, &id, inputs).await?;
        Ok(Created {
            outputs: self.outputs(&group),
            id,
        })
    }

    async fn observe(
        &self,
        group: &SecurityGroup,
        applied: &Inputs,
    ) -> Result<Observed, ProviderError> {
        let ingress = Self::live(group, Direction::Ingress);
        let egress = Self::live(group, Direction::Egress);
        Ok(Observed::Present {
            inputs: fields([
                ("name", s(group.group_name().unwrap_or_default())),
                ("description", s(group.description().unwrap_or_default())),
                ("vpc_id", s(group.vpc_id().unwrap_or_default())),
                (
                    "ingress",
                    Self::observed_rules(applied, "ingress", &ingress),
                ),
                ("egress", Self::observed_rules(applied, "egress", &egress)),
                ("tags", tags_to_value(group.tags())),
            ]),
            outputs: self.outputs(group),
        })
    }

    async fn adopt(
        &self,
        _ctx: &OpContext,
        group: &SecurityGroup,
    ) -> Result<Created, ProviderError> {
        Ok(Created {
            id: group.group_id().unwrap_or_default().to_string(),
            outputs: self.outputs(group),
        })
    }

    async fn update(&self, ctx: &OpContext, change: Update<'_>) -> Result<Outputs, ProviderError> {
        let Update { id, old, new, .. } = change;
        let group = self.converge(ctx, id, new).await?;
        update_tags(&self.clients.ec2, id, old, new).await?;
        Ok(self.outputs(&group))
    }

    fn holder(id: &str) -> Option<Holder<'_>> {
        Some(Holder::SecurityGroup(id))
    }
}
