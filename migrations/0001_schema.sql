-- 0001_schema.sql: first payq schema.
--
-- Applied by the payq migration runner inside its own transaction, so this
-- file holds plain SQL statements only. All money is stored as bigint whole
-- Rwandan francs (RWF has no minor unit); no floating point is used anywhere.
--
-- Identifiers (references, transaction ids, digests) use the "C" collation:
-- they are compared byte for byte, never by a language's rules, which is
-- both what an identifier means and much faster for their unique indexes.

-- ---------------------------------------------------------------------------
-- batches
-- ---------------------------------------------------------------------------

-- One row per imported CSV file.
create table batches (
    id bigint generated always as identity
        constraint batches_pkey primary key,
    file_name text not null
        constraint batches_file_name_length
        check (length(file_name) between 1 and 4096),
    file_size bigint not null
        constraint batches_file_size_nonnegative check (file_size >= 0),
    file_sha256 text collate "C" not null
        constraint batches_file_sha256_format
        check (file_sha256 ~ '^[0-9a-f]{64}$'),
    kind text not null
        constraint batches_kind_valid
        check (kind in ('pay', 'deposit', 'mixed')),
    rows_total integer not null default 0
        constraint batches_rows_total_nonnegative check (rows_total >= 0),
    rows_accepted integer not null default 0
        constraint batches_rows_accepted_nonnegative
        check (rows_accepted >= 0),
    rows_duplicate integer not null default 0
        constraint batches_rows_duplicate_nonnegative
        check (rows_duplicate >= 0),
    rows_rejected integer not null default 0
        constraint batches_rows_rejected_nonnegative
        check (rows_rejected >= 0),
    amount_total bigint not null default 0
        constraint batches_amount_total_nonnegative
        check (amount_total >= 0),
    forced boolean not null default false,
    created_at timestamptz not null default now(),
    approved_at timestamptz,
    approved_by text,
    paused_at timestamptz,
    paused_by text,
    cancelled_at timestamptz,
    cancelled_by text,
    -- An approval always records who approved, and only then.
    constraint batches_approved_consistent
        check ((approved_at is null) = (approved_by is null)),
    -- A pause always records who paused, and only then.
    constraint batches_paused_consistent
        check ((paused_at is null) = (paused_by is null)),
    -- A cancellation always records who cancelled, and only then.
    constraint batches_cancelled_consistent
        check ((cancelled_at is null) = (cancelled_by is null))
);

-- Find earlier imports of the same file (re-import is allowed with --force).
create index batches_file_sha256_idx on batches (file_sha256);

comment on table batches is
    'One imported CSV file of payments. Nothing in a batch is paid out or '
    'collected until the batch is approved.';
comment on column batches.id is
    'Batch number.';
comment on column batches.file_name is
    'Name of the imported CSV file.';
comment on column batches.file_size is
    'Size of the imported file in bytes.';
comment on column batches.file_sha256 is
    'SHA-256 fingerprint of the file contents; the same file imported twice '
    'has the same fingerprint.';
comment on column batches.kind is
    'pay = school-fee collections from parents, deposit = payouts to '
    'phones, mixed = both.';
comment on column batches.rows_total is
    'Number of payment rows read from the file.';
comment on column batches.rows_accepted is
    'Rows turned into payments (jobs).';
comment on column batches.rows_duplicate is
    'Rows skipped because their reference was already imported.';
comment on column batches.rows_rejected is
    'Rows skipped as invalid (see import_errors).';
comment on column batches.amount_total is
    'Sum of the accepted rows'' amounts, in whole Rwandan francs (RWF).';
comment on column batches.forced is
    'True if the file was imported with --force despite an earlier import '
    'of the same file.';
comment on column batches.created_at is
    'When the file was imported.';
comment on column batches.approved_at is
    'When the batch was approved for processing; empty = on hold, waiting '
    'for approval.';
comment on column batches.approved_by is
    'Who approved the batch.';
comment on column batches.paused_at is
    'When the batch was paused; empty = not paused.';
