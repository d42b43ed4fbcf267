-- 0003_reports.sql: reports for finance and operations, as views.
--
-- Finance and operations read payq with SQL (psql, a BI tool, a
-- spreadsheet) and with `payq report`, which prints these same views. A
-- view holds the one definition of each figure, so every reader gets the
-- same answer. The views read the tables as they stand; none writes.
--
-- Conventions shared by every view:
--   * Money is bigint whole Rwandan francs (RWF has no minor unit); sums
--     are cast back to bigint, and no floating point is used. Money
--     columns are named amount or *_amount (payq report puts thousands
--     separators on exactly those in its table output).
--   * Counts are named *_count or job_count.
--   * Days are calendar days in Africa/Kigali time (UTC+2, no daylight
--     saving), whatever the server's or the session's time zone.
--   * An "executed" attempt is one whose outcome shows that money moved
--     (succeeded) or may have moved (open: sent without a definite answer
--     yet, pending: accepted, unknown: to be reconciled). Only failed and
--     not_executed attempts are known to have moved nothing. These are
--     the outcomes of the unique index attempts_one_live_per_job, which
--     keeps a payment from being paid twice; report_control_totals counts
--     the payments that break it, which must always be zero.
--
-- Also creates the read-only role payq_report, when the user running the
-- migration may create roles (see the end of the file).

-- ---------------------------------------------------------------------------
-- report_batches
-- ---------------------------------------------------------------------------

-- One row per batch: what was imported, where each payment stands, and
-- whether anything is still in progress.
create view report_batches as
with per_batch as (
    select j.batch_id,
           count(*) filter (where j.state = 'queued') as queued_count,
           coalesce(sum(j.amount) filter (where j.state = 'queued'), 0)
               as queued_amount,
           count(*) filter (where j.state = 'running') as running_count,
           coalesce(sum(j.amount) filter (where j.state = 'running'), 0)
               as running_amount,
           count(*) filter (where j.state = 'pending') as pending_count,
           coalesce(sum(j.amount) filter (where j.state = 'pending'), 0)
               as pending_amount,
           count(*) filter (where j.state = 'succeeded') as succeeded_count,
           coalesce(sum(j.amount) filter (where j.state = 'succeeded'), 0)
               as succeeded_amount,
           count(*) filter (where j.state = 'failed') as failed_count,
           coalesce(sum(j.amount) filter (where j.state = 'failed'), 0)
               as failed_amount,
           count(*) filter (where j.state = 'unknown') as unknown_count,
           coalesce(sum(j.amount) filter (where j.state = 'unknown'), 0)
               as unknown_amount,
           count(*) filter (where j.state = 'cancelled') as cancelled_count,
           coalesce(sum(j.amount) filter (where j.state = 'cancelled'), 0)
               as cancelled_amount,
           sum(j.withdraw_charge) as charge_amount,
           coalesce(sum(j.withdraw_charge)
                    filter (where j.state = 'succeeded'), 0)
               as succeeded_charge_amount,
           max(j.finished_at) as last_finished_at
    from jobs j
    group by j.batch_id
),
sends as (
    select j.batch_id, min(a.first_sent_at) as first_sent_at,
           max(greatest(a.last_sent_at, a.finished_at)) as last_sent_at
    from attempts a
    join jobs j on j.id = a.job_id
    group by j.batch_id
),
heard as (
    select j.batch_id, max(c.received_at) as last_callback_at
    from callbacks c
    join jobs j on j.id = c.job_id
    group by j.batch_id
)
select b.id as batch_id,
       b.file_name,
       b.kind,
       b.created_at as imported_at,
       b.approved_at,
       b.approved_by,
       b.paused_at,
       b.cancelled_at,
       b.rows_total as rows_in_file,
       b.rows_duplicate,
       b.rows_rejected,
       b.rows_accepted::bigint as requested_count,
       b.amount_total as requested_amount,
       coalesce(p.queued_count, 0) as queued_count,
       coalesce(p.queued_amount, 0)::bigint as queued_amount,
       coalesce(p.running_count, 0) as running_count,
       coalesce(p.running_amount, 0)::bigint as running_amount,
       coalesce(p.pending_count, 0) as pending_count,
       coalesce(p.pending_amount, 0)::bigint as pending_amount,
       coalesce(p.succeeded_count, 0) as succeeded_count,
       coalesce(p.succeeded_amount, 0)::bigint as succeeded_amount,
       coalesce(p.failed_count, 0) as failed_count,
       coalesce(p.failed_amount, 0)::bigint as failed_amount,
       coalesce(p.unknown_count, 0) as unknown_count,
       coalesce(p.unknown_amount, 0)::bigint as unknown_amount,
       coalesce(p.cancelled_count, 0) as cancelled_count,
       coalesce(p.cancelled_amount, 0)::bigint as cancelled_amount,
       coalesce(p.charge_amount, 0)::bigint as charge_amount,
       coalesce(p.succeeded_charge_amount, 0)::bigint
           as succeeded_charge_amount,
       round(100.0 * p.succeeded_count
             / nullif(p.succeeded_count + p.failed_count, 0), 1)
           as success_rate_pct,
       s.first_sent_at as first_activity_at,
       greatest(s.last_sent_at, h.last_callback_at, p.last_finished_at)
           as last_activity_at,
       coalesce(p.queued_count + p.running_count + p.pending_count
                + p.unknown_count, 0) = 0 as closed
