-- 0002_callbacks.sql: storing and applying provider callbacks.
--
-- A callback (the provider's final word on one transaction id) is stored
-- and applied by payq_apply_callbacks(), in the caller's transaction, so
-- the row that records it and the change it makes commit together or not
-- at all. The callback receiver stores many at once, in one statement
-- and one transaction (callback/store.c).
--
-- Callbacks race the workers (queue/claim.c): one may arrive before the
-- worker has written the answer to its own request, twice, late, or for
-- an attempt already replaced. Both sides therefore follow one rule:
-- lock the job row, then the attempt row, re-read their states under the
-- lock, and change them only by a guarded UPDATE ... WHERE state IN
-- (...). Whoever comes second sees what the first did; no state moves
-- backwards, and a final state is never overwritten. What contradicts a
-- final state is stored and flagged for a person, never applied.
--
-- The verdict (success, failure, pending, unclear, or unreadable for a
-- body that could not be parsed) is computed by the C parser from the
-- status text; everything else is decided here, next to the data it
-- depends on.
--
-- The provider's own transaction id is recorded, not checked: the
-- reference's own example answers a request with transactionid 1425 and
-- calls back with 6004994884 for the same request, so a difference
-- proves nothing. Our id (in the URL, and in the body) and the amount
-- are what a callback is checked by.
--
-- No new index: attempts are matched through the unique index of
-- attempts_request_txn_id_unique, response codes through their primary
-- key.

-- ---------------------------------------------------------------------------
-- payq_callback_decide
-- ---------------------------------------------------------------------------

-- The decision table for a matched callback: pure, no table is read, so
-- every rule is in one place and the order of the checks is the order of
-- precedence. p_code_class is the response code's class for the job's
-- kind, or null when the code is not documented for it.
create function payq_callback_decide(
    p_verdict text, p_code text, p_code_class text, p_amount bigint,
    p_job_state text, p_job_amount bigint, p_job_last_code text,
    p_attempt_no integer, p_attempt_outcome text,
    p_live_attempt_no integer,
    out effect text, out action text, out note text)
language plpgsql stable as $$
declare
    -- Failure is believed only with a code that says money did not move.
    -- 2400 (class duplicate) is left out on purpose: it proves the id
    -- was registered before, not how that first request ended.
    v_verdict text := case
        when p_verdict = 'failure' and p_code_class is distinct from
             'declined' and p_code_class is distinct from 'ambiguous'
             and p_code_class is distinct from 'systemic'
        then 'undocumented'
        when p_verdict in ('success', 'failure', 'pending', 'unclear')
        then p_verdict
        else 'unclear' end;
    v_closed boolean := p_attempt_outcome in ('failed', 'not_executed');
begin
    action := 'none';
    if p_amount is not null and p_amount <> p_job_amount then
        effect := 'conflict';
        note := format('the callback''s amount %s differs from the '
                       'payment''s %s', p_amount, p_job_amount);
    elsif p_job_state = 'cancelled' then
        effect := 'conflict';
        note := format('a %s callback for a cancelled payment', p_verdict);
    elsif p_attempt_no <> p_live_attempt_no then
        -- A replaced attempt may only confirm that it moved nothing.
        if v_verdict = 'failure' and v_closed then
            effect := 'duplicate';
            note := format('attempt %s, replaced by attempt %s, failed '
                           'with code %s: agrees, nothing changed',
                           p_attempt_no, p_live_attempt_no, p_code);
        else
            effect := 'conflict';
            note := format('a %s callback for attempt %s, which was '
                           'closed as %s and replaced by attempt %s',
                           p_verdict, p_attempt_no, p_attempt_outcome,
                           p_live_attempt_no);
        end if;
    elsif v_verdict = 'success' then
        if p_job_state = 'succeeded' then
            effect := 'duplicate';
            note := 'the payment already succeeded';
        elsif p_job_state = 'failed' or v_closed then
            effect := 'conflict';
            note := format('success for a payment recorded as failed '
                           '(attempt %s: %s, code %s)', p_attempt_no,
                           p_attempt_outcome, p_job_last_code);
        else
            effect := 'applied';
            action := 'succeed';
            note := format('%s payment succeeded', p_job_state);
        end if;
    elsif v_verdict = 'failure' then
        if p_job_state = 'succeeded' then
            effect := 'conflict';
            note := format('failure (code %s) for a payment recorded as '
                           'succeeded', p_code);
        elsif p_job_state = 'failed' and
              p_job_last_code is not distinct from p_code then
            effect := 'duplicate';
            note := 'the payment already failed with this code';
        elsif p_job_state = 'failed' or v_closed then
            -- Any documented failure agrees that nothing moved.
            effect := 'duplicate';
            note := format('attempt %s was already closed as %s (code '
                           '%s); this callback says code %s: agrees',
                           p_attempt_no, p_attempt_outcome,
                           coalesce(p_job_last_code, 'none'), p_code);
        else
            effect := 'applied';
            action := 'fail';
            note := format('%s payment failed with code %s', p_job_state,
                           p_code);
        end if;
    elsif v_verdict = 'undocumented' and p_job_state = 'succeeded' then
        effect := 'conflict';
        note := format('failure (code %s, not a documented failure code) '
                       'for a payment recorded as succeeded', p_code);
    elsif v_verdict = 'undocumented' then
        effect := 'unknown_status';
        action := 'flag';
        note := format('failure with code %s, which is not a documented '
                       'failure code: the outcome is not known',
                       coalesce(p_code, 'none'));
    elsif v_verdict = 'pending' then
        effect := 'unknown_status';
        note := 'still pending: nothing changed';
    else
        effect := 'unknown_status';
        action := 'flag';
        note := format('status not understood (verdict %s): the outcome '
                       'is not known', coalesce(p_verdict, 'none'));
    end if;
    if effect = 'conflict' then
        action := 'flag';
    end if;
end;
$$;

comment on function payq_callback_decide(text, text, text, bigint, text,
                                         bigint, text, integer, text,
                                         integer) is
    'Decides what a provider callback does to its payment: applied '
    '(succeed or fail it), duplicate, conflict or unknown_status, whether '
    'the payment is flagged for review, and why. Reads no table.';

-- ---------------------------------------------------------------------------
-- payq_callback_screen
-- ---------------------------------------------------------------------------

-- The checks before a callback may touch a payment: pure, like the
-- decision table. Returns null when the callback passes and is decided by
-- payq_callback_decide(); else why it is kept but changes nothing, and
-- whether the payment it names is flagged. p_job_kind is the kind of the
-- job our id belongs to, or null when no attempt has that id.
create function payq_callback_screen(
    p_verdict text, p_endpoint text, p_txn_id text, p_body_txn_id text,
    p_job_kind text, out effect text, out action text, out note text)
language plpgsql immutable as $$
begin
    action := 'none';
    if p_verdict = 'unreadable' then
        -- Genuine (the URL proved it), yet unreadable: a person looks.
        effect := 'rejected';
        note := 'the body is neither a JSON object nor a form that can '
                'be read';
        if p_job_kind is not null then
            action := 'flag';
        end if;
    elsif p_txn_id is null or p_txn_id = '' then
        effect := 'rejected';
        note := 'no transaction id in the callback';
    elsif p_endpoint = 'pay' and p_body_txn_id is distinct from p_txn_id
    then
        effect := 'rejected';
        note := format('the body names transaction %s, the callback URL '
                       '%s', coalesce(p_body_txn_id, 'none'), p_txn_id);
    elsif p_job_kind is null then
        effect := 'unmatched';
        note := format('no attempt has transaction id %s', p_txn_id);
    elsif p_job_kind <> p_endpoint then
        effect := 'rejected';
        note := format('transaction %s is a %s, but the callback came to '
                       'the %s endpoint', p_txn_id, p_job_kind, p_endpoint);
    else
        action := null;
    end if;
end;
$$;

comment on function payq_callback_screen(text, text, text, text, text) is
    'Checks a provider callback before it may change a payment: refuses '
    'one that is unreadable, names no or another transaction, or came to '
    'the wrong endpoint, and marks one for an unknown transaction as '
    'unmatched. Reads no table.';

-- ---------------------------------------------------------------------------
-- payq_apply_callbacks
-- ---------------------------------------------------------------------------

-- Stores and applies many callbacks in the caller's transaction: element
-- i of every array is one callback. Exactly one callbacks row is inserted
-- per element whatever it says; only a row the table refuses (an
-- oversized body, say) raises an error, and then nothing of the call is
-- kept. Returns, per element, its callbacks.id and effect.
--
-- This is the receiver's hot path, so the work is set-based: each step
-- below is one statement over the whole batch, not one per callback,
-- which a database pays for in planning, executor start-up and the
-- checking of every constraint of every table touched. The steps, in one
-- statement:
--   1. match each callback to our attempt and its job, by our id;
--   2. lock those jobs and attempts, in job id order, job before attempt
--      (the workers' order), and read their states under the lock;
--   3. screen and decide each callback (the two pure functions above);
--   4. insert every callback, with its effect and note;
--   5. settle the jobs and attempts to succeed or fail, by guarded
--      UPDATE ... WHERE state IN (...), and flag those to review.
-- One statement sees one snapshot, so two callbacks of one job in one
-- batch would both decide on the same state: a job's callbacks are
-- therefore taken one per pass, in array order, each pass one statement
-- that sees what the one before it did. Usually there is one pass.
--
-- jobs.attempt_count is the number of the job's newest attempt (the claim
-- creates attempt N in the statement that sets the count to N): a
-- callback for a lower number is for a replaced attempt.
create function payq_apply_callbacks(
    p_endpoint text[], p_body bytea[], p_source text[], p_txn_id text[],
    p_body_txn_id text[], p_provider_txn_id text[], p_status text[],
    p_code text[], p_reference_no text[], p_amount bigint[],
    p_verdict text[])
returns table (item integer, callback_id bigint, effect text)
language plpgsql as $$
declare
    v_n integer := coalesce(cardinality(p_endpoint), 0);
    v_passes integer;
    v_pass integer := 1;
    v_items integer[] := '{}';
    v_ids bigint[] := '{}';
    v_effects text[] := '{}';
    v_pass_items integer[];
    v_pass_ids bigint[];
    v_pass_effects text[];
    v_to_settle integer;
    v_settled integer;
begin
    if coalesce(cardinality(p_body), 0) <> v_n
       or coalesce(cardinality(p_source), 0) <> v_n
       or coalesce(cardinality(p_txn_id), 0) <> v_n
       or coalesce(cardinality(p_body_txn_id), 0) <> v_n
       or coalesce(cardinality(p_provider_txn_id), 0) <> v_n
       or coalesce(cardinality(p_status), 0) <> v_n
       or coalesce(cardinality(p_code), 0) <> v_n
       or coalesce(cardinality(p_reference_no), 0) <> v_n
       or coalesce(cardinality(p_amount), 0) <> v_n
       or coalesce(cardinality(p_verdict), 0) <> v_n then
        raise exception 'payq_apply_callbacks: the arrays differ in length';
    end if;

    -- The most callbacks any one attempt has in this batch.
    select coalesce(max(c.n), 1) into v_passes
    from (select count(*) as n from unnest(p_txn_id) t(id)
          group by t.id) c;

    while v_pass <= v_passes loop
        with input as (
            select u.*
            from unnest(p_endpoint, p_body, p_source, p_txn_id,
                        p_body_txn_id, p_provider_txn_id, p_status,
                        p_code, p_reference_no, p_amount, p_verdict)
                 with ordinality as u(endpoint, body, source, txn_id,
                                      body_txn_id, provider_txn_id, status,
                                      code, reference_no, amount, verdict,
                                      ord)
        ),
        -- 1. Our attempt by our id; a job's callbacks one per pass.
        found as (
            select i.ord, a.id as attempt_id, a.job_id,
                   row_number() over (partition by a.job_id
                                      order by i.ord) as pass
            from input i join attempts a on a.request_txn_id = i.txn_id
        ),
        todo as (
            select i.*, f.attempt_id, f.job_id
            from input i left join found f on f.ord = i.ord
            where coalesce(f.pass, 1) = v_pass
        ),
        -- 2. Under lock, in job order: what the decision depends on.
        locked as (
            select t.ord, j.kind, j.state, j.amount as job_amount,
                   j.last_code, j.attempt_count, a.attempt_no, a.outcome
            from todo t
            join jobs j on j.id = t.job_id
            join attempts a on a.id = t.attempt_id
            order by j.id
            for no key update of j, a
        ),
        -- 3. What each callback does; its row id is taken now so that
        -- the flag can name it.
        decided as (
            select t.*, l.kind, rc.description,
                   coalesce(s.effect, d.effect) as effect,
                   coalesce(s.action, d.action) as action,
                   coalesce(s.note, d.note) as note,
                   nextval(pg_get_serial_sequence('callbacks', 'id'))
                       as callback_id
            from todo t
            left join locked l on l.ord = t.ord
            left join response_codes rc
                on rc.code = t.code and rc.kind = l.kind
            cross join lateral payq_callback_screen(
                t.verdict, t.endpoint, t.txn_id, t.body_txn_id, l.kind) s
            left join lateral payq_callback_decide(
                t.verdict, t.code, rc.class, t.amount, l.state,
                l.job_amount, l.last_code, l.attempt_no, l.outcome,
                l.attempt_count) d on s.action is null
        ),
        -- 4. Every callback, kept as received.
        stored as (
            insert into callbacks (id, source_addr, endpoint, body,
                                   request_txn_id, provider_txn_id,
                                   status_text, response_code,
                                   reference_no, amount, attempt_id,
                                   job_id, effect, note)
            overriding system value
            select d.callback_id, d.source::inet, d.endpoint, d.body,
                   d.txn_id, d.provider_txn_id, d.status, d.code,
                   d.reference_no, d.amount, d.attempt_id, d.job_id,
                   d.effect, d.note
            from decided d
            order by d.ord
        ),
        -- 5. Final states, guarded: only a job still in progress moves.
        -- The lease goes too, so a worker still running the job finds
        -- it no longer its own and changes nothing.
        settled_jobs as (
            update jobs j
            set state = case d.action when 'succeed' then 'succeeded'
                                      else 'failed' end,
                finished_at = now(), lease_owner = null,
                lease_expires_at = null, last_code = d.code,
                last_message = coalesce(d.description, d.status),
                provider_txn_id = coalesce(d.provider_txn_id,
                                           j.provider_txn_id),
                provider_reference = coalesce(d.reference_no,
                                              j.provider_reference)
            from decided d
            where d.action in ('succeed', 'fail') and j.id = d.job_id
              and j.state in ('running', 'pending', 'unknown', 'queued')
            returning j.id
        ),
        -- An attempt already final (an operator's resolution) stays.
        settled_attempts as (
            update attempts a
            set outcome = case d.action when 'succeed' then 'succeeded'
                                        else 'failed' end,
                finished_at = now(), response_code = d.code,
                response_message = coalesce(d.description, d.status),
                provider_txn_id = coalesce(d.provider_txn_id,
                                           a.provider_txn_id)
            from decided d
            where d.action in ('succeed', 'fail') and a.id = d.attempt_id
              and a.outcome in ('open', 'pending', 'unknown')
            returning a.id
        ),
        -- An earlier reason is kept and later ones appended while it is
        -- short, so a callback resent a thousand times cannot grow it
        -- without bound.
        flagged as (
            update jobs j
            set needs_review = true,
                review_reason = case
                    when not j.needs_review or j.review_reason is null
                    then format('callback %s: %s', d.callback_id, d.note)
                    when length(j.review_reason) < 1000
                    then j.review_reason || '; ' ||
                         format('callback %s: %s', d.callback_id, d.note)
                    else j.review_reason end
            from decided d
            where d.action = 'flag' and j.id = d.job_id
            returning j.id
        )
        select array_agg(d.ord::integer order by d.ord),
               array_agg(d.callback_id order by d.ord),
               array_agg(d.effect order by d.ord),
               count(*) filter (where d.action in ('succeed', 'fail')),
               (select count(*) from settled_jobs)
        into v_pass_items, v_pass_ids, v_pass_effects, v_to_settle,
             v_settled
        from decided d;

        -- The locks make the guard hold; a miss means they did not.
        if v_settled <> v_to_settle then
            raise exception 'payq_apply_callbacks: % of % payments changed '
                            'under their row locks',
                            v_to_settle - v_settled, v_to_settle;
        end if;
        v_items := v_items || coalesce(v_pass_items, '{}');
        v_ids := v_ids || coalesce(v_pass_ids, '{}');
        v_effects := v_effects || coalesce(v_pass_effects, '{}');
        v_pass := v_pass + 1;
    end loop;

    return query
    select r.item, r.callback_id, r.effect
    from unnest(v_items, v_ids, v_effects) r(item, callback_id, effect)
    order by r.item;
end;
$$;

comment on function payq_apply_callbacks(text[], bytea[], text[], text[],
                                         text[], text[], text[], text[],
                                         text[], bigint[], text[]) is
    'Stores provider callbacks exactly as received and applies each to '
    'the payment it names: settles a payment still in progress, ignores a '
    'repeat, and flags for review (never overwrites) a payment whose '
    'recorded outcome it contradicts. Returns, per callback, its number '
    '(callbacks.id) and what it did (callbacks.effect).';
