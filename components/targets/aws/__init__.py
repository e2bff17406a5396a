"""The ``aws-ec2`` target: network, RDS PostgreSQL, ElastiCache Redis, S3 media, IAM, app secrets
and the EC2 web tier (one instance with an Elastic IP, or an Auto Scaling group behind an ALB).

``djangostack.targets.aws.target.deploy`` wires the components together; each module holds one component.
"""