from batches b
left join per_batch p on p.batch_id = b.id
left join sends s on s.batch_id = b.id
left join heard h on h.batch_id = b.id;

comment on view report_batches is
    'One row per imported file (batch): rows and amount requested, how '
    'many payments and how much money are in each state, charges, success '
    'rate, first and last activity, and whether the batch is closed. '
    'Amounts in whole RWF.';
comment on column report_batches.batch_id is
    'Batch number.';
comment on column report_batches.file_name is
    'Name of the imported file.';
comment on column report_batches.kind is
    'pay = collections from parents, deposit = payouts to phones, mixed = '
    'both.';
comment on column report_batches.imported_at is
    'When the file was imported.';
comment on column report_batches.approved_at is
    'When the batch was approved; empty = held, waiting for payq approve.';
comment on column report_batches.approved_by is
    'Who approved the batch.';
comment on column report_batches.paused_at is
    'When the batch was paused; empty = not paused.';
comment on column report_batches.cancelled_at is
    'When the batch was cancelled; empty = not cancelled.';
comment on column report_batches.rows_in_file is
    'Payment rows read from the file.';
comment on column report_batches.rows_duplicate is
    'Rows skipped because their reference was imported before.';
comment on column report_batches.rows_rejected is
    'Rows skipped as invalid (see import_errors).';
comment on column report_batches.requested_count is
    'Payments created from the file (rows accepted at import).';
comment on column report_batches.requested_amount is
    'Total of the payments created from the file, as recorded at import, '
    'in RWF.';
comment on column report_batches.queued_count is
    'Payments waiting to be sent (or to be asked again).';
comment on column report_batches.queued_amount is
    'Amount of the queued payments, RWF.';
comment on column report_batches.running_count is
    'Payments being sent right now.';
comment on column report_batches.running_amount is
    'Amount of the payments being sent, RWF.';
comment on column report_batches.pending_count is
    'Payments accepted by the provider, waiting for the final answer.';
comment on column report_batches.pending_amount is
    'Amount of the pending payments, RWF.';
comment on column report_batches.succeeded_count is
    'Payments whose money moved.';
comment on column report_batches.succeeded_amount is
    'Amount of the succeeded payments, RWF.';
comment on column report_batches.failed_count is
    'Payments refused: no money moved.';
comment on column report_batches.failed_amount is
    'Amount of the failed payments, RWF.';
comment on column report_batches.unknown_count is
    'Payments whose outcome is not known and must be reconciled.';
comment on column report_batches.unknown_amount is
    'Amount of the unknown payments, RWF.';
comment on column report_batches.cancelled_count is
    'Payments cancelled before anything was sent.';
comment on column report_batches.cancelled_amount is
    'Amount of the cancelled payments, RWF.';
comment on column report_batches.charge_amount is
    'Withdrawal charges of all the batch''s payouts, RWF (0 for '
    'collections).';
comment on column report_batches.succeeded_charge_amount is
    'Withdrawal charges of the succeeded payouts, RWF.';
comment on column report_batches.success_rate_pct is
    'Percentage of the payments with a final provider answer (succeeded '
    'or failed) that succeeded, to one decimal; empty while none has one. '
    'Cancelled, unknown and unfinished payments are left out.';
comment on column report_batches.first_activity_at is
    'When the first request of the batch was sent to the provider.';
comment on column report_batches.last_activity_at is
    'Latest of: last request sent or answered, last callback received, '
    'last payment finished.';
comment on column report_batches.closed is
    'True when no payment of the batch is queued, running, pending or '
    'unknown: nothing more will happen to it by itself.';

-- ---------------------------------------------------------------------------
-- report_control_totals
-- ---------------------------------------------------------------------------