comment on column batches.paused_by is
    'Who paused the batch.';
comment on column batches.cancelled_at is
    'When the batch was cancelled; empty = not cancelled.';
comment on column batches.cancelled_by is
    'Who cancelled the batch.';

-- ---------------------------------------------------------------------------
-- jobs
-- ---------------------------------------------------------------------------

-- One row per payment (one accepted CSV row).
create table jobs (
    id bigint generated always as identity
        constraint jobs_pkey primary key,
    -- References batches (id); enforced by the jobs_batch_id_fkey
    -- triggers below rather than a foreign key (see there).
    batch_id bigint not null,
    kind text not null
        constraint jobs_kind_valid check (kind in ('pay', 'deposit')),
    -- Means phone ~ '^2507[2389][0-9]{7}$', at a tenth of the cost per
    -- row: the prefix by byte order, and then the cast, which only twelve
    -- digits bring to 250700000000 or more (a cast that fails refuses the
    -- row with an error of its own).
    phone text not null
        constraint jobs_phone_format
        check (octet_length(phone) = 12
               and (phone collate "C" between '250720000000'
                                          and '250739999999'
                    or phone collate "C" between '250780000000'
                                             and '250799999999')
               and phone::bigint >= 250700000000),
    amount bigint not null
        constraint jobs_amount_positive check (amount > 0),
    withdraw_charge bigint not null default 0
        constraint jobs_withdraw_charge_nonnegative
        check (withdraw_charge >= 0),
    reason text,
    depositor_name text,
    reference text collate "C" not null
        constraint jobs_reference_length
        check (length(reference) between 1 and 64),
    metadata jsonb not null default '{}'
        constraint jobs_metadata_object
        check (jsonb_typeof(metadata) = 'object'),
    state text not null default 'queued'
        constraint jobs_state_valid
        check (state in ('queued', 'running', 'pending', 'succeeded',
                         'failed', 'unknown', 'cancelled')),
    attempt_count integer not null default 0
        constraint jobs_attempt_count_nonnegative
        check (attempt_count >= 0),
    probe_count integer not null default 0
        constraint jobs_probe_count_nonnegative check (probe_count >= 0),
    run_at timestamptz not null default now(),
    lease_owner text,
    lease_expires_at timestamptz,
    last_code text,
    last_message text,
    provider_txn_id text collate "C",
    provider_reference text,
    callback_deadline timestamptz,
    needs_review boolean not null default false,
    review_reason text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    finished_at timestamptz,
    -- A payment reference identifies one payment across all batches.
    constraint jobs_reference_unique unique (reference),
    -- Only payouts carry a withdraw charge.
    constraint jobs_withdraw_charge_deposit_only
        check (kind = 'deposit' or withdraw_charge = 0),
    -- A payout needs a non-blank reason.
    constraint jobs_deposit_reason_required
        check (kind <> 'deposit'
               or (reason is not null and btrim(reason) <> '')),
    -- A payout needs a non-blank depositor name.
    constraint jobs_deposit_depositor_name_required
        check (kind <> 'deposit'
               or (depositor_name is not null
                   and btrim(depositor_name) <> '')),
    -- A running job is always held by a worker under a lease.
    constraint jobs_running_has_lease
        check (state <> 'running'
               or (lease_owner is not null
                   and lease_expires_at is not null)),
    -- A pending job always has a deadline, or it could wait forever.
    constraint jobs_pending_has_deadline
        check (state <> 'pending' or callback_deadline is not null),
    -- A final job always records when it finished.
    constraint jobs_final_has_finished_at
        check (state not in ('succeeded', 'failed', 'cancelled')
               or finished_at is not null),
    -- A job flagged for review always says why.
    constraint jobs_review_has_reason
        check (not needs_review or review_reason is not null)
);

-- Claim path: due queued jobs in order.
create index jobs_claim_idx on jobs (run_at, id)
    where state = 'queued';

-- Find running jobs whose worker lease has expired.
create index jobs_lease_expiry_idx on jobs (lease_expires_at)
    where state = 'running';

