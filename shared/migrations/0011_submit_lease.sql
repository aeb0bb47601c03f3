-- One submission at a time per job: submit_job leases the job before calling KIE, so two
-- deliveries of its task (or a sweeper's resubmission racing a slow attempt) cannot both
-- create a KIE task. A crashed attempt's lease lapses on its own.
ALTER TABLE jobs ADD COLUMN submit_lease_until timestamptz;