-- The control that must always hold, per batch and overall: what the
-- import recorded equals the sum over the states, in count and amount;
-- and no payment has two attempts that may have moved money. The import's
-- own record (batches.rows_accepted, amount_total) is the requested side,
-- so a payment lost, added or altered since the import breaks the tie.
create view report_control_totals as
with executed_twice as (
    select a.job_id
    from attempts a
    where a.outcome in ('open', 'pending', 'unknown', 'succeeded')
    group by a.job_id
    having count(*) > 1
),
per_batch as (
    select b.id as batch_id,
           b.rows_accepted::bigint as requested_count,
           b.amount_total as requested_amount,
           count(j.id) filter (where j.state = 'succeeded')
               as succeeded_count,
           count(j.id) filter (where j.state = 'failed') as failed_count,
           count(j.id) filter (where j.state = 'cancelled')
               as cancelled_count,
           count(j.id) filter (where j.state = 'unknown') as unknown_count,
           count(j.id) filter (where j.state = 'pending') as pending_count,
           count(j.id) filter (where j.state = 'running') as running_count,
           count(j.id) filter (where j.state = 'queued') as queued_count,
           coalesce(sum(j.amount) filter (where j.state = 'succeeded'), 0)
               as succeeded_amount,
           coalesce(sum(j.amount) filter (where j.state = 'failed'), 0)
               as failed_amount,
           coalesce(sum(j.amount) filter (where j.state = 'cancelled'), 0)
               as cancelled_amount,
           coalesce(sum(j.amount) filter (where j.state = 'unknown'), 0)
               as unknown_amount,
           coalesce(sum(j.amount) filter (where j.state = 'pending'), 0)
               as pending_amount,
           coalesce(sum(j.amount) filter (where j.state = 'running'), 0)
               as running_amount,
           coalesce(sum(j.amount) filter (where j.state = 'queued'), 0)
               as queued_amount,
           count(j.id) as accounted_count,
           coalesce(sum(j.amount), 0) as accounted_amount,
           count(x.job_id) as jobs_executed_more_than_once
    from batches b
    left join jobs j on j.batch_id = b.id
    left join executed_twice x on x.job_id = j.id
    group by b.id
),
levels as (
    select 'batch' as level, p.*
    from per_batch p
    union all
    select 'total', null,
           sum(requested_count), sum(requested_amount),
           sum(succeeded_count), sum(failed_count), sum(cancelled_count),
           sum(unknown_count), sum(pending_count), sum(running_count),
           sum(queued_count),
           sum(succeeded_amount), sum(failed_amount), sum(cancelled_amount),
           sum(unknown_amount), sum(pending_amount), sum(running_amount),
           sum(queued_amount),
           sum(accounted_count), sum(accounted_amount),
           sum(jobs_executed_more_than_once)
    from per_batch
)
select l.level,
       l.batch_id,
       coalesce(l.requested_count, 0)::bigint as requested_count,
       coalesce(l.succeeded_count, 0)::bigint as succeeded_count,
       coalesce(l.failed_count, 0)::bigint as failed_count,
       coalesce(l.cancelled_count, 0)::bigint as cancelled_count,
       coalesce(l.unknown_count, 0)::bigint as unknown_count,
       coalesce(l.pending_count, 0)::bigint as pending_count,
       coalesce(l.running_count, 0)::bigint as running_count,
       coalesce(l.queued_count, 0)::bigint as queued_count,
       coalesce(l.accounted_count, 0)::bigint as accounted_count,
       (coalesce(l.requested_count, 0) - coalesce(l.accounted_count, 0))
           ::bigint as difference_count,
       coalesce(l.requested_amount, 0)::bigint as requested_amount,
       coalesce(l.succeeded_amount, 0)::bigint as succeeded_amount,
       coalesce(l.failed_amount, 0)::bigint as failed_amount,
       coalesce(l.cancelled_amount, 0)::bigint as cancelled_amount,
       coalesce(l.unknown_amount, 0)::bigint as unknown_amount,
       coalesce(l.pending_amount, 0)::bigint as pending_amount,
       coalesce(l.running_amount, 0)::bigint as running_amount,
       coalesce(l.queued_amount, 0)::bigint as queued_amount,
       coalesce(l.accounted_amount, 0)::bigint as accounted_amount,
       (coalesce(l.requested_amount, 0) - coalesce(l.accounted_amount, 0))
           ::bigint as difference_amount,
       coalesce(l.requested_count, 0) = coalesce(l.accounted_count, 0)
           and coalesce(l.requested_amount, 0)
               = coalesce(l.accounted_amount, 0) as ties,
       coalesce(l.jobs_executed_more_than_once, 0)::bigint
           as jobs_executed_more_than_once
