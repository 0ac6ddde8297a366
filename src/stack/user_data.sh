#!/bin/bash
# nova web instance bootstrap (Amazon Linux 2023): installs and starts the CloudWatch
# agent, then serves a status page on port 80. Rendered by nova: @NOVA_STACK@ and
# @NOVA_PROJECT@ are replaced before the script is sent as user data.
set -euo pipefail

readonly STACK="@NOVA_STACK@"
readonly PROJECT="@NOVA_PROJECT@"

imds_token=$(curl -sS -X PUT "http://169.254.169.254/latest/api/token" \
  -H "X-aws-ec2-metadata-token-ttl-seconds: 300")
instance_id=$(curl -sS -H "X-aws-ec2-metadata-token: ${imds_token}" \
  "http://169.254.169.254/latest/meta-data/instance-id")

dnf install -y amazon-cloudwatch-agent nginx

cat > /opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json <<JSON
{
  "agent": { "metrics_collection_interval": 60 },
  "metrics": {
    "namespace": "${PROJECT}/${STACK}",
    "append_dimensions": { "InstanceId": "\${aws:InstanceId}" },
    "metrics_collected": {
      "mem": { "measurement": ["mem_used_percent"] },
      "disk": { "measurement": ["used_percent"], "resources": ["/"] }
    }
  },
  "logs": {
    "logs_collected": {
      "files": {
        "collect_list": [
          { "file_path": "/var/log/nginx/access.log", "log_group_name": "/${PROJECT}/${STACK}/nginx", "log_stream_name": "{instance_id}" }
        ]
      }
    }
  }
}
JSON
/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s \
  -c file:/opt/aws/amazon-cloudwatch-agent/etc/amazon-cloudwatch-agent.json

cat > /usr/share/nginx/html/index.html <<HTML
<!doctype html>
<title>${PROJECT} ${STACK}</title>
<p>${PROJECT} stack <b>${STACK}</b>, instance ${instance_id}: OK</p>
HTML
systemctl enable --now nginx
