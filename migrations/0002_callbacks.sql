-- 0002_callbacks.sql: storing and applying provider callbacks.
--
-- A callback (the provider's final word on one transaction id) is stored
-- and applied by one call of payq_apply_callback(), in the caller's
-- transaction, so the row that records it and the change it makes commit
-- together or not at all. The callback receiver commits many of them in
-- one transaction (callback/store.c).
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
-- payq_callback_flag
-- ---------------------------------------------------------------------------

-- Flags a job for review. An earlier reason is kept, and later ones are
-- appended while it is short, so a callback resent a thousand times
-- cannot grow the reason without bound.
create function payq_callback_flag(p_job_id bigint, p_reason text)
returns void
language plpgsql as $$
begin
    update jobs j
    set needs_review = true,
        review_reason = case
            when not j.needs_review or j.review_reason is null
            then p_reason
            when length(j.review_reason) < 1000
            then j.review_reason || '; ' || p_reason
            else j.review_reason end
    where j.id = p_job_id;
end;
$$;

comment on function payq_callback_flag(bigint, text) is
    'Marks a payment as needing review by a person, adding the reason to '
    'any earlier one.';

-- ---------------------------------------------------------------------------
-- payq_callback_settle
-- ---------------------------------------------------------------------------

-- Moves a job and its attempt to a final state (p_state: succeeded or
-- failed). Guarded: only a job still running, pending, unknown or queued
-- changes, which the caller has checked under the row lock; a miss means
-- the lock did not hold and the whole transaction is refused.
create function payq_callback_settle(
    p_job_id bigint, p_attempt_id bigint, p_state text, p_code text,
    p_message text, p_provider_txn_id text, p_reference_no text)
returns void
language plpgsql as $$
begin
    -- The lease goes too: a worker still running the job must find it
    -- no longer its own and change nothing (queue_record: LOST).
    update jobs j
    set state = p_state, finished_at = now(), lease_owner = null,
        lease_expires_at = null, last_code = p_code,
        last_message = p_message,
        provider_txn_id = coalesce(p_provider_txn_id, j.provider_txn_id),
        provider_reference = coalesce(p_reference_no, j.provider_reference)
    where j.id = p_job_id
      and j.state in ('running', 'pending', 'unknown', 'queued');
    if not found then
        raise exception 'payq_callback_settle: job % changed under its '
                        'row lock', p_job_id;
    end if;

    -- An attempt already final (an operator's resolution) stays as is.
    update attempts a
    set outcome = p_state, finished_at = now(), response_code = p_code,
        response_message = p_message,
        provider_txn_id = coalesce(p_provider_txn_id, a.provider_txn_id)
    where a.id = p_attempt_id
      and a.outcome in ('open', 'pending', 'unknown');
end;
$$;

comment on function payq_callback_settle(bigint, bigint, text, text, text,
                                         text, text) is
    'Records a provider callback''s final outcome (succeeded or failed) '
    'on a payment that was still in progress, and on its attempt.';

-- ---------------------------------------------------------------------------
-- payq_apply_callback
-- ---------------------------------------------------------------------------

-- Stores one callback and applies it, in the caller's transaction.
-- Exactly one callbacks row is inserted whatever the outcome; only a row
-- the table refuses (an oversized body, say) raises an error.
--
-- This runs once per callback on the receiver's hot path, so it reads
-- only the columns it needs, each row once: the attempt by our id
-- (unlocked, to learn its job), then under lock the job and the attempt.
-- jobs.attempt_count is the number of the job's newest attempt (the claim
-- creates attempt N in the statement that sets the count to N), which
-- spares a scan of the job's attempts.
create function payq_apply_callback(
    p_endpoint text, p_body bytea, p_source inet, p_txn_id text,
    p_body_txn_id text, p_provider_txn_id text, p_status text,
    p_code text, p_reference_no text, p_amount bigint, p_verdict text)
returns table (callback_id bigint, effect text, job_id bigint)
language plpgsql as $$
declare
    v_attempt_id bigint;
    v_job_id bigint;
    v_kind text;
    v_state text;
    v_amount bigint;
    v_last_code text;
    v_live integer;
    v_attempt_no integer;
    v_outcome text;
    v_class text;
    v_description text;
    v_effect text;
    v_action text := 'none';
    v_note text;
begin
    select a.id, a.job_id into v_attempt_id, v_job_id
    from attempts a where a.request_txn_id = p_txn_id;

    -- Invalid callbacks are kept but change nothing. One whose body
    -- could not be read at all flags the payment its URL names.
    if p_verdict = 'unreadable' then
        v_effect := 'rejected';
        v_note := 'the body is neither a JSON object nor a form that can '
                  'be read';
        if v_job_id is not null then
            v_action := 'flag';
        end if;
    elsif p_txn_id is null or p_txn_id = '' then
        v_effect := 'rejected';
        v_note := 'no transaction id in the callback';
    elsif p_endpoint = 'pay' and p_body_txn_id is distinct from p_txn_id
    then
        v_effect := 'rejected';
        v_note := format('the body names transaction %s, the callback '
                         'URL %s', coalesce(p_body_txn_id, 'none'),
                         p_txn_id);
    elsif v_attempt_id is null then
        v_effect := 'unmatched';
        v_note := format('no attempt has transaction id %s', p_txn_id);
    end if;

    if v_effect is null then
        -- Lock order, as the workers: the job row, then the attempt row.
        -- NO KEY UPDATE conflicts with every UPDATE of the row but not
        -- with the foreign-key checks of rows that reference it.
        select j.kind, j.state, j.amount, j.last_code, j.attempt_count
        into v_kind, v_state, v_amount, v_last_code, v_live
        from jobs j where j.id = v_job_id for no key update;
        select a.attempt_no, a.outcome into v_attempt_no, v_outcome
        from attempts a where a.id = v_attempt_id for no key update;

        if v_kind <> p_endpoint then
            v_effect := 'rejected';
            v_note := format('transaction %s is a %s, but the callback '
                             'came to the %s endpoint', p_txn_id, v_kind,
                             p_endpoint);
        else
            select rc.class, rc.description into v_class, v_description
            from response_codes rc
            where rc.code = p_code and rc.kind = v_kind;
            select d.effect, d.action, d.note
            into v_effect, v_action, v_note
            from payq_callback_decide(p_verdict, p_code, v_class, p_amount,
                                      v_state, v_amount, v_last_code,
                                      v_attempt_no, v_outcome, v_live) d;
        end if;
    end if;

    insert into callbacks (source_addr, endpoint, body, request_txn_id,
                           provider_txn_id, status_text, response_code,
                           reference_no, amount, attempt_id, job_id,
                           effect, note)
    values (p_source, p_endpoint, p_body, p_txn_id, p_provider_txn_id,
            p_status, p_code, p_reference_no, p_amount, v_attempt_id,
            v_job_id, v_effect, v_note)
    returning callbacks.id into callback_id;

    if v_action in ('succeed', 'fail') then
        perform payq_callback_settle(
            v_job_id, v_attempt_id,
            case v_action when 'succeed' then 'succeeded' else 'failed' end,
            p_code, coalesce(v_description, p_status), p_provider_txn_id,
            p_reference_no);
    elsif v_action = 'flag' then
        perform payq_callback_flag(v_job_id,
                                   format('callback %s: %s', callback_id,
                                          v_note));
    end if;

    effect := v_effect;
    job_id := v_job_id;
    return next;
end;
$$;

comment on function payq_apply_callback(text, bytea, inet, text, text, text,
                                        text, text, text, bigint, text) is
    'Stores one provider callback exactly as received and applies it to '
    'the payment it names: settles a payment still in progress, ignores a '
    'repeat, and flags for review (never overwrites) a payment whose '
    'recorded outcome it contradicts. Returns the callback number, what '
    'it did (callbacks.effect) and the payment it matched.';

-- ---------------------------------------------------------------------------
-- payq_apply_callbacks
-- ---------------------------------------------------------------------------

-- Many callbacks in one statement: element i of every array is one
-- callback's arguments to payq_apply_callback(), applied in array order.
-- One statement is one round trip, one plan and, run on its own, one
-- transaction with one commit: the receiver's group commit
-- (callback/store.c). If any callback fails, the statement fails and
-- nothing of it is kept.
create function payq_apply_callbacks(
    p_endpoint text[], p_body bytea[], p_source text[], p_txn_id text[],
    p_body_txn_id text[], p_provider_txn_id text[], p_status text[],
    p_code text[], p_reference_no text[], p_amount bigint[],
    p_verdict text[])
returns table (item integer, callback_id bigint, effect text)
language plpgsql as $$
declare
    v_n integer := coalesce(cardinality(p_endpoint), 0);
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
    for i in 1 .. v_n loop
        select a.callback_id, a.effect into callback_id, effect
        from payq_apply_callback(p_endpoint[i], p_body[i],
                                 p_source[i]::inet, p_txn_id[i],
                                 p_body_txn_id[i], p_provider_txn_id[i],
                                 p_status[i], p_code[i], p_reference_no[i],
                                 p_amount[i], p_verdict[i]) a;
        item := i;
        return next;
    end loop;
end;
$$;

comment on function payq_apply_callbacks(text[], bytea[], text[], text[],
                                         text[], text[], text[], text[],
                                         text[], bigint[], text[]) is
    'Stores and applies many provider callbacks at once, in order, as '
    'payq_apply_callback() does each; returns one row per callback.';