from levels l;

comment on view report_control_totals is
    'The control totals, per batch (level batch) and over all batches '
    '(level total, batch_id empty). Must always hold: requested = '
    'succeeded + failed + cancelled + unknown + pending + running + '
    'queued, in count and in amount (RWF), so ties is true; and '
    'jobs_executed_more_than_once is 0. Any other result means a payment '
    'was lost, added or changed outside payq, or risked being paid twice: '
    'stop and investigate.';
comment on column report_control_totals.level is
    'batch = one batch; total = all batches together.';
comment on column report_control_totals.batch_id is
    'Batch number; empty on the total row.';
comment on column report_control_totals.requested_count is
    'Payments the import recorded creating (rows accepted).';
comment on column report_control_totals.succeeded_count is
    'Payments whose money moved.';
comment on column report_control_totals.failed_count is
    'Payments refused: no money moved.';
comment on column report_control_totals.cancelled_count is
    'Payments cancelled before anything was sent.';
comment on column report_control_totals.unknown_count is
    'Payments whose outcome must be reconciled.';
comment on column report_control_totals.pending_count is
    'Payments accepted by the provider, waiting for the final answer.';
comment on column report_control_totals.running_count is
    'Payments being sent right now.';
comment on column report_control_totals.queued_count is
    'Payments waiting to be sent.';
comment on column report_control_totals.accounted_count is
    'Sum of the seven state counts: the payments that exist now.';
comment on column report_control_totals.difference_count is
    'requested_count minus accounted_count; must be 0.';
comment on column report_control_totals.requested_amount is
    'Total amount the import recorded, RWF.';
comment on column report_control_totals.succeeded_amount is
    'Amount of the succeeded payments, RWF.';
comment on column report_control_totals.failed_amount is
    'Amount of the failed payments, RWF.';
comment on column report_control_totals.cancelled_amount is
    'Amount of the cancelled payments, RWF.';
comment on column report_control_totals.unknown_amount is
    'Amount of the unknown payments, RWF.';
comment on column report_control_totals.pending_amount is
    'Amount of the pending payments, RWF.';
comment on column report_control_totals.running_amount is
    'Amount of the payments being sent, RWF.';
comment on column report_control_totals.queued_amount is
    'Amount of the queued payments, RWF.';
comment on column report_control_totals.accounted_amount is
    'Sum of the seven state amounts, RWF.';
comment on column report_control_totals.difference_amount is
    'requested_amount minus accounted_amount, RWF; must be 0.';
comment on column report_control_totals.ties is
    'True when requested equals the sum over the states in both count and '
    'amount. Must always be true.';
comment on column report_control_totals.jobs_executed_more_than_once is
    'Payments with more than one executed attempt; must be 0. An attempt '
    'counts as executed when money moved (succeeded) or may have moved: '
    'open (sent, no definite answer yet), pending (accepted) or unknown. '
    'Only failed and not-executed attempts are known to have moved '
    'nothing.';

-- ---------------------------------------------------------------------------
-- report_daily
-- ---------------------------------------------------------------------------

-- Payments per Kigali day, kind and state. A payment counts on the day it
-- reached its final state (succeeded, failed, cancelled), or, while it
-- has none, on the day it was imported.
create view report_daily as
select (coalesce(j.finished_at, j.created_at) at time zone 'Africa/Kigali')
           ::date as day,
       j.kind,
       j.state,
       count(*) as job_count,
       sum(j.amount)::bigint as amount,
       sum(j.withdraw_charge)::bigint as charge_amount
from jobs j
group by 1, 2, 3;

comment on view report_daily is
    'Payments per day (Africa/Kigali time), kind and state, with count and '
    'amount in RWF. A finished payment (succeeded, failed, cancelled) '
    'counts on the day it finished; one still in progress or unknown '
    'counts on the day it was imported.';
comment on column report_daily.day is
    'Calendar day in Kigali: the day the payment finished, or for one not '
    'finished the day it was imported.';
comment on column report_daily.kind is
    'pay = collection from a parent, deposit = payout to a phone.';
comment on column report_daily.state is
    'State of the payments now (see jobs.state).';
comment on column report_daily.job_count is
    'Number of payments.';
comment on column report_daily.amount is
    'Total amount of those payments, RWF.';
