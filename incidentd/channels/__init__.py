"""Where incident events go besides Kafka: one interface, `Channel.send(delivery)`, and one
module per channel kind (e-mail, webhook, Slack, PagerDuty, Apprise), named in `registry`."""
