-- What the job lifecycle needs beyond the foundation: a deadline per job, and
-- indexes for the sweeper's three scans (late in flight, stuck before
-- submission, stuck before delivery).

ALTER TABLE jobs
    ADD COLUMN deadline_at timestamptz,
    ADD COLUMN submitted_at timestamptz,
    ADD COLUMN delivery_attempts integer NOT NULL DEFAULT 0 CHECK (delivery_attempts >= 0),
    ADD CONSTRAINT jobs_task_id_once_submitted CHECK (
        state NOT IN ('submitted', 'running') OR kie_task_id IS NOT NULL),
    ADD CONSTRAINT jobs_finished_when_final CHECK (
        (state IN ('succeeded', 'delivered', 'failed', 'expired', 'canceled'))
        = (finished_at IS NOT NULL));

CREATE INDEX jobs_waiting_to_submit ON jobs (updated_at) WHERE state IN ('held', 'queued');
CREATE INDEX jobs_waiting_to_deliver ON jobs (updated_at) WHERE state = 'succeeded';