comment on column report_daily.charge_amount is
    'Total withdrawal charges of those payments, RWF (payouts only).';

-- ---------------------------------------------------------------------------
-- report_by_school
-- ---------------------------------------------------------------------------

-- Totals by the school and term columns of the imported files. The
-- importer keeps every extra column in jobs.metadata under its header
-- name as written, so the keys are matched in any case ("School",
-- "TERM"). Payments from files with neither column are left out.
create view report_by_school as
select m.school,
       m.term,
       j.kind,
       count(*) as job_count,
       sum(j.amount)::bigint as amount,
       count(*) filter (where j.state = 'succeeded') as succeeded_count,
       coalesce(sum(j.amount) filter (where j.state = 'succeeded'), 0)
           ::bigint as succeeded_amount,
       count(*) filter (where j.state = 'failed') as failed_count,
       coalesce(sum(j.amount) filter (where j.state = 'failed'), 0)
           ::bigint as failed_amount,
       count(*) filter (where j.state = 'cancelled') as cancelled_count,
       coalesce(sum(j.amount) filter (where j.state = 'cancelled'), 0)
           ::bigint as cancelled_amount,
       count(*) filter (where j.state = 'unknown') as unknown_count,
       coalesce(sum(j.amount) filter (where j.state = 'unknown'), 0)
           ::bigint as unknown_amount,
       count(*) filter (where j.state in ('queued', 'running', 'pending'))
           as in_progress_count,
       coalesce(sum(j.amount)
                filter (where j.state in ('queued', 'running', 'pending')),
                0)::bigint as in_progress_amount
from jobs j
cross join lateral (
    select max(e.value) filter (where lower(e.key) = 'school') as school,
           max(e.value) filter (where lower(e.key) = 'term') as term
    from jsonb_each_text(j.metadata) e
) m
where m.school is not null or m.term is not null
group by m.school, m.term, j.kind;

comment on view report_by_school is
    'Payments by school and term, from the school and term columns of the '
    'imported files (payments from files without them are not listed): '
    'count and amount in RWF, in total and by outcome.';
comment on column report_by_school.school is
    'School, as written in the file''s school column; empty when the file '
    'had a term column but no school.';
comment on column report_by_school.term is
    'Term, as written in the file''s term column; empty when the file had '
    'a school column but no term.';
comment on column report_by_school.kind is
    'pay = collections from parents, deposit = payouts to phones.';
comment on column report_by_school.job_count is
    'Number of payments.';
comment on column report_by_school.amount is
    'Total amount requested, RWF.';
comment on column report_by_school.succeeded_count is
    'Payments whose money moved.';
comment on column report_by_school.succeeded_amount is
    'Amount that moved, RWF.';
comment on column report_by_school.failed_count is
    'Payments refused: no money moved.';
comment on column report_by_school.failed_amount is
    'Amount refused, RWF.';
comment on column report_by_school.cancelled_count is
    'Payments cancelled before anything was sent.';
comment on column report_by_school.cancelled_amount is
    'Amount cancelled, RWF.';
comment on column report_by_school.unknown_count is
    'Payments whose outcome must be reconciled.';
comment on column report_by_school.unknown_amount is
    'Amount whose outcome must be reconciled, RWF.';
comment on column report_by_school.in_progress_count is
    'Payments queued, being sent or waiting for the provider''s final '
    'answer.';
comment on column report_by_school.in_progress_amount is
    'Amount still in progress, RWF.';

-- ---------------------------------------------------------------------------
-- report_failures
-- ---------------------------------------------------------------------------

-- Failed payments per kind and last response code, with the code's
-- documented description and class and the first three references.
create view report_failures as
select f.kind,
       f.response_code,
       coalesce(rc.description, 'not a documented code') as description,
       rc.class,
       f.job_count,
       f.amount,
       (select string_agg(e.reference, ', ' order by e.id)
        from (select x.id, x.reference
              from jobs x
              where x.state = 'failed' and x.kind = f.kind
                and x.last_code is not distinct from f.response_code
              order by x.id
              limit 3) e) as example_references
from (select j.kind, j.last_code as response_code, count(*) as job_count,
             sum(j.amount)::bigint as amount
      from jobs j
      where j.state = 'failed'
      group by j.kind, j.last_code) f
left join response_codes rc
    on rc.code = f.response_code and rc.kind = f.kind;

comment on view report_failures is
    'Failed payments (no money moved) per kind and response code: the '
    'provider''s description and payq''s class of the code, how many '
    'payments and how much money, and up to three example references.';
comment on column report_failures.kind is
    'pay = collections from parents, deposit = payouts to phones.';
