-- 0005: report_exceptions names the attempt that was answered 2400.
--
-- Its duplicate_id_first_send row took the payment's attempt whose code
-- is 2400, ordering by (response_code = '2400') descending; for a later
-- attempt with no code yet (open, or closed as not executed after a
-- person resolved and retried the payment) that comparison is null, and
-- nulls come first in a descending order, so the row named the later
-- attempt and its time. "is true" makes the comparison false instead.
-- The view is restated whole, as 0003 made it, but for that line: a
-- view is replaced, never patched. Its comments and grants stay.

create or replace view report_exceptions as
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
        order by (a.response_code = '2400') is true desc, a.attempt_no desc
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
