-- 0004: the same guarantees at less cost per job on the worker's path.
--
-- Every job the worker sends costs two updates of its jobs row (the
-- claim, the outcome) and an insert and an update of its attempt. Three
-- things ran once per row there and now run once per statement, or not
-- at all when they have nothing to do.

-- ---------------------------------------------------------------------------
-- updated_at
-- ---------------------------------------------------------------------------

-- The claim and the outcome write set updated_at = now() themselves; a
-- PL/pgSQL call per row to set it again is skipped. Any other update
-- still has updated_at stamped with the current time, as before.
drop trigger jobs_touch_updated_at on jobs;

create trigger jobs_touch_updated_at
    before update on jobs
    for each row when (new.updated_at is distinct from now())
    execute function payq_touch_updated_at();

-- ---------------------------------------------------------------------------
-- attempts.job_id references jobs (id)
-- ---------------------------------------------------------------------------

-- As for jobs.batch_id (0001), the foreign key checked each new attempt
-- on its own, one query per row, at every claim. These triggers give
-- the same guarantees once per statement:
--   * every attempt names a job that exists, and that job is locked (FOR
--     KEY SHARE, as the foreign key locked it) until the transaction
--     ends;
--   * an attempt's job_id never changes, and a job's id never changes;
--   * a job that has attempts cannot be deleted or truncated; deletes
--     are refused under repeatable read, where an attempt committed
--     meanwhile would go unseen.
-- Errors carry SQLSTATE 23503 and the constraint name
-- attempts_job_id_fkey, as the foreign key's did.
alter table attempts drop constraint attempts_job_id_fkey;

-- New attempts: their jobs exist, and stay until this transaction ends.
-- A job whose current row version this transaction wrote (the claim
-- updates its jobs in the statement that inserts their attempts) needs
-- no lock: a transaction that would delete or renumber it waits for
-- this one to end, and then meets its attempts. Every other job is
-- locked FOR KEY SHARE. The own transaction id is compared with xmin in
-- its 32 bits, as xmin is stored.
create function payq_attempts_check_jobs() returns trigger
language plpgsql as $$
declare
    own xid := (pg_current_xact_id()::text::bigint % 4294967296)::text::xid;
    wanted bigint[];
    found_count bigint;
    locked_count bigint;
begin
    wanted := array(select distinct job_id from new_attempts);
    select count(*) into found_count
    from jobs j where j.id = any (wanted) and j.xmin = own;
    if found_count < cardinality(wanted) then
        select count(*) into locked_count
        from (select 1 from jobs j where j.id = any (wanted)
              and j.xmin <> own for key share of j) as locked;
        found_count := found_count + locked_count;
    end if;
    if found_count < cardinality(wanted) then
        raise exception 'a new attempt names a job that does not exist'
            using errcode = 'foreign_key_violation',
                  constraint = 'attempts_job_id_fkey', table = 'attempts';
    end if;
    return null;
end;
$$;

comment on function payq_attempts_check_jobs() is
    'Trigger function: every new attempt belongs to an existing payment.';

-- Check and lock the jobs of every statement's new attempts.
create trigger attempts_job_id_fkey_insert
    after insert on attempts
    referencing new table as new_attempts
    for each statement execute function payq_attempts_check_jobs();

-- Refuses the change: tg_argv[0] names the constraint, tg_argv[1] says
-- what never changes.
create function payq_refuse_key_change() returns trigger
language plpgsql as $$
begin
    raise exception '%', tg_argv[1]
        using errcode = 'foreign_key_violation',
              constraint = tg_argv[0], table = tg_table_name;
end;
$$;

comment on function payq_refuse_key_change() is
    'Trigger function: refuses to change a key that rows elsewhere name.';

-- An attempt never moves to another job.
create trigger attempts_job_id_fkey_update
    after update on attempts
    for each row when (old.job_id is distinct from new.job_id)
    execute function payq_refuse_key_change('attempts_job_id_fkey',
                                            'an attempt''s job never changes');

-- A job is never renumbered.
create trigger jobs_id_fixed
    after update on jobs
    for each row when (old.id is distinct from new.id)
    execute function payq_refuse_key_change('attempts_job_id_fkey',
                                            'a job''s id never changes');

-- A job with attempts is never deleted or truncated. Under repeatable
-- read an attempt committed after the deleting transaction began would
-- be missed, so deletes run at read committed or serializable only.
create function payq_jobs_keep_attempts() returns trigger
language plpgsql as $$
begin
    if current_setting('transaction_isolation') = 'repeatable read' then
        raise exception 'jobs are deleted at read committed or'
                        ' serializable isolation only'
            using errcode = 'foreign_key_violation',
                  constraint = 'attempts_job_id_fkey', table = 'jobs';
    end if;
    if (tg_op = 'DELETE' and exists (select 1 from attempts a
                                    where a.job_id = old.id))
       or (tg_op = 'TRUNCATE' and exists (select 1 from attempts)) then
        raise exception 'a job that has attempts cannot be removed'
            using errcode = 'foreign_key_violation',
                  constraint = 'attempts_job_id_fkey', table = 'jobs';
    end if;
    return old;
end;
$$;

comment on function payq_jobs_keep_attempts() is
    'Trigger function: refuses to remove a payment that has attempts.';

-- Deleting a job with attempts is refused.
create trigger jobs_keep_attempts_delete
    before delete on jobs
    for each row execute function payq_jobs_keep_attempts();

-- Truncating jobs while attempts exist is refused. After, not before:
-- "truncate attempts, jobs" empties both, and is allowed.
create trigger jobs_keep_attempts_truncate
    after truncate on jobs
    for each statement execute function payq_jobs_keep_attempts();

-- ---------------------------------------------------------------------------
-- attempts_provider_txn_id_idx
-- ---------------------------------------------------------------------------

-- An attempt has no provider transaction id until the provider answers;
-- indexing the empty ones made every claim write an index entry that no
-- lookup (always by a given id) can use.
drop index attempts_provider_txn_id_idx;

create index attempts_provider_txn_id_idx on attempts (provider_txn_id)
    where provider_txn_id is not null;