comment on column report_failures.response_code is
    'The provider''s response code that failed the payment; empty when '
    'none was recorded.';
comment on column report_failures.description is
    'The provider''s description of the code (provider spelling), or "not '
    'a documented code".';
comment on column report_failures.class is
    'How payq treats the code: declined = refused; ambiguous = outcome was '
    'unclear (a person then settled it as failed); empty = undocumented.';
comment on column report_failures.job_count is
    'Number of failed payments with this code.';
comment on column report_failures.amount is
    'Their total amount, RWF.';
comment on column report_failures.example_references is
    'Up to three of their references, the earliest imported first.';

-- ---------------------------------------------------------------------------
-- report_exceptions
-- ---------------------------------------------------------------------------

-- Everything a person must look at, one row per item and category. The
-- unknown jobs' age runs from the last send of their transaction: that is
-- how long the money has been in doubt.
--
-- The 2400-to-a-first-send case is recognised by the review reason that
-- queue/claim.c writes (QUEUE_RESULT_COLLISION): the attempt itself keeps
-- code 2400 only until a callback or a resolution overwrites it.
create view report_exceptions as
with items as (
    -- Unknown payments, by how long they have been in doubt.
    select case
               when now() - coalesce(la.sent_at, j.updated_at)
                    < interval '1 hour' then 'unknown_under_1h'
               when now() - coalesce(la.sent_at, j.updated_at)
                    < interval '24 hours' then 'unknown_1h_to_24h'
               else 'unknown_over_24h'
           end as category,
           coalesce(la.sent_at, j.updated_at) as since,
           j.id as job_id, la.request_txn_id, null::bigint as callback_id,
           j.last_code as response_code, j.last_message as detail,
           null::text as actor, null::text as evidence
    from jobs j
    left join lateral (
        select a.request_txn_id,
               coalesce(a.last_sent_at, a.created_at) as sent_at
        from attempts a where a.job_id = j.id
        order by a.attempt_no desc limit 1) la on true
    where j.state = 'unknown'
    union all
    -- Pending payments whose callback is overdue.
    select 'pending_past_deadline', j.callback_deadline, j.id,
           la.request_txn_id, null, j.last_code,
           'no final answer from the provider by the deadline', null, null
    from jobs j
    left join lateral (
        select a.request_txn_id from attempts a where a.job_id = j.id
        order by a.attempt_no desc limit 1) la on true
    where j.state = 'pending' and j.callback_deadline < now()
    union all
    -- Callbacks that were not simply applied or repeated.
    select 'callback_' || c.effect, c.received_at, c.job_id,
           c.request_txn_id, c.id, c.response_code,
           concat_ws(': ', c.status_text, c.note), null, null
    from callbacks c
    where c.effect in ('conflict', 'unmatched', 'unknown_status',
                       'rejected')
    union all
    -- 2400 to a first send: someone else had used our transaction id.
    select 'duplicate_id_first_send', coalesce(la.sent_at, j.updated_at),
           j.id, la.request_txn_id, null, '2400', j.review_reason, null,
           null
    from jobs j
    left join lateral (
        select a.request_txn_id, coalesce(a.first_sent_at, a.created_at)
                   as sent_at
        from attempts a where a.job_id = j.id
        order by (a.response_code = '2400') desc, a.attempt_no desc
        limit 1) la on true
    where j.review_reason like 'the provider answered 2400 %'
    union all
    -- Payments flagged for review, whatever the reason.
    select 'needs_review', j.updated_at, j.id, la.request_txn_id, null,
           j.last_code, j.review_reason, null, null
    from jobs j
    left join lateral (
        select a.request_txn_id from attempts a where a.job_id = j.id
        order by a.attempt_no desc limit 1) la on true
    where j.needs_review
    union all
    -- Outcomes settled by a person, with the evidence they gave.
    select 'manual_resolution', o.at, o.job_id,
           o.detail ->> 'request_txn_id', null, null,
           case o.action
               when 'resolve_succeeded' then 'resolved as succeeded'
               else 'resolved as failed' end,
           o.actor, o.evidence
    from operator_actions o
    where o.action in ('resolve_succeeded', 'resolve_failed')
)
select i.category,
       i.since,
       date_trunc('second', now() - i.since) as age,
       j.batch_id,
       i.job_id,
       j.reference,
       j.kind,
       j.amount,
       j.state as job_state,
       i.request_txn_id,
       i.callback_id,
       i.response_code,
       i.detail,
       i.actor,
       i.evidence
