-- "Send again" is one delivery per press. The press's request id is kept once its results
-- reached the chat, so a queue that brings the task twice (SQS standard queues have no
-- task-name dedupe; Cloud Tasks forgets names after a while) sends them once.
CREATE TABLE redeliveries (
    request text PRIMARY KEY,
    job_id uuid NOT NULL REFERENCES jobs (id),
    sent_at timestamptz NOT NULL DEFAULT now()
);