-- Find pending jobs whose callback deadline has passed.
create index jobs_callback_deadline_idx on jobs (callback_deadline)
    where state = 'pending';

-- Per-batch progress and the batch foreign key.
create index jobs_batch_state_idx on jobs (batch_id, state);

comment on table jobs is
    'One payment: a collection from a parent''s phone (pay) or a payout '
    'to a phone (deposit).';
comment on column jobs.id is
    'Payment number.';
comment on column jobs.batch_id is
    'The imported file (batch) this payment came from.';
comment on column jobs.kind is
    'pay = collect money from the phone, deposit = send money to the '
    'phone.';
comment on column jobs.phone is
    'Mobile-money phone number as 2507XXXXXXXX (MTN 078/079, Airtel '
    '072/073).';
comment on column jobs.amount is
    'Amount in whole Rwandan francs (RWF); always more than zero.';
comment on column jobs.withdraw_charge is
    'Withdrawal charge in whole RWF added to a payout; always 0 for '
    'collections.';
comment on column jobs.reason is
    'Reason shown for a payout; required for payouts.';
comment on column jobs.depositor_name is
    'Name of the sender shown for a payout; required for payouts.';
comment on column jobs.reference is
    'Our payment reference from the file; unique across all batches, so '
    'the same payment cannot be imported twice.';
comment on column jobs.metadata is
    'Extra columns from the file, such as student, school, class and term.';
comment on column jobs.state is
    'queued = waiting, running = being sent, pending = accepted by the '
    'provider and awaiting its final answer, succeeded = money moved, '
    'failed = money did not move, unknown = outcome not known and must be '
    'reconciled, cancelled = stopped before any money moved.';
comment on column jobs.attempt_count is
    'How many separate transactions were started for this payment.';
comment on column jobs.probe_count is
    'How many times the current transaction was re-sent to ask for its '
    'outcome.';
comment on column jobs.run_at is
    'Earliest time the payment may be (re)tried.';
comment on column jobs.lease_owner is
    'Worker currently processing the payment.';
comment on column jobs.lease_expires_at is
    'When the worker''s hold on the payment expires.';
comment on column jobs.last_code is
    'Last response code from the provider (see response_codes).';
comment on column jobs.last_message is
    'Last response message from the provider.';
comment on column jobs.provider_txn_id is
    'The provider''s transaction id for this payment.';
comment on column jobs.provider_reference is
    'The provider''s or network''s reference for this payment.';
comment on column jobs.callback_deadline is
    'If no final answer arrives by this time, a pending payment becomes '
    'unknown.';
comment on column jobs.needs_review is
    'True when something contradicts the recorded outcome and a person '
    'must check it.';
comment on column jobs.review_reason is
    'Why the payment needs review.';
comment on column jobs.created_at is
    'When the payment was imported.';
comment on column jobs.updated_at is
    'When the payment record last changed.';
comment on column jobs.finished_at is
    'When the payment reached succeeded, failed or cancelled.';

-- Keep jobs.updated_at current on every update.
create function payq_touch_updated_at() returns trigger
language plpgsql as $$
begin
    new.updated_at = now();
    return new;
end;
$$;

comment on function payq_touch_updated_at() is
    'Trigger function: sets updated_at to the current time.';

-- Stamp updated_at on every change to a job.
create trigger jobs_touch_updated_at
    before update on jobs
    for each row execute function payq_touch_updated_at();

-- jobs.batch_id references batches (id). A foreign key would check each
-- new job on its own, one lookup per row: a quarter of the time of a
-- large import's INSERT. These triggers give the same guarantees once per
-- statement:
--   * every job names a batch that exists, and that batch is locked (FOR
--     KEY SHARE, as a foreign key locks it) until the transaction ends;
--   * a job's batch_id never changes, and a batch's id never changes;
--   * a batch that has jobs cannot be deleted or truncated; deletes are
--     refused under repeatable read, where a job committed meanwhile
--     would go unseen (a foreign key would fail there too, with a
--     serialization error).
-- Errors carry SQLSTATE 23503 and the constraint name jobs_batch_id_fkey,
-- as the foreign key's did.