from items i
left join jobs j on j.id = i.job_id;

comment on view report_exceptions is
    'Everything a person must look at, one row per item: unknown payments '
    'by age (under 1 h, 1 to 24 h, over 24 h since last sent), pending '
    'payments past their callback deadline, callbacks that conflicted, '
    'matched no payment, had a status payq does not know or were '
    'rejected, 2400 (duplicate id) answers to a first send, payments '
    'flagged for review, and outcomes settled by hand with their '
    'evidence. A payment can appear under several categories.';
comment on column report_exceptions.category is
    'unknown_under_1h, unknown_1h_to_24h, unknown_over_24h = outcome '
    'unknown, by time since last sent; pending_past_deadline = accepted '
    'but no final answer in time; callback_conflict = a callback '
    'contradicted the recorded outcome or amount; callback_unmatched = a '
    'callback named no transaction of ours; callback_unknown_status = a '
    'callback status payq does not understand; callback_rejected = an '
    'invalid callback; duplicate_id_first_send = the provider answered '
    '2400 Duplicate Transaction ID to the first send of an id; '
    'needs_review = payment flagged for a person; manual_resolution = an '
    'operator settled an unknown payment (payq resolve).';
comment on column report_exceptions.since is
    'When the item arose: the last send of the transaction (unknown), its '
    'first send (duplicate id), the callback deadline (pending), the '
    'callback''s arrival, the last change of the payment (review), or the '
    'resolution.';
comment on column report_exceptions.age is
    'Time from since to now, to the second.';
comment on column report_exceptions.batch_id is
    'Batch of the payment concerned; empty when none matched.';
comment on column report_exceptions.job_id is
    'Payment number concerned; empty for an unmatched callback.';
comment on column report_exceptions.reference is
    'Payment reference from the file.';
comment on column report_exceptions.kind is
    'pay = collection, deposit = payout.';
comment on column report_exceptions.amount is
    'Amount of the payment, RWF.';
comment on column report_exceptions.job_state is
    'State of the payment now.';
comment on column report_exceptions.request_txn_id is
    'Our transaction id concerned (the callback''s, the resolved '
    'attempt''s, or the payment''s latest).';
comment on column report_exceptions.callback_id is
    'Callback number, for callback categories.';
comment on column report_exceptions.response_code is
    'Provider response code concerned, if any.';
comment on column report_exceptions.detail is
    'What happened, in words.';
comment on column report_exceptions.actor is
    'Who settled the payment (manual_resolution).';
comment on column report_exceptions.evidence is
    'Evidence the operator gave (manual_resolution).';

-- ---------------------------------------------------------------------------
-- report_job_history
-- ---------------------------------------------------------------------------

-- Every event of every payment, one row each, for `payq show`: the
-- import, each attempt, each callback matched to it, each operator action
-- on it or on its whole batch. A plain UNION ALL view, so a filter on
-- job_id or reference reaches each branch's index.
create view report_job_history as
select j.id as job_id, j.reference, j.batch_id, j.kind, j.state as job_state,
       j.created_at as at, 'import'::text as event, j.id as event_id,
       null::integer as attempt_no, null::text as request_txn_id,
       null::integer as send_count, null::text as response_code,
       'imported'::text as result, null::integer as duration_ms,
       j.amount,
       null::text as actor, null::text as evidence,
       format('%s %s, file %s (batch %s)',
              case j.kind when 'pay' then 'collection from'
                   else 'payout to' end,
              left('0' || substr(j.phone, 4), 4) || '****'
                  || right(j.phone, 2),
              b.file_name, j.batch_id) as detail
from jobs j
join batches b on b.id = j.batch_id
union all
select j.id, j.reference, j.batch_id, j.kind, j.state,
       o.at, 'batch_action', o.id, null, null, null, null, o.action, null,
       null, o.actor, o.evidence, o.detail::text
from jobs j
join operator_actions o on o.batch_id = j.batch_id and o.job_id is null
union all
select j.id, j.reference, j.batch_id, j.kind, j.state,
       coalesce(a.first_sent_at, a.created_at), 'attempt', a.id,
       a.attempt_no, a.request_txn_id, a.send_count, a.response_code,
       a.outcome, a.duration_ms, null, null, null, a.response_message
from jobs j
join attempts a on a.job_id = j.id
union all
select j.id, j.reference, j.batch_id, j.kind, j.state,
       c.received_at, 'callback', c.id, a.attempt_no, c.request_txn_id,
       null, c.response_code, c.effect, null, c.amount, null, null,
       concat_ws(': ', c.status_text, c.note)
