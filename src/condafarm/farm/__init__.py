"""What is specific to AWS Deadline Cloud farms: job submission and the IAM policies queues need."""