-- New jobs: their batches exist, and stay until this transaction ends.
create function payq_jobs_check_batches() returns trigger
language plpgsql as $$
declare
    lowest bigint;
    highest bigint;
    wanted bigint[];
    found_count bigint;
begin
    -- One pass; an import's jobs all name the one batch.
    select min(batch_id), max(batch_id) into lowest, highest from new_jobs;
    if lowest = highest then
        wanted := array[lowest];
    else
        wanted := array(select distinct batch_id from new_jobs);
    end if;
    select count(*) into found_count
    from (select 1 from batches b where b.id = any (wanted)
          for key share of b) as locked;
    if found_count < cardinality(wanted) then
        raise exception 'a new job names a batch that does not exist'
            using errcode = 'foreign_key_violation',
                  constraint = 'jobs_batch_id_fkey', table = 'jobs';
    end if;
    return null;
end;
$$;

comment on function payq_jobs_check_batches() is
    'Trigger function: every new payment belongs to an existing batch.';

-- Check and lock the batches of every statement's new jobs.
create trigger jobs_batch_id_fkey_insert
    after insert on jobs
    referencing new table as new_jobs
    for each statement execute function payq_jobs_check_batches();

-- Refuses the change: a job's batch, or a batch's id, is fixed.
create function payq_refuse_batch_change() returns trigger
language plpgsql as $$
begin
    raise exception '%', tg_argv[0]
        using errcode = 'foreign_key_violation',
              constraint = 'jobs_batch_id_fkey', table = tg_table_name;
end;
$$;

comment on function payq_refuse_batch_change() is
    'Trigger function: refuses to move a payment to another batch, or to '
    'renumber a batch.';

-- A job never moves to another batch.
create trigger jobs_batch_id_fkey_update
    after update on jobs
    for each row when (old.batch_id is distinct from new.batch_id)
    execute function payq_refuse_batch_change('a job''s batch never changes');

-- A batch is never renumbered.
create trigger batches_id_fixed
    after update on batches
    for each row when (old.id is distinct from new.id)
    execute function payq_refuse_batch_change('a batch''s id never changes');

-- A batch with jobs is never deleted or truncated. Under repeatable read
-- a job committed after the deleting transaction began would be missed,
-- so deletes must run at read committed or serializable (where SSI sees
-- the conflict).
create function payq_batches_keep_jobs() returns trigger
language plpgsql as $$
begin
    if current_setting('transaction_isolation') = 'repeatable read' then
        raise exception 'batches are deleted at read committed or'
                        ' serializable isolation only'
            using errcode = 'foreign_key_violation',
                  constraint = 'jobs_batch_id_fkey', table = 'batches';
    end if;
    if (tg_op = 'DELETE' and exists (select 1 from jobs j
                                    where j.batch_id = old.id))
       or (tg_op = 'TRUNCATE' and exists (select 1 from jobs)) then
        raise exception 'a batch that has jobs cannot be removed'
            using errcode = 'foreign_key_violation',
                  constraint = 'jobs_batch_id_fkey', table = 'batches';
    end if;
    return old;
end;
$$;

comment on function payq_batches_keep_jobs() is
    'Trigger function: refuses to remove a batch that still has payments.';

-- Deleting a batch with jobs is refused.
create trigger batches_keep_jobs_delete
    before delete on batches
    for each row execute function payq_batches_keep_jobs();

-- Truncating batches while jobs exist is refused.
create trigger batches_keep_jobs_truncate
    before truncate on batches
    for each statement execute function payq_batches_keep_jobs();

-- ---------------------------------------------------------------------------
-- attempts
-- ---------------------------------------------------------------------------

