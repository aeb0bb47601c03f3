-- One delivery at a time per job: deliver_result leases the job before sending, so a
-- sweeper's redelivery (or a queue retry) racing a slow delivery cannot send the result
-- twice. A crashed delivery's lease lapses on its own.
ALTER TABLE jobs ADD COLUMN deliver_lease_until timestamptz;