from jobs j
join callbacks c on c.job_id = j.id
left join attempts a on a.id = c.attempt_id
union all
select j.id, j.reference, j.batch_id, j.kind, j.state,
       o.at, 'job_action', o.id, null, null, null, null, o.action, null,
       null, o.actor, o.evidence, o.detail::text
from jobs j
join operator_actions o on o.job_id = j.id;

comment on view report_job_history is
    'The whole history of each payment, one row per event: its import, '
    'each attempt (transaction sent to the provider), each callback '
    'received for it, and each operator action on it or on its batch. '
    'Order by job_id, at. Phone numbers are shown masked.';
comment on column report_job_history.job_id is
    'Payment number.';
comment on column report_job_history.reference is
    'Payment reference from the file.';
comment on column report_job_history.batch_id is
    'Batch of the payment.';
comment on column report_job_history.kind is
    'pay = collection, deposit = payout.';
comment on column report_job_history.job_state is
    'State of the payment now (the same on every row of a payment).';
comment on column report_job_history.at is
    'When the event happened: import time, first send of the attempt, '
    'callback arrival, or operator action.';
comment on column report_job_history.event is
    'import; batch_action = an operator command on the whole batch '
    '(approve, pause, resume, cancel); attempt = a transaction sent to the '
    'provider; callback = the provider''s notice; job_action = an operator '
    'command on this payment (cancel_job, retry, resolve).';
comment on column report_job_history.event_id is
    'Number of the event''s own record: the payment (import), the attempt, '
    'the callback or the operator action.';
comment on column report_job_history.attempt_no is
    'Attempt number within the payment (attempts and their callbacks).';
comment on column report_job_history.request_txn_id is
    'Our transaction id sent to the provider (attempts, callbacks).';
comment on column report_job_history.send_count is
    'How many times the attempt''s transaction id was sent, re-sends to ask '
    'for the outcome included.';
comment on column report_job_history.response_code is
    'Provider response code of the attempt''s last answer, or of the '
    'callback.';
comment on column report_job_history.result is
    'import: imported; attempt: its outcome (open, pending, succeeded, '
    'failed, not_executed, unknown); callback: what it did (applied, '
    'duplicate, conflict, unknown_status, rejected); operator: the action.';
comment on column report_job_history.duration_ms is
    'How long the attempt''s last request took, in milliseconds.';
comment on column report_job_history.amount is
    'Import: the payment''s amount; callback: the amount it stated; RWF.';
comment on column report_job_history.actor is
    'Who ran the operator command.';
comment on column report_job_history.evidence is
    'Evidence the operator gave (resolutions).';
comment on column report_job_history.detail is
    'More about the event: the file and masked phone (import), the '
    'provider''s message (attempt), the status and what payq made of it '
    '(callback), the command''s details (operator).';

-- ---------------------------------------------------------------------------
-- payq_report role
-- ---------------------------------------------------------------------------

-- A read-only role for finance users and BI tools: SELECT on the report
-- views, and on schema_migrations so that `payq report` can check the
-- schema version, nothing else. Members are added with
-- `grant payq_report to alice`. Roles belong to the whole cluster, so
-- the role is made once and granted in each database; creating it needs
-- CREATEROLE, so a migrating user without it only gets a NOTICE, and a
-- DBA runs the statements of README.md ("Reports") instead. Two databases
-- migrated at once may both try to create the role: the loser of that
-- race finds it made and goes on.
do $$
declare
    v_may_create boolean;
begin
    select r.rolcreaterole or r.rolsuper into v_may_create
    from pg_roles r where r.rolname = current_user;

    if v_may_create
       and not exists (select 1 from pg_roles where rolname = 'payq_report')
    then
        begin
            create role payq_report nologin;
        exception when duplicate_object or unique_violation then
            null;
        end;
    end if;

    if not exists (select 1 from pg_roles where rolname = 'payq_report') then
        raise notice 'role payq_report not created: % may not create '
                     'roles; see "Reports" in README.md for the GRANT '
                     'statements a DBA can run', current_user;
        return;
    end if;

    grant select on report_batches, report_control_totals, report_daily,
                    report_by_school, report_failures, report_exceptions,
                    report_job_history, schema_migrations
        to payq_report;
    if exists (select 1 from pg_namespace n
               where n.nspname = current_schema()
                 and n.nspowner = (select oid from pg_roles
                                   where rolname = current_user)) then
        execute format('grant usage on schema %I to payq_report',
                       current_schema());
    end if;
end;
$$;