-- One row per request transaction id sent to the provider.
create table attempts (
    id bigint generated always as identity
        constraint attempts_pkey primary key,
    job_id bigint not null
        constraint attempts_job_id_fkey references jobs (id),
    attempt_no integer not null
        constraint attempts_attempt_no_positive check (attempt_no > 0),
    request_txn_id text collate "C" not null
        constraint attempts_request_txn_id_format
        check (request_txn_id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    send_count integer not null default 0
        constraint attempts_send_count_nonnegative check (send_count >= 0),
    unsent_count integer not null default 0
        constraint attempts_unsent_count_nonnegative
        check (unsent_count >= 0),
    created_at timestamptz not null default now(),
    first_sent_at timestamptz,
    last_sent_at timestamptz,
    finished_at timestamptz,
    http_status integer
        constraint attempts_http_status_range
        check (http_status between 100 and 599),
    response_code text,
    response_message text,
    provider_txn_id text collate "C",
    outcome text not null default 'open'
        constraint attempts_outcome_valid
        check (outcome in ('open', 'pending', 'succeeded', 'failed',
                           'not_executed', 'unknown')),
    duration_ms integer
        constraint attempts_duration_ms_nonnegative
        check (duration_ms >= 0),
    response_body text
        constraint attempts_response_body_size
        check (octet_length(response_body) <= 4096),
    -- Attempt numbers are unique within a payment.
    constraint attempts_job_attempt_no_unique unique (job_id, attempt_no),
    -- A transaction id is never reused, so the provider cannot confuse two.
    constraint attempts_request_txn_id_unique unique (request_txn_id)
);

-- At most one attempt per payment that may have moved money.
create unique index attempts_one_live_per_job on attempts (job_id)
    where outcome in ('open', 'pending', 'unknown', 'succeeded');

-- Attempts of a payment are found through attempts_job_attempt_no_unique,
-- whose first column is job_id: no index of their own, one less to
-- maintain on every change of an attempt's outcome.

-- Open attempts that keep failing to leave payq, for payq status.
create index attempts_unsent_idx on attempts (job_id)
    where outcome = 'open' and unsent_count > 0;

-- Match provider transaction ids (callbacks, reconciliation).
create index attempts_provider_txn_id_idx on attempts (provider_txn_id);

comment on table attempts is
    'One transaction sent to the provider for a payment, under its own '
    'unique transaction id. Re-sending to ask for an outcome reuses the '
    'same id.';
comment on column attempts.id is
    'Attempt number (global).';
comment on column attempts.job_id is
    'The payment this attempt belongs to.';
comment on column attempts.attempt_no is
    'Attempt number within the payment: 1, 2, ...';
comment on column attempts.request_txn_id is
    'Our transaction id sent to the provider; never reused.';
comment on column attempts.send_count is
    'How many times this transaction id was sent, re-sends included.';
comment on column attempts.unsent_count is
    'How many tries in a row of this transaction id never reached the '
    'provider (no connection, or refused at the door); 0 once one '
    'reaches it.';
comment on column attempts.created_at is
    'When the attempt was created.';
comment on column attempts.first_sent_at is
    'When the transaction was first sent.';
comment on column attempts.last_sent_at is
    'When the transaction was last sent.';
comment on column attempts.finished_at is
    'When the attempt''s outcome became final.';
comment on column attempts.http_status is
    'HTTP status of the provider''s last answer.';
comment on column attempts.response_code is
    'Provider response code of the last answer (see response_codes).';
comment on column attempts.response_message is
    'Provider response message of the last answer.';
comment on column attempts.provider_txn_id is
    'The provider''s transaction id for this attempt.';
comment on column attempts.outcome is
    'open = sent, no definite answer yet; pending = accepted, awaiting '
    'final answer; succeeded = money moved; failed = money did not move; '
    'not_executed = refused for a system reason (for example login or our '
    'balance) so nothing moved; unknown = outcome unknown, must be '
    'reconciled.';
comment on column attempts.duration_ms is
    'How long the last request took, in milliseconds.';
comment on column attempts.response_body is
    'Copy of the provider''s last answer (at most 4096 bytes).';

-- ---------------------------------------------------------------------------
-- callbacks
-- ---------------------------------------------------------------------------

-- Every status callback received from the provider, kept verbatim.
create table callbacks (
    id bigint generated always as identity
        constraint callbacks_pkey primary key,
    received_at timestamptz not null default now(),
    source_addr inet,
    endpoint text not null
        constraint callbacks_endpoint_valid
        check (endpoint in ('pay', 'deposit')),
    body bytea not null
        constraint callbacks_body_size
        check (octet_length(body) <= 16384),
    request_txn_id text collate "C",
    provider_txn_id text collate "C",
    status_text text,
    response_code text,
    reference_no text,
    amount bigint,
    attempt_id bigint
        constraint callbacks_attempt_id_fkey references attempts (id),
    job_id bigint
        constraint callbacks_job_id_fkey references jobs (id),
    effect text not null
        constraint callbacks_effect_valid
        check (effect in ('applied', 'duplicate', 'unmatched', 'conflict',
                          'unknown_status', 'rejected')),
    note text
);

-- Callbacks of an attempt are found through their job (callbacks are
-- few per job), so attempt_id has no index: every index here costs each
-- callback on the receiver's hot path.
-- Callbacks of a payment.
create index callbacks_job_id_idx on callbacks (job_id);

-- Match callbacks by our transaction id.
create index callbacks_request_txn_id_idx on callbacks (request_txn_id);

-- Callbacks by time received. Rows arrive in time order, so a block
-- range index serves reports by day at a fraction of a b-tree's upkeep.
create index callbacks_received_at_idx on callbacks
    using brin (received_at);

comment on table callbacks is
    'Every status notification the provider sent us, exactly as received, '
    'and what we did with it.';
comment on column callbacks.id is
    'Callback number.';
comment on column callbacks.received_at is
    'When the callback arrived.';
comment on column callbacks.source_addr is
    'Network address the callback came from.';
comment on column callbacks.endpoint is
    'Which of our endpoints received it: pay (collections) or deposit '
    '(payouts).';
comment on column callbacks.body is
    'The callback exactly as received (at most 16384 bytes).';
comment on column callbacks.request_txn_id is
    'Our transaction id as stated in the callback.';
comment on column callbacks.provider_txn_id is
    'The provider''s transaction id as stated in the callback.';
comment on column callbacks.status_text is
    'Status as stated in the callback.';
comment on column callbacks.response_code is
    'Response code as stated in the callback.';
comment on column callbacks.reference_no is
    'Reference number as stated in the callback.';
comment on column callbacks.amount is
    'Amount as stated in the callback, in whole RWF (not verified).';
comment on column callbacks.attempt_id is
    'The attempt the callback was matched to, if any.';
comment on column callbacks.job_id is
    'The payment the callback was matched to, if any.';
comment on column callbacks.effect is
    'applied = updated the payment; duplicate = repeat of one already '
    'applied; unmatched = no matching payment; conflict = contradicts a '
    'final outcome (payment flagged for review); unknown_status = status '
    'not understood; rejected = invalid callback.';
comment on column callbacks.note is
    'Explanation of the effect.';

-- ---------------------------------------------------------------------------
-- import_errors
-- ---------------------------------------------------------------------------

-- Rows rejected during import with --skip-invalid.
create table import_errors (
    id bigint generated always as identity
        constraint import_errors_pkey primary key,
    batch_id bigint not null
        constraint import_errors_batch_id_fkey references batches (id)
        on delete cascade,
    line_no integer not null
        constraint import_errors_line_no_positive check (line_no > 0),
    column_name text,
    raw_text text not null
        constraint import_errors_raw_text_size
        check (octet_length(raw_text) <= 65536),
    reason text not null,
    created_at timestamptz not null default now()
);

-- Rejected rows of a batch.
create index import_errors_batch_id_idx on import_errors (batch_id);

comment on table import_errors is
    'File rows that were rejected as invalid and skipped during import.';
comment on column import_errors.id is
    'Error number.';
comment on column import_errors.batch_id is
    'The imported file (batch) the row came from.';
comment on column import_errors.line_no is
    'Line number of the row in the file.';
comment on column import_errors.column_name is
    'Column with the problem, if a single column.';
comment on column import_errors.raw_text is
    'The rejected row as it appeared in the file.';
comment on column import_errors.reason is
    'Why the row was rejected.';
comment on column import_errors.created_at is
    'When the row was rejected.';

-- ---------------------------------------------------------------------------
-- response_codes
-- ---------------------------------------------------------------------------

-- The provider's documented response codes and how payq treats each.
create table response_codes (
    code text not null
        constraint response_codes_code_nonempty check (code <> ''),
    kind text not null
        constraint response_codes_kind_valid
        check (kind in ('pay', 'deposit')),
    description text not null,
    class text not null
        constraint response_codes_class_valid
        check (class in ('pending', 'succeeded', 'declined', 'ambiguous',
                         'duplicate', 'systemic')),
    constraint response_codes_pkey primary key (code, kind)
);

comment on table response_codes is
    'The provider''s documented response codes, per kind of payment, and '
    'what each means for the payment.';
comment on column response_codes.code is
    'Response code as sent by the provider.';
comment on column response_codes.kind is
    'pay = collections, deposit = payouts.';
comment on column response_codes.description is
    'The provider''s description of the code (provider spelling).';
comment on column response_codes.class is
    'pending = accepted, final answer to follow; succeeded = money moved; '
    'declined = refused, no money moved; ambiguous = outcome unclear, must '
    'be checked; duplicate = transaction id already used; systemic = our '
    'setup or balance problem, nothing moved, processing paused.';

-- Codes that mean the same for collections and payouts.
insert into response_codes (code, kind, description, class)
select c.code, k.kind, c.description, c.class
from (values
    ('1000', 'Pending', 'pending'),
    ('01', 'Successfull', 'succeeded'),
    ('0002', 'Missing Username Information', 'systemic'),
    ('0003', 'Missing Password Information', 'systemic'),
    ('0004', 'Missing Date Information', 'systemic'),
    ('0005', 'Invalid Password', 'systemic'),
    ('0006', 'User Does not have an intouchPay Account', 'systemic'),
    ('0007', 'No such user', 'systemic'),
    ('0008', 'Failed to Authenticate', 'systemic'),
    ('2100', 'Amount should be greater than 0', 'declined'),
    ('2200', 'Amount below minimum', 'declined'),
    ('2300', 'Amount above maximum', 'declined'),
    ('2400', 'Duplicate Transaction ID', 'duplicate'),
    ('2500', 'Route Not Found', 'declined'),
    ('2600', 'Operation Not Allowed', 'declined'),
    ('1002', 'Mobile number not registered on mobile money', 'declined'),
    ('1008', 'General Failure', 'ambiguous'),
    ('1200', 'Invalid Number', 'declined'),
    ('1100', 'Number not supported on this Mobile money network',
     'declined'),
    ('1300', 'Failed to Complete Transaction, Unknown Exception',
     'ambiguous')
) as c (code, description, class)
cross join (values ('pay'), ('deposit')) as k (kind);

-- Codes whose description or meaning differs by kind.
insert into response_codes (code, kind, description, class)
values
    ('2700', 'pay', 'Failed to Complete Transaction', 'ambiguous'),
    ('2700', 'deposit', 'Failed to Complete Deposit', 'ambiguous'),
    ('1005', 'pay', 'Failed Due to Insufficient Funds', 'declined'),
    ('1005', 'deposit', 'Failed Due to Insufficient Funds', 'systemic');

-- ---------------------------------------------------------------------------
-- operator_actions
-- ---------------------------------------------------------------------------

-- Audit log of every operator command.
create table operator_actions (
    id bigint generated always as identity
        constraint operator_actions_pkey primary key,
    at timestamptz not null default now(),
    actor text not null
        constraint operator_actions_actor_nonempty check (actor <> ''),
    action text not null
        constraint operator_actions_action_valid
        check (action in ('approve', 'pause', 'resume', 'cancel',
                          'cancel_job', 'retry', 'resolve_succeeded',
                          'resolve_failed')),
    batch_id bigint
        constraint operator_actions_batch_id_fkey references batches (id),
    job_id bigint
        constraint operator_actions_job_id_fkey references jobs (id),
    evidence text,
    detail jsonb,
    -- Every action names the batch or payment it acted on.
    constraint operator_actions_target_required
        check (batch_id is not null or job_id is not null),
    -- Batch commands name a batch.
    constraint operator_actions_batch_action_has_batch
        check (action not in ('approve', 'pause', 'resume', 'cancel')
               or batch_id is not null),
    -- Payment commands name a payment.
    constraint operator_actions_job_action_has_job
        check (action not in ('cancel_job', 'resolve_succeeded',
                              'resolve_failed')
               or job_id is not null)
);

-- Actions on a payment.
create index operator_actions_job_id_idx on operator_actions (job_id);

-- Actions on a batch.
create index operator_actions_batch_id_idx on operator_actions (batch_id);

comment on table operator_actions is
    'Audit log: every command an operator ran, who ran it and when.';
comment on column operator_actions.id is
    'Log entry number.';
comment on column operator_actions.at is
    'When the command was run.';
comment on column operator_actions.actor is
    'Who ran the command.';
comment on column operator_actions.action is
    'approve, pause, resume or cancel a batch; cancel_job = cancel one '
    'payment; retry = try again; resolve_succeeded / resolve_failed = a '
    'person settled an unknown payment as paid / not paid.';
comment on column operator_actions.batch_id is
    'The batch acted on, if any.';
comment on column operator_actions.job_id is
    'The payment acted on, if any.';
comment on column operator_actions.evidence is
    'Evidence given for the decision, for example a provider statement '
    'reference.';
comment on column operator_actions.detail is
    'Further details of the command.';

-- ---------------------------------------------------------------------------
-- workers
-- ---------------------------------------------------------------------------

-- Live `payq work` processes.
create table workers (
    id text
        constraint workers_pkey primary key,
    host text not null,
    pid integer not null
        constraint workers_pid_positive check (pid > 0),
    started_at timestamptz not null default now(),
    heartbeat_at timestamptz not null default now(),
    stopping boolean not null default false
);

comment on table workers is
    'Running payq worker processes that send payments.';
comment on column workers.id is
    'Worker name.';
comment on column workers.host is
    'Machine the worker runs on.';
comment on column workers.pid is
    'Process id of the worker on that machine.';
comment on column workers.started_at is
    'When the worker started.';
comment on column workers.heartbeat_at is
    'When the worker last reported it is alive.';
comment on column workers.stopping is
    'True when the worker has been asked to stop.';

-- ---------------------------------------------------------------------------
-- pool_pauses
-- ---------------------------------------------------------------------------

-- Why one worker process paused sending, for all payments or one kind.
-- Each process owns its rows; they go with its workers row.
create table pool_pauses (
    worker_id text not null
        constraint pool_pauses_worker_id_fkey references workers (id)
        on delete cascade,
    scope text not null
        constraint pool_pauses_scope_valid
        check (scope in ('all', 'pay', 'deposit')),
    reason text not null,
    code text,
    since timestamptz not null default now(),
    recheck_at timestamptz,
    -- A process pauses a scope once.
    constraint pool_pauses_pkey primary key (worker_id, scope)
);

comment on table pool_pauses is
    'A worker process has paused sending while a row exists here: for all '
    'payments, or only collections (pay) or payouts (deposit). Each '
    'process finds and lifts its own pauses; rows of a process that '
    'stopped go with it.';
comment on column pool_pauses.worker_id is
    'The worker process that paused (see workers).';
comment on column pool_pauses.scope is
    'What is paused: all, pay (collections) or deposit (payouts).';
comment on column pool_pauses.reason is
    'Why sending is paused.';
comment on column pool_pauses.code is
    'Provider response code that caused the pause, if any.';
comment on column pool_pauses.since is
    'When the pause began.';
comment on column pool_pauses.recheck_at is
    'When payq will next check whether sending can resume.';
